"""superctl against supervisorctl: the same commands against a real supervisord.

Two identical supervisords run side by side (one per client) so that every stateful
command sees the same state; read-only log commands whose text depends on the
daemon's own log run both clients against one daemon. Output text and exit codes
must be equal once pids, uptimes, dates, temp paths and ports are masked
(helpers shared with the other differential tests in ``tests/e2e/ctl_diff.py``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.ctl_diff import (
    BANNER,
    HTTP_STEPS,
    UNIX_STEPS,
    USER,
    Daemon,
    Runner,
    compare_sequences,
    config_flags,
    follow_then_interrupt,
    free_port,
    http_flags,
    run_client,
    running_daemons,
    superctl,
    supervisorctl,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[tuple[Daemon, Daemon]]:
    """Two identical real supervisords; always terminated by pid at the end."""
    with running_daemons(tmp_path, [("real", "supervisord"), ("ours", "supervisord")]) as pair:
        yield pair[0], pair[1]


def runners(real: Daemon, ours: Daemon) -> list[Runner]:
    """supervisorctl on one supervisord, superctl on the other."""
    return [Runner("supervisorctl", supervisorctl(), real), Runner("superctl", superctl(), ours)]


def test_unix_socket_sequence(daemons: tuple[Daemon, Daemon]) -> None:
    """Over the config's unix:// serverurl every command prints and exits the same."""
    real, ours = daemons
    # Log-following first, on one daemon, while the logs are what wait_ready saw.
    for client_args in (["tail", "-f", "sleeper"], ["tail", "-f", "sleeper", "stderr"]):
        outcomes = [
            follow_then_interrupt(client, real, config_flags(real), client_args, BANNER + 3)
            for client in (supervisorctl(), superctl())
        ]
        assert outcomes[0] == outcomes[1], client_args
        assert outcomes[1].returncode == 0
    main_log = min(1024, (real.directory / "sd.log").stat().st_size)
    outcomes = [
        follow_then_interrupt(
            client, real, config_flags(real), ["maintail", "-f"], BANNER + main_log
        )
        for client in (supervisorctl(), superctl())
    ]
    assert outcomes[0] == outcomes[1]
    plain = [
        run_client(c, real, config_flags(real), ["maintail", "-300"])
        for c in (supervisorctl(), superctl())
    ]
    assert plain[0] == plain[1]
    mismatches = compare_sequences(runners(real, ours), UNIX_STEPS, config_flags)
    assert not mismatches, "\n".join(mismatches)


def test_http_sequence_with_credentials(daemons: tuple[Daemon, Daemon]) -> None:
    """Over http:// with basic auth the same; without or with bad credentials too."""
    real, ours = daemons
    for flags in (
        lambda d: ["-s", d.http_url],
        lambda d: ["-s", d.http_url, "-u", USER, "-p", "wrong"],
    ):
        expected = run_client(supervisorctl(), real, flags(real), ["status"])
        actual = run_client(superctl(), ours, flags(ours), ["status"])
        assert expected == actual
        assert actual.returncode == 1
    outcomes = [
        follow_then_interrupt(
            client, daemon, http_flags(daemon), ["tail", "-f", "sleeper"], BANNER + 3
        )
        for client, daemon in ((supervisorctl(), real), (superctl(), ours))
    ]
    assert outcomes[0] == outcomes[1]
    mismatches = compare_sequences(runners(real, ours), HTTP_STEPS, http_flags)
    assert not mismatches, "\n".join(mismatches)


def test_usage_errors_and_unreachable_servers(tmp_path: Path) -> None:
    """Flag errors, missing config sections and dead servers print and exit the same."""
    (tmp_path / "nosection.conf").write_text("[supervisord]\n")
    daemon = Daemon(directory=tmp_path, port=0, process=subprocess.Popen(["true"]))
    daemon.process.wait()
    cases = [
        ["-x", "status"],
        ["-c", str(tmp_path / "missing.conf"), "status"],
        ["-c", str(tmp_path / "nosection.conf"), "status"],
        ["-s", "notaurl", "status"],
        ["-s", f"unix://{tmp_path}/absent.sock", "status"],
        ["-s", f"unix://{tmp_path}/absent.sock", "start", "x"],
        ["-s", f"unix://{tmp_path}/absent.sock", "avail"],
        ["-s", f"unix://{tmp_path}/absent.sock", "shutdown"],
        ["-s", f"http://127.0.0.1:{free_port()}", "status"],
        ["-s", "ftp://example", "status"],
    ]
    for args in cases:
        expected = run_client(supervisorctl(), daemon, [], args)
        actual = run_client(superctl(), daemon, [], args)
        assert expected == actual, args
