"""Config problems and the one error that carries all of them.

A loader never stops at the first bad value: it collects every :class:`Problem`
and raises one :class:`ConfigError` at the end, so an operator fixes a file in
one pass instead of one restart per typo (supervisord reports only the first).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from supervisor_core.config.model import Origin


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with a configuration, and where it was written.

    ``origin`` is the key's line, or the section header's line for problems of a
    whole section. ``option`` and ``value`` are None for section-level problems.
    """

    origin: Origin
    section: str | None
    reason: str
    option: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.origin}:"]
        if self.section is not None:
            parts.append(f"[{self.section}]")
        if self.option is not None:
            parts.append(f"{self.option}:")
        text = " ".join(parts) + " " + self.reason
        if self.value is not None:
            text += f": {self.value!r}"
        return text


class ConfigError(ValueError):
    """A configuration that cannot be used; ``problems`` lists every reason.

    ``str(error)`` is one problem per line, each ``file:line: [section] option:
    reason: 'value'``.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
