"""Exit forensics: was it the OOM killer, did it dump core, what did it last say.

Rules of this file:
- Reading is cheap and bounded: two small counter files at every spawn and at every
  SIGKILL death, nothing per line of output and nothing for a clean exit. At a spawn
  the system-wide counter may come from a read up to ``SPAWN_READING_MAX_AGE`` old
  (the kernel regenerates all ~170 lines of ``/proc/vmstat`` at each read, 10-40 us,
  and a crash storm spawns hundreds of times a second); after a death it is always
  read afresh.
- ``judge_oom`` is pure (counters before and after a run, the return code); the
  readers beside it are the only I/O, and they never raise: a counter that cannot
  be read is None, and the verdict then says it cannot tell.

How an OOM kill is recognised. The kernel's OOM killer always sends SIGKILL, so only
a SIGKILL death can be one. Two counters of kills are read at the spawn and at the
exit, and a kill is attributed when one rose during the run:

1. ``oom_kill`` of superd's memory cgroup: ``memory.events`` on cgroup v2 (which
   counts kills in the whole subtree, children's cgroups included), or
   ``memory.oom_control`` of the v1 memory controller (that cgroup only).
2. Otherwise ``oom_kill`` of ``/proc/vmstat`` (system-wide, Linux >= 4.13): a best
   guess, since another process on the host may have been the victim while our
   child got its SIGKILL from someone else. ``oom_evidence`` says which one it was.

A "before" value of the system counter read up to ``SPAWN_READING_MAX_AGE`` before
the spawn widens that best guess's window by as much: a kill elsewhere on the host in
the last 100 ms before the spawn also counts for a run that later dies by SIGKILL.
The cgroup counter is exact either way (read afresh: a few microseconds).

Without either counter the verdict is None ("cannot tell"). Exact attribution per
process would need the kernel log (``/dev/kmsg``), which superd does not read.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import time
from dataclasses import dataclass

__all__ = [
    "SPAWN_READING_MAX_AGE",
    "OomCounters",
    "judge_oom",
    "oom_counter_paths",
    "read_oom_counters",
    "read_oom_counters_at_spawn",
]

_VMSTAT = "/proc/vmstat"
_CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True, slots=True, kw_only=True)
class OomCounters:
    """OOM-kill counters at one moment; None where the machine has no such counter."""

    cgroup: int | None = None
    system: int | None = None
    cgroup_file: str | None = None


# Counter files stay open and are re-read with pread(2) from offset 0 (procfs and
# cgroupfs regenerate the text at each read from the start): a spawn and a SIGKILL
# death then cost two preads instead of two open/read/close sequences. The fds are
# O_CLOEXEC (Python's default) and children never see them.
_open_counter_files: dict[str, int] = {}
_COUNTER_FILE_BYTES = 65536

#: How old the system-wide counter read at a spawn may be, in seconds.
SPAWN_READING_MAX_AGE = 0.1


class _Reading:
    """The last value read from ``/proc/vmstat``, and when (monotonic seconds)."""

    __slots__ = ("at", "value")

    def __init__(self) -> None:
        self.at = -math.inf
        self.value: int | None = None


_last_system: dict[str, _Reading] = {}


def _read_key(path: str, key: str) -> int | None:
    """The integer after ``key`` in a ``key value`` file, or None."""
    fd = _open_counter_files.get(path)
    try:
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
            _open_counter_files[path] = fd
        text = os.pread(fd, _COUNTER_FILE_BYTES, 0)
    except OSError:
        if fd is not None:
            _open_counter_files.pop(path, None)
            with contextlib.suppress(OSError):
                os.close(fd)
        return None
    needle = b"\n" + key.encode("ascii") + b" "
    text = b"\n" + text
    start = text.find(needle)
    if start < 0:
        return None
    start += len(needle)
    end = text.find(b"\n", start)
    try:
        return int(text[start : end if end >= 0 else len(text)])
    except ValueError:
        return None


@functools.cache
def oom_counter_paths(proc_cgroup: str = "/proc/self/cgroup") -> str | None:
    """The file holding ``oom_kill`` for superd's own memory cgroup, or None.

    cgroup v2 (``0::/path``) gives ``memory.events``; a v1 ``memory`` hierarchy gives
    ``memory.oom_control``. Resolved once per process (superd does not move).
    """
    try:
        with open(proc_cgroup, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    candidates: list[str] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":
            candidates.extend(
                os.path.join(root, relative, "memory.events")
                for root in (_CGROUP_ROOT, os.path.join(_CGROUP_ROOT, "unified"))
            )
        elif "memory" in controllers.split(","):
            candidates.append(os.path.join(_CGROUP_ROOT, "memory", relative, "memory.oom_control"))
    for candidate in candidates:
        if _read_key(candidate, "oom_kill") is not None:
            return candidate
    return None


def _system_counter(path: str, max_age: float) -> int | None:
    now = time.monotonic()
    reading = _last_system.get(path)
    if reading is None:
        reading = _last_system[path] = _Reading()
    if max_age <= 0 or now - reading.at > max_age:
        reading.value = _read_key(path, "oom_kill")
        reading.at = now
    return reading.value


def read_oom_counters(
    cgroup_file: str | None = None, *, max_age: float = 0.0, system_file: str = _VMSTAT
) -> OomCounters:
    """The counters now (``cgroup_file`` defaults to superd's own cgroup's).

    ``max_age`` > 0 lets the system-wide counter (``system_file``) be a value read
    that many seconds ago at most; the cgroup counter is always read afresh.
    """
    path = cgroup_file if cgroup_file is not None else oom_counter_paths()
    return OomCounters(
        cgroup=None if path is None else _read_key(path, "oom_kill"),
        system=_system_counter(system_file, max_age),
        cgroup_file=path,
    )


def read_oom_counters_at_spawn() -> OomCounters:
    """The "before" counters of a run: ``read_oom_counters`` with ``SPAWN_READING_MAX_AGE``."""
    return read_oom_counters(max_age=SPAWN_READING_MAX_AGE)


def judge_oom(
    before: OomCounters | None, after: OomCounters | None, returncode: int
) -> tuple[bool | None, str | None]:
    """``(oom_killed, evidence)`` for a run that ended with ``returncode``.

    Not killed by SIGKILL: ``(False, None)``. Killed by SIGKILL: True when a counter
    rose during the run (the evidence names it), False when the counters could be
    read and none rose, None when there is nothing to read.
    """
    if returncode != -signal.SIGKILL:
        return False, None
    if before is None or after is None:
        return None, "no OOM counters were read for this run"
    if before.cgroup is not None and after.cgroup is not None:
        rise = after.cgroup - before.cgroup
        if rise > 0:
            return True, f"{after.cgroup_file}: oom_kill +{rise} during the run"
    if before.system is not None and after.system is not None:
        rise = after.system - before.system
        if rise > 0:
            return True, f"{_VMSTAT}: oom_kill +{rise} during the run (system-wide: best guess)"
    if (before.cgroup, after.cgroup) == (None, None) and (before.system, after.system) == (
        None,
        None,
    ):
        return None, "this machine has no oom_kill counter (cgroup memory.events, /proc/vmstat)"
    return False, "SIGKILL, but no oom_kill counter rose during the run"
