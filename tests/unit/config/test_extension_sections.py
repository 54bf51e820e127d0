"""Unknown sections keep their keys and places for the extension that owns them."""

from __future__ import annotations

from supervisor_core.config import Origin, parse


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
