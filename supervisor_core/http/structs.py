"""Pure builders of supervisord's XML-RPC structs from control snapshots and config.

Every key, type and description string here is observable by clients (supervisorctl
prints ``description`` verbatim), so they follow supervisord 4.x exactly.
"""

from __future__ import annotations

import datetime
import pwd
import time
import xmlrpc.client
from collections.abc import Iterable, Mapping, Set

from supervisor_core import control
from supervisor_core.config.model import AUTO, ChannelConfig, GroupConfig, LogFile, ProcessConfig
from supervisor_core.lifecycle import ProcessState

XmlRpcStruct = dict[str, str | int | bool | list[int]]


def capped_int(value: float) -> int:
    """``value`` as an int that fits XML-RPC's 32-bit ``<int>`` (saturating)."""
    return max(xmlrpc.client.MININT, min(xmlrpc.client.MAXINT, int(value)))


def describe(info: control.ProcessInfo) -> str:
    """supervisorctl's status ``description`` of a process snapshot.

    RUNNING: ``pid 123, uptime 0:01:02``; FATAL/BACKOFF: the spawn error; STOPPED/
    EXITED: the local stop time (``Nov 25 05:43 PM``) or ``Not started``; else "".
    superd adds what supervisord has no notion of, only where it applies: the
    ``STATUS=`` text of a ``ready = notify`` program, and what a process waits for
    (``depends_on``), and a survivor of a killed superd it adopted or left running.
    """
    text = _supervisord_description(info)
    extra = [part for part in (info.waiting, info.status_text, info.survivor) if part]
    return ", ".join([text, *extra]) if text and extra else (text or ", ".join(extra))


def _supervisord_description(info: control.ProcessInfo) -> str:
    if info.state == ProcessState.RUNNING:
        # Whole seconds of UTC wall time, as supervisord computes it; a clock set
        # back shows 0:00:00 rather than a negative uptime.
        uptime = datetime.timedelta(seconds=max(int(info.now) - int(info.start), 0))
        return f"pid {info.pid}, uptime {uptime}"
    if info.state in (ProcessState.FATAL, ProcessState.BACKOFF):
        return info.spawnerr or f'unknown error (try "tail {info.name}")'
    if info.state in (ProcessState.STOPPED, ProcessState.EXITED):
        if not info.start:
            return "Not started"
        stopped = datetime.datetime(*time.localtime(info.stop)[:6])  # noqa: DTZ001 - local wall time on purpose
        return stopped.strftime("%b %d %I:%M %p")
    return ""


def process_info_struct(info: control.ProcessInfo) -> XmlRpcStruct:
    """The ``getProcessInfo`` struct for one process snapshot."""
    return {
        "name": info.name,
        "group": info.group,
        "start": capped_int(info.start),
        "stop": capped_int(info.stop),
        "now": capped_int(info.now),
        "state": int(info.state),
        "statename": info.statename,
        "spawnerr": info.spawnerr,
        "exitstatus": info.exitstatus,
        "logfile": info.stdout_logfile,  # supervisord keeps this alias of stdout_logfile
        "stdout_logfile": info.stdout_logfile,
        "stderr_logfile": info.stderr_logfile,
        "pid": info.pid,
        "description": describe(info),
    }


def operation_result(
    info: control.ProcessInfo, status: int, description: str
) -> dict[str, str | int]:
    """One entry of a group operation's result list (``startProcessGroup`` & co)."""
    return {"name": info.name, "group": info.group, "status": status, "description": description}


def _logfile_value(logfile: LogFile, resolved: str | None) -> str:
    # supervisord names an AUTO log when it reads the config, so it reports that
    # path; ours is named when the process is created: report it when there is one.
    if logfile is AUTO:
        return resolved or "auto"
    if logfile is None:
        return "none"
    return str(logfile)


def _uid_value(user: str | None) -> int | str:
    # supervisord reports the uid it resolved from ``user=``; "none" when unset.
    if user is None:
        return "none"
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return "none"


def _channel_fields(prefix: str, channel: ChannelConfig, resolved: str | None) -> XmlRpcStruct:
    return {
        f"{prefix}_capture_maxbytes": channel.capture_maxbytes,
        f"{prefix}_events_enabled": channel.events_enabled,
        f"{prefix}_logfile": _logfile_value(channel.logfile, resolved),
        f"{prefix}_logfile_backups": channel.logfile_backups,
        f"{prefix}_logfile_maxbytes": channel.logfile_maxbytes,
        f"{prefix}_syslog": channel.syslog,
    }


def config_info_struct(
    group: GroupConfig,
    process: ProcessConfig,
    *,
    inuse: bool,
    logfiles: tuple[str, str] | None = None,
) -> XmlRpcStruct:
    """One ``getAllConfigInfo`` entry (XML-RPC has no None: supervisord sends "none").

    ``logfiles`` are the running process's resolved (stdout, stderr) log paths,
    reported for channels configured as AUTO (else "auto").
    """
    stdout, stderr = logfiles if logfiles is not None else (None, None)
    struct: XmlRpcStruct = {
        "autostart": process.autostart,
        "directory": process.directory if process.directory is not None else "none",
        "uid": _uid_value(process.user),
        "command": process.command,
        "exitcodes": sorted(process.exitcodes),
        "group": group.name,
        "group_prio": group.priority,
        "inuse": inuse,
        "killasgroup": process.killasgroup,
        "name": process.name,
        "process_prio": process.priority,
        "redirect_stderr": process.redirect_stderr,
        "startretries": process.startretries,
        "startsecs": process.startsecs,
        "stopsignal": int(process.stopsignal),
        "stopwaitsecs": process.stopwaitsecs,
        # None is AUTO in the model as in supervisord, which reports it as "none".
        "serverurl": process.serverurl if process.serverurl is not None else "none",
    }
    struct.update(_channel_fields("stdout", process.stdout, stdout))
    struct.update(_channel_fields("stderr", process.stderr, stderr))
    return struct


def all_config_info(
    groups: Iterable[GroupConfig],
    active: Set[str],
    logfiles: Mapping[tuple[str, str], tuple[str, str]] | None = None,
) -> list[XmlRpcStruct]:
    """Every configured process flattened, sorted by process name as supervisord does.

    ``logfiles`` maps ``(group, process)`` of existing processes to their resolved
    (stdout, stderr) log paths.
    """
    known = logfiles or {}
    structs = [
        config_info_struct(
            group,
            process,
            inuse=group.name in active,
            logfiles=known.get((group.name, process.name)),
        )
        for group in groups
        for process in group.processes
    ]
    structs.sort(key=lambda s: str(s["name"]))
    return structs
