"""The daemon's loop exception handler: every kind logged, repeats rate limited (issue 19)."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from supervisor_core.loop_errors import RateLimitedExceptionHandler


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def accept_failure() -> dict[str, object]:
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(errno.EMFILE, "Too many open files"),
    }


def test_repeated_emfile_is_one_line_per_interval_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1,000 EMFILE accept failures in one interval log one line without a traceback;
    the first after the interval says how many were left out."""
    clock = Clock()
    handler = RateLimitedExceptionHandler(interval=10.0, clock=clock)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="supervisor_core.loop_errors"):
            for _ in range(1000):
                handler(loop, accept_failure())
            clock.now += 10.0
            handler(loop, accept_failure())
    finally:
        loop.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "socket.accept() out of system resource: [Errno 24] Too many open files",
        "socket.accept() out of system resource (999 more like it in the last 10s were not "
        "logged): [Errno 24] Too many open files",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert handler.suppressed_total == 999


def test_other_reports_reach_the_default_handler_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A different kind of report is logged by asyncio's default handler, each kind
    on its own schedule."""
    clock = Clock()
    handler = RateLimitedExceptionHandler(interval=5.0, clock=clock)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            for _ in range(3):
                handler(loop, {"message": "Task exception", "exception": ValueError("x")})
                handler(loop, accept_failure())
    finally:
        loop.close()
    asyncio_lines = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert asyncio_lines == ["Task exception"]
    assert handler.suppressed_total == 4


async def test_install_restores_the_previous_handler() -> None:
    """install() returns a function that puts the previous handler back."""
    loop = asyncio.get_running_loop()
    handler = RateLimitedExceptionHandler()
    restore = handler.install(loop)
    assert loop.get_exception_handler() is handler
    restore()
    assert loop.get_exception_handler() is None
