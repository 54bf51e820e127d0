"""Times as superctl's own commands take and print them (pure)."""

from __future__ import annotations

import datetime

import pytest

from supervisor_core.ctl.when import WhenError, human_duration, local_time, parse_when

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW - 30),
        ("15m", NOW - 900),
        ("2h", NOW - 7200),
        ("7d", NOW - 7 * 86400),
        ("1.5h", NOW - 5400),
        ("1699999000", 1_699_999_000.0),
        ("2026-12-03T08:00:00+00:00", 1_796_284_800.0),
    ],
)
def test_durations_unix_times_and_iso_times(text: str, expected: float) -> None:
    """A duration counts back from now; a number is a unix time; ISO with a zone is exact."""
    assert parse_when(text, NOW) == expected


def test_iso_time_without_a_zone_is_local() -> None:
    """``2026-12-03T08:00`` means 08:00 on this host's clock, as date(1) shows it."""
    expected = datetime.datetime(2026, 12, 3, 8, 0).astimezone().timestamp()
    assert parse_when("2026-12-03T08:00", NOW) == expected
    assert parse_when("2026-12-03", NOW) == datetime.datetime(2026, 12, 3).astimezone().timestamp()


@pytest.mark.parametrize("text", ["soon", "-5", "10x", ""])
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    """Unreadable times raise WhenError naming the forms (or the sign)."""
    with pytest.raises(WhenError, match=r"duration ago|>= 0"):
        parse_when(text, NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5123, "0.512s"),
        (2.25, "2.250s"),
        (42.04, "42.0s"),
        (192, "3m12s"),
        (5 * 3600 + 180, "5h03m"),
        (2 * 86400 + 4 * 3600, "2d04h"),
        (None, "-"),
        (-1, "-"),
        (True, "-"),
    ],
)
def test_human_durations(seconds: object, text: str) -> None:
    """Durations read as people say them, with units; non-numbers are a dash."""
    assert human_duration(seconds) == text


def test_local_time_with_and_without_milliseconds() -> None:
    """Unix times print as local date and time; non-numbers print as a dash."""
    moment = datetime.datetime.fromtimestamp(NOW, tz=datetime.UTC).astimezone()
    assert local_time(NOW) == f"{moment:%Y-%m-%d %H:%M:%S}"
    assert local_time(NOW + 0.25, millis=True) == f"{moment:%Y-%m-%d %H:%M:%S}.250"
    assert local_time("x") == "-"
