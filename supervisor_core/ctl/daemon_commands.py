"""superctl's actions on the daemon itself.

``version``, ``shutdown``, ``reload``, and superd's ``events`` and ``storms``.
"""

from __future__ import annotations

import errno
import xmlrpc.client
from collections.abc import Callable

from supervisor_core.ctl import superd_commands
from supervisor_core.ctl.codes import ExitStatus, Fault
from supervisor_core.ctl.controller import ControllerBase


class DaemonCommands(ControllerBase):
    """The remote supervisord (or superd) as a whole."""

    # -- the daemon itself -----------------------------------------------------

    def do_version(self, arg: str) -> None:
        """The remote supervisord's version."""
        if arg:
            self._usage_error("Error: version accepts no arguments", "version")
            return
        if not self.upcheck():
            return
        self.output(self.get_supervisor().getSupervisorVersion())

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
            if error.faultCode == Fault.CANT_REREAD:
                # superd refuses a restart whose file does not load (supervisord
                # restarts and exits); say why, as reread does.
                self.output(f"ERROR: {error.faultString}")
                return
            if error.faultCode != Fault.SHUTDOWN_STATE:
                raise
            self.output("ERROR: already shutting down")
            return
        self.output("Restarted supervisord")

    # -- superd's own views ----------------------------------------------------

    def do_events(self, arg: str) -> None:
        """``events [-n N] [--since WHEN] [--follow] ...``: see ``ctl.events``."""
        superd_commands.run_events(self, arg)  # type: ignore[arg-type]

    def do_storms(self, arg: str) -> None:
        """``storms [--since WHEN] [--json] [NAME...]``: see ``ctl.storms``."""
        superd_commands.run_storms(self, arg)  # type: ignore[arg-type]

    def do_top(self, arg: str) -> None:
        """``top``: the live terminal view, see ``ctl.top``."""
        from supervisor_core.ctl.top import run_top

        run_top(self, arg)  # type: ignore[arg-type]

    def _run_view(self, run: Callable[..., int], arg: str) -> None:
        """Run one of superd's HTTP views against this session's server; keep a failure."""
        status = run(
            arg,
            serverurl=self.serverurl,
            username=self.username,
            password=self.password,
            stdout=self.stdout,
        )
        if status:
            self.exitstatus = status
