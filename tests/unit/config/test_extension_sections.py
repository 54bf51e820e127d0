"""Unknown sections keep their keys and places for the extension that owns them."""

from __future__ import annotations

import pytest

from supervisor_core.config import ConfigError, Origin, parse
from supervisor_core.config.converters import duration, integer_at_least
from supervisor_core.config.model import ExtensionSection
from supervisor_core.config.reader import ExtensionReader


def test_extension_section_keeps_raw_values_and_origins() -> None:
    """[exporter:prometheus] comes back with its keys, as written, and each key's line."""
    text = "[supervisord]\n[exporter:prometheus]\nlisten = 127.0.0.1:9101\nfoo=%(here)s\n"
    config = parse(text, "/c/s.conf", environ={})
    section = config.extension_section("exporter:prometheus")
    assert section is not None
    assert dict(section.values) == {"listen": "127.0.0.1:9101", "foo": "%(here)s"}
    assert section.origins["listen"] == Origin("/c/s.conf", 3)
    assert section.origin == Origin("/c/s.conf", 2)
    assert [s.name for s in config.extension_sections] == list(config.unknown_sections)


def test_extension_section_absent_is_none() -> None:
    """A section that is not in the file is None, not an empty section."""
    config = parse("[supervisord]\n", "/c/s.conf", environ={})
    assert config.extension_section("exporter:prometheus") is None
    assert config.extension_sections == ()


def test_extension_section_or_empty_stands_in_for_an_absent_section() -> None:
    """An absent section reads as an empty one of that name, so every option takes its default."""
    config = parse("[supervisord]\n", "/c/s.conf", environ={})
    assert config.extension_section_or_empty("exporter:x") == ExtensionSection(name="exporter:x")


def _reader(text: str) -> ExtensionReader:
    config = parse(f"[supervisord]\n[exporter:x]\n{text}", "/c/s.conf", environ={})
    return ExtensionReader(config.extension_section_or_empty("exporter:x"))


def test_extension_reader_converts_and_defaults() -> None:
    """Asked-for options are converted; absent ones take the default; values are as written."""
    reader = _reader("burst = 7\nlabel = %(here)s\n")
    assert reader.get("burst", 5, integer_at_least(1)) == 7
    assert reader.get("window", 60.0, duration) == 60.0
    assert reader.get("label", "", str) == "%(here)s"
    reader.check()


def test_extension_reader_reports_every_problem_in_section_order() -> None:
    """Bad values and unknown options come back together, in file order, each with file:line."""
    reader = _reader("colour = red\nburst = 0\nwindow = soon\n")
    assert reader.get("burst", 5, integer_at_least(1)) == 5
    assert reader.get("window", 60.0, duration) == 60.0
    with pytest.raises(ConfigError) as caught:
        reader.check()
    assert str(caught.value).splitlines() == [
        "/c/s.conf:3: [exporter:x] colour: unknown option: 'red'",
        "/c/s.conf:4: [exporter:x] burst: must be >= 1: '0'",
        "/c/s.conf:5: [exporter:x] window: not a duration (e.g. 50ms, 30s, 15m, 12h, 7d, 2w):"
        " 'soon'",
    ]


def test_extension_reader_places_keys_without_origin_at_the_section() -> None:
    """A section built in code names its own place (or ``<config>:0``) for keys without a line."""
    built = ExtensionSection(name="exporter:x", values={"nope": "1"}, origin=Origin("x.conf", 3))
    with pytest.raises(ConfigError, match=r"^x\.conf:3: \[exporter:x\] nope: unknown option: '1'$"):
        ExtensionReader(built).check()
    bare = ExtensionSection(name="exporter:x", values={"nope": "1"})
    with pytest.raises(ConfigError, match=r"^<config>:0: "):
        ExtensionReader(bare).check()
