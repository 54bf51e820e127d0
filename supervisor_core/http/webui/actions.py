"""The web UI's actions (start, stop, restart, clear log, restart all, stop all, refresh).

Rules of this file:
- An action runs through the control protocol only and returns an :class:`Outcome`:
  the one-line message the status page shows afterwards. Every expected failure
  (unknown action, unknown process, a process in the wrong state, a failed spawn,
  a daemon shutting down, a wait that takes too long) is an ``Outcome`` with
  ``ok=False``, never an exception, so bad input can never become a 500.
- Waiting is the control protocol's ``wait_process_*``: completed from the daemon's
  state-transition events, bounded here by ``timeout`` so a browser is never left
  hanging on a program with a long ``startsecs``. A timed-out wait stops waiting,
  not the process: the page then shows its live state.
- The messages follow supervisord's web UI ("Process web started", "No such process
  named x", "All stopped at <ctime>") so operators read what they are used to; the
  error messages add the reason supervisord leaves out.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from supervisor_core import control
from supervisor_core.http.faults import Faults
from supervisor_core.http.rpc import OperationResult, RpcInterface
from supervisor_core.lifecycle import RUNNING_STATES, ProcessState, Requester, SupervisorState
from supervisor_core.names import make_namespec, split_namespec

# Names and messages echo what the client sent; keep them to a readable size.
MAX_ECHOED_CHARS = 200


class Action(enum.StrEnum):
    """The ``action`` values of supervisord's ``index.html`` query-string API."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"
    CLEARLOG = "clearlog"
    REFRESH = "refresh"
    RESTARTALL = "restartall"
    STOPALL = "stopall"

    @property
    def needs_process(self) -> bool:
        """True for the actions on one process (``processname`` required)."""
        return self in PROCESS_ACTIONS

    @property
    def changes_state(self) -> bool:
        """True for every action but ``refresh`` (those need a same-origin request)."""
        return self is not Action.REFRESH


PROCESS_ACTIONS = frozenset({Action.START, Action.STOP, Action.RESTART, Action.CLEARLOG})


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What an action did: the message for the status page and whether it went well."""

    message: str
    ok: bool = True


def echo(text: str) -> str:
    """``text`` as it may appear in a message: shortened past ``MAX_ECHOED_CHARS``."""
    if len(text) <= MAX_ECHOED_CHARS:
        return text
    return text[:MAX_ECHOED_CHARS] + "…"


def parse_action(text: str | None) -> Action | Outcome | None:
    """The action named by a form value; None when there is none; an error Outcome if unknown."""
    if not text:
        return None
    try:
        return Action(text)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        return Outcome(message=f"ERROR: unknown action {echo(text)!r} (known: {known})", ok=False)


def find_process(groups: Sequence[control.GroupInfo], namespec: str) -> control.ProcessInfo | None:
    """The process ``namespec`` names (``name`` or ``group:name``), or None.

    A group spec (``group:*``) names no single process, as in supervisord's web UI.
    """
    group_name, process_name = split_namespec(namespec)
    if process_name is None:
        return None
    for group in groups:
        if group.name == group_name:
            for process in group.processes:
                if process.name == process_name:
                    return process
    return None


# Why an operation failed, in the words of supervisord's web UI where it has them.
_REASONS: dict[type[control.ControlError], str] = {
    control.NoFile: "no such file",
    control.NotExecutable: "file not executable",
    control.AlreadyStarted: "already started",
    control.SpawnFailed: "spawn error",
    control.AbnormalTermination: "abnormal termination",
    control.NotRunning: "not running",
    control.BadName: "no such process",
    control.Failed: "failed",
    control.ShutdownState: "superd is shutting down",
}


class ActionRunner:
    """Runs the web UI's actions against a :class:`~supervisor_core.control.SupervisorControl`.

    Example:
        runner = ActionRunner(control, timeout=60.0)
        outcome = await runner.run("stop", "web")  # Outcome(message='Process web stopped')
    """

    def __init__(
        self,
        control_: control.SupervisorControl,
        *,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._control = control_
        self._rpc = RpcInterface(control_)
        self._timeout = timeout
        self._clock = clock

    async def run(
        self, action_text: str | None, processname: str | None, requester: Requester
    ) -> Outcome | None:
        """Run the action a form asks for; None when it asks for none.

        Args:
            action_text: the ``action`` form value as sent.
            processname: the ``processname`` form value as sent (a namespec), or None.
            requester: who asks (the cause and origin of the transitions).
        """
        action = parse_action(action_text)
        if action is None or isinstance(action, Outcome):
            return action
        if action is Action.REFRESH:
            return Outcome(message=f"Page refreshed at {self._ctime()}")
        if self._control.supervisor_state() < SupervisorState.RUNNING:
            return Outcome(message="ERROR: superd is shutting down; nothing was done", ok=False)
        if not action.needs_process:
            return await self._run_all(action, requester)
        if not processname:
            return Outcome(message=f"ERROR: action {action.value!r} needs a processname", ok=False)
        info = find_process(self._control.groups(), processname)
        if info is None:
            return Outcome(message=f"No such process named {echo(processname)}", ok=False)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._run_one(action, info.namespec, requester)
        except TimeoutError:
            state = self._state_of(info.namespec)
            where = "gone" if state is None else state.name
            return Outcome(
                message=(
                    f"ERROR: Process {info.namespec}: still {where} after {self._timeout:g}s;"
                    " it carries on without the page waiting"
                ),
                ok=False,
            )
        except control.ControlError as error:
            return Outcome(message=self._failure(info.namespec, error), ok=False)

    # --------------------------------------------------------------- one process

    async def _run_one(self, action: Action, namespec: str, requester: Requester) -> Outcome:
        if action is Action.START:
            await self._start(namespec, requester)
            return Outcome(message=f"Process {namespec} started")
        if action is Action.STOP:
            self._control.stop_process(namespec, requester)
            await self._control.wait_process_stopped(namespec)
            return Outcome(message=f"Process {namespec} stopped")
        if action is Action.RESTART:
            if self._state_of(namespec) in RUNNING_STATES:
                try:
                    self._control.stop_process(namespec, requester)
                except control.NotRunning:
                    pass  # it stopped by itself meanwhile: start it all the same
                else:
                    await self._control.wait_process_stopped(namespec)
            await self._start(namespec, requester)
            return Outcome(message=f"Process {namespec} restarted")
        self._control.clear_process_logs(namespec)
        return Outcome(message=f"Log for {namespec} cleared")

    async def _start(self, namespec: str, requester: Requester) -> None:
        self._control.start_process(namespec, requester)
        await self._control.wait_process_started(namespec)

    def _state_of(self, namespec: str) -> ProcessState | None:
        info = find_process(self._control.groups(), namespec)
        return None if info is None else info.state

    def _failure(self, namespec: str, error: control.ControlError) -> str:
        reason = _REASONS.get(type(error), type(error).__name__)
        detail = error.detail
        if isinstance(error, control.SpawnFailed | control.AbnormalTermination):
            # The spawn error says why (command not found, exited too quickly).
            info = find_process(self._control.groups(), namespec)
            detail = info.spawnerr if info is not None and info.spawnerr else None
        if detail and detail != namespec:
            reason = f"{reason} ({detail})"
        return f"ERROR: Process {namespec}: {reason}"

    # --------------------------------------------------------------- every process

    async def _run_all(self, action: Action, requester: Requester) -> Outcome:
        results: list[OperationResult] = []
        try:
            async with asyncio.timeout(self._timeout):
                results += await self._rpc.call("supervisor.stopAllProcesses", [True], requester)
                if action is Action.RESTARTALL:
                    results += await self._rpc.call(
                        "supervisor.startAllProcesses", [True], requester
                    )
        except TimeoutError:
            return Outcome(
                message=f"ERROR: not done after {self._timeout:g}s; the table shows where it is",
                ok=False,
            )
        done = "All restarted" if action is Action.RESTARTALL else "All stopped"
        failed = [r for r in results if r["status"] != Faults.SUCCESS]
        if not failed:
            return Outcome(message=f"{done} at {self._ctime()}")
        names = ", ".join(
            f"{make_namespec(str(r['group']), str(r['name']))} ({r['description']})" for r in failed
        )
        return Outcome(message=f"ERROR: {done} at {self._ctime()} except: {names}", ok=False)

    def _ctime(self) -> str:
        return time.ctime(self._clock())
