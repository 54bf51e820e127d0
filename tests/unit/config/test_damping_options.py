"""superd's restart-damping options and [supervisord] stderr_tail_lines: parsing and errors."""

from __future__ import annotations

import pytest

from supervisor_core.config import ConfigError, parse


def load(program: str, supervisord: str = "") -> object:
    text = f"[supervisord]\n{supervisord}\n[program:web]\ncommand=/bin/true\n{program}\n"
    return parse(text, "/etc/supervisord.conf")


def test_defaults_are_off_and_warn_nothing() -> None:
    """Without the options the process is supervisord's; with them no unknown-option warning."""
    config = parse("[supervisord]\n[program:web]\ncommand=/bin/true\n", "/etc/s.conf")
    process = config.processes()[0]
    assert (process.backoff_initial, process.startlimit_burst) == (0.0, 0)
    assert config.supervisord.stderr_tail_lines == 20
    damped = parse(
        "[supervisord]\nstderr_tail_lines=5\n[program:web]\ncommand=/bin/true\n"
        "backoff_initial=0.5\nbackoff_factor=3\nbackoff_max=60\nbackoff_jitter=0.1\n"
        "backoff_reset=120\nstartlimit_burst=4\nstartlimit_interval=30\n",
        "/etc/s.conf",
    )
    process = damped.processes()[0]
    assert (
        process.backoff_initial,
        process.backoff_factor,
        process.backoff_max,
        process.backoff_jitter,
        process.backoff_reset,
        process.startlimit_burst,
        process.startlimit_interval,
    ) == (0.5, 3.0, 60.0, 0.1, 120.0, 4, 30.0)
    assert damped.supervisord.stderr_tail_lines == 5
    assert not [w for w in damped.warnings if "unknown option" in w]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "backoff_initial=soon",
            "/etc/supervisord.conf:5: [program:web] backoff_initial: not a number: 'soon'",
        ),
        ("backoff_initial=-1", "backoff_initial: must be a finite number, 0 or more: '-1'"),
        (
            "backoff_factor=0.5",
            "/etc/supervisord.conf:5: [program:web] backoff_factor: must be 1 or more",
        ),
        ("backoff_jitter=2", "backoff_jitter: must be between 0 and 1"),
        ("backoff_max=inf", "backoff_max: must be a finite number, 0 or more: 'inf'"),
        ("startlimit_burst=-2", "startlimit_burst: must be 0 or more: '-2'"),
        ("startlimit_interval=0", "startlimit_interval: must be more than 0 seconds"),
    ],
)
def test_bad_values_name_file_and_line(line: str, message: str) -> None:
    """Each bad damping value is a ConfigError naming file:line, section and option."""
    with pytest.raises(ConfigError) as caught:
        load(line)
    assert message in str(caught.value)


def test_backoff_max_below_initial_is_an_error() -> None:
    """backoff_max smaller than backoff_initial cannot be meant."""
    with pytest.raises(ConfigError, match="backoff_max must not be smaller than backoff_initial"):
        load("backoff_initial=10\nbackoff_max=5")


def test_bad_stderr_tail_lines() -> None:
    """[supervisord] stderr_tail_lines must be a count."""
    with pytest.raises(ConfigError, match=r"\[supervisord\] stderr_tail_lines: must be 0 or more"):
        load("", supervisord="stderr_tail_lines=-1")
