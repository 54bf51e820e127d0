"""Property: any text (random or a mutated example) parses to a Config or a ConfigError
whose every problem names a file and a line."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_core.config import Config, ConfigError, parse
from supervisor_core.config.programs import EVENTLISTENER_OPTIONS, FCGI_PROGRAM_OPTIONS
from supervisor_core.config.sections import SUPERVISORD_OPTIONS

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_PATHS = [
    REPO / "examples" / "demo" / "supervisord.conf",
    REPO / "examples" / "seed" / "supervisord.conf",
    REPO / "examples" / "seed" / "supervisord.d" / "slots.ini",
    REPO / "examples" / "seed" / "supervisord.d" / "listener.ini",
]
# Included files get a [supervisord] header so that they can parse on their own too.
EXAMPLES = [
    (
        p.read_text(encoding="utf-8")
        if p.suffix == ".conf"
        else "[supervisord]\n" + p.read_text(encoding="utf-8")
    ).splitlines()
    for p in EXAMPLE_PATHS
]
KEYS = sorted(EVENTLISTENER_OPTIONS | FCGI_PROGRAM_OPTIONS | SUPERVISORD_OPTIONS)
PLACE = re.compile(r"^[^\n]+:\d+: ")

values = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "true",
            "maybe",
            "50MB",
            "TERM",
            "%(",
            "%(nope)s",
            "a=b,c",
            "unix:///x",
            "tcp://h:1",
            "AUTO",
            "NONE",
            "*:0",
            "999999999999",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    """An example config with lines dropped, duplicated, garbled or re-valued."""
    lines = list(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if not lines:
            break
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["drop", "duplicate", "garbage", "value", "indent"]))
        if action == "drop":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "garbage":
            lines.insert(index, draw(st.text(max_size=30)))
        elif action == "value":
            lines.insert(index, f"{draw(st.sampled_from(KEYS))} = {draw(values)}")
        else:
            lines[index] = "  " + lines[index]
    return "\n".join(lines)


def outcome(text: str, path: Path) -> Config | ConfigError:
    """What parsing ``text`` as ``path`` gives: a Config or the ConfigError raised."""
    try:
        return parse(text, str(path), environ={})
    except ConfigError as error:
        return error


def check(text: str, tmp_path: Path) -> None:
    """Parse ``text``: either a Config, or a ConfigError whose problems all carry file:line."""
    # The layout the examples' %(here)s/../../demo-run paths expect.
    (tmp_path / "demo-run").mkdir(exist_ok=True)
    (tmp_path / "examples" / "demo").mkdir(parents=True, exist_ok=True)
    result = outcome(text, tmp_path / "examples" / "demo" / "supervisord.conf")
    if isinstance(result, ConfigError):
        assert result.problems
        for problem in result.problems:
            assert PLACE.match(str(problem)), str(problem)
    else:
        assert isinstance(result, Config)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=mutated_example())
def test_mutated_examples(text: str, tmp_path: Path) -> None:
    """Mutated example configs never crash the parser and every problem has a place."""
    check(text, tmp_path)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(
                [
                    "[supervisord]",
                    "[program:x]",
                    "[eventlistener:e]",
                    "[group:g]",
                    "[include]",
                    "[fcgi-program:f]",
                    "[inet_http_server]",
                    "[DEFAULT]",
                ]
            ),
            st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), values),
        ),
        max_size=15,
    ).map("\n".join)
)
def test_random_text(text: str, tmp_path: Path) -> None:
    """Random INI-ish text never crashes the parser and every problem has a place."""
    check(text, tmp_path)
