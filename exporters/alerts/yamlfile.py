"""The generated rule and provisioning files as YAML text, written by PyYAML.

Rules of this file:
- Block style everywhere; mapping keys keep the order the data was built in; a
  sequence under a key is indented below it (as Prometheus' and Grafana's docs write).
- A multi-line string (PromQL, a runbook) is a ``|-`` literal block when such a block
  reads back as exactly that string; PyYAML quotes what a block cannot hold.
- Lines are never folded: a long PromQL expression stays on one line.
- Only JSON-like data goes in (dicts with string keys, lists, str, int, float, bool,
  None); anything else, or a float with no YAML form (NaN, infinity), is an error
  naming its path in the data, and nothing is written.
"""

from __future__ import annotations

import math

import yaml

__all__ = ["dump"]


class _Dumper(yaml.SafeDumper):
    """SafeDumper with indented sequences, literal blocks and no aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # PyYAML writes a sequence under a key flush with the key ("indentless");
        # indent it, as the files were written before and as their readers' docs do.
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        # Double quotes where a scalar needs quoting: JSON's spelling, and a PromQL or
        # Go-template string with an apostrophe reads as written ('' doubles it).
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style

    def ignore_aliases(self, data: object) -> bool:
        return True  # a repeated value is written out again, never as &anchor / *alias


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text and _literal_ok(text):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


def _literal_ok(text: str) -> bool:
    """A ``|-`` block keeps ``text`` exactly: no edge whitespace, no trailing newline."""
    lines = text.split("\n")
    return (
        not text.endswith("\n")
        and all(line == line.rstrip() for line in lines)
        and not lines[0].startswith(" ")
        and all(ch.isprintable() for line in lines for ch in line)
    )


_Dumper.add_representer(str, _string)


def _check(value: object, where: str) -> None:
    """Refuse what the files must never hold, naming where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings, got {key!r}")
            _check(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} has no JSON-compatible YAML form")
    elif value is not None and not isinstance(value, str | int):
        raise TypeError(f"{where}: cannot emit {type(value).__name__}")


def dump(data: object, *, header: str = "") -> str:
    """``data`` as block-style YAML text, preceded by ``header`` as ``#`` comments.

    Example::

        >>> print(dump({"groups": [{"name": "a", "rules": []}]}), end="")
        groups:
          - name: a
            rules: []

    Raises:
        TypeError: a value or key of a type the files cannot hold (the message names
            its path, e.g. ``$.groups[0].rules``).
        ValueError: NaN or an infinity.
    """
    _check(data, "$")
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=math.inf,
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + text
