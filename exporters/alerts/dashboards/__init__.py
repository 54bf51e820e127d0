"""The Grafana dashboards, built with Grafana's typed ``grafana-foundation-sdk`` builders.

Three dashboards, one module each: the fleet overview (``fleet``, one row per host),
the drill-down into one process (``process``) and superd itself (``daemon``);
``common`` holds what they share (datasource, selectors, variables, queries).

The SDK is a development dependency (the ``dev`` dependency group): the generated JSON
is checked in and drift-tested, so only rendering needs it. This module imports it
lazily, so the rule files render without it and ``DASHBOARD_UID`` is always importable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exporters.alerts.rules import AlertConfig

__all__ = [
    "DAEMON",
    "DASHBOARDS",
    "DASHBOARD_UID",
    "FLEET",
    "PROCESS",
    "SDK_MISSING",
    "DashboardFile",
    "build_dashboards",
    "parse_dashboard",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardFile:
    """One generated dashboard: its uid (stable, links point at it) and its file."""

    uid: str
    path: str


# The fleet overview keeps the first dashboard's uid and file: Grafana alert rules
# (``__dashboardUid__``), bookmarks and the asset list name them.
FLEET = DashboardFile(uid="supervisor-overview", path="grafana/dashboards/supervisor-overview.json")
PROCESS = DashboardFile(uid="supervisor-process", path="grafana/dashboards/supervisor-process.json")
DAEMON = DashboardFile(uid="supervisor-superd", path="grafana/dashboards/supervisor-superd.json")
DASHBOARDS: tuple[DashboardFile, ...] = (FLEET, PROCESS, DAEMON)
DASHBOARD_UID = FLEET.uid

SDK_MISSING = (
    "the Grafana dashboards are built with grafana-foundation-sdk, which is not installed "
    "(a development dependency: pip install --group dev, or pip install grafana-foundation-sdk)"
)


def _require_sdk() -> None:
    try:
        import grafana_foundation_sdk  # noqa: F401
    except ImportError as error:
        raise RuntimeError(SDK_MISSING) from error


def build_dashboards(config: AlertConfig) -> dict[str, dict[str, object]]:
    """Every dashboard as Grafana's JSON model, by repository-relative path.

    Raises:
        RuntimeError: grafana-foundation-sdk is not installed (the message says how).
    """
    _require_sdk()
    from exporters.alerts.dashboards import daemon, fleet, process
    from exporters.alerts.dashboards.common import to_json

    return {
        FLEET.path: to_json(fleet.dashboard(config)),
        PROCESS.path: to_json(process.dashboard(config)),
        DAEMON.path: to_json(daemon.dashboard(config)),
    }


def parse_dashboard(data: dict[str, object]) -> dict[str, object]:
    """``data`` read into the SDK's ``Dashboard`` model and written back as JSON.

    Every key the SDK's types do not know is lost on the way, so a dashboard that
    comes back equal to ``data`` holds only what Grafana's schema defines.

    Raises:
        RuntimeError: grafana-foundation-sdk is not installed.
    """
    _require_sdk()
    from exporters.alerts.dashboards.common import reparse

    return reparse(data)
