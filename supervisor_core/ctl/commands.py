"""Running superctl commands: one command line in, supervisorctl's text and exit status out.

:class:`Controller` is the whole session: the plumbing of
:class:`~supervisor_core.ctl.controller.ControllerBase` (its rules hold for every
action), the actions by topic (``process_commands``, ``log_commands``,
``config_commands``, ``daemon_commands``) and the session's own actions below.
"""

from __future__ import annotations

import urllib.parse

from supervisor_core.ctl import superd_commands
from supervisor_core.ctl.codes import ExitStatus
from supervisor_core.ctl.config_commands import ConfigCommands
from supervisor_core.ctl.daemon_commands import DaemonCommands
from supervisor_core.ctl.log_commands import LogCommands
from supervisor_core.ctl.process_commands import ProcessCommands


class Controller(ProcessCommands, LogCommands, ConfigCommands, DaemonCommands):
    """One superctl session: settings, output, exit status and every action.

    ``onecmd(line)`` runs one command line; ``exitstatus`` is what a one-shot
    ``superctl ACTION`` exits with.
    """

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
