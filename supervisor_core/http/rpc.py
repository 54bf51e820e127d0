"""supervisord's XML-RPC API (``supervisor.*`` and ``system.*``) over a SupervisorControl.

Rules of this file:
- Method names, argument lists, return shapes, fault codes and fault strings are
  supervisord 4.x's, so supervisorctl, superlance and other clients work unchanged.
  Where supervisord crashes on bad input (a wrong type makes it answer HTTP 500),
  we answer ``INCORRECT_PARAMETERS`` naming the argument instead.
- The method table is the decorators on the handlers: ``@_supervisor(...)`` and
  ``@_system(...)`` name the published method, its return type, one-line help and
  parameters (one decorator per alias); ``system.methodHelp``/``methodSignature`` are
  built from them.
- All domain decisions belong to the control; this module only resolves names,
  checks arguments, fans group operations out and translates errors into faults.
- Group operations start (or stop) every process in priority order first and then
  wait for all of them together, like supervisord; their result lists hold
  ``{name, group, status, description}`` with status SUCCESS (80) and "OK", or the
  fault code and fault string of that process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import signal
import xmlrpc.client
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from types import MethodType
from typing import Any, TypeVar

from supervisor_core import SUPERVISORD_COMPAT_VERSION, control, signals
from supervisor_core.http import logfiles, structs
from supervisor_core.http.faults import Faults, RpcFault, fault_from_error
from supervisor_core.http.xmlrpc import encode_result
from supervisor_core.lifecycle import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    Cause,
    Requester,
    SupervisorState,
)
from supervisor_core.names import split_namespec

API_VERSION = "3.0"

logger = logging.getLogger(__name__)

# A call made without saying who makes it (an embedding, a test) is an operator's.
_UNNAMED = Requester(cause=Cause.OPERATOR, origin="xmlrpc")
_REQUESTER: contextvars.ContextVar[Requester] = contextvars.ContextVar(
    "rpc_requester", default=_UNNAMED
)

Handler = Callable[..., Awaitable[Any]]
OperationResult = dict[str, str | int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One declared parameter of an RPC method (``type`` is an XML-RPC type name)."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodSpec:
    """A published method: its handler, signature and help text."""

    name: str
    handler: Handler
    params: tuple[Param, ...]
    returns: str
    summary: str
    checks_state: bool = True

    def signature(self) -> list[str]:
        """``[return type, param types...]`` as ``system.methodSignature`` returns it."""
        return [self.returns, *(p.type for p in self.params)]

    def help(self) -> str:
        """The method's documentation in supervisord's ``@param``/``@return`` format."""
        lines = [self.summary, ""]
        lines += [f"@param {p.type} {p.name}" for p in self.params]
        lines.append(f"@return {self.returns} result")
        return "\n".join(lines)

    def accepts_count(self, count: int) -> bool:
        """Whether ``count`` positional arguments fit this signature."""
        required = sum(1 for p in self.params if p.required)
        return required <= count <= len(self.params)


# --- the method table: each handler of RpcInterface carries its published names -----

NAME = Param(name="name", type="string")
WAIT = Param(name="wait", type="boolean", required=False)
OFFSET = Param(name="offset", type="int")
LENGTH = Param(name="length", type="int")
SIGNAL = Param(name="signal", type="string")
LOG = (NAME, OFFSET, LENGTH)

_HandlerT = TypeVar("_HandlerT", bound=Handler)
# The attribute of a handler function that holds the declarations it is published under.
_PUBLISHED = "_rpc_published"


@dataclass(frozen=True, slots=True)
class _Declared:
    """One published name of a handler: a :class:`MethodSpec` before it is bound."""

    name: str
    returns: str
    summary: str
    params: tuple[Param, ...]
    checks_state: bool


def _publish(declared: _Declared) -> Callable[[_HandlerT], _HandlerT]:
    def mark(handler: _HandlerT) -> _HandlerT:
        setattr(handler, _PUBLISHED, (*getattr(handler, _PUBLISHED, ()), declared))
        return handler

    return mark


def _supervisor(
    method: str, returns: str, summary: str, *params: Param, checks_state: bool = True
) -> Callable[[_HandlerT], _HandlerT]:
    """Publish the decorated handler as ``supervisor.<method>`` (stack one per alias)."""
    return _publish(_Declared(f"supervisor.{method}", returns, summary, params, checks_state))


def _system(
    method: str, returns: str, summary: str, *params: Param
) -> Callable[[_HandlerT], _HandlerT]:
    """Publish the decorated handler as ``system.<method>`` (answered in every state)."""
    return _publish(_Declared(f"system.{method}", returns, summary, params, checks_state=False))


def _published_methods(owner: type, instance: object) -> dict[str, MethodSpec]:
    """Every method declared on ``owner``'s handlers, bound to ``instance``, by name."""
    methods: dict[str, MethodSpec] = {}
    for attribute in vars(owner).values():
        for declared in getattr(attribute, _PUBLISHED, ()):
            methods[declared.name] = MethodSpec(
                name=declared.name,
                handler=MethodType(attribute, instance),
                params=declared.params,
                returns=declared.returns,
                summary=declared.summary,
                checks_state=declared.checks_state,
            )
    return methods


# --- argument checking -------------------------------------------------------------


def _text(value: object, argument: str) -> str:
    if not isinstance(value, str):
        raise RpcFault(Faults.INCORRECT_PARAMETERS, f"{argument} must be a string")
    return value


def _integer(value: object, argument: str) -> int:
    # supervisord applies int() to offsets and lengths, so "10" is as good as 10.
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise RpcFault(Faults.INCORRECT_PARAMETERS, f"{argument} must be an integer")


def _group_name(value: object) -> str:
    # supervisord looks group names up in a dict, so a wrongly typed one is simply
    # not found: BAD_NAME naming the value, not INCORRECT_PARAMETERS.
    if not isinstance(value, str):
        raise RpcFault(Faults.BAD_NAME, value)
    return value


def _flag(value: object, argument: str) -> bool:
    if isinstance(value, bool | int):
        return bool(value)
    raise RpcFault(Faults.INCORRECT_PARAMETERS, f"{argument} must be a boolean")


def parse_signal(value: object) -> signal.Signals | int:
    """A signal given as a number (``9``, ``"9"``) or a name (``"HUP"``, ``"sigterm"``).

    Returns the :class:`signal.Signals` member, or the plain int 0: like supervisord
    (and ``kill -0``) signal 0 is accepted as a probe that sends nothing.

    Raises:
        RpcFault: BAD_SIGNAL naming the value as given.
    """
    if isinstance(value, int | str):
        try:
            return signals.parse_signal(value)
        except ValueError:
            with contextlib.suppress(ValueError):
                if int(value) == 0:
                    return 0
    raise RpcFault(Faults.BAD_SIGNAL, value)


def _ok(info: control.ProcessInfo) -> OperationResult:
    return structs.operation_result(info, int(Faults.SUCCESS), "OK")


def _failed(info: control.ProcessInfo, fault: RpcFault) -> OperationResult:
    return structs.operation_result(info, int(fault.code), fault.text)


class RpcInterface:
    """supervisord's whole XML-RPC API, answered from a :class:`SupervisorControl`.

    Example:
        rpc = RpcInterface(control)
        await rpc.call("supervisor.getState", ())  # {'statecode': 1, 'statename': 'RUNNING'}
    """

    def __init__(self, control_: control.SupervisorControl) -> None:
        self._control = control_
        self._methods = _published_methods(RpcInterface, self)
        # (snapshot_key, encoded body) of the last getAllProcessInfo answer.
        self._all_info: tuple[Hashable, bytes] | None = None

    @property
    def methods(self) -> Mapping[str, MethodSpec]:
        """Every published method by its full dotted name."""
        return self._methods

    async def call(
        self, method: str, params: Sequence[Any], requester: Requester = _UNNAMED
    ) -> Any:
        """Run one method and return its result.

        ``requester`` (who is calling: ``http.requesters.requester_of``) becomes the
        cause and origin of the transitions a start, stop or signal causes.

        Raises:
            RpcFault: the fault supervisord would return (unknown method, wrong
                arguments, or the domain error of the operation).
        """
        spec = self._methods.get(method)
        if spec is None:
            raise RpcFault(Faults.UNKNOWN_METHOD)
        if not spec.accepts_count(len(params)):
            raise RpcFault(Faults.INCORRECT_PARAMETERS)
        if spec.checks_state:
            self._check_state()
        # The handlers' signatures are supervisord's (the client's parameters only);
        # who is calling travels beside them, for this call and its multicall parts.
        token = _REQUESTER.set(requester)
        try:
            return await spec.handler(*params)
        except control.ControlError as e:
            raise fault_from_error(e) from e
        finally:
            _REQUESTER.reset(token)

    async def call_encoded(
        self, method: str, params: Sequence[Any], requester: Requester = _UNNAMED
    ) -> bytes:
        """``call`` and encode the result as an XML-RPC ``methodResponse``.

        ``getAllProcessInfo`` is answered from the last encoded body while the
        control's ``snapshot_key()`` is unchanged: encoding 500 structs is ~8 ms of
        CPU, so 100 concurrent pollers would otherwise queue behind each other.

        Raises:
            RpcFault: as ``call``.
            ResultEncodingError: the result cannot be encoded (a bug).
        """
        spec = self._methods.get(method)
        if spec is None or spec.handler != self.get_all_process_info or params:
            return encode_result(method, await self.call(method, params, requester))
        if spec.checks_state:
            self._check_state()
        key = self._control.snapshot_key()
        cached = self._all_info
        if cached is not None and cached[0] == key:
            return cached[1]
        body = encode_result(method, await self.get_all_process_info())
        # A snapshot that straddled a second (or a change) is not stored under ``key``.
        if self._control.snapshot_key() == key:
            self._all_info = (key, body)
        return body

    # --- helpers ---------------------------------------------------------------------

    def _check_state(self) -> None:
        # supervisord refuses every supervisor.* call while shutting down/restarting.
        if self._control.supervisor_state() < SupervisorState.RUNNING:
            raise RpcFault(Faults.SHUTDOWN_STATE)

    def _resolve(self, name: object) -> tuple[control.GroupInfo, control.ProcessInfo | None]:
        namespec = _text(name, "name")
        group_name, process_name = split_namespec(namespec)
        group = self._control.group(group_name)
        if group is not None:
            if process_name is None:
                return group, None
            for process in group.processes:
                if process.name == process_name:
                    return group, process
        raise RpcFault(Faults.BAD_NAME, namespec)

    def _resolve_process(self, name: object) -> control.ProcessInfo:
        _, process = self._resolve(name)
        if process is None:
            raise RpcFault(Faults.BAD_NAME, name)
        return process

    def _group(self, name: object) -> control.GroupInfo:
        group_name = _group_name(name)
        group = self._control.group(group_name)
        if group is None:
            raise RpcFault(Faults.BAD_NAME, group_name)
        return group

    def _all_processes(self) -> list[control.ProcessInfo]:
        # Priority order: groups by priority, then processes by priority.
        return [p for g in self._control.groups() for p in g.processes]

    # --- status and identification ---------------------------------------------------

    @_supervisor("getAPIVersion", "string", "Version of the RPC API.")
    @_supervisor("getVersion", "string", "Alias of getAPIVersion.")
    async def get_api_version(self) -> str:
        return API_VERSION

    @_supervisor(
        "getSupervisorVersion", "string", "Version of supervisord this daemon is compatible with."
    )
    async def get_supervisor_version(self) -> str:
        return SUPERVISORD_COMPAT_VERSION

    @_supervisor("getIdentification", "string", "The identifier option of [supervisord].")
    async def get_identification(self) -> str:
        return self._control.identification()

    @_supervisor("getState", "struct", "Daemon state: statecode, statename.")
    async def get_state(self) -> dict[str, int | str]:
        state = SupervisorState(self._control.supervisor_state())
        return {"statecode": int(state), "statename": state.name}

    @_supervisor("getPID", "int", "Process id of the daemon.")
    async def get_pid(self) -> int:
        return self._control.pid()

    @_supervisor(
        "readLog", "string", "Read length bytes of the main log at offset.", OFFSET, LENGTH
    )
    @_supervisor("readMainLog", "string", "Alias of readLog.", OFFSET, LENGTH)
    async def read_log(self, offset: object, length: object) -> str:
        offset_, length_ = _integer(offset, "offset"), _integer(length, "length")
        path = self._control.main_logfile()
        return await self._read_file(path, offset_, length_)

    @_supervisor("clearLog", "boolean", "Clear the main log.")
    async def clear_log(self) -> bool:
        self._control.clear_log()
        return True

    @_supervisor("shutdown", "boolean", "Shut the daemon down.")
    async def shutdown(self) -> bool:
        self._control.shutdown()
        return True

    @_supervisor("restart", "boolean", "Restart the daemon.")
    async def restart(self) -> bool:
        self._control.restart()
        return True

    # --- configuration ---------------------------------------------------------------

    @_supervisor(
        "reloadConfig",
        "array",
        "Re-read the configuration: [[added, changed, removed]] group names.",
    )
    async def reload_config(self) -> list[list[list[str]]]:
        result = await self._control.reload_config()
        return [[list(result.added), list(result.changed), list(result.removed)]]

    @_supervisor("addProcessGroup", "boolean", "Activate a configured process group.", NAME)
    async def add_process_group(self, name: object) -> bool:
        await self._control.add_process_group(_group_name(name))
        return True

    @_supervisor("removeProcessGroup", "boolean", "Remove a stopped process group.", NAME)
    async def remove_process_group(self, name: object) -> bool:
        await self._control.remove_process_group(_group_name(name))
        return True

    @_supervisor("getAllConfigInfo", "array", "Configuration of every process, flattened.")
    async def get_all_config_info(self) -> list[structs.XmlRpcStruct]:
        groups = self._control.groups()
        logfiles = {
            (p.group, p.name): (p.stdout_logfile, p.stderr_logfile)
            for g in groups
            for p in g.processes
        }
        active = {g.name for g in groups}
        return structs.all_config_info(self._control.config_groups(), active, logfiles)

    # --- starting and stopping -------------------------------------------------------

    @_supervisor(
        "startProcess", "boolean", "Start a process (name, group:name or group:*).", NAME, WAIT
    )
    async def start_process(self, name: object, wait: object = True) -> Any:
        wait_ = _flag(wait, "wait")
        group, process = self._resolve(name)
        if process is None:
            return await self._start_many(group.processes, wait=wait_)
        namespec = process.namespec
        self._control.start_process(namespec, _REQUESTER.get())
        if wait_:
            await self._control.wait_process_started(namespec)
        return True

    @_supervisor("startProcessGroup", "array", "Start every process of a group.", NAME, WAIT)
    async def start_process_group(self, name: object, wait: object = True) -> Any:
        wait_ = _flag(wait, "wait")
        return await self._start_many(self._group(name).processes, wait=wait_)

    @_supervisor("startAllProcesses", "array", "Start every process.", WAIT)
    async def start_all_processes(self, wait: object = True) -> Any:
        return await self._start_many(self._all_processes(), wait=_flag(wait, "wait"))

    async def _start_many(
        self, processes: Sequence[control.ProcessInfo], *, wait: bool
    ) -> list[OperationResult]:
        # supervisord skips the ones already started, and reports nothing for them.
        todo = [info for info in processes if info.state not in RUNNING_STATES]
        return await self._act_on_many(
            todo, self._control.start_process, self._control.wait_process_started, wait=wait
        )

    @_supervisor(
        "stopProcess", "boolean", "Stop a process (name, group:name or group:*).", NAME, WAIT
    )
    async def stop_process(self, name: object, wait: object = True) -> Any:
        wait_ = _flag(wait, "wait")
        group, process = self._resolve(name)
        if process is None:
            return await self._stop_many(group.processes, wait=wait_)
        namespec = process.namespec
        self._control.stop_process(namespec, _REQUESTER.get())
        if wait_:
            await self._control.wait_process_stopped(namespec)
        return True

    @_supervisor("stopProcessGroup", "array", "Stop every process of a group.", NAME, WAIT)
    async def stop_process_group(self, name: object, wait: object = True) -> Any:
        wait_ = _flag(wait, "wait")
        return await self._stop_many(self._group(name).processes, wait=wait_)

    @_supervisor("stopAllProcesses", "array", "Stop every process.", WAIT)
    async def stop_all_processes(self, wait: object = True) -> Any:
        return await self._stop_many(self._all_processes(), wait=_flag(wait, "wait"))

    async def _stop_many(
        self, processes: Sequence[control.ProcessInfo], *, wait: bool
    ) -> list[OperationResult]:
        # supervisord skips the ones not running, and reports nothing for them.
        todo = [info for info in processes if info.state in RUNNING_STATES]
        return await self._act_on_many(
            todo, self._control.stop_process, self._control.wait_process_stopped, wait=wait
        )

    async def _act_on_many(
        self,
        processes: Sequence[control.ProcessInfo],
        act: Callable[[str, Requester], None],
        waiter: Callable[[str], Awaitable[None]],
        *,
        wait: bool,
    ) -> list[OperationResult]:
        """Act on every process in order, then await the acted-on ones together.

        A process the daemon refuses is reported at once with its fault; without
        ``wait`` the others are reported as successes right away.
        """
        results: list[OperationResult] = []
        acted: list[control.ProcessInfo] = []
        requester = _REQUESTER.get()
        for info in processes:
            try:
                act(info.namespec, requester)
            except control.ControlError as e:
                results.append(_failed(info, fault_from_error(e)))
                continue
            if wait:
                acted.append(info)
            else:
                results.append(_ok(info))
        results += await asyncio.gather(*(self._outcome(info, waiter) for info in acted))
        return results

    @staticmethod
    async def _outcome(
        info: control.ProcessInfo, waiter: Callable[[str], Awaitable[None]]
    ) -> OperationResult:
        try:
            await waiter(info.namespec)
        except control.ControlError as e:
            return _failed(info, fault_from_error(e))
        return _ok(info)

    # --- signals and stdin -----------------------------------------------------------

    @_supervisor(
        "signalProcess", "boolean", "Send a signal (name or number) to a process.", NAME, SIGNAL
    )
    async def signal_process(self, name: object, sig: object) -> Any:
        group, process = self._resolve(name)
        if process is None:
            return self._signal_many(group.processes, sig)
        self._send_signal(process, parse_signal(sig))
        return True

    @_supervisor(
        "signalProcessGroup", "array", "Send a signal to every process of a group.", NAME, SIGNAL
    )
    async def signal_process_group(self, name: object, sig: object) -> Any:
        return self._signal_many(self._group(name).processes, sig)

    @_supervisor("signalAllProcesses", "array", "Send a signal to every process.", SIGNAL)
    async def signal_all_processes(self, sig: object) -> Any:
        return self._signal_many(self._all_processes(), sig)

    def _signal_many(
        self, processes: Sequence[control.ProcessInfo], sig: object
    ) -> list[OperationResult]:
        results: list[OperationResult] = []
        for info in processes:
            if info.state not in SIGNALLABLE_STATES:
                continue
            try:
                self._send_signal(info, parse_signal(sig))
            except RpcFault as fault:
                results.append(_failed(info, fault))
            except control.ControlError as e:
                results.append(_failed(info, fault_from_error(e)))
            else:
                results.append(_ok(info))
        return results

    def _send_signal(self, info: control.ProcessInfo, sig: signal.Signals | int) -> None:
        if isinstance(sig, signal.Signals):
            self._control.signal_process(info.namespec, sig, _REQUESTER.get())
        elif info.state not in SIGNALLABLE_STATES:
            # Signal 0 sends nothing; like kill(pid, 0) it only needs a live process.
            raise RpcFault(Faults.NOT_RUNNING, info.namespec)

    @_supervisor(
        "sendProcessStdin",
        "boolean",
        "Write characters to a process's stdin.",
        NAME,
        Param(name="chars", type="string"),
    )
    async def send_process_stdin(self, name: object, chars: object) -> bool:
        if isinstance(chars, str):
            data = chars.encode("utf-8")
        elif isinstance(chars, xmlrpc.client.Binary):
            data = chars.data
        else:
            raise RpcFault(Faults.INCORRECT_PARAMETERS, chars)
        process = self._resolve_process(name)
        self._control.send_process_stdin(process.namespec, data)
        return True

    @_supervisor(
        "sendRemoteCommEvent",
        "boolean",
        "Publish a REMOTE_COMMUNICATION event to event listeners.",
        Param(name="type", type="string"),
        Param(name="data", type="string"),
        checks_state=False,
    )
    async def send_remote_comm_event(self, type_: object, data: object) -> bool:
        self._control.send_remote_comm_event(_text(type_, "type"), _text(data, "data"))
        return True

    # --- process information ---------------------------------------------------------

    @_supervisor("getProcessInfo", "struct", "Status of one process.", NAME)
    async def get_process_info(self, name: object) -> structs.XmlRpcStruct:
        return structs.process_info_struct(self._resolve_process(name))

    @_supervisor("getAllProcessInfo", "array", "Status of every process.")
    async def get_all_process_info(self) -> list[structs.XmlRpcStruct]:
        processes = sorted(self._all_processes(), key=lambda p: (p.group, p.name))
        return [structs.process_info_struct(p) for p in processes]

    # --- process logs ----------------------------------------------------------------

    async def _read_file(self, path: str | None, offset: int, length: int) -> str:
        data = await asyncio.to_thread(logfiles.read_named_log, path, offset, length)
        return logfiles.xml_safe_text(data)

    def _channel_path(self, name: object, channel: str) -> str:
        process = self._resolve_process(name)
        return process.stdout_logfile if channel == "stdout" else process.stderr_logfile

    async def _read_process_log(
        self, name: object, offset: object, length: object, channel: str
    ) -> str:
        path = self._channel_path(name, channel)
        offset_, length_ = _integer(offset, "offset"), _integer(length, "length")
        return await self._read_file(path, offset_, length_)

    @_supervisor("readProcessStdoutLog", "string", "Read a process's stdout log.", *LOG)
    @_supervisor("readProcessLog", "string", "Alias of readProcessStdoutLog.", *LOG)
    async def read_process_stdout_log(self, name: object, offset: object, length: object) -> str:
        return await self._read_process_log(name, offset, length, "stdout")

    @_supervisor("readProcessStderrLog", "string", "Read a process's stderr log.", *LOG)
    async def read_process_stderr_log(self, name: object, offset: object, length: object) -> str:
        return await self._read_process_log(name, offset, length, "stderr")

    async def _tail_process_log(
        self, name: object, offset: object, length: object, channel: str
    ) -> list[str | int | bool]:
        path = self._channel_path(name, channel)
        offset_, length_ = _integer(offset, "offset"), _integer(length, "length")
        tail = await asyncio.to_thread(logfiles.tail_named_log, path, offset_, length_)
        return [logfiles.xml_safe_text(tail.data), tail.offset, tail.overflow]

    @_supervisor(
        "tailProcessStdoutLog",
        "array",
        "Tail a process's stdout log: [bytes, next offset, overflow].",
        *LOG,
    )
    @_supervisor("tailProcessLog", "array", "Alias of tailProcessStdoutLog.", *LOG)
    async def tail_process_stdout_log(
        self, name: object, offset: object, length: object
    ) -> list[str | int | bool]:
        return await self._tail_process_log(name, offset, length, "stdout")

    @_supervisor(
        "tailProcessStderrLog",
        "array",
        "Tail a process's stderr log: [bytes, next offset, overflow].",
        *LOG,
    )
    async def tail_process_stderr_log(
        self, name: object, offset: object, length: object
    ) -> list[str | int | bool]:
        return await self._tail_process_log(name, offset, length, "stderr")

    @_supervisor("clearProcessLogs", "boolean", "Clear a process's stdout and stderr logs.", NAME)
    @_supervisor("clearProcessLog", "boolean", "Alias of clearProcessLogs.", NAME)
    async def clear_process_logs(self, name: object) -> bool:
        process = self._resolve_process(name)
        self._control.clear_process_logs(process.namespec)
        return True

    @_supervisor("clearAllProcessLogs", "array", "Clear the logs of every process.")
    async def clear_all_process_logs(self) -> list[OperationResult]:
        results: list[OperationResult] = []
        for info in self._all_processes():
            try:
                self._control.clear_process_logs(info.namespec)
            except control.ControlError as e:
                results.append(_failed(info, fault_from_error(e)))
            else:
                results.append(_ok(info))
        return results

    # --- system.* --------------------------------------------------------------------

    @_system("listMethods", "array", "Names of all methods.")
    async def list_methods(self) -> list[str]:
        return sorted(self._methods)

    def _method_named(self, name: object) -> MethodSpec:
        # Any value that names no method (a number included) is SIGNATURE_UNSUPPORTED,
        # as supervisord compares it with each method name.
        spec = self._methods.get(name) if isinstance(name, str) else None
        if spec is None:
            raise RpcFault(Faults.SIGNATURE_UNSUPPORTED)
        return spec

    @_system("methodHelp", "string", "Documentation of a method.", NAME)
    async def method_help(self, name: object) -> str:
        return self._method_named(name).help()

    @_system(
        "methodSignature", "array", "Signature of a method: [return type, param types...].", NAME
    )
    async def method_signature(self, name: object) -> list[str]:
        return self._method_named(name).signature()

    @_system(
        "multicall",
        "array",
        "Run several calls; each result is a value or a fault struct.",
        Param(name="calls", type="array"),
    )
    async def multicall(self, calls: object) -> list[Any]:
        # Like supervisord, a successful call contributes its bare value (not wrapped
        # in a one-element array) and a failed one a {faultCode, faultString} struct.
        if not isinstance(calls, list):
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "calls must be an array")
        results: list[Any] = []
        for call in calls:
            try:
                results.append(await self._one_of_multicall(call))
            except RpcFault as fault:
                results.append(fault.as_struct())
        return results

    async def _one_of_multicall(self, call: object) -> Any:
        if not isinstance(call, dict):
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "each call must be a struct")
        name = call.get("methodName")
        params = call.get("params", [])
        if name is None:
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "No methodName")
        if name == "system.multicall":
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "Recursive system.multicall forbidden")
        if not isinstance(name, str) or not isinstance(params, list):
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "methodName/params of the wrong type")
        try:
            return await self.call(name, params)
        except RpcFault:
            raise
        # One broken call must not lose the results of the others; supervisord
        # reports such a call as FAILED with the exception, and so do we.
        except Exception as e:
            logger.exception("XML-RPC method %s() raised inside system.multicall", name)
            raise RpcFault(Faults.FAILED, f"{type(e).__name__}: {e}") from e
