"""The INI reader: supervisord's dialect, with the line of every section and key."""

from __future__ import annotations

import configparser

import pytest

from supervisor_core.config.ini import read_ini
from supervisor_core.config.model import Origin


def values(text: str) -> dict[str, dict[str, str]]:
    """Sections -> keys -> values as our reader sees ``text``."""
    document = read_ini(text, "f.conf")
    return {
        name: {k: v.value for k, v in s.values.items()} for name, s in document.sections.items()
    }


def reference(text: str) -> dict[str, dict[str, str]]:
    """The same through RawConfigParser configured as supervisord configures it."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(text)
    return {name: dict(parser.items(name)) for name in parser.sections()}


CASES = [
    "[a]\nk = v ; comment\n",
    "[a]\nk = v;not-a-comment\nj = x#y\n",
    "# full\n; full\n[a]\nk: v\n",
    "[a]\nKey = V\n",
    "[Section:Name]\nk=v\n",
    "[a]\nk = first\n  second\n\n  third\n\n",
    "[a]\nk = first\n  ; comment inside\n  second\n",
    "[a]\nk=1\n[b]\nk=2\n[a]\nk=3\nj=4\n",
    "[a]\nk=1\nk=2\n",
    "[a]\nk =\n  x.ini\n  y.ini\n",
    "[a] ; comment after header\nk=v\n",
    "[a]\nk = a ;b #c\n",
    "[a]\nk = x# y ;z\n",
    "[a]\r\nk = v\r\n",
    "[a]\n\tk = v\n",
    "[a]\nk = v = w\n",
]


@pytest.mark.parametrize("text", CASES)
def test_values_match_rawconfigparser(text: str) -> None:
    """Every dialect rule gives the values RawConfigParser gives supervisord."""
    assert values(text) == reference(text)


def test_key_and_section_lines_are_recorded() -> None:
    """Each key remembers its own line; a merged section keeps its first header's line."""
    text = "[a]\nk=1\n\n[b]\nx=1\n[a]\nk=2\nj=3\n"
    document = read_ini(text, "main.conf")
    assert document.sections["a"].origin == Origin("main.conf", 1)
    assert document.sections["a"].values["k"].origin == Origin("main.conf", 7)
    assert document.sections["a"].values["j"].origin == Origin("main.conf", 8)
    assert document.sections["b"].values["x"].origin == Origin("main.conf", 5)


def test_merging_a_second_file_keeps_each_files_lines() -> None:
    """Reading into an existing document merges sections and records the second file."""
    document = read_ini("[a]\nk=1\n", "one.conf")
    read_ini("[a]\nj=2\n[b]\nk=3\n", "two.conf", into=document)
    assert document.sections["a"].values["k"].origin == Origin("one.conf", 2)
    assert document.sections["a"].values["j"].origin == Origin("two.conf", 2)
    assert document.sections["a"].files == ["one.conf", "two.conf"]


def test_default_section_is_a_fallback_for_every_section() -> None:
    """``[DEFAULT]`` keys answer for sections that do not set them."""
    document = read_ini("[DEFAULT]\nk=d\n[a]\n[b]\nk=b\n", "f")
    found = document.get("a", "k")
    assert found is not None
    assert found.value == "d"
    assert document.get("b", "k") is not None
    assert "DEFAULT" not in document.sections
    assert document.options("a") == ["k"]


def test_malformed_lines_are_problems_with_their_line() -> None:
    """A line with no delimiter and a key before any header are both reported."""
    document = read_ini("k=v\n[a]\nno delimiter\n=novalue\n", "f.conf")
    assert [str(p) for p in document.problems] == [
        "f.conf:1: option line before any [section] header: 'k=v'",
        "f.conf:3: [a] not a 'key = value' line: 'no delimiter'",
        "f.conf:4: [a] not a 'key = value' line: '=novalue'",
    ]
