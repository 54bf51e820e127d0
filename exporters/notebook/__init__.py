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

Modules: ``frames`` (records -> DataFrames, ``load``), ``story`` (``summarize``),
``plots``, ``prometheus`` (``prometheus_alerts``).

Example::

    from exporters.notebook import load, summarize
    report = load("/var/log/supervisor/superd-journal.sqlite3")
    print("\\n\\n".join(summarize(report)))
"""

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
from exporters.notebook.plots import (
    OUTCOME_COLOURS,
    plot_restarts_per_minute,
    plot_run_durations,
    plot_timeline,
)
from exporters.notebook.prometheus import prometheus_alerts
from exporters.notebook.story import summarize

__all__ = [
    "OUTCOME_COLOURS",
    "PostMortem",
    "events_frame",
    "load",
    "notices_frame",
    "plot_restarts_per_minute",
    "plot_run_durations",
    "plot_timeline",
    "prometheus_alerts",
    "read_records",
    "restarts_frame",
    "restarts_per_minute",
    "runs_frame",
    "storms_frame",
    "summarize",
]
