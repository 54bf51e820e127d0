"""Selectors, thresholds, alerts and recording rules: the one source of every generated file.

Rules of this file:
- Every PromQL expression the generated artefacts contain (Prometheus rules, Grafana
  alert rules, dashboards) is built from the metric catalogue
  (``exporters.prometheus.catalogue``) and the selectors and thresholds here, so a
  rename or a new threshold cannot leave one of them behind (the drift test
  regenerates all of them).
- Thresholds are data (``Thresholds``), injected through ``AlertConfig``: the shipped
  files use the defaults, tests render with small ``for:`` durations.
- An alert is ``value op threshold``: Prometheus gets that as one expression, Grafana
  gets the value as query A and the comparison as a threshold expression B, so both
  engines alert on the same series for the same reason.
- Annotation templates use only ``{{ $labels.<label> }}`` and ``{{ $value }}``; each
  engine's renderer spells the value its own way.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from exporters.prometheus import catalogue
from supervisor_core.lifecycle import ProcessState

__all__ = [
    "PROCESS_KEY",
    "AlertConfig",
    "AlertSpec",
    "Comparison",
    "RecordingSpec",
    "Severity",
    "Thresholds",
    "alert_specs",
    "duration",
    "prometheus_rule_groups",
    "recording_specs",
    "selector",
    "state_code_expression",
]

# The labels that identify one managed process across a fleet of superds.
PROCESS_KEY = "job, instance, group, name"

# Where runbook_url points unless rendered with another base (``--runbook-base``).
DEFAULT_RUNBOOK_BASE = "docs/runbooks.md"
# How long SupervisorDown remembers that a target was a superd (its supervisor_info).
SUPERD_MEMORY = 86400.0

# The states that mean "supervisord expects it up, and it is not" (ProcessDown).
# RUNNING is up, STOPPED is an operator's decision, FATAL has its own alert.
DOWN_STATES: tuple[ProcessState, ...] = (
    ProcessState.STARTING,
    ProcessState.BACKOFF,
    ProcessState.STOPPING,
    ProcessState.EXITED,
    ProcessState.UNKNOWN,
)


class Severity(enum.StrEnum):
    """The ``severity`` label of an alert (Alertmanager routes on it)."""

    WARNING = "warning"
    CRITICAL = "critical"


class Comparison(enum.StrEnum):
    """How an alert's value is compared with its threshold."""

    GREATER = ">"
    LESS = "<"

    @property
    def grafana(self) -> str:
        """Grafana's threshold evaluator type for this comparison."""
        return "gt" if self is Comparison.GREATER else "lt"


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """When each alert fires. Durations are seconds (rendered as ``1m``, ``90s``...).

    ``*_for`` is the alert's ``for:`` (how long the condition must hold; 0: at once).
    """

    # The storm gauge already has the detector's hysteresis (a storm lasts at least
    # its window), so a minute of it is a storm, not a blip.
    storm_for: float = 60.0
    # More than ``flapping_restarts`` automatic restarts within ``flapping_window``.
    flapping_restarts: int = 5
    flapping_window: float = 900.0
    # increase() extrapolates at the window's edges; 2 minutes rides that out.
    flapping_for: float = 120.0
    # FATAL is terminal: supervisord will not try again, so there is nothing to wait for.
    fatal_for: float = 0.0
    # Not RUNNING (and not stopped by an operator, not FATAL) for this long.
    down_for: float = 300.0
    # Two minutes of failed scrapes, not one slow scrape.
    supervisor_down_for: float = 120.0
    events_dropped_window: float = 300.0
    events_dropped_for: float = 0.0
    # Grafana evaluates its alert rule group this often (Prometheus uses its global).
    evaluation_interval: float = 60.0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"Thresholds.{name}: must be >= 0, got {value}")
        for name in ("flapping_window", "events_dropped_window", "evaluation_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Thresholds.{name}: must be > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertConfig:
    """Everything the generated files depend on besides the catalogue.

    ``selector`` holds extra matchers added to every rule (``env="prod"``); empty by
    default: the ``supervisor_*`` names are superd's alone, so the rules work whatever
    the scrape job is called, and ``SupervisorDown`` finds superd's targets by their
    ``supervisor_info`` (never by a job name). ``runbook_base`` is where the
    ``runbook_url`` annotation points (``#<alertname>`` is appended; the shipped
    docs/runbooks.md has those anchors). ``datasource_uid`` is the Grafana datasource
    the provisioned alert rules query.
    """

    selector: str = ""
    runbook_base: str = DEFAULT_RUNBOOK_BASE
    thresholds: Thresholds = field(default_factory=Thresholds)
    datasource_uid: str = "supervisor-prometheus"
    rule_group: str = "supervisor"
    recording_group: str = "supervisor.rules"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSpec:
    """One alert, for both engines (see the module's rules)."""

    name: str
    value: str
    comparison: Comparison
    threshold: float
    for_seconds: float
    severity: Severity
    summary: str
    description: str
    runbook: str
    # The range Grafana must query for ``value`` (its longest range selector).
    lookback_seconds: float = 600.0

    def runbook_url(self, config: AlertConfig) -> str:
        """The ``runbook_url`` annotation: ``<runbook_base>#<alertname in lower case>``."""
        return f"{config.runbook_base}#{self.name.lower()}"

    @property
    def expression(self) -> str:
        """The Prometheus alerting expression: ``value op threshold``."""
        return f"{self.value}\n  {self.comparison.value} {_number(self.threshold)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingSpec:
    """One recording rule."""

    record: str
    expression: str


_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(seconds: float) -> str:
    """A Prometheus/Grafana duration: ``900`` -> ``15m``, ``90`` -> ``90s``, ``0.5`` -> ``500ms``.

    Raises:
        ValueError: for a negative duration.
    """
    if seconds < 0:
        raise ValueError(f"negative duration: {seconds}")
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    for unit, size in _DURATION_UNITS:
        if whole % size == 0 and whole >= size:
            return f"{whole // size}{unit}"
    return "0s"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


_MATCHER = re.compile(r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*')


def selector(metric: str, config: AlertConfig, *matchers: str) -> str:
    """``metric{<config.selector>, <matchers>}``; raises ValueError on a bad matcher."""
    parts = [m for m in (config.selector, *matchers) if m]
    for part in parts:
        for single in _split_matchers(part):
            if not _MATCHER.fullmatch(single):
                raise ValueError(f"selector: not a label matcher: {single!r}")
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def _split_matchers(text: str) -> list[str]:
    """Split ``a="x", b=~"y,z"`` at the commas outside quotes."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def state_code_expression(config: AlertConfig, *matchers: str) -> str:
    """One series per process whose value is supervisord's code of its current state.

    ``supervisor_process_state`` is one 0/1 series per state; scaling each by the
    state's code (STOPPED 0, RUNNING 20, FATAL 200 ...) and summing leaves the code
    of the state that is 1. Dashboards map the codes back to names.
    """
    metric = catalogue.PROCESS_STATE.name
    terms = "\n  or ".join(
        f"{selector(metric, config, *matchers, f'state={_quote(state.name)}')} * {int(state)}"
        for state in ProcessState
    )
    return f"sum by ({PROCESS_KEY}) (\n  {terms}\n)"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _runbook(*steps: str) -> str:
    return "\n".join(f"{index}. {step}" for index, step in enumerate(steps, 1))


_PROCESS = "{{ $labels.group }}:{{ $labels.name }}"
_WHERE = "on {{ $labels.instance }}"
_INSPECT = (
    f"`superctl status {_PROCESS}` and `superctl tail {_PROCESS} stderr` on the host: "
    "what it is doing now and what it said before it died."
)
_HISTORY = (
    f"`superctl events --types PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF {_PROCESS}`: "
    "every exit with its code, signal, run time and stderr tail."
)
_POSTMORTEM = (
    "For the full story (runs, exit codes, storms, who noticed) run "
    "notebooks/restart-storm-postmortem.ipynb on the host's journal (docs/postmortem.md)."
)


def alert_specs(config: AlertConfig) -> tuple[AlertSpec, ...]:
    """Every alert, in the order the rule files list them."""
    t = config.thresholds
    flapping_window = duration(t.flapping_window)
    dropped_window = duration(t.events_dropped_window)
    down_states = "|".join(state.name for state in DOWN_STATES)
    return (
        AlertSpec(
            name="ProcessRestartStorm",
            value=selector(catalogue.PROCESS_RESTART_STORM.name, config),
            comparison=Comparison.GREATER,
            threshold=0,
            for_seconds=t.storm_for,
            severity=Severity.CRITICAL,
            summary=f"{_PROCESS} is in a restart storm {_WHERE}",
            description=(
                f"superd's storm detector reports {_PROCESS} {_WHERE} crashing over and "
                "over: repeated bad exits within its window ([exporter:storms] burst and "
                "window). The storm ends once the process stays RUNNING for a window."
            ),
            runbook=_runbook(
                f"`superctl storms {_PROCESS}`: when the storm began, how many restarts, "
                "which exit codes and signals, the median run time.",
                _INSPECT,
                _HISTORY,
                "If it cannot recover by itself (bad config, missing dependency), stop it "
                f"with `superctl stop {_PROCESS}` to end the storm, fix, then start it.",
                _POSTMORTEM,
            ),
        ),
        AlertSpec(
            name="ProcessFlapping",
            value=(
                f"increase({selector(catalogue.PROCESS_RESTARTS.name, config)}[{flapping_window}])"
            ),
            comparison=Comparison.GREATER,
            threshold=t.flapping_restarts,
            for_seconds=t.flapping_for,
            severity=Severity.WARNING,
            summary=f"{_PROCESS} keeps restarting {_WHERE}",
            description=(
                f"{_PROCESS} {_WHERE} restarted {{{{ $value }}}} times in the last "
                f"{flapping_window} without an operator asking (autorestart or BACKOFF "
                f"retries); the threshold is {t.flapping_restarts}."
            ),
            runbook=_runbook(_INSPECT, _HISTORY, _POSTMORTEM),
            lookback_seconds=t.flapping_window,
        ),
        AlertSpec(
            name="ProcessFatal",
            value=selector(catalogue.PROCESS_STATE.name, config, 'state="FATAL"'),
            comparison=Comparison.GREATER,
            threshold=0,
            for_seconds=t.fatal_for,
            severity=Severity.CRITICAL,
            summary=f"{_PROCESS} is FATAL {_WHERE}",
            description=(
                f"{_PROCESS} {_WHERE} could not be started after startretries attempts "
                "and superd has given up on it: it stays down until someone starts it."
            ),
            runbook=_runbook(
                f"`superctl status {_PROCESS}` shows the spawn error or the exit that "
                "failed the last start.",
                _INSPECT,
                _HISTORY,
                f"Fix the cause, then `superctl start {_PROCESS}`.",
            ),
        ),
        AlertSpec(
            name="ProcessDown",
            value=(
                f"sum by ({PROCESS_KEY}) (\n    "
                + selector(catalogue.PROCESS_STATE.name, config, f'state=~"{down_states}"')
                + "\n  )"
            ),
            comparison=Comparison.GREATER,
            threshold=0,
            for_seconds=t.down_for,
            severity=Severity.WARNING,
            summary=f"{_PROCESS} has not been RUNNING for {duration(t.down_for)} {_WHERE}",
            description=(
                f"{_PROCESS} {_WHERE} has been in {down_states.replace('|', ', ')} "
                f"without interruption for {duration(t.down_for)}: it is meant to run "
                "(not stopped by an operator) and is not. A one-shot program that exits "
                "on purpose belongs out of this alert's selector."
            ),
            runbook=_runbook(
                _INSPECT,
                "STARTING for long: startsecs is longer than the program takes to come "
                "up, or it hangs on start. BACKOFF/EXITED: see its exits below. "
                "STOPPING: it ignores its stopsignal (stopwaitsecs).",
                _HISTORY,
            ),
        ),
        AlertSpec(
            name="SupervisorDown",
            # Targets that served supervisor_info within SUPERD_MEMORY are superd's,
            # whatever their job is called; `and` keeps the value of `up`.
            value=(
                f"(\n    {selector('up', config)}\n    and on (job, instance)\n    "
                f"max_over_time({selector(catalogue.INFO.name, config)}"
                f"[{duration(SUPERD_MEMORY)}])\n  )"
            ),
            comparison=Comparison.LESS,
            threshold=1,
            for_seconds=t.supervisor_down_for,
            severity=Severity.CRITICAL,
            summary="superd {{ $labels.instance }} cannot be scraped",
            description=(
                "Prometheus has failed to scrape superd's /metrics at {{ $labels.instance }} "
                f"for {duration(t.supervisor_down_for)}: superd is down, its listener is "
                "unreachable, or the scrape is refused (auth). Nothing it supervises is "
                "being watched from here."
            ),
            runbook=_runbook(
                "On the host: `superctl status` (is superd running?), its main log, and "
                "`systemctl status` of the unit that runs it.",
                "Check the target on Prometheus' /targets page for the scrape error.",
                "superd's journal records a SUPERVISOR_DAEMON_START with the gap when it "
                "comes back: what happened while it was down is in docs/journal.md.",
            ),
            lookback_seconds=SUPERD_MEMORY,
        ),
        AlertSpec(
            name="EventsDropped",
            value=(
                f"increase({selector(catalogue.EVENTS_DROPPED.name, config)}[{dropped_window}])"
            ),
            comparison=Comparison.GREATER,
            threshold=0,
            for_seconds=t.events_dropped_for,
            severity=Severity.WARNING,
            summary=("superd {{ $labels.instance }} dropped events for {{ $labels.subscriber }}"),
            description=(
                "The bounded subscriber {{ $labels.subscriber }} of superd "
                f"{{{{ $labels.instance }}}} dropped {{{{ $value }}}} events in "
                f"{dropped_window}: it could not keep up. The journal never drops, so "
                "nothing is lost for good, but that consumer's view has holes."
            ),
            runbook=_runbook(
                "events-http:N is an /events stream: the client reconnects with "
                "Last-Event-ID and catches up from the journal; a slow network or a "
                "stalled client is the usual cause.",
                "Otherwise a slow exporter: check the host's CPU and superd's log.",
            ),
            lookback_seconds=t.events_dropped_window,
        ),
    )


def recording_specs(config: AlertConfig) -> tuple[RecordingSpec, ...]:
    """The recording rules: aggregates dashboards and fleet views query cheaply."""
    key = PROCESS_KEY
    buckets = selector(f"{catalogue.PROCESS_RUN_DURATION.name}_bucket", config)
    unexpected = selector(catalogue.PROCESS_EXITS.name, config, 'expected="false"')
    specs = [
        RecordingSpec(
            record="instance_group_name:supervisor_process_restarts:rate5m",
            expression=(
                f"sum by ({key}) (rate({selector(catalogue.PROCESS_RESTARTS.name, config)}[5m]))"
            ),
        ),
        RecordingSpec(
            record="instance_group_name:supervisor_process_unexpected_exits:rate5m",
            expression=(f"sum by ({key}) (rate({unexpected}[5m]))"),
        ),
        RecordingSpec(
            record="instance_group_name:supervisor_process_state:code",
            expression=state_code_expression(config),
        ),
        RecordingSpec(
            record="instance_state:supervisor_processes:count",
            expression=(
                f"sum by (job, instance, state) ({selector(catalogue.PROCESS_STATE.name, config)})"
            ),
        ),
        RecordingSpec(
            record="instance:supervisor_processes_in_storm:count",
            expression=(
                f"sum by (job, instance) ({selector(catalogue.PROCESS_RESTART_STORM.name, config)})"
            ),
        ),
        RecordingSpec(
            record="instance_group_name:supervisor_process_cpu:rate5m",
            expression=(
                f"sum by ({key}) (rate({selector(catalogue.PROCESS_CPU.name, config)}[5m]))"
            ),
        ),
        RecordingSpec(
            record="instance_type:supervisor_events:rate5m",
            expression=(
                "sum by (job, instance, type) ("
                f"rate({selector(catalogue.EVENTS.name, config)}[5m]))"
            ),
        ),
    ]
    specs.extend(
        RecordingSpec(
            record=(
                "instance_group_name:supervisor_process_run_duration_seconds:"
                f"p{round(quantile * 100)}_1h"
            ),
            expression=(
                f"histogram_quantile({quantile}, sum by ({key}, le) (rate({buckets}[1h])))"
            ),
        )
        for quantile in (0.5, 0.9)
    )
    return tuple(specs)


def _prometheus_value(template: str) -> str:
    return template.replace("{{ $value }}", "{{ $value | humanize }}")


def prometheus_rule_groups(config: AlertConfig) -> dict[str, object]:
    """The Prometheus rule file's content (``groups:``), recording rules first."""
    recording = [{"record": r.record, "expr": r.expression} for r in recording_specs(config)]
    alerts: list[dict[str, object]] = []
    for spec in alert_specs(config):
        rule: dict[str, object] = {"alert": spec.name, "expr": spec.expression}
        if spec.for_seconds:
            rule["for"] = duration(spec.for_seconds)
        rule["labels"] = {"severity": spec.severity.value}
        rule["annotations"] = {
            "summary": _prometheus_value(spec.summary),
            "description": _prometheus_value(spec.description),
            "runbook": _prometheus_value(spec.runbook),
            "runbook_url": spec.runbook_url(config),
        }
        alerts.append(rule)
    return {
        "groups": [
            {"name": config.recording_group, "rules": recording},
            {"name": config.rule_group, "rules": alerts},
        ]
    }
