"""Generate the supervisord.conf every daemon under test runs (pure text rendering).

Both daemons read the very same file, so the sections are plain supervisord 4.x:
a unix socket, an ``[inet_http_server]`` on loopback (the harness talks XML-RPC
over it), the ``[rpcinterface:supervisor]`` section supervisord needs to serve RPC,
and ``minfds``/``minprocs`` sized for the number of programs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramSpec:
    """One ``[program:x]`` section; ``None`` leaves supervisord's default in place."""

    name: str
    command: str
    autostart: bool = True
    autorestart: str = "false"
    startsecs: int = 1
    startretries: int | None = None
    stopwaitsecs: int = 5
    exitcodes: str | None = None
    stdout_logfile: str | None = None
    stdout_logfile_maxbytes: str | None = None
    stdout_logfile_backups: int | None = None
    stderr_logfile: str | None = None
    stderr_logfile_maxbytes: str | None = None
    stderr_logfile_backups: int | None = None
    redirect_stderr: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigLayout:
    """Where a run's files live and how the daemon is reached."""

    workdir: Path
    port: int
    minfds: int
    minprocs: int

    @property
    def socket_path(self) -> Path:
        """The ``[unix_http_server]`` socket."""
        return self.workdir / "supervisor.sock"

    @property
    def childlogdir(self) -> Path:
        """Where ``AUTO`` child logs go."""
        return self.workdir / "childlogs"

    @property
    def rpc_url(self) -> str:
        """XML-RPC endpoint on the inet server."""
        return f"http://127.0.0.1:{self.port}/RPC2"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _check_value(where: str, value: str) -> str:
    # supervisord expands %(name)s in values and reads one value per line, so a stray
    # '%' or newline would change the meaning of the file under test.
    if "%" in value or "\n" in value:
        raise ValueError(
            f"{where}: '%' and newlines are not allowed in generated values: {value!r}"
        )
    return value


def render_program(program: ProgramSpec) -> str:
    """The ``[program:x]`` section text for ``program``."""
    where = f"[program:{program.name}]"
    lines = [
        where,
        f"command={_check_value(where + ' command', program.command)}",
        f"autostart={_bool(program.autostart)}",
        f"autorestart={program.autorestart}",
        f"startsecs={program.startsecs}",
        f"stopwaitsecs={program.stopwaitsecs}",
    ]
    optional: dict[str, object | None] = {
        "startretries": program.startretries,
        "exitcodes": program.exitcodes,
        "stdout_logfile": program.stdout_logfile,
        "stdout_logfile_maxbytes": program.stdout_logfile_maxbytes,
        "stdout_logfile_backups": program.stdout_logfile_backups,
        "stderr_logfile": program.stderr_logfile,
        "stderr_logfile_maxbytes": program.stderr_logfile_maxbytes,
        "stderr_logfile_backups": program.stderr_logfile_backups,
        "redirect_stderr": None
        if program.redirect_stderr is None
        else _bool(program.redirect_stderr),
    }
    for key, value in optional.items():
        if value is not None:
            lines.append(f"{key}={_check_value(f'{where} {key}', str(value))}")
    return "\n".join(lines) + "\n"


def render_config(
    layout: ConfigLayout, programs: Sequence[ProgramSpec], extra_sections: str = ""
) -> str:
    """A complete supervisord.conf for ``programs`` laid out under ``layout.workdir``.

    ``extra_sections`` (e.g. an ``[eventlistener:x]``) is appended as written.
    """
    workdir = _check_value("workdir", str(layout.workdir))
    head = f"""\
[unix_http_server]
file={workdir}/supervisor.sock

[inet_http_server]
port=127.0.0.1:{layout.port}

[supervisord]
logfile={workdir}/supervisord.log
pidfile={workdir}/supervisord.pid
childlogdir={workdir}/childlogs
loglevel=info
minfds={layout.minfds}
minprocs={layout.minprocs}
identifier=bench

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{workdir}/supervisor.sock
"""
    body = "".join("\n" + render_program(p) for p in programs)
    return head + body + ("\n" + extra_sections if extra_sections else "")


def fd_budget(programs: int) -> int:
    """File descriptors a daemon needs for ``programs`` children, with headroom.

    Per child: three pipe ends plus two log files in the daemon, plus sockets and
    the daemon's own files.
    """
    return max(1024, 8 * programs + 256)
