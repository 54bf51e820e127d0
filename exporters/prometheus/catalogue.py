"""The metric catalogue: every metric superd exports, its type, labels and meaning.

Rules of this file:
- Names here are public API (DESIGN.md, "Observability contract"): add, never rename.
- Every per-process metric carries ``group`` and ``name`` first; no label ever holds
  a pid, a timestamp or a command line, so the series count per process is bounded.
- The collector takes names and help texts from here. An e2e test scrapes a real
  superd and checks that every entry, and every name docs/metrics.md, the dashboards
  and the rule files use, is served, and that every served family is documented
  (tests/e2e/test_metrics_served.py): catalogue, docs and scrape cannot drift apart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MetricType(enum.StrEnum):
    """The Prometheus metric types the catalogue uses."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


PROCESS_LABELS: tuple[str, ...] = ("group", "name")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """One exported metric.

    ``name`` is the full exposition name (counters end in ``_total``); ``labels``
    are the labels beyond ``group``/``name`` for per-process metrics (``per_process``).
    """

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    per_process: bool = True

    @property
    def all_labels(self) -> tuple[str, ...]:
        """Every label name, in exposition order."""
        return (*PROCESS_LABELS, *self.labels) if self.per_process else self.labels

    @property
    def family(self) -> str:
        """The name without the ``_total`` suffix (what prometheus_client calls a family)."""
        if self.type is MetricType.COUNTER:
            return self.name.removesuffix("_total")
        return self.name


def _process(name: str, type_: MetricType, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(name=f"supervisor_process_{name}", type=type_, help=help_, labels=labels)


def _daemon(name: str, type_: MetricType, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(
        name=f"supervisor_{name}", type=type_, help=help_, labels=labels, per_process=False
    )


C, G, H = MetricType.COUNTER, MetricType.GAUGE, MetricType.HISTOGRAM

PROCESS_STATE = _process("state", G, "1 for the process' current state, 0 for the others.", "state")
PROCESS_UP = _process("up", G, "1 while the process is RUNNING, else 0.")
PROCESS_START_TIME = _process(
    "start_time_seconds", G, "Unix time of the current or last start of the process."
)
PROCESS_TRANSITIONS = _process(
    "transitions_total", C, "State transitions of the process.", "from_state", "to_state"
)
PROCESS_RESTARTS = _process(
    "restarts_total",
    C,
    "Automatic restarts: starts caused by autorestart, a damped restart or a BACKOFF retry.",
)
PROCESS_STARTS = _process(
    "starts_total", C, "Every start of the process, by the cause its event carries.", "cause"
)
PROCESS_EXITS = _process(
    "exits_total", C, "Exits of the process, by whether the code was in exitcodes.", "expected"
)
PROCESS_LAST_EXIT_CODE = _process(
    "last_exit_code", G, "Exit status of the last exit (negative: killed by signal N)."
)
PROCESS_RUN_DURATION = _process(
    "run_duration_seconds", H, "How long each run of the process lived, from spawn to exit."
)
PROCESS_READY = _process(
    "ready",
    G,
    "1 while the process is ready: RUNNING, after startsecs or when ready= found it ready.",
)
PROCESS_READY_SECONDS = _process(
    "ready_seconds", H, "How long each start took to become ready (STARTING to RUNNING)."
)
PROCESS_RESTART_STORM = _process(
    "restart_storm", G, "1 while a restart storm of the process is under way."
)
PROCESS_CPU = _process(
    "cpu_seconds_total", C, "CPU time of the process tree (psutil), by mode.", "mode"
)
PROCESS_RSS = _process("resident_memory_bytes", G, "Resident memory of the process tree (psutil).")
PROCESS_OPEN_FDS = _process("open_fds", G, "Open file descriptors of the process tree (psutil).")
PROCESS_THREADS = _process("threads", G, "Threads of the process tree (psutil).")
PROCESS_TREE_PROCESSES = _process(
    "tree_processes", G, "Live processes in the tree: the child and its descendants (psutil)."
)
PROCESS_LOG_BYTES = _process(
    "log_bytes_total", C, "Bytes captured from the process' output, by stream.", "stream"
)
EVENTS = _daemon("events_total", C, "Events published on the event bus, by type.", "type")
EVENTS_DROPPED = _daemon(
    "events_dropped_total",
    C,
    "Events a bounded bus subscriber had to drop, by subscriber.",
    "subscriber",
)
SUBSCRIBER_ERRORS = _daemon(
    "event_subscriber_errors_total",
    C,
    "Exceptions raised by synchronous bus subscribers, by subscriber.",
    "subscriber",
)
LOG_WRITE_ERRORS = _daemon(
    "log_write_errors_total",
    C,
    "Chunks of child output dropped because the log write failed (disk full...), by stream.",
    "stream",
)
JOURNAL_ERRORS = _daemon(
    "journal_errors_total",
    C,
    "Failures of the event journal: failed commits (retried), events it could not store.",
)
JOURNAL_LAG = _daemon(
    "journal_lag_seconds",
    G,
    "Age of the oldest event the journal accepted but has not committed yet (0: caught up).",
)
JOURNAL_PENDING = _daemon(
    "journal_pending_events",
    G,
    "Events the journal accepted but has not committed yet.",
)
RPC_DURATION = _daemon(
    "rpc_request_duration_seconds",
    H,
    "Time to answer an XML-RPC call (the call and its encoding), by method and outcome.",
    "method",
    "outcome",
)
NOTIFICATIONS = _daemon(
    "notifications_total",
    C,
    "Notifications by channel and outcome: sent, failed (an attempt, retried), dropped.",
    "channel",
    "outcome",
)
SURVIVORS = _daemon(
    "survivors_total",
    C,
    "Children of a killed superd found running at start, by what was done (kill, adopt, leave).",
    "action",
)
ORPHANS_REAPED = _daemon(
    "orphans_reaped_total",
    C,
    "Orphaned descendants of the programs reaped by superd (as PID 1 or subreaper=true).",
)
INFO = _daemon("info", G, "Always 1; the labels describe the running superd.", "version")

CATALOGUE: tuple[MetricSpec, ...] = (
    PROCESS_STATE,
    PROCESS_UP,
    PROCESS_START_TIME,
    PROCESS_TRANSITIONS,
    PROCESS_RESTARTS,
    PROCESS_STARTS,
    PROCESS_EXITS,
    PROCESS_LAST_EXIT_CODE,
    PROCESS_RUN_DURATION,
    PROCESS_READY,
    PROCESS_READY_SECONDS,
    PROCESS_RESTART_STORM,
    PROCESS_CPU,
    PROCESS_RSS,
    PROCESS_OPEN_FDS,
    PROCESS_THREADS,
    PROCESS_TREE_PROCESSES,
    PROCESS_LOG_BYTES,
    EVENTS,
    EVENTS_DROPPED,
    SUBSCRIBER_ERRORS,
    LOG_WRITE_ERRORS,
    JOURNAL_ERRORS,
    JOURNAL_LAG,
    JOURNAL_PENDING,
    RPC_DURATION,
    NOTIFICATIONS,
    SURVIVORS,
    ORPHANS_REAPED,
    INFO,
)

# supervisor_core.health counter names -> the metric showing them.
FAULT_METRICS: dict[str, MetricSpec] = {
    "log_write_errors": LOG_WRITE_ERRORS,
    "journal_errors": JOURNAL_ERRORS,
    "orphans_reaped": ORPHANS_REAPED,
}

# supervisor_core.health gauge names -> the metric showing them.
HEALTH_GAUGE_METRICS: dict[str, MetricSpec] = {
    "journal_lag_seconds": JOURNAL_LAG,
    "journal_pending_events": JOURNAL_PENDING,
}

# Run durations span a crash loop (well under a second) to a service up for days.
RUN_DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    21600.0,
    86400.0,
)

# Readiness spans an instant start (startsecs=0) to a database replaying its log.
READY_SECONDS_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

CPU_MODES: tuple[str, ...] = ("user", "system")
LOG_STREAMS: tuple[str, ...] = ("stdout", "stderr")
