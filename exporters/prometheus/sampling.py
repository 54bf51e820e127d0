"""psutil samples of a managed process and its descendants, taken at scrape time.

Rules of this file:
- One ``oneshot()`` per pid: each member of the tree is read once per scrape.
- A gone process is absent (``None``), never zero: a zero would draw a false drop in
  memory and a false counter reset; an absent series is what Prometheus expects.
  A descendant that vanishes mid-sample is left out; the tree's root vanishing
  makes the whole sample None.
- CPU is cumulative seconds: each live member's own time plus the time of the
  children it has reaped (``children_user``/``children_system``), so work done by
  short-lived helpers of the program is not lost. A descendant reaped by someone
  outside the tree (an orphan adopted by init) takes its time with it; Prometheus'
  ``rate()`` treats that rare decrease as a counter reset.
- Open fds need the right to read ``/proc/PID/fd`` (same user or root); when any
  member denies it the tree's count is unknown (None) rather than an undercount.
  ``sample_trees`` takes the count from ``stat()`` of that directory where the
  kernel reports it as the size (Linux >= 6.2): one syscall instead of a listing.
- Descendants come from one scan of ``/proc`` per scrape (``sample_trees``):
  psutil's ``children()`` scans all of ``/proc`` for *every* root, which made a
  scrape of 500 processes cost 500 scans (seconds, on the loop). That scan reads
  every ``/proc/PID/stat`` anyway, so ``sample_trees`` takes CPU, threads and RSS
  from those same reads (the fields psutil reads them from, in clock ticks and
  pages) and adds only one ``/proc/PID/fd`` listing per member: psutil's
  ``oneshot()`` cost ~5 reads and a Process object per member, a third of a
  500-process scrape.
- The caller runs this on the event loop's thread, where the supervisor also reaps
  its children: a pid from the current snapshot cannot be reaped and reused while
  we sample it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import psutil


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeSample:
    """Resource usage of one process tree at one moment."""

    cpu_user: float  # seconds
    cpu_system: float  # seconds
    rss: int  # bytes
    open_fds: int | None  # None when not readable for some member
    threads: int
    processes: int  # live members of the tree, the root included


Sampler = Callable[[int], TreeSample | None]
"""Samples the tree rooted at a pid; None when that process is gone."""


@dataclass(slots=True)
class _Sum:
    cpu_user: float = 0.0
    cpu_system: float = 0.0
    rss: int = 0
    open_fds: int | None = 0
    threads: int = 0
    processes: int = 0


def _add(total: _Sum, process: psutil.Process) -> None:
    """Add one member's usage; raises psutil.NoSuchProcess if it is gone."""
    with process.oneshot():
        cpu = process.cpu_times()
        rss = process.memory_info().rss
        threads = process.num_threads()
        try:
            fds: int | None = process.num_fds()
        except psutil.AccessDenied:
            fds = None
    total.cpu_user += cpu.user + cpu.children_user
    total.cpu_system += cpu.system + cpu.children_system
    total.rss += rss
    total.threads += threads
    total.open_fds = None if fds is None or total.open_fds is None else total.open_fds + fds
    total.processes += 1


def children_index(proc: str = "/proc") -> dict[int, list[int]]:
    """Parent pid -> child pids, from one scan of ``/proc/*/stat``.

    Processes that vanish during the scan are left out.
    """
    index: dict[int, list[int]] = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", "rb") as file:
                stat = file.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split(b" ", 2)
        if len(fields) >= 2 and fields[1].isdigit():
            index.setdefault(int(fields[1]), []).append(int(entry))
    return index


def _descendants(pid: int, children: Mapping[int, Sequence[int]]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    pending = list(children.get(pid, ()))
    seen = {pid}
    while pending:
        member = pending.pop()
        if member in seen:
            continue
        seen.add(member)
        try:
            found.append(psutil.Process(member))
        except psutil.NoSuchProcess:
            continue
        pending.extend(children.get(member, ()))
    return found


def sample_tree(pid: int, children: Mapping[int, Sequence[int]] | None = None) -> TreeSample | None:
    """Sample the process ``pid`` and all its live descendants; None if it is gone.

    A zombie root (exited, not yet reaped) counts as gone. ``children`` is a
    ``children_index()`` to find descendants in (default: psutil scans ``/proc``).
    Example::

        sample = sample_tree(child.pid)
        if sample is not None:
            print(sample.rss, sample.cpu_user)
    """
    total = _Sum()
    try:
        root = psutil.Process(pid)
        if root.status() == psutil.STATUS_ZOMBIE:
            return None
        descendants = (
            root.children(recursive=True) if children is None else _descendants(pid, children)
        )
        _add(total, root)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        # NoSuchProcess includes ZombieProcess. AccessDenied on the root's own stat
        # (hidepid=2 /proc mounts): nothing can be known about this tree.
        return None
    for member in descendants:
        try:
            _add(total, member)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # gone since the listing, or unreadable: left out, not zero
    return TreeSample(
        cpu_user=total.cpu_user,
        cpu_system=total.cpu_system,
        rss=total.rss,
        open_fds=total.open_fds,
        threads=total.threads,
        processes=total.processes,
    )


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class _Stat(NamedTuple):
    """The fields of one ``/proc/PID/stat`` a tree sample needs."""

    ppid: int
    zombie: bool
    ticks_user: int  # utime + cutime
    ticks_system: int  # stime + cstime
    threads: int
    rss_pages: int


def _parse_stat(stat: bytes) -> _Stat | None:
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses. Fields
    # after comm, from 0: state, ppid, ..., utime 11, stime 12, cutime 13,
    # cstime 14, num_threads 17, rss 21 (proc(5)).
    fields = stat[stat.rfind(b")") + 2 :].split(b" ", 23)
    try:
        return _Stat(
            int(fields[1]),
            fields[0] == b"Z",
            int(fields[11]) + int(fields[13]),
            int(fields[12]) + int(fields[14]),
            int(fields[17]),
            int(fields[21]),
        )
    except (IndexError, ValueError):
        return None


def _read_small(path: str) -> bytes:
    # os.open/os.read: a third of the cost of a buffered file object for a
    # one-read /proc file, and the scan does it for every process on the machine.
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def scan_proc(proc: str = "/proc") -> dict[int, _Stat]:
    """Every process' stat fields, from one pass over ``/proc/*/stat``."""
    stats: dict[int, _Stat] = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            stat = _parse_stat(_read_small(f"{proc}/{entry}/stat"))
        except OSError:
            continue
        if stat is not None:
            stats[int(entry)] = stat
    return stats


def _fd_dir_size_counts(proc: str = "/proc") -> bool:
    """Whether ``stat()`` of ``/proc/PID/fd`` gives the number of open fds (Linux >= 6.2)."""
    try:
        return os.stat(f"{proc}/self/fd").st_size > 0  # this process has fds open
    except OSError:
        return False


_FD_DIR_SIZE = _fd_dir_size_counts()


def fd_count(pid: int, proc: str = "/proc") -> int | None:
    """Open fds of ``pid``: None when not readable (permission), -1 when it is gone."""
    try:
        if _FD_DIR_SIZE and proc == "/proc":
            return os.stat(f"{proc}/{pid}/fd").st_size
        return len(os.listdir(f"{proc}/{pid}/fd"))
    except PermissionError:
        return None
    except OSError:
        return -1  # gone since the scan


def _read_stats(proc: str) -> dict[int, bytes]:
    """Every process' raw ``/proc/PID/stat``, from one pass (vanished ones left out)."""
    stats: dict[int, bytes] = {}
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                stats[int(entry)] = _read_small(f"{proc}/{entry}/stat")
            except OSError:
                continue
    return stats


def _ppid(stat: bytes) -> int | None:
    # "pid (comm) S ppid ...": the ppid starts 4 bytes after the last ")".
    start = stat.rfind(b")") + 4
    end = stat.find(b" ", start)
    try:
        return int(stat[start:end])
    except ValueError:
        return None


def sample_trees(pids: Iterable[int], proc: str = "/proc") -> dict[int, TreeSample | None]:
    """``sample_tree`` for every pid, from one scan of ``/proc`` (no psutil objects).

    Only the ppid of every process on the machine is parsed; the other fields only
    for members of a sampled tree (a machine runs far more processes than we manage).
    """
    raw = _read_stats(proc)
    children: dict[int, list[int]] = {}
    for pid, stat in raw.items():
        ppid = _ppid(stat)
        if ppid is not None:
            children.setdefault(ppid, []).append(pid)
    stats: dict[int, _Stat | None] = {}

    def parsed(pid: int) -> _Stat | None:
        if pid not in stats:
            stats[pid] = _parse_stat(raw[pid]) if pid in raw else None
        return stats[pid]

    samples: dict[int, TreeSample | None] = {}
    for root in pids:
        samples[root] = _tree_from_scan(root, parsed, children, proc)
    return samples


def _tree_from_scan(
    root: int,
    parsed: Callable[[int], _Stat | None],
    children: Mapping[int, Sequence[int]],
    proc: str,
) -> TreeSample | None:
    root_stat = parsed(root)
    if root_stat is None or root_stat.zombie:
        return None
    root_fds = fd_count(root, proc)
    if root_fds == -1:
        return None  # the root went away since the scan
    if root not in children:  # most programs: no descendant to look for
        return TreeSample(
            cpu_user=root_stat.ticks_user / _CLOCK_TICKS,
            cpu_system=root_stat.ticks_system / _CLOCK_TICKS,
            rss=root_stat.rss_pages * _PAGE_SIZE,
            open_fds=root_fds,
            threads=root_stat.threads,
            processes=1,
        )
    ticks_user = ticks_system = rss_pages = threads = processes = 0
    open_fds: int | None = 0
    pending, seen = [root], {root}
    while pending:
        pid = pending.pop()
        stat = parsed(pid)
        if stat is None:
            continue  # unparsable: left out, not zero
        fds = root_fds if pid == root else fd_count(pid, proc)
        if fds == -1 or (stat.zombie and pid != root):
            continue  # a descendant gone since the scan, or dead: left out, not zero
        ticks_user += stat.ticks_user
        ticks_system += stat.ticks_system
        rss_pages += stat.rss_pages
        threads += stat.threads
        processes += 1
        open_fds = None if fds is None or open_fds is None else open_fds + fds
        for child in children.get(pid, ()):
            if child not in seen:
                seen.add(child)
                pending.append(child)
    return TreeSample(
        cpu_user=ticks_user / _CLOCK_TICKS,
        cpu_system=ticks_system / _CLOCK_TICKS,
        rss=rss_pages * _PAGE_SIZE,
        open_fds=open_fds,
        threads=threads,
        processes=processes,
    )
