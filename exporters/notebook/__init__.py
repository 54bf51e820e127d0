"""Post-mortems of restart storms: a journal (and optionally Prometheus) -> pandas, plots, prose.

"Why did this program restart 40 times last night, and who noticed?" The journal
(``exporters.journal``) has every state change with exit status, signal, run time
and stderr tail; this package turns it into DataFrames, finds the storms with the
same detector superd runs (``exporters.storms``), plots them and writes the story.
``notebooks/restart-storm-postmortem.ipynb`` is a thin shell around it; see
docs/postmortem.md.

Rules of this package:
- Builders are pure functions of journal records (``JournalRecord``), so unit tests
  feed them records written by the real ``Journal``; only ``read_records`` and
  ``prometheus_alerts`` do I/O.
- Times are tz-aware UTC ``pandas.Timestamp`` s built from the events' wall time;
  durations are seconds (floats), as the journal stores them.
- Every count comes from the events' ``cause`` and nothing else. A *restart* is a
  ``PROCESS_STATE_STARTING`` whose cause is automatic (``autorestart``, ``damped``,
  ``retry``: ``lifecycle.AUTOMATIC_RESTART_CAUSES``): what
  ``supervisor_process_restarts_total`` counts, so the notebook and the metric agree.
  Starts somebody asked for (operator, listener, autostart, update, reload) are
  starts, not restarts; requested changes are *actions*, and their ``origin`` says
  who asked, from where.
- Plots draw on a ``matplotlib.figure.Figure`` they create (or an ``Axes`` passed
  in), never on pyplot's global state.

Modules: ``sources`` (``load_events``: a journal, a superd URL or Prometheus ->
one typed frame; ``fleet`` reads Prometheus' counters), ``analysis`` (``runs``,
``storms``, ``restarts``, ``exit_summary``, ``common_cause`` of such a frame),
``replay`` (``replay_policy``), ``frames`` (records -> DataFrames, ``load``),
``story`` (``summarize``), ``plots``, ``prometheus`` (``prometheus_alerts``),
``overview`` (``top_restarting``, ``restart_rate``, ``fleet_summary``: the fleet
notebook), ``snapshot`` (``snapshot``: a running superd as a table; ``storm_view``: one storm).

Example::

    from exporters.notebook import load_events, replay_policy, restarts
    events = load_events("/var/log/supervisor/superd-journal.sqlite3")
    restarts(events)["process"].value_counts()
    replay_policy(events, backoff_initial=1, backoff_max=30, startlimit_burst=10)
"""

from exporters.notebook.analysis import (
    common_cause,
    exit_summary,
    recorded_storms,
    restarts,
    runs,
    storms,
    to_records,
)
from exporters.notebook.frames import (
    PostMortem,
    events_frame,
    load,
    notices_frame,
    read_records,
    restarts_frame,
    restarts_per_minute,
    runs_frame,
    storms_frame,
)
from exporters.notebook.overview import (
    fleet_summary,
    plot_restart_rate,
    restart_rate,
    time_range,
    top_restarting,
)
from exporters.notebook.plots import (
    OUTCOME_COLOURS,
    plot_restarts_per_minute,
    plot_run_durations,
    plot_timeline,
)
from exporters.notebook.prometheus import prometheus_alerts
from exporters.notebook.replay import Replay, plot_replay, replay_policy
from exporters.notebook.snapshot import DaemonSnapshot, StormView, snapshot, storm_view
from exporters.notebook.sources import EVENT_COLUMNS, load_events
from exporters.notebook.story import summarize

__all__ = [
    "EVENT_COLUMNS",
    "OUTCOME_COLOURS",
    "DaemonSnapshot",
    "PostMortem",
    "Replay",
    "StormView",
    "common_cause",
    "events_frame",
    "exit_summary",
    "fleet_summary",
    "load",
    "load_events",
    "notices_frame",
    "plot_replay",
    "plot_restart_rate",
    "plot_restarts_per_minute",
    "plot_run_durations",
    "plot_timeline",
    "prometheus_alerts",
    "read_records",
    "recorded_storms",
    "replay_policy",
    "restart_rate",
    "restarts",
    "restarts_frame",
    "restarts_per_minute",
    "runs",
    "runs_frame",
    "snapshot",
    "storm_view",
    "storms",
    "storms_frame",
    "summarize",
    "time_range",
    "to_records",
    "top_restarting",
]
