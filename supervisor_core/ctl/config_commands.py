"""superctl's configuration and group actions.

``avail``, ``reread``, ``add``, ``remove`` and ``update``.
"""

from __future__ import annotations

import xmlrpc.client

from supervisor_core.ctl import jsonout, render
from supervisor_core.ctl.codes import ExitStatus, Fault
from supervisor_core.ctl.controller import ControllerBase


class ConfigCommands(ControllerBase):
    """What the configuration holds, and applying its changes group by group."""

    # -- configuration ---------------------------------------------------------

    def do_avail(self, arg: str) -> None:
        """Every configured process, in use or not."""
        as_json, names = jsonout.split_json_flag(arg)
        if as_json:
            jsonout.avail(self, names)  # type: ignore[arg-type]
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
