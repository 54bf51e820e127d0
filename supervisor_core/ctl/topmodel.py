"""What ``superctl top`` shows, as a pure model: facts in, rows out.

Rules of this file:
- States, uptimes, restarts, storms and last exits change only from the daemon's
  events (the ``/events`` stream); nothing here polls for them. The starting point
  is one ``getAllProcessInfo`` and one ``/metrics`` reading.
- A restart is a ``PROCESS_STATE_STARTING`` whose ``cause`` is an automatic one
  (``lifecycle.AUTOMATIC_RESTART_CAUSES``), the same rule that
  ``supervisor_process_restarts_total`` counts by; each ``/metrics`` reading resets
  the count to the daemon's own, so the two never drift apart.
- CPU, memory and open files come from ``/metrics`` readings (the daemon's psutil
  sampler); CPU % is the change of CPU seconds between two readings.
- No I/O and no clock: times are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from supervisor_core.lifecycle import AUTOMATIC_RESTART_CAUSES

_STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "BACKOFF", "UNKNOWN"})
_AUTOMATIC = frozenset(str(cause) for cause in AUTOMATIC_RESTART_CAUSES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One process as ``top`` shows it."""

    group: str
    name: str
    state: str = "UNKNOWN"
    pid: int = 0
    # Wall time of the current run's spawn (None: never started).
    start: float | None = None
    restarts: int = 0
    storm: bool = False
    cpu_percent: float | None = None
    rss: float | None = None
    fds: float | None = None
    # "exit 1", "SIGKILL", ... and when; None until the process exited once.
    last_exit: str | None = None
    last_exit_time: float | None = None

    @property
    def namespec(self) -> str:
        """``name`` or ``group:name``, as supervisorctl prints it."""
        return self.name if self.group == self.name else f"{self.group}:{self.name}"

    def uptime(self, now: float) -> float | None:
        """Seconds since the current run started, while it runs."""
        if self.start is None or self.state not in ("RUNNING", "STARTING", "STOPPING"):
            return None
        return max(0.0, now - self.start)


@dataclass(frozen=True, slots=True)
class Sample:
    """The per-process figures of one ``/metrics`` reading, keyed by ``(group, name)``."""

    cpu_seconds: Mapping[tuple[str, str], float] = field(default_factory=dict)
    rss: Mapping[tuple[str, str], float] = field(default_factory=dict)
    fds: Mapping[tuple[str, str], float] = field(default_factory=dict)
    restarts: Mapping[tuple[str, str], float] = field(default_factory=dict)
    storm: Mapping[tuple[str, str], float] = field(default_factory=dict)
    last_exit_code: Mapping[tuple[str, str], float] = field(default_factory=dict)


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_WANTED = {
    "supervisor_process_cpu_seconds_total": "cpu_seconds",
    "supervisor_process_resident_memory_bytes": "rss",
    "supervisor_process_open_fds": "fds",
    "supervisor_process_restarts_total": "restarts",
    "supervisor_process_restart_storm": "storm",
    "supervisor_process_last_exit_code": "last_exit_code",
}


def parse_metrics(text: str) -> Sample:
    """The figures ``top`` shows, read from Prometheus' text format.

    CPU seconds of all modes are summed; series without ``group``/``name`` labels and
    unparsable values are skipped.
    """
    figures: dict[str, dict[tuple[str, str], float]] = {key: {} for key in _WANTED.values()}
    for line in text.splitlines():
        if not line.startswith("supervisor_process_"):
            continue
        match = _LINE.match(line)
        if match is None or match.group(1) not in _WANTED:
            continue
        labels = {
            key: value.replace('\\"', '"').replace("\\\\", "\\")
            for key, value in _LABEL.findall(match.group(2) or "")
        }
        if "group" not in labels or "name" not in labels:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        target = figures[_WANTED[match.group(1)]]
        key = (labels["group"], labels["name"])
        target[key] = target.get(key, 0.0) + value
    return Sample(**figures)


def _exit_text(event: Mapping[str, object]) -> str | None:
    signal_name = event.get("signal_name")
    if signal_name:
        return str(signal_name)
    code = event.get("returncode")
    if isinstance(code, int):
        return f"exit {code}"
    return None


def _exit_code_text(code: float) -> str:
    return f"signal {-int(code)}" if code < 0 else f"exit {int(code)}"


@dataclass(slots=True)
class TopModel:
    """Every process ``top`` shows, updated by events and ``/metrics`` readings."""

    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    # The previous reading's CPU seconds and its time, for CPU %.
    _cpu: tuple[float, Mapping[tuple[str, str], float]] | None = None

    def load_infos(self, infos: Iterable[Mapping[str, object]]) -> None:
        """Start from ``getAllProcessInfo``: names, states, pids, start times, exits."""
        for info in infos:
            key = (str(info["group"]), str(info["name"]))
            start = info.get("start")
            exitstatus = info.get("exitstatus")
            stopped_after_run = info.get("stop") and info.get("statename") in _STOPPED_STATES
            self.rows[key] = Row(
                group=key[0],
                name=key[1],
                state=str(info.get("statename", "UNKNOWN")),
                pid=int(info.get("pid") or 0),  # type: ignore[call-overload]
                start=float(start) if isinstance(start, int | float) and start else None,
                last_exit=(
                    f"exit {exitstatus}"
                    if stopped_after_run and isinstance(exitstatus, int)
                    else None
                ),
            )

    def apply_event(self, event: Mapping[str, object]) -> bool:
        """One ``/events`` object; True when a row changed."""
        kind = str(event.get("type", ""))
        group, name = event.get("groupname"), event.get("processname")
        if kind == "PROCESS_GROUP_REMOVED" and isinstance(group, str):
            before = len(self.rows)
            self.rows = {k: r for k, r in self.rows.items() if k[0] != group}
            return len(self.rows) != before
        if not isinstance(group, str) or not isinstance(name, str):
            return False
        key = (group, name)
        row = self.rows.get(key) or Row(group=group, name=name)
        wall = event.get("wall_time")
        when = float(wall) if isinstance(wall, int | float) else None
        if kind.startswith("PROCESS_STATE_"):
            state = kind.removeprefix("PROCESS_STATE_")
            changes: dict[str, object] = {"state": state}
            pid = event.get("pid")
            if isinstance(pid, int):
                changes["pid"] = pid if state in ("STARTING", "RUNNING", "STOPPING") else 0
            if state == "STARTING":
                changes["start"] = when
                if str(event.get("cause")) in _AUTOMATIC:
                    changes["restarts"] = row.restarts + 1
            elif state in ("STOPPED", "FATAL", "BACKOFF", "EXITED"):
                changes["pid"] = 0
            text = _exit_text(event)
            if state in ("EXITED", "BACKOFF", "STOPPED") and text is not None:
                changes["last_exit"] = text
                changes["last_exit_time"] = when
            row = replace(row, **changes)  # type: ignore[arg-type]
        elif kind.endswith("_STORM_BEGIN") and kind.startswith("PROCESS"):
            row = replace(row, storm=True)
        elif kind.endswith("_STORM_END") and kind.startswith("PROCESS"):
            row = replace(row, storm=False)
        else:
            return False
        self.rows[key] = row
        return True

    def apply_sample(self, sample: Sample, now: float) -> None:
        """One ``/metrics`` reading at ``now`` (monotonic seconds)."""
        previous = self._cpu
        self._cpu = (now, sample.cpu_seconds)
        for key, row in list(self.rows.items()):
            cpu_percent: float | None = None
            if previous is not None and key in sample.cpu_seconds and key in previous[1]:
                elapsed = now - previous[0]
                if elapsed > 0:
                    used = sample.cpu_seconds[key] - previous[1][key]
                    cpu_percent = max(0.0, used / elapsed * 100.0)
            changes: dict[str, object] = {
                "cpu_percent": cpu_percent if previous is not None else row.cpu_percent,
                "rss": sample.rss.get(key),
                "fds": sample.fds.get(key),
            }
            if key in sample.restarts:
                changes["restarts"] = int(sample.restarts[key])
            if key in sample.storm:
                changes["storm"] = sample.storm[key] >= 1
            if row.last_exit is None and key in sample.last_exit_code:
                changes["last_exit"] = _exit_code_text(sample.last_exit_code[key])
            self.rows[key] = replace(row, **changes)  # type: ignore[arg-type]

    def ordered(self) -> list[Row]:
        """Rows sorted by group, then name."""
        return [self.rows[key] for key in sorted(self.rows)]


__all__ = ["Row", "Sample", "TopModel", "parse_metrics"]
