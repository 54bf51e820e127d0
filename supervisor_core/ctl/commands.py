"""Running superctl commands: one command line in, supervisorctl's text and exit status out.

Rules of this file:
- Every ``do_<action>`` matches supervisorctl 4.3's observable behaviour for that
  action: the lines it prints, in order, and the exit status it leaves behind
  (LSB init codes; ``status`` uses LSB status codes 3 and 4).
- The exit status is sticky: a later success never resets an earlier failure, except
  where supervisorctl does so on purpose (``open`` restores the status it had).
- I/O is injected: the remote API comes from ``api_factory`` (a fresh proxy per use,
  as supervisorctl does), followed logs from ``stream_factory``, prompts from
  ``input_fn``/``getpass_fn``, so unit tests drive everything with fakes.
- Any unexpected exception inside a command is printed as one ``error: ...`` line
  and sets status 1; it never escapes :meth:`Controller.onecmd`.
"""

from __future__ import annotations

import errno
import getpass
import threading
import traceback
import urllib.parse
import xmlrpc.client
from collections.abc import Callable
from typing import Protocol, TextIO

from supervisor_core.ctl import jsonout, render, superd_commands
from supervisor_core.ctl.api import ResultDict, RpcApi, SupervisorApi
from supervisor_core.ctl.codes import (
    API_VERSION,
    STATE_RUNNING,
    STOPPED_STATES,
    ExitStatus,
    Fault,
    StatusExitStatus,
    exitstatus_for_fault,
)
from supervisor_core.ctl.names import make_namespec, select_processes, split_namespec
from supervisor_core.ctl.options import CtlOptions
from supervisor_core.ctl.transport import LogStream, StreamError, make_server_proxy

# The characters cmd.Cmd treats as part of an action name.
IDENTCHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
DEFAULT_TAIL_BYTES = 1600


class Stream(Protocol):
    """A followed log (``transport.LogStream`` or a test fake)."""

    def follow(self, sink: Callable[[str], None]) -> StreamError | None:
        """Feed log text to ``sink`` until the stream ends or is closed."""

    def close(self) -> None:
        """Stop following, from any thread."""


ApiFactory = Callable[[str, str | None, str | None], SupervisorApi]
StreamFactory = Callable[[str, str, str | None, str | None], Stream]


def rpc_api(serverurl: str, username: str | None, password: str | None) -> SupervisorApi:
    """The production :data:`ApiFactory`: XML-RPC to ``serverurl``."""
    return RpcApi(make_server_proxy(serverurl, username, password))


def parse_line(line: str) -> tuple[str | None, str, str]:
    """Split a command line the way ``cmd.Cmd.parseline`` does: ``(action, arg, line)``.

    ``?x`` means ``help x``; the action is the leading run of identifier characters
    (None when the line starts with anything else, e.g. ``!``).
    """
    line = line.strip()
    if not line:
        return None, "", line
    if line[0] == "?":
        line = "help " + line[1:]
    elif line[0] == "!":
        return None, "", line
    end = 0
    while end < len(line) and line[end] in IDENTCHARS:
        end += 1
    return line[:end], line[end:].strip(), line


def error_line(error: BaseException) -> str:
    """supervisorctl's one-line report of an unexpected exception.

    ``error: <class>, <message>: file: <file> line: <line>`` where file and line are
    those of the innermost traceback frame.
    """
    frames = traceback.extract_tb(error.__traceback__)
    filename, lineno = (frames[-1].filename, frames[-1].lineno) if frames else ("?", 0)
    return f"error: {type(error)}, {error}: file: {filename} line: {lineno}"


def _fault_result(error: xmlrpc.client.Fault, group: str, process: str) -> ResultDict:
    """A per-process result struct built from a single-process call's fault."""
    return {
        "status": error.faultCode,
        "name": process,
        "group": group,
        "description": error.faultString,
    }


class Controller:
    """One superctl session: settings, output, exit status and every action.

    ``onecmd(line)`` runs one command line; ``exitstatus`` is what a one-shot
    ``superctl ACTION`` exits with.
    """

    def __init__(
        self,
        options: CtlOptions,
        *,
        stdout: TextIO,
        stderr: TextIO,
        api_factory: ApiFactory = rpc_api,
        stream_factory: StreamFactory = LogStream,
        input_fn: Callable[[str], str] = input,
        getpass_fn: Callable[[str], str] = getpass.getpass,
    ) -> None:
        self.serverurl = options.serverurl
        self.username = options.username
        self.password = options.password
        self.prompt = options.prompt
        self.interactive = options.interactive
        self.exitstatus: int = ExitStatus.SUCCESS
        self.stdout = stdout
        self.stderr = stderr
        self._api_factory = api_factory
        self._stream_factory = stream_factory
        self._input = input_fn
        self._getpass = getpass_fn
        self._api: SupervisorApi | None = None
        self._api_key: tuple[str, str | None, str | None] | None = None
        self._handlers: dict[str, Callable[[str], bool | None]] = {
            name[3:]: getattr(self, name) for name in dir(self) if name.startswith("do_")
        }

    # -- plumbing -------------------------------------------------------------

    @property
    def actions(self) -> list[str]:
        """Every action name this controller answers to (for completion)."""
        return sorted(name for name in self._handlers if name != "EOF")

    def output(self, message: str) -> None:
        """Print one line of output."""
        self.stdout.write(message + "\n")
        self.stdout.flush()

    def _write_raw(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def get_supervisor(self) -> SupervisorApi:
        """The API client for the current server URL and credentials.

        One client (one persistent connection) is kept while the URL and credentials
        stay the same; ``open`` or a login in the shell replaces it.
        """
        key = (self.serverurl, self.username, self.password)
        if self._api is None or self._api_key != key:
            self.close()
            self._api = self._api_factory(*key)
            self._api_key = key
        return self._api

    def close(self) -> None:
        """Close the connection to the server, if one is open."""
        if self._api is not None:
            self._api.close()
            self._api = None

    def onecmd(self, line: str) -> bool:
        """Run one command line; True when the shell should stop (``quit``, EOF)."""
        action, arg, line = parse_line(line)
        if not line:
            return False
        handler = self._handlers.get(action) if action else None
        if handler is None:
            self.output(f"*** Unknown syntax: {line}")
            self.exitstatus = ExitStatus.GENERIC
            return False
        if action != "help" and superd_commands.wants_help(arg):
            self.output(superd_commands.help_for(str(action)))
            return False
        try:
            return bool(handler(arg))
        except xmlrpc.client.ProtocolError as error:
            if error.errcode != 401:
                self.exitstatus = ExitStatus.GENERIC
                self.output(error_line(error))
                return False
            self.output("Server requires authentication")
            if self.interactive:
                self.username = self._input("Username:")
                self.password = self._getpass("Password:")
                self.output("")
                return self.onecmd(line)
            self.exitstatus = ExitStatus.GENERIC
            self.output(error_line(error))
            return False
        except Exception as error:  # noqa: BLE001 - any failure is reported as one line, as supervisorctl does
            self.output(error_line(error))
            self.exitstatus = ExitStatus.GENERIC
            return False

    def upcheck(self) -> bool:
        """Whether the server answers with the API version we speak; prints why not."""
        try:
            version = self.get_supervisor().getVersion()
        except xmlrpc.client.Fault as error:
            if error.faultCode == Fault.UNKNOWN_METHOD:
                self.output(
                    "Sorry, supervisord responded but did not recognize the supervisor "
                    "namespace commands that supervisorctl uses to control it.  Please "
                    "check that the [rpcinterface:supervisor] section is enabled in the "
                    "configuration file (see sample.conf)."
                )
                self.exitstatus = ExitStatus.UNIMPLEMENTED_FEATURE
                return False
            self.exitstatus = ExitStatus.GENERIC
            raise
        except OSError as error:
            if error.errno == errno.ECONNREFUSED:
                self.output(f"{self.serverurl} refused connection")
                self.exitstatus = ExitStatus.INSUFFICIENT_PRIVILEGES
                return False
            if error.errno == errno.ENOENT:
                self.output(f"{self.serverurl} no such file")
                self.exitstatus = ExitStatus.NOT_RUNNING
                return False
            self.exitstatus = ExitStatus.GENERIC
            raise
        if version != API_VERSION:
            self.output(
                "Sorry, this version of supervisorctl expects to talk to a server with "
                f"API version {API_VERSION}, but the remote version is {version}."
            )
            self.exitstatus = ExitStatus.NOT_INSTALLED
            return False
        return True

    def _set_from_fault(self, fault: int, ignored: int | None = None) -> None:
        self.exitstatus = exitstatus_for_fault(self.exitstatus, fault, ignored)

    def _help(self, action: str) -> None:
        self.output(superd_commands.help_for(action))

    def _usage_error(self, message: str, action: str, status: int = ExitStatus.GENERIC) -> None:
        self.output(message)
        self.exitstatus = status
        self._help(action)

    def _check_encoding(self) -> None:
        # Streams without an encoding (e.g. StringIO) get no warning, as in supervisorctl.
        encoding = getattr(self.stdout, "encoding", None)
        if encoding and not encoding.lower().startswith("utf"):
            self.output(
                f"Warning: sys.stdout.encoding is set to {encoding}, so Unicode "
                "output may fail. Check your LANG and PYTHONIOENCODING environment "
                "settings."
            )

    # -- session ----------------------------------------------------------------

    def do_EOF(self, arg: str) -> bool:
        """End the shell."""
        self.output("")
        return True

    def do_quit(self, arg: str) -> bool:
        """End the shell."""
        return self.do_EOF(arg)

    def do_exit(self, arg: str) -> bool:
        """End the shell."""
        return self.do_EOF(arg)

    def do_help(self, arg: str) -> None:
        """``help`` lists the actions; ``help ACTION`` explains one."""
        topic = arg.strip()
        if topic:
            self._help(topic)
        else:
            self._write_raw(superd_commands.help_topics())

    def do_open(self, arg: str) -> None:
        """Point the session at another server URL and show its status."""
        url = arg.strip()
        if urllib.parse.urlparse(url).scheme not in ("unix", "http"):
            self.output("ERROR: url must be http:// or unix://")
            self.exitstatus = ExitStatus.GENERIC
            return
        self.serverurl = url
        # Showing the new server's status must not change the session's status.
        previous = self.exitstatus
        self.do_status("")
        self.exitstatus = previous

    # -- reading state ------------------------------------------------------------

    def do_status(self, arg: str) -> None:
        """Status lines of all or the named processes (exit 3 if any is not running)."""
        as_json, names = jsonout.split_json_flag(arg)
        if as_json:
            jsonout.status(self, names)
            return
        if not self.upcheck():
            self.exitstatus = StatusExitStatus.UNKNOWN
            return
        infos = self.get_supervisor().getAllProcessInfo()
        selection = select_processes(infos, arg.split())
        for message in selection.errors:
            self.output(message)
            self.exitstatus = StatusExitStatus.UNKNOWN
        for line in render.status_lines(selection.infos):
            self.output(line)
        if any(info["state"] in STOPPED_STATES for info in selection.infos):
            self.exitstatus = StatusExitStatus.NOT_RUNNING

    def do_pid(self, arg: str) -> None:
        """supervisord's pid, or the pids of named processes or ``all``."""
        supervisor = self.get_supervisor()
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self.output(str(supervisor.getPID()))
        elif "all" in names:
            for info in supervisor.getAllProcessInfo():
                self.output(str(info["pid"]))
        else:
            for name in names:
                try:
                    pid = supervisor.getProcessInfo(name)["pid"]
                except xmlrpc.client.Fault as error:
                    self.exitstatus = ExitStatus.GENERIC
                    if error.faultCode != Fault.BAD_NAME:
                        raise
                    self.output(f"No such process {name}")
                else:
                    self.output(str(pid))
                    if pid == 0:
                        self.exitstatus = ExitStatus.NOT_RUNNING

    def do_avail(self, arg: str) -> None:
        """Every configured process, in use or not."""
        as_json, names = jsonout.split_json_flag(arg)
        if as_json:
            jsonout.avail(self, names)
            return
        if arg:
            self._usage_error("Error: avail accepts no arguments", "avail")
            return
        try:
            infos = self.get_supervisor().getAllConfigInfo()
        except xmlrpc.client.Fault as error:
            self.exitstatus = ExitStatus.GENERIC
            if error.faultCode != Fault.SHUTDOWN_STATE:
                raise
            self.output("ERROR: supervisor shutting down")
            return
        for info in infos:
            self.output(render.avail_line(info))

    def do_version(self, arg: str) -> None:
        """The remote supervisord's version."""
        if arg:
            self._usage_error("Error: version accepts no arguments", "version")
            return
        if not self.upcheck():
            return
        self.output(self.get_supervisor().getSupervisorVersion())

    # -- logs -----------------------------------------------------------------------

    def _tailf(self, path: str) -> None:
        """Follow a log endpoint until the server ends it or Ctrl-C."""
        self._check_encoding()
        self.output("==> Press Ctrl-C to exit <==")
        stream = self._stream_factory(self.serverurl, path, self.username, self.password)
        try:
            problem = stream.follow(self._write_raw)
        except KeyboardInterrupt:
            stream.close()
            self.output("")
            return
        if problem is not None:
            self.stderr.write(f"{problem}\n")
            self.stderr.flush()

    def do_tail(self, arg: str) -> None:
        """The end of a process's stdout/stderr log, or ``-f`` to follow it."""
        if not self.upcheck():
            return
        args = arg.split()
        if not args:
            self._usage_error("Error: too few arguments", "tail")
            return
        if len(args) > 3:
            self._usage_error("Error: too many arguments", "tail")
            return
        modifier = args.pop(0) if args[0].startswith("-") else None
        if len(args) == 1:
            name, channel = args[0], "stdout"
        elif args:
            name, channel = args[0], args[-1].lower()
            if channel not in ("stderr", "stdout"):
                self.output(f"Error: bad channel {channel!r}")
                self.exitstatus = ExitStatus.GENERIC
                return
        else:
            self.output("Error: tail requires process name")
            self.exitstatus = ExitStatus.GENERIC
            return
        length: int | None = DEFAULT_TAIL_BYTES
        if modifier is not None:
            what = modifier[1:]
            if what == "f":
                length = None
            else:
                try:
                    length = int(what)
                except ValueError:
                    self.output(f"Error: bad argument {modifier}")
                    self.exitstatus = ExitStatus.GENERIC
                    return
        supervisor = self.get_supervisor()
        if length is None:
            self._tailf(f"/logtail/{name}/{channel}")
            return
        self._check_encoding()
        try:
            if channel == "stdout":
                text = supervisor.readProcessStdoutLog(name, -length, 0)
            else:
                text = supervisor.readProcessStderrLog(name, -length, 0)
        except xmlrpc.client.Fault as error:
            self.exitstatus = ExitStatus.GENERIC
            reasons = {
                Fault.NO_FILE: "no log file",
                Fault.FAILED: "unknown error reading log",
                Fault.BAD_NAME: "no such process name",
            }
            if error.faultCode not in reasons:
                raise
            self.output(f"{name}: ERROR ({reasons[Fault(error.faultCode)]})")
            return
        self.output(text)

    def do_maintail(self, arg: str) -> None:
        """The end of supervisord's main log, or ``-f`` to follow it."""
        if not self.upcheck():
            return
        args = arg.split()
        length = DEFAULT_TAIL_BYTES
        if len(args) > 1:
            self._usage_error("Error: too many arguments", "maintail")
            return
        if args:
            if not args[0].startswith("-"):
                self.output(f"Error: bad argument {args[0]}")
                self.exitstatus = ExitStatus.GENERIC
                return
            what = args[0][1:]
            if what == "f":
                self._tailf("/mainlogtail")
                return
            try:
                length = int(what)
            except ValueError:
                self.output(f"Error: bad argument {args[0]}")
                self.exitstatus = ExitStatus.GENERIC
                return
        try:
            text = self.get_supervisor().readLog(-length, 0)
        except xmlrpc.client.Fault as error:
            self.exitstatus = ExitStatus.GENERIC
            reasons = {Fault.NO_FILE: "no log file", Fault.FAILED: "unknown error reading log"}
            if error.faultCode not in reasons:
                raise
            self.output(f"supervisord: ERROR ({reasons[Fault(error.faultCode)]})")
            return
        self.output(text)

    def do_clear(self, arg: str) -> None:
        """Clear the log files of named processes or ``all``."""
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self._usage_error("Error: clear requires a process name", "clear")
            return
        supervisor = self.get_supervisor()
        if "all" in names:
            for result in supervisor.clearAllProcessLogs():
                self.output(render.clear_result(result))
                self._set_from_fault(result["status"])
            return
        for name in names:
            group, process = split_namespec(name)
            try:
                supervisor.clearProcessLogs(name)
            except xmlrpc.client.Fault as error:
                failed = _fault_result(error, group, str(process))
                self.output(render.clear_result(failed))
                self._set_from_fault(failed["status"])
            else:
                self.output(f"{make_namespec(group, str(process))}: cleared")

    # -- process control ----------------------------------------------------------------

    def _per_process(
        self,
        names: list[str],
        *,
        run_all: Callable[[], list[ResultDict]],
        run_group: Callable[[str], list[ResultDict]],
        run_one: Callable[[str], object],
        line: Callable[[ResultDict], str],
        success: str,
        ignored: int | None,
        bad_group_status: int,
    ) -> None:
        """The shared shape of start/stop/signal: ``all``, ``group:*`` or ``name``."""
        if "all" in names:
            for result in run_all():
                self.output(line(result))
                self._set_from_fault(result["status"], ignored)
            return
        for name in names:
            group, process = split_namespec(name)
            if process is None:
                try:
                    results = run_group(group)
                except xmlrpc.client.Fault as error:
                    if error.faultCode != Fault.BAD_NAME:
                        self.exitstatus = ExitStatus.GENERIC
                        raise
                    self.output(f"{group}: ERROR (no such group)")
                    self.exitstatus = bad_group_status
                    continue
                for result in results:
                    self.output(line(result))
                    self._set_from_fault(result["status"], ignored)
                continue
            try:
                run_one(name)
            except xmlrpc.client.Fault as error:
                failed = _fault_result(error, group, process)
                self.output(line(failed))
                self._set_from_fault(failed["status"], ignored)
            else:
                self.output(f"{make_namespec(group, process)}: {success}")

    def do_start(self, arg: str) -> None:
        """Start named processes, groups (``g:*``) or ``all``."""
        if not self.upcheck():
            return
        names = arg.split()
        supervisor = self.get_supervisor()
        if not names:
            self._usage_error(
                "Error: start requires a process name", "start", ExitStatus.INVALID_ARGS
            )
            return
        self._per_process(
            names,
            run_all=supervisor.startAllProcesses,
            run_group=supervisor.startProcessGroup,
            run_one=supervisor.startProcess,
            line=render.start_result,
            success="started",
            ignored=Fault.ALREADY_STARTED,
            bad_group_status=ExitStatus.INVALID_ARGS,
        )

    def do_stop(self, arg: str) -> None:
        """Stop named processes, groups (``g:*``) or ``all``."""
        if not self.upcheck():
            return
        names = arg.split()
        supervisor = self.get_supervisor()
        if not names:
            self._usage_error("Error: stop requires a process name", "stop")
            return
        self._per_process(
            names,
            run_all=supervisor.stopAllProcesses,
            run_group=supervisor.stopProcessGroup,
            run_one=supervisor.stopProcess,
            line=render.stop_result,
            success="stopped",
            ignored=Fault.NOT_RUNNING,
            bad_group_status=ExitStatus.GENERIC,
        )

    def do_restart(self, arg: str) -> None:
        """Stop, then start, the named processes (no config reread)."""
        if not self.upcheck():
            return
        if not arg.split():
            self._usage_error("Error: restart requires a process name", "restart")
            return
        self.do_stop(arg)
        self.do_start(arg)

    def do_signal(self, arg: str) -> None:
        """Send a signal to named processes, groups or ``all``."""
        if not self.upcheck():
            return
        args = arg.split()
        if len(args) < 2:
            self._usage_error("Error: signal requires a signal name and a process name", "signal")
            return
        sig, names = args[0], args[1:]
        supervisor = self.get_supervisor()
        self._per_process(
            names,
            run_all=lambda: supervisor.signalAllProcesses(sig),
            run_group=lambda group: supervisor.signalProcessGroup(group, sig),
            run_one=lambda name: supervisor.signalProcess(name, sig),
            line=render.signal_result,
            success="signalled",
            ignored=None,
            bad_group_status=ExitStatus.GENERIC,
        )

    # -- configuration ----------------------------------------------------------------

    def do_reread(self, arg: str) -> None:
        """Reload the config files and report what changed, without applying it."""
        if arg:
            self._usage_error("Error: reread accepts no arguments", "reread")
            return
        try:
            result = self.get_supervisor().reloadConfig()
        except xmlrpc.client.Fault as error:
            self.exitstatus = ExitStatus.GENERIC
            if error.faultCode == Fault.SHUTDOWN_STATE:
                self.output("ERROR: supervisor shutting down")
            elif error.faultCode == Fault.CANT_REREAD:
                self.output(f"ERROR: {error.faultString}")
            else:
                raise
            return
        added, changed, removed = result[0]
        for line in render.change_lines(added, changed, removed):
            self.output(line)

    def do_add(self, arg: str) -> None:
        """Activate groups that the config gained."""
        supervisor = self.get_supervisor()
        for name in arg.split():
            try:
                supervisor.addProcessGroup(name)
            except xmlrpc.client.Fault as error:
                if error.faultCode == Fault.SHUTDOWN_STATE:
                    self.output("ERROR: shutting down")
                    self.exitstatus = ExitStatus.GENERIC
                elif error.faultCode == Fault.ALREADY_ADDED:
                    # Already active is not a failure for scripts (supervisorctl keeps 0).
                    self.output("ERROR: process group already active")
                elif error.faultCode == Fault.BAD_NAME:
                    self.output(f"ERROR: no such process/group: {name}")
                    self.exitstatus = ExitStatus.GENERIC
                else:
                    self.exitstatus = ExitStatus.GENERIC
                    raise
            else:
                self.output(f"{name}: added process group")

    def do_remove(self, arg: str) -> None:
        """Deactivate stopped groups."""
        supervisor = self.get_supervisor()
        for name in arg.split():
            try:
                supervisor.removeProcessGroup(name)
            except xmlrpc.client.Fault as error:
                self.exitstatus = ExitStatus.GENERIC
                if error.faultCode == Fault.STILL_RUNNING:
                    self.output(f"ERROR: process/group still running: {name}")
                elif error.faultCode == Fault.BAD_NAME:
                    self.output(f"ERROR: no such process/group: {name}")
                else:
                    raise
            else:
                self.output(f"{name}: removed process group")

    def do_update(self, arg: str) -> None:
        """Reread the config and apply it: stop/remove, restart changed, add new groups."""
        supervisor = self.get_supervisor()
        try:
            result = supervisor.reloadConfig()
        except xmlrpc.client.Fault as error:
            self.exitstatus = ExitStatus.GENERIC
            if error.faultCode != Fault.SHUTDOWN_STATE:
                raise
            self.output("ERROR: already shutting down")
            return
        added, changed, removed = result[0]
        wanted = set(arg.split())
        if "all" in wanted:
            wanted = set()
        if wanted:
            known = {info["group"] for info in supervisor.getAllProcessInfo()} | set(added)
            for gname in wanted - known:
                self.output(f"ERROR: no such group: {gname}")
                self.exitstatus = ExitStatus.GENERIC

        def selected(gname: str) -> bool:
            return not wanted or gname in wanted

        for gname in filter(selected, removed):
            results = supervisor.stopProcessGroup(gname)
            self.output(f"{gname}: stopped")
            if any(r["status"] == Fault.FAILED for r in results):
                self.output(f"{gname}: has problems; not removing")
                self.exitstatus = ExitStatus.GENERIC
                continue
            supervisor.removeProcessGroup(gname)
            self.output(f"{gname}: removed process group")
        for gname in filter(selected, changed):
            supervisor.stopProcessGroup(gname)
            self.output(f"{gname}: stopped")
            supervisor.removeProcessGroup(gname)
            supervisor.addProcessGroup(gname)
            self.output(f"{gname}: updated process group")
        for gname in filter(selected, added):
            supervisor.addProcessGroup(gname)
            self.output(f"{gname}: added process group")

    # -- the daemon itself ------------------------------------------------------------

    def _confirm(self, question: str) -> bool:
        if not self.interactive:
            return True
        return self._input(question).lower().startswith("y")

    def do_shutdown(self, arg: str) -> None:
        """Shut the remote supervisord down (asks first in the shell)."""
        if arg:
            self._usage_error("Error: shutdown accepts no arguments", "shutdown")
            return
        if not self._confirm("Really shut the remote supervisord process down y/N? "):
            return
        try:
            self.get_supervisor().shutdown()
        except xmlrpc.client.Fault as error:
            if error.faultCode != Fault.SHUTDOWN_STATE:
                self.exitstatus = ExitStatus.GENERIC
                raise
            self.output("ERROR: already shutting down")
            return
        except OSError as error:
            self.exitstatus = ExitStatus.GENERIC
            if error.errno == errno.ECONNREFUSED:
                self.output(f"ERROR: {self.serverurl} refused connection (already shut down?)")
            elif error.errno == errno.ENOENT:
                self.output(f"ERROR: {self.serverurl} no such file (already shut down?)")
            else:
                raise
            return
        self.output("Shut down")

    def do_reload(self, arg: str) -> None:
        """Restart the remote supervisord (asks first in the shell)."""
        if arg:
            self._usage_error("Error: reload accepts no arguments", "reload")
            return
        if not self._confirm("Really restart the remote supervisord process y/N? "):
            return
        try:
            self.get_supervisor().restart()
        except xmlrpc.client.Fault as error:
            self.exitstatus = ExitStatus.GENERIC
            if error.faultCode != Fault.SHUTDOWN_STATE:
                raise
            self.output("ERROR: already shutting down")
            return
        self.output("Restarted supervisord")

    # -- foreground ---------------------------------------------------------------------

    def do_events(self, arg: str) -> None:
        """``events [-n N] [--since WHEN] [--follow] ...``: see ``ctl.events``."""
        superd_commands.run_events(self, arg)

    def do_storms(self, arg: str) -> None:
        """``storms [--since WHEN] [--json] [NAME...]``: see ``ctl.storms``."""
        superd_commands.run_storms(self, arg)

    def do_top(self, arg: str) -> None:
        """``top``: the live terminal view, see ``ctl.top``."""
        from supervisor_core.ctl.top import run_top

        run_top(self, arg)

    def do_fg(self, arg: str) -> None:
        """Attach to a running process: its output here, our input to its stdin."""
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self._usage_error("ERROR: no process name supplied", "fg")
            return
        if len(names) > 1:
            self.output("ERROR: too many process names supplied")
            self.exitstatus = ExitStatus.GENERIC
            return
        name = names[0]
        supervisor = self.get_supervisor()
        try:
            info = supervisor.getProcessInfo(name)
        except xmlrpc.client.Fault as error:
            if error.faultCode == Fault.BAD_NAME:
                self.output("ERROR: bad process name supplied")
                self.exitstatus = ExitStatus.GENERIC
            else:
                self.output(f"ERROR: {error}")
            return
        if info["state"] != STATE_RUNNING:
            self.output("ERROR: process not running")
            self.exitstatus = ExitStatus.GENERIC
            return
        self.output("==> Press Ctrl-C to exit <==")
        streams = [
            self._stream_factory(
                self.serverurl, f"/logtail/{name}/{channel}", self.username, self.password
            )
            for channel in ("stdout", "stderr")
        ]
        followers = [
            threading.Thread(target=self._follow_in_background, args=(stream,), daemon=True)
            for stream in streams
        ]
        for follower in followers:
            follower.start()
        try:
            self._forward_input(supervisor, name)
        except (KeyboardInterrupt, EOFError):
            self.output("Exiting foreground")
        finally:
            for stream in streams:
                stream.close()
            for follower in followers:
                follower.join(timeout=5)

    def _follow_in_background(self, stream: Stream) -> None:
        problem = stream.follow(self._write_raw)
        if problem is not None:
            self.stderr.write(f"{problem}\n")
            self.stderr.flush()

    def _forward_input(self, supervisor: SupervisorApi, name: str) -> None:
        """Send each line typed to the process until it stops running."""
        while True:
            chars = self._input("") + "\n"
            try:
                supervisor.sendProcessStdin(name, chars)
            except xmlrpc.client.Fault as error:
                if error.faultCode == Fault.NOT_RUNNING:
                    self.output("Process got killed")
                else:
                    self.output(f"ERROR: {error}")
                self.output("Exiting foreground")
                return
            if supervisor.getProcessInfo(name)["state"] != STATE_RUNNING:
                self.output("Process got killed")
                self.output("Exiting foreground")
                return
