"""superctl's process control.

``status``, ``pid``, ``start``, ``stop``, ``restart``, ``signal`` and ``fg``.
"""

from __future__ import annotations

import threading
import xmlrpc.client
from collections.abc import Callable

from supervisor_core.ctl import jsonout, render
from supervisor_core.ctl.api import ResultDict, SupervisorApi
from supervisor_core.ctl.codes import (
    STATE_RUNNING,
    STOPPED_STATES,
    ExitStatus,
    Fault,
    StatusExitStatus,
)
from supervisor_core.ctl.controller import ControllerBase, Stream, fault_result
from supervisor_core.ctl.names import select_processes
from supervisor_core.names import make_namespec, split_namespec


class ProcessCommands(ControllerBase):
    """Actions on processes, groups (``g:*``) or ``all``."""

    # -- reading state ---------------------------------------------------------

    def do_status(self, arg: str) -> None:
        """Status lines of all or the named processes (exit 3 if any is not running)."""
        as_json, names = jsonout.split_json_flag(arg)
        if as_json:
            jsonout.status(self, names)  # type: ignore[arg-type]
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

    # -- starting, stopping, signalling ----------------------------------------

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
                failed = fault_result(error, group, process)
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

    # -- foreground ------------------------------------------------------------

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
