"""Cross-option rules: every problem at once, each as file:line: [section] option: reason."""

from __future__ import annotations

import pytest

from supervisor_core.config import ConfigError, parse

HEAD = "[supervisord]\n"


def problems(text: str) -> list[str]:
    """Rendered problems of ``text`` parsed as /c/s.conf (the header is line 1)."""
    with pytest.raises(ConfigError) as caught:
        parse(HEAD + text, "/c/s.conf", environ={})
    return [str(p) for p in caught.value.problems]


RULES = [
    (
        "[program:x]\ncommand=c\nnumprocs=2\n",
        "/c/s.conf:4: [program:x] numprocs: process_name must contain %(process_num) "
        "when numprocs > 1: '%(program_name)s'",
    ),
    (
        "[program:x]\ncommand=c\nnumprocs=2\nprocess_name=x\n",
        "/c/s.conf:5: [program:x] process_name: process_name must contain %(process_num) "
        "when numprocs > 1: 'x'",
    ),
    (
        "[program:x]\ncommand=c\nstopasgroup=true\nkillasgroup=false\n",
        "/c/s.conf:5: [program:x] killasgroup: cannot be false when stopasgroup is true",
    ),
    (
        "[eventlistener:x]\ncommand=c\nevents=TICK_5\nredirect_stderr=true\n",
        "/c/s.conf:5: [eventlistener:x] redirect_stderr: not allowed in an event listener: "
        "it would interfere with the listener protocol",
    ),
    (
        "[eventlistener:x]\ncommand=c\nevents=TICK_5\nbuffer_size=0\n",
        "/c/s.conf:5: [eventlistener:x] buffer_size: must be at least 1: '0'",
    ),
    (
        "[eventlistener:x]\ncommand=c\n",
        "/c/s.conf:2: [eventlistener:x] events: missing (an event listener needs events=)",
    ),
    (
        "[eventlistener:x]\ncommand=c\nevents=\n",
        "/c/s.conf:4: [eventlistener:x] events: names no event type: ''",
    ),
    (
        "[group:g]\nprograms=nope\n",
        "/c/s.conf:3: [group:g] programs: names unknown program or fcgi-program: 'nope'",
    ),
    (
        "[group:g]\nprograms=p\n[program:p]\ncommand=c\n[fcgi-program:p]\ncommand=c\n"
        "socket=tcp://h:1\n",
        "/c/s.conf:3: [group:g] programs: is ambiguous: both [program:x] and "
        "[fcgi-program:x] exist: 'p'",
    ),
    (
        "[program:x]\nautostart=true\n",
        "/c/s.conf:2: [program:x] command: missing (every process section needs command=)",
    ),
    (
        "[inet_http_server]\nport=9001\nusername=u\n",
        "/c/s.conf:4: [inet_http_server] username: incomplete authentication: "
        "username and password must be set together",
    ),
    (
        "[unix_http_server]\nfile=/tmp/s.sock\npassword=p\n",
        "/c/s.conf:4: [unix_http_server] password: incomplete authentication: "
        "username and password must be set together",
    ),
    (
        "[inet_http_server]\nusername=u\npassword=p\n",
        "/c/s.conf:2: [inet_http_server] port: missing (the section needs port=host:port)",
    ),
    (
        "[unix_http_server]\nchmod=0700\n",
        "/c/s.conf:2: [unix_http_server] file: missing (the section needs file=/path/to/socket)",
    ),
    (
        "[program:x]\ncommand=c\nuser=no-such-user-xyz\n",
        "/c/s.conf:4: [program:x] user: no such user: 'no-such-user-xyz'",
    ),
    (
        "[fcgi-program:x]\ncommand=c\n",
        "/c/s.conf:2: [fcgi-program:x] socket: missing (an fcgi-program needs socket=)",
    ),
    (
        "[fcgi-program:x]\ncommand=c\nsocket=unix://rel/x.sock\n",
        "/c/s.conf:4: [fcgi-program:x] socket: a unix socket path must be absolute: "
        "'unix://rel/x.sock'",
    ),
    (
        "[fcgi-program:x]\ncommand=c\nsocket=tcp://h:1\nsocket_mode=0600\n",
        "/c/s.conf:4: [fcgi-program:x] socket: socket_owner and socket_mode only apply to "
        "a unix socket: 'tcp://h:1'",
    ),
    (
        "[fcgi-program:x]\ncommand=c\nsocket=udp://h:1\n",
        "/c/s.conf:4: [fcgi-program:x] socket: not tcp://host:port or unix:///path: 'udp://h:1'",
    ),
    (
        "[fcgi-program:x]\ncommand=c\nsocket=tcp://h:1\nsocket_backlog=0\n",
        "/c/s.conf:5: [fcgi-program:x] socket_backlog: must be between 1 and 65535: '0'",
    ),
    (
        "[fcgi-program:x]\ncommand=c\nsocket=tcp://h:99999\n",
        "/c/s.conf:4: [fcgi-program:x] socket: port must be between 1 and 65535: 'tcp://h:99999'",
    ),
    (
        "[program:a b]\ncommand=c\n",
        "/c/s.conf:2: [program:a b] bad name: a name must not contain ' ': 'a b'",
    ),
    (
        "[include]\n",
        "/c/s.conf:2: [include] files: missing (an [include] section needs files=)",
    ),
    (
        "[rpcinterface:x]\nother=1\n",
        "/c/s.conf:2: [rpcinterface:x] supervisor.rpcinterface_factory: missing "
        "(the section names no factory)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), RULES)
def test_rule(text: str, expected: str) -> None:
    """Each rule supervisord enforces is reported with its exact place and reason."""
    assert problems(text) == [expected]


def test_missing_supervisord_section() -> None:
    """A file without [supervisord] is refused, pointing at the file."""
    with pytest.raises(ConfigError) as caught:
        parse("[program:x]\ncommand=c\n", "/c/s.conf", environ={})
    assert [str(p) for p in caught.value.problems] == [
        "/c/s.conf:1: [supervisord] section missing (supervisord requires it)"
    ]


def test_every_problem_is_reported_at_once() -> None:
    """Bad values in several programs and sections all come out, sorted by line."""
    text = (
        "[program:a]\ncommand=c\nstartsecs=ten\nautostart=maybe\n"
        "[program:b]\ncommand=c\nstopsignal=NOPE\nexitcodes=300\n"
        "[supervisorctl]\nserverurl=%(nope)s\n"
        "[inet_http_server]\nport=host:http\n"
    )
    assert problems(text) == [
        "/c/s.conf:4: [program:a] startsecs: not an integer: 'ten'",
        "/c/s.conf:5: [program:a] autostart: not a boolean (use true/false, yes/no, on/off, "
        "1/0): 'maybe'",
        "/c/s.conf:8: [program:b] stopsignal: not a signal name: 'NOPE'",
        "/c/s.conf:9: [program:b] exitcodes: exit codes must be between 0 and 255: '300'",
        "/c/s.conf:13: [inet_http_server] port: not a port number: 'host:http'",
    ]


def test_per_process_values_are_checked_for_each_process() -> None:
    """A per-process problem (bad expansion in one numprocs member) is still reported once."""
    text = (
        "[program:a]\nnumprocs=2\nprocess_name=a%(process_num)s\n"
        "command=c %(ENV_MISSING)s\n[program:b]\ncommand=%(nope)s\n"
    )
    found = problems(text)
    assert len(found) == 2
    assert found[0].startswith("/c/s.conf:5: [program:a] command: unknown expansion")
    assert found[1].startswith("/c/s.conf:7: [program:b] command: unknown expansion")


def test_supervisorctl_problems_are_warnings() -> None:
    """supervisord never reads [supervisorctl], so its problems only warn."""
    config = parse(HEAD + "[supervisorctl]\nserverurl=%(nope)s\n", "/c/s.conf", environ={})
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith("/c/s.conf:3: [supervisorctl] serverurl: unknown")


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (
            "[group:g1]\nprograms=p\n[group:g2]\nprograms=p\n[program:p]\ncommand=c\n",
            "/c/s.conf:5: [group:g2] [program:p] is also in [group:g1]: "
            "supervisord runs it in both groups",
        ),
        (
            "[program:p]\ncommand=c\nautorestrat=true\n",
            "/c/s.conf:4: [program:p] autorestrat: unknown option (ignored)",
        ),
        (
            "[programs:p]\ncommand=c\n",
            "/c/s.conf:2: [programs:p] unknown section (supervisord ignores it)",
        ),
        (
            "[program:p]\ncommand=c\nstdout_logfile=syslog\n",
            "/c/s.conf:4: [program:p] stdout_logfile=syslog is deprecated (supervisord will drop "
            "it); use stdout_syslog=true",
        ),
        (
            "[program:p]\ncommand=c\nstdout_logfile_maxbytes=0\n",
            "/c/s.conf:2: [program:p] AUTO logging used for stdout_logfile without rollover; set "
            "stdout_logfile_maxbytes > 0 to avoid filling up the filesystem",
        ),
        (
            "[program:p]\ncommand=c\nredirect_stderr=true\nstderr_logfile=/tmp/e.log\n",
            "/c/s.conf:5: [program:p] redirect_stderr=true but stderr_logfile is also set: "
            "the file is ignored",
        ),
    ],
)
def test_warnings(text: str, warning: str) -> None:
    """Things supervisord accepts but that look wrong load, with a warning naming the place."""
    config = parse(HEAD + text, "/c/s.conf", environ={})
    assert warning in config.warnings


def test_syslog_logfile_becomes_syslog_flag() -> None:
    """stdout_logfile=syslog means no file and stdout_syslog=true."""
    config = parse(
        HEAD + "[program:p]\ncommand=c\nstdout_logfile=syslog\n", "/c/s.conf", environ={}
    )
    stdout = config.processes()[0].stdout
    assert (stdout.logfile, stdout.syslog) == (None, True)


def test_unknown_sections_are_recorded() -> None:
    """Sections supervisord ignores (future [exporter:x], typos) are listed, not fatal."""
    config = parse(HEAD + "[exporter:prometheus]\nport=1\n[weird]\n", "/c/s.conf", environ={})
    assert config.unknown_sections == ("exporter:prometheus", "weird")
    assert all("exporter" not in w for w in config.warnings)


def test_unknown_listener_event_types_are_problems_of_the_same_pass_given_the_names() -> None:
    """With the daemon's event type names, an unknown events= name joins the other problems."""
    text = (
        "[eventlistener:x]\ncommand=c\nevents=TICK_5,tick_7,TICK_60\n"
        "[program:y]\ncommand=c\nstartsecs=ten\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse(HEAD + text, "/c/s.conf", environ={}, event_types={"TICK_5", "TICK_60"})
    assert [str(p) for p in caught.value.problems] == [
        "/c/s.conf:4: [eventlistener:x] events: unknown event type: 'TICK_7'",
        "/c/s.conf:7: [program:y] startsecs: not an integer: 'ten'",
    ]


def test_without_the_names_events_are_kept_as_written_for_the_daemon_to_check() -> None:
    """The parser alone knows no event types: names pass through, upper-cased, with their line."""
    config = parse(HEAD + "[eventlistener:x]\ncommand=c\nevents=tick_7\n", "/c/s.conf", environ={})
    (group,) = config.groups
    assert group.events == {"TICK_7"}
    assert str(group.key_origins["events"]) == "/c/s.conf:4"
