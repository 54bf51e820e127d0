"""Every option left out takes supervisord 4.x's default."""

from __future__ import annotations

import signal
import tempfile

from supervisor_core.config import AUTO, AutoRestart, GroupKind, parse
from supervisor_core.config.model import LogLevel


def test_program_defaults() -> None:
    """A [program:x] with only command= gets every supervisord default."""
    config = parse("[supervisord]\n[program:x]\ncommand=/bin/cat\n", "/etc/s.conf", environ={})
    (group,) = config.groups
    assert (group.name, group.kind, group.priority) == ("x", GroupKind.PROGRAM, 999)
    (p,) = group.processes
    assert p.name == "x"
    assert p.program_name == "x"
    assert p.group_name == "x"
    assert p.namespec == "x"
    assert p.process_num == 0
    assert p.numprocs == 1
    assert p.priority == 999
    assert p.autostart is True
    assert p.autorestart is AutoRestart.UNEXPECTED
    assert p.startsecs == 1
    assert p.startretries == 3
    assert p.exitcodes == frozenset({0})
    assert p.stopsignal is signal.SIGTERM
    assert p.stopwaitsecs == 10
    assert p.stopasgroup is False
    assert p.killasgroup is False
    assert p.user is None
    assert p.directory is None
    assert p.umask is None
    assert p.redirect_stderr is False
    assert dict(p.environment) == {}
    assert p.serverurl is None
    for channel in (p.stdout, p.stderr):
        assert channel.logfile is AUTO
        assert channel.logfile_maxbytes == 50 * 1024 * 1024
        assert channel.logfile_backups == 10
        assert channel.capture_maxbytes == 0
        assert channel.events_enabled is False
        assert channel.syslog is False
    assert p.origin is not None
    assert str(p.origin) == "/etc/s.conf:2"
    assert str(p.key_origins["command"]) == "/etc/s.conf:3"


def test_killasgroup_defaults_to_stopasgroup() -> None:
    """killasgroup follows stopasgroup when not set."""
    config = parse(
        "[supervisord]\n[program:x]\ncommand=c\nstopasgroup=true\n", "/s.conf", environ={}
    )
    (p,) = config.processes()
    assert (p.stopasgroup, p.killasgroup) == (True, True)


def test_redirect_stderr_forces_no_stderr_log() -> None:
    """redirect_stderr=true means no stderr log file at all, even AUTO."""
    config = parse(
        "[supervisord]\n[program:x]\ncommand=c\nredirect_stderr=true\n", "/s.conf", environ={}
    )
    (p,) = config.processes()
    assert p.stderr.logfile is None
    assert p.stdout.logfile is AUTO


def test_serverurl_auto_is_none() -> None:
    """serverurl=AUTO (any case) means computed from the servers, i.e. None."""
    config = parse("[supervisord]\n[program:x]\ncommand=c\nserverurl=auto\n", "/s.conf", environ={})
    assert config.processes()[0].serverurl is None


def test_eventlistener_defaults() -> None:
    """A listener pool's priority is -1, buffer 10, default handler; its process keeps 999."""
    config = parse(
        "[supervisord]\n[eventlistener:l]\ncommand=c\nevents=TICK_5\n", "/s.conf", environ={}
    )
    (group,) = config.groups
    assert group.kind is GroupKind.EVENTLISTENER
    assert group.priority == -1
    assert group.buffer_size == 10
    assert group.events == frozenset({"TICK_5"})
    assert group.result_handler == "supervisor.dispatchers:default_handler"
    assert group.processes[0].priority == 999


def test_supervisord_defaults() -> None:
    """An empty [supervisord] gets supervisord's daemon defaults."""
    config = parse("[supervisord]\n", "/etc/s.conf", environ={})
    d = config.supervisord
    assert d.logfile == "supervisord.log"
    assert d.logfile_maxbytes == 50 * 1024 * 1024
    assert d.logfile_backups == 10
    assert d.loglevel is LogLevel.INFO
    assert d.pidfile == "supervisord.pid"
    assert d.umask == 0o022
    assert (d.nodaemon, d.silent, d.nocleanup, d.strip_ansi) == (False, False, False, False)
    assert (d.minfds, d.minprocs) == (1024, 200)
    assert d.childlogdir == tempfile.gettempdir()
    assert (d.user, d.directory) == (None, None)
    assert dict(d.environment) == {}
    assert d.identifier == "supervisor"
    assert config.groups == ()
    assert (config.unix_http_server, config.inet_http_server, config.supervisorctl) == (
        None,
        None,
        None,
    )
    assert config.path == "/etc/s.conf"
    assert config.here == "/etc"


def test_server_and_client_defaults() -> None:
    """unix_http_server chmod 0700 / no chown; supervisorctl's url and prompt defaults."""
    text = "[supervisord]\n[unix_http_server]\nfile=/tmp/s.sock\n[supervisorctl]\n"
    config = parse(text, "/s.conf", environ={})
    assert config.unix_http_server is not None
    assert config.unix_http_server.chmod == 0o700
    assert config.unix_http_server.chown == (-1, -1)
    assert (config.unix_http_server.username, config.unix_http_server.password) == (None, None)
    assert config.supervisorctl is not None
    assert config.supervisorctl.serverurl == "http://localhost:9001"
    assert config.supervisorctl.prompt == "supervisor"
    assert config.supervisorctl.history_file is None


def test_group_defaults_and_sorting() -> None:
    """[group:x] priority defaults to 999; groups and their processes sort by priority, name."""
    text = (
        "[supervisord]\n[group:g]\nprograms=b,a\n"
        "[program:a]\ncommand=c\npriority=5\n[program:b]\ncommand=c\npriority=1\n"
        "[program:z]\ncommand=c\npriority=1\n[program:y]\ncommand=c\npriority=1\n"
    )
    config = parse(text, "/s.conf", environ={})
    assert [(g.name, g.priority) for g in config.groups] == [("y", 1), ("z", 1), ("g", 999)]
    group = config.group("g")
    assert group is not None
    assert group.kind is GroupKind.GROUP
    assert [p.name for p in group.processes] == ["b", "a"]
    assert group.processes[0].namespec == "g:b"
    assert config.group("nope") is None
