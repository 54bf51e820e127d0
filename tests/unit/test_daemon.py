"""The daemon's OS helpers: AUTO log cleanup, rlimits, pidfile, signal restore, server URL."""

from __future__ import annotations

import asyncio
import resource
import signal
from pathlib import Path

import pytest

from supervisor_core import daemon
from supervisor_core.config import parse
from supervisor_core.http import BoundAddresses
from supervisor_core.runner import server_url


def test_clear_auto_child_logs_removes_only_this_identifiers_auto_logs(tmp_path: Path) -> None:
    """Only ``name-channel---IDENT-xxx.log[.N]`` files of our identifier are removed."""
    ours = ["web-stdout---main-abc123.log", "web-stderr---main-x_y.log.3"]
    theirs = ["web-stdout---other-abc.log", "steady.log", "main.log"]
    for name in ours + theirs:
        (tmp_path / name).write_text("x")
    assert daemon.clear_auto_child_logs(str(tmp_path), "main") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(theirs)


def test_clear_auto_child_logs_reports_an_unreadable_dir(tmp_path: Path) -> None:
    """A missing childlogdir is a warning, as in supervisord, not a failure."""
    assert daemon.clear_auto_child_logs(str(tmp_path / "nope"), "x") == [
        "Could not clear childlog dir"
    ]


def test_raise_rlimits_noop_when_already_enough() -> None:
    """Limits already at or above the minimum are left alone and nothing is reported."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert daemon.raise_rlimits(minfds=min(soft, 16), minprocs=1) == []


def test_raise_rlimits_fails_with_supervisords_message() -> None:
    """A minimum above what may be set raises DaemonError with supervisord's minfds text."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on open files here")
    with pytest.raises(daemon.DaemonError, match='as per the "minfds"'):
        daemon.raise_rlimits(minfds=2**40, minprocs=1)


def test_pidfile_round_trip(tmp_path: Path) -> None:
    """write_pidfile writes the pid and a newline; remove_file tolerates a missing file."""
    path = tmp_path / "x.pid"
    daemon.write_pidfile(str(path), 4242)
    assert path.read_text() == "4242\n"
    daemon.remove_file(str(path))
    daemon.remove_file(str(path))
    assert not path.exists()
    with pytest.raises(daemon.DaemonError, match="could not write pidfile"):
        daemon.write_pidfile(str(tmp_path / "no" / "x.pid"))


async def test_signal_recorder_routes_and_restores_previous_handlers() -> None:
    """Signals reach on_signal on the loop; close() puts the previous Python handler back."""
    received: list[signal.Signals] = []
    got = asyncio.Event()

    def previous(signum: int, frame: object) -> None:
        raise AssertionError("the previous handler must not run while recording")

    before = signal.signal(signal.SIGUSR2, previous)
    try:

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            got.set()

        recorder = daemon.SignalRecorder(
            asyncio.get_running_loop(), (signal.SIGUSR2,), on_signal=on_signal
        )
        signal.raise_signal(signal.SIGUSR2)
        await asyncio.wait_for(got.wait(), timeout=5)
        recorder.close()
        assert received == [signal.SIGUSR2]
        assert signal.getsignal(signal.SIGUSR2) is previous
    finally:
        signal.signal(signal.SIGUSR2, before)


@pytest.mark.parametrize(
    ("sections", "bound", "expected"),
    [
        (
            "[unix_http_server]\nfile=/tmp/s.sock\n[inet_http_server]\nport=127.0.0.1:9001\n",
            None,
            "unix:///tmp/s.sock",
        ),
        ("[inet_http_server]\nport=*:9001\n", None, "http://localhost:9001"),
        (
            "[inet_http_server]\nport=127.0.0.1:9001\n",
            BoundAddresses(inet=("127.0.0.1", 4321)),
            "http://127.0.0.1:4321",
        ),
        ("", None, None),
    ],
)
def test_server_url_prefers_the_unix_socket(
    sections: str, bound: BoundAddresses | None, expected: str | None
) -> None:
    """SUPERVISOR_SERVER_URL: unix socket first, else the inet server (localhost for all)."""
    config = parse("[supervisord]\n" + sections, "/tmp/x.conf")
    assert server_url(config, bound) == expected
