"""A reader for supervisord's INI dialect that remembers where every key was written.

Rules of this file:
- The dialect is what supervisord gets from ``RawConfigParser(
  inline_comment_prefixes=(';', '#'), strict=False)``: full-line comments start
  with ``;`` or ``#``; an inline comment needs whitespace before its prefix
  (``a=b;c`` keeps ``b;c``); ``=`` and ``:`` both delimit; option names are
  lower-cased, section names keep their case; a line indented deeper than its key
  continues the value (joined with newlines, blank lines kept inside, trailing ones
  dropped); a section seen twice is merged and a later key wins.
- ``[DEFAULT]`` keys are fall-backs for every section, as in RawConfigParser.
- No interpolation happens here: ``%(...)s`` is ``expand``'s job.
- Malformed lines become :class:`Problem` objects; reading never raises.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from supervisor_core.config.errors import Problem
from supervisor_core.config.model import Origin

DEFAULT_SECTION = "DEFAULT"
_COMMENT_PREFIXES = ("#", ";")
_INLINE_COMMENT_PREFIXES = (";", "#")
_SECTION_RE = re.compile(r"\[(?P<header>.+)\]")
_OPTION_RE = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")
_NON_SPACE_RE = re.compile(r"\S")


@dataclass(slots=True)
class IniValue:
    """A key's value (continuation lines joined) and the line of its key."""

    value: str
    origin: Origin


@dataclass(slots=True)
class IniSection:
    """One section: its first header's place and its keys in first-seen order."""

    name: str
    origin: Origin
    values: dict[str, IniValue] = field(default_factory=dict)
    # Every file that contributed a header of this section, first one first.
    files: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IniDocument:
    """Sections of one or more files read into one namespace, as supervisord merges them."""

    sections: dict[str, IniSection] = field(default_factory=dict)
    defaults: dict[str, IniValue] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, section: str, option: str) -> IniValue | None:
        """The value of ``option`` in ``section``, falling back to ``[DEFAULT]``."""
        found = self.sections[section].values.get(option)
        if found is None:
            return self.defaults.get(option)
        return found

    def options(self, section: str) -> list[str]:
        """Option names of ``section`` plus the ``[DEFAULT]`` ones it does not override."""
        names = list(self.sections[section].values)
        names.extend(k for k in self.defaults if k not in self.sections[section].values)
        return names


def _comment_start(line: str) -> int | None:
    """Where the comment of ``line`` starts, following RawConfigParser's scan exactly.

    Each round looks at the next occurrence of every inline prefix and stops at the
    first round that finds one preceded by whitespace (or at column 0).
    """
    start = sys.maxsize
    positions = dict.fromkeys(_INLINE_COMMENT_PREFIXES, -1)
    while start == sys.maxsize and positions:
        following: dict[str, int] = {}
        for prefix, previous in positions.items():
            index = line.find(prefix, previous + 1)
            if index == -1:
                continue
            following[prefix] = index
            if index == 0 or line[index - 1].isspace():
                start = min(start, index)
        positions = following
    if line.strip().startswith(_COMMENT_PREFIXES):
        start = 0
    return None if start == sys.maxsize else start


def _split_lines(text: str) -> list[str]:
    # Universal newlines, as open(..., 'r') gives supervisord; other separators that
    # str.splitlines() knows (\x0c, \u2028, ...) stay inside the line like there.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def read_ini(text: str, path: str, into: IniDocument | None = None) -> IniDocument:
    """Read ``text`` (the contents of ``path``) into ``into`` (or a new document).

    Args:
        text: the file's contents.
        path: the file name recorded in every :class:`Origin`.
        into: a document already holding earlier files; sections are merged into it.

    Returns:
        The document; malformed lines are appended to its ``problems``.
    """
    document = into if into is not None else IniDocument()
    current: dict[str, IniValue] | None = None
    current_name: str | None = None
    option: str | None = None
    pieces: dict[str, list[str]] = {}  # option -> lines of the value being read
    indent_level = 0

    def flush() -> None:
        # Join continuation lines the way RawConfigParser does at the end of a read.
        if current is not None:
            for name, lines in pieces.items():
                current[name].value = "\n".join(lines).rstrip()
        pieces.clear()

    for number, line in enumerate(_split_lines(text), start=1):
        comment = _comment_start(line)
        value = line[:comment].strip()
        if not value:
            if comment is None and option is not None and option in pieces:
                pieces[option].append("")
            continue
        first = _NON_SPACE_RE.search(line)
        indent = first.start() if first else 0
        if current is not None and option is not None and indent > indent_level:
            pieces[option].append(value)
            continue
        indent_level = indent
        header = _SECTION_RE.match(value)
        if header:
            flush()
            current_name = header.group("header")
            origin = Origin(path, number)
            if current_name == DEFAULT_SECTION:
                current = document.defaults
            else:
                section = document.sections.get(current_name)
                if section is None:
                    section = IniSection(name=current_name, origin=origin)
                    document.sections[current_name] = section
                section.files.append(path)
                current = section.values
            option = None
            continue
        if current is None:
            document.problems.append(
                Problem(
                    origin=Origin(path, number),
                    section=None,
                    reason="option line before any [section] header",
                    value=line.strip(),
                )
            )
            continue
        match = _OPTION_RE.match(value)
        if match is None or not match.group("option").rstrip():
            document.problems.append(
                Problem(
                    origin=Origin(path, number),
                    section=current_name,
                    reason="not a 'key = value' line",
                    value=line.strip(),
                )
            )
            option = None
            continue
        option = match.group("option").rstrip().lower()
        # A later key replaces an earlier one (strict=False) and takes its place.
        current[option] = IniValue(value="", origin=Origin(path, number))
        pieces[option] = [match.group("value").strip()]
    flush()
    return document
