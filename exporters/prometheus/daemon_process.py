"""The daemon's own ``process_*`` metrics, cheap with thousands of open files.

Rules of this file:
- The names, types and units are the standard ones every Prometheus client exports
  for its own process (``process_cpu_seconds_total``, ``process_open_fds``, ...), so
  the usual dashboards and alerts work on superd.
- client_python's ``ProcessCollector`` counts open fds by listing ``/proc/self/fd``:
  superd holds ~3 fds per program (pipes, pidfd), and at 2,000 programs that listing
  was ~13 ms of CPU, a tenth of a scrape. Here the count is the size ``stat()``
  reports for that directory (Linux >= 6.2, one syscall), with the listing as the
  fallback; CPU comes from ``os.times()`` and memory from one read of
  ``/proc/self/statm``; the start time and page size are read once.
- Linux only, like the rest of the daemon; a read that fails leaves its metric out.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.prometheus.sampling import fd_count

__all__ = ["DaemonProcessCollector"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _start_time(proc: str) -> float | None:
    """Unix time this process started: boot time plus its start in clock ticks."""
    try:
        with open(f"{proc}/stat", "rb") as file:
            boot = next(float(line.split()[1]) for line in file if line.startswith(b"btime "))
        with open(f"{proc}/self/stat", "rb") as file:
            stat = file.read()
    except (OSError, StopIteration, ValueError):
        return None
    # After "pid (comm) ": field 19 is starttime (proc(5): field 22 overall).
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return boot + int(fields[19]) / _CLOCK_TICKS
    except (IndexError, ValueError):
        return None


class DaemonProcessCollector(Collector):
    """``process_*`` metrics of the process it runs in (superd itself).

    Example::

        registry.register(DaemonProcessCollector())
    """

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc
        self._start = _start_time(proc)

    def collect(self) -> Iterator[Metric]:
        """CPU, memory, start time and fds, read now."""
        times = os.times()
        yield CounterMetricFamily(
            "process_cpu_seconds",
            "Total user and system CPU time of the process, in seconds.",
            value=times.user + times.system,
        )
        try:
            with open(f"{self._proc}/self/statm", "rb") as file:
                size_pages, resident_pages = file.read().split()[:2]
        except (OSError, ValueError):
            pass
        else:
            yield GaugeMetricFamily(
                "process_virtual_memory_bytes",
                "Virtual memory size of the process, in bytes.",
                value=int(size_pages) * _PAGE_SIZE,
            )
            yield GaugeMetricFamily(
                "process_resident_memory_bytes",
                "Resident memory size of the process, in bytes.",
                value=int(resident_pages) * _PAGE_SIZE,
            )
        if self._start is not None:
            yield GaugeMetricFamily(
                "process_start_time_seconds",
                "Start time of the process, in seconds since the unix epoch.",
                value=self._start,
            )
        open_fds = fd_count(os.getpid(), self._proc)
        if open_fds is not None and open_fds >= 0:
            yield GaugeMetricFamily(
                "process_open_fds", "Number of open file descriptors.", value=open_fds
            )
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            yield GaugeMetricFamily(
                "process_max_fds", "Maximum number of open file descriptors.", value=soft
            )
