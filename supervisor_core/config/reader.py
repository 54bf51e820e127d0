"""Reading one section's options: expansion, conversion and problem collection.

Rules of this file:
- A value that cannot be expanded or converted records a :class:`Problem` at the
  key's line and yields the option's default, so loading goes on and every other
  problem is still found.
- ``%(here)s`` is the directory of the file the key was written in (supervisord
  substitutes it per included file), so every lookup rebinds ``here``.
- Extensions read their own sections (``[exporter:prometheus]``...) through the same
  :class:`SectionReader`, wrapped by :class:`ExtensionReader`, so their errors look
  and sort like the core's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.expand import expand
from supervisor_core.config.ini import IniDocument, IniSection, IniValue
from supervisor_core.config.model import ExtensionSection, Origin

T = TypeVar("T")


class Collector:
    """Problems and warnings of one load, in the order found, without repeats."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def problem(self, problem: Problem) -> None:
        """Record ``problem`` unless the same text was already recorded."""
        if all(str(problem) != str(p) for p in self.problems):
            self.problems.append(problem)

    def warn(self, origin: Origin | None, section: str | None, text: str) -> None:
        """Record a warning (something supervisord accepts but that is likely a mistake)."""
        where = f"{origin}: " if origin is not None else ""
        scope = f"[{section}] " if section is not None else ""
        message = f"{where}{scope}{text}"
        if message not in self.warnings:
            self.warnings.append(message)


class SectionReader:
    """Typed access to the options of one section of an :class:`IniDocument`."""

    def __init__(
        self,
        document: IniDocument,
        section: str,
        collector: Collector,
        *,
        lenient: bool = False,
    ) -> None:
        """``lenient`` readers record warnings instead of problems."""
        self.document = document
        self.section = section
        self.collector = collector
        self.lenient = lenient
        self.origin = document.sections[section].origin

    def raw(self, option: str) -> IniValue | None:
        """The value as written (after the INI reader), or None when absent."""
        return self.document.get(self.section, option)

    def has(self, option: str) -> bool:
        """Whether ``option`` is set in this section (or in ``[DEFAULT]``)."""
        return self.raw(option) is not None

    def origin_of(self, option: str) -> Origin:
        """The key's line, or the section header's line when the key is absent."""
        found = self.raw(option)
        return found.origin if found is not None else self.origin

    def fail(self, option: str | None, reason: str, value: str | None = None) -> None:
        """Record a problem with ``option`` (or with the whole section when None)."""
        origin = self.origin_of(option) if option is not None else self.origin
        problem = Problem(
            origin=origin, section=self.section, option=option, reason=reason, value=value
        )
        if self.lenient:
            self.collector.warnings.append(str(problem))
        else:
            self.collector.problem(problem)

    def text(
        self,
        option: str,
        expansions: Mapping[str, object] | None,
        *,
        times: int = 1,
    ) -> str | None:
        """The expanded value of ``option``; None when absent or not expandable.

        ``expansions=None`` returns the text unexpanded; ``times=2`` expands twice,
        as supervisord does for ``*_logfile`` and ``[supervisord] environment``.
        """
        found = self.raw(option)
        if found is None:
            return None
        if expansions is None:
            return found.value
        names = dict(expansions)
        names["here"] = os.path.dirname(os.path.abspath(found.origin.file))
        value = found.value
        try:
            for _ in range(times):
                value = expand(value, names)
        except ValueError as error:
            self.fail(option, str(error), found.value)
            return None
        return value

    def convert(
        self,
        option: str,
        default: T,
        converter: Callable[[str], T],
        expansions: Mapping[str, object] | None,
    ) -> T:
        """``converter(text)`` of the expanded value, or ``default`` when absent or bad."""
        text = self.text(option, expansions)
        if text is None:
            return default
        try:
            return converter(text)
        except ValueError as error:
            self.fail(option, str(error), text)
            return default


class ExtensionReader:
    """Typed access to an extension's section (``[exporter:journal]``...), all or nothing.

    Values are read as written (an :class:`ExtensionSection` has no ``%(...)s``
    expansion and no ``[DEFAULT]``). Every option the extension does not ask for with
    :meth:`get` is an ``unknown option``; :meth:`check` raises them together with the bad
    values, in the order the keys stand in the section.

    Example::

        reader = ExtensionReader(config.extension_section("exporter:x") or
                                 ExtensionSection(name="exporter:x"))
        settings = XSettings(burst=reader.get("burst", 5, integer_at_least(1)))
        reader.check()  # ConfigError: file:line: [exporter:x] burst: must be >= 1: '0'
    """

    def __init__(self, section: ExtensionSection) -> None:
        """Read ``section``; an absent one is ``ExtensionSection(name=...)`` (all defaults)."""
        origin = section.origin or Origin("<config>", 0)
        ini = IniSection(
            name=section.name,
            origin=origin,
            values={
                key: IniValue(value, section.origins.get(key, origin))
                for key, value in section.values.items()
            },
        )
        self._section = section
        self._collector = Collector()
        self._reader = SectionReader(
            IniDocument(sections={section.name: ini}), section.name, self._collector
        )
        self._asked: set[str] = set()

    def get(self, option: str, default: T, converter: Callable[[str], T]) -> T:
        """``converter(value)``, or ``default`` when the option is absent or bad (recorded)."""
        self._asked.add(option)
        return self._reader.convert(option, default, converter, None)

    def check(self) -> None:
        """Raise the problems found so far, unknown options included.

        Raises:
            ConfigError: one problem per bad or unknown key, in section order, each
                ``file:line: [section] option: reason: 'value'``.
        """
        for option, value in self._section.values.items():
            if option not in self._asked:
                self._reader.fail(option, "unknown option", value)
        order = {option: index for index, option in enumerate(self._section.values)}
        problems = sorted(self._collector.problems, key=lambda p: order.get(p.option or "", -1))
        if problems:
            raise ConfigError(problems)
