"""superctl's log actions: ``tail``, ``maintail`` and ``clear``."""

from __future__ import annotations

import xmlrpc.client

from supervisor_core.ctl import render
from supervisor_core.ctl.codes import ExitStatus, Fault
from supervisor_core.ctl.controller import ControllerBase, fault_result
from supervisor_core.names import make_namespec, split_namespec

DEFAULT_TAIL_BYTES = 1600


class LogCommands(ControllerBase):
    """Reading, following and clearing process and daemon logs."""

    # -- logs ------------------------------------------------------------------

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
                failed = fault_result(error, group, str(process))
                self.output(render.clear_result(failed))
                self._set_from_fault(failed["status"])
            else:
                self.output(f"{make_namespec(group, str(process))}: cleared")
