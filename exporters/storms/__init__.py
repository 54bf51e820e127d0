"""Restart storms: detection shared by the live daemon, alerts and notebooks.

- ``detector``: the pure detector (``StormDetector``, ``detect_storms``) over
  ``Observation`` s; no clock, no bus.
- ``events``: the STORM event types (``PROCESS_STORM_BEGIN`` ...) and observations
  from bus events or journal records.
- ``settings``: ``[exporter:storms]``.
- ``live``: ``StormMonitor`` (the detector on a bus, ``/storms``) and
  ``ActiveStorms`` (the Prometheus gauge's source).

Notebook example::

    from exporters.journal import open_journal
    from exporters.storms import detect_storms, observation_from_record

    with open_journal("superd-journal.sqlite3") as journal:
        observations = [o for r in journal.events() if (o := observation_from_record(r))]
    for storm in detect_storms(observations):
        print(storm.name, storm.start, storm.end, storm.restarts, storm.exit_codes)

See docs/storms.md.
"""

from exporters.storms.detector import (
    ChangeKind,
    Observation,
    ObservationKind,
    Storm,
    StormChange,
    StormDetector,
    StormScope,
    StormSettings,
    detect_storms,
)
from exporters.storms.events import (
    GroupStormBegin,
    GroupStormEnd,
    HostStormBegin,
    HostStormEnd,
    ProcessStormBegin,
    ProcessStormEnd,
    StormEvent,
    observation_from_event,
    observation_from_record,
    register_storm_types,
    storm_event,
    storm_from_event,
)
from exporters.storms.live import STORMS_PATH, ActiveStorms, StormMonitor, storm_json
from exporters.storms.settings import (
    SECTION,
    StormExporterSettings,
    settings_from_config,
    settings_from_section,
)

__all__ = [
    "SECTION",
    "STORMS_PATH",
    "ActiveStorms",
    "ChangeKind",
    "GroupStormBegin",
    "GroupStormEnd",
    "HostStormBegin",
    "HostStormEnd",
    "Observation",
    "ObservationKind",
    "ProcessStormBegin",
    "ProcessStormEnd",
    "Storm",
    "StormChange",
    "StormDetector",
    "StormEvent",
    "StormExporterSettings",
    "StormMonitor",
    "StormScope",
    "StormSettings",
    "detect_storms",
    "observation_from_event",
    "observation_from_record",
    "register_storm_types",
    "settings_from_config",
    "settings_from_section",
    "storm_event",
    "storm_from_event",
    "storm_json",
]
