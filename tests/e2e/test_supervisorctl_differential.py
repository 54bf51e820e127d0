"""The real supervisorctl against the real supervisord and against superd: same output.

Three daemons run the same config side by side: a real supervisord and a superd
driven by the real supervisorctl, and a second superd driven by superctl. Every
command of the sequence (status, start/stop/restart of names, groups and all, pid,
avail, reread, update after adding/changing/removing programs, add/remove, tail,
clear, signal, version, shutdown) runs through all three at once, and the
normalised output and exit status must be the supervisord run's. ``tail -f`` and
``maintail -f`` are followed for a moment. The main log is supervisord's in
wording: the lines about processes (spawned, success, exited, stopped, gave up)
are compared as sequences per process, the daemon's own lines (startup, warnings)
as sorted lists; only how often supervisord repeats "waiting for NAME to stop"
(its polling) is masked (docs/compatibility.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.ctl_diff import (
    BANNER,
    HTTP_STEPS,
    PASSWORD,
    UNIX_STEPS,
    USER,
    Outcome,
    Runner,
    compare_sequences,
    config_flags,
    follow_then_interrupt,
    http_flags,
    run_client,
    running_daemons,
    superctl,
    supervisorctl,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[list[Runner]]:
    """supervisorctl→supervisord, supervisorctl→superd, superctl→superd; stopped by pid."""
    kinds = [("real", "supervisord"), ("ours", "superd"), ("ours2", "superd")]
    with running_daemons(tmp_path, kinds) as (real, ours, ours2):
        yield [
            Runner("supervisorctl→supervisord", supervisorctl(), real),
            Runner("supervisorctl→superd", supervisorctl(), ours),
            Runner("superctl→superd", superctl(), ours2),
        ]


# --- the main log ------------------------------------------------------------------

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# Lines about one process, in supervisord's wording, that both daemons must write.
_PROCESS_LINE = re.compile(
    r"^(?:INFO|WARN|CRIT|ERRO) (?:spawned: '(?P<a>[^']+)'|success: (?P<b>\S+) |"
    r"exited: (?P<c>\S+) |stopped: (?P<d>\S+) |gave up: (?P<e>\S+) )"
)


# supervisord repeats "waiting for NAME to stop" each time it polls a stopping
# process, so how often it appears is its timing (docs/compatibility.md).
_TIMING_LINE = re.compile(r"^INFO waiting for .* to (?:stop|die)$")


# The daemon's own lines that differ on purpose (docs/compatibility.md, "Main log"):
# mapped to one spelling, or None for lines only one daemon writes.
_DAEMON_LINE_MASKS: list[tuple[re.Pattern[str], str | None]] = [
    (
        re.compile(r"^INFO (?:superd|supervisord) started with pid"),
        "INFO <daemon> started with pid",
    ),
    (re.compile(r"^WARN No file matches via include \"(.*)\"$"), r"WARN no file matches \1"),
    (re.compile(r"^WARN \S+: \[include\] no file matches '(.*)'$"), r"WARN no file matches \1"),
    (re.compile(r"^INFO RPC interface 'supervisor' initialized$"), None),
    (re.compile(r"^INFO journal: "), None),
]


def daemon_lines(text: str) -> list[str]:
    """Main-log lines not about one process (startup, include warnings...), masked and sorted."""
    lines = []
    for raw in text.splitlines():
        line: str | None = re.sub(r"with pid \d+", "with pid <PID>", _TIMESTAMP.sub("", raw))
        if not _TIMESTAMP.match(raw) or _PROCESS_LINE.match(raw) or _TIMING_LINE.match(line):
            continue
        for pattern, replacement in _DAEMON_LINE_MASKS:
            if pattern.match(line):
                line = None if replacement is None else pattern.sub(replacement, line)
                break
        if line is not None:
            lines.append(line)
    return sorted(lines)


def process_lines(text: str) -> dict[str, list[str]]:
    """Main-log lines about processes, timestamps and pids masked, per process name."""
    per_process: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = re.sub(r"with pid \d+", "with pid <PID>", _TIMESTAMP.sub("", raw))
        match = _PROCESS_LINE.match(line)
        if match is None:
            continue
        name = next(group for group in match.groups() if group is not None)
        per_process.setdefault(name, []).append(line)
    return per_process


def compare_main_logs(real: Outcome, ours: Outcome) -> None:
    """The process lines of two ``maintail`` outputs tell the same story."""
    assert (real.returncode, real.stderr) == (ours.returncode, ours.stderr)
    expected, actual = process_lines(real.stdout), process_lines(ours.stdout)
    assert expected, real.stdout
    assert actual == expected
    assert daemon_lines(ours.stdout) == daemon_lines(real.stdout), (ours.stdout, real.stdout)


def test_unix_socket_sequence(trio: list[Runner]) -> None:
    """Over unix:// every command prints the same and exits the same against both daemons."""
    real, ours = trio[0].daemon, trio[1].daemon
    # Log following first, while the logs are what wait_ready saw.
    for args in (["tail", "-f", "sleeper"], ["tail", "-f", "sleeper", "stderr"]):
        outcomes = [
            follow_then_interrupt(r.client, r.daemon, config_flags(r.daemon), args, BANNER + 3)
            for r in trio
        ]
        assert outcomes[1] == outcomes[0], args
        assert outcomes[2] == outcomes[0], args
    followed = [
        follow_then_interrupt(
            supervisorctl(), daemon, config_flags(daemon), ["maintail", "-f"], BANNER + 200
        )
        for daemon in (real, ours)
    ]
    assert followed[1].stdout.startswith("==> Press Ctrl-C to exit <==\n")
    assert followed[1].returncode == followed[0].returncode == 0
    shutdown_at = UNIX_STEPS.index(["shutdown", "now"])
    mismatches = compare_sequences(trio, UNIX_STEPS[:shutdown_at], config_flags)
    main_logs = [
        run_client(supervisorctl(), daemon, config_flags(daemon), ["maintail", "-100000"])
        for daemon in (real, ours)
    ]
    compare_main_logs(*main_logs)
    mismatches += compare_sequences(trio, UNIX_STEPS[shutdown_at:], config_flags)
    assert not mismatches, "\n".join(mismatches)


def test_http_sequence_with_credentials(trio: list[Runner]) -> None:
    """Over http:// with basic auth the same; without or with wrong credentials too."""
    for flags in (
        lambda d: ["-s", d.http_url],
        lambda d: ["-s", d.http_url, "-u", USER, "-p", "wrong"],
        lambda d: ["-s", d.http_url, "-u", "nobody", "-p", PASSWORD],
    ):
        outcomes = [run_client(r.client, r.daemon, flags(r.daemon), ["status"]) for r in trio]
        assert outcomes[1] == outcomes[0]
        assert outcomes[2] == outcomes[0]
        assert outcomes[0].returncode == 1
    outcomes = [
        follow_then_interrupt(
            r.client, r.daemon, http_flags(r.daemon), ["tail", "-f", "sleeper"], BANNER + 3
        )
        for r in trio
    ]
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]
    maintail = [
        run_client(supervisorctl(), r.daemon, http_flags(r.daemon), ["maintail", "-100000"])
        for r in trio[:2]
    ]
    compare_main_logs(*maintail)
    mismatches = compare_sequences(trio, HTTP_STEPS, http_flags)
    assert not mismatches, "\n".join(mismatches)
