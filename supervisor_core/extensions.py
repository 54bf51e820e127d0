"""Extensions: how parts outside the core (the exporters) ride along with superd.

Rules of this file:
- The core never imports ``exporters`` (the import contract). superd finds
  extensions through the entry-point group ``supervisor_core.extensions``; each
  entry point names an :class:`ExtensionFactory`. Installing the distribution is
  what makes the shipped exporters (metrics, journal, /events, storms) present.
- One lifecycle, driven by superd and ``runner.run_daemon``::

      factory.register_event_types(registry)  # the daemon's registry, before any check
      factory.check(config)        # --check-config and start-up: ConfigError names file:line
      ext = factory.open(config)   # blocking, after daemonizing, before the bus exists
      ext.first_serial()           # the bus starts at the highest any extension asks for
      ext.report_faults(faults)    # where handled failures are counted (or read from)
      ext.report_rpc_timings(t)    # the durations of XML-RPC calls (read-only for it)
      ext.install(bus)             # register its types on bus.registry; subscribe; publish
      ext.routes()                 # added to the control plane's HTTP app (same auth)
      ext.attach(control)          # each daemon generation (HUP builds a new one)
      ext.detach()                 # end of a generation, before its listeners close
      async with ext.serving():    # listeners of its own, for the whole run
      await ext.aclose()           # after the last event

- An extension's section is read once per run: a HUP reloads programs, not exporters
  (supervisord ignores these sections, so nothing there can be reloaded by it either).
- What ``attach`` hands over is a :class:`DaemonView`: the control seam plus read-only
  counters the control plane has no use for. An extension reads snapshots and counters
  through it and never holds a live process.
- Event types belong to the daemon's ``EventTypeRegistry`` (``installed_event_types``:
  supervisord's plus every installed factory's), which the bus owns. A factory adds
  its types whether or not the config turns the extension on (they are names a
  listener's ``events=`` may use, and ``--check-config`` must see them without
  opening anything: superd loads every file with ``load(path, event_types=...)``);
  ``install`` registers them again on ``bus.registry`` (a no-op for superd's bus),
  so an extension also works on a bus built by hand.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from aiohttp import web

from supervisor_core.bus import EventBus
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.model import Config
from supervisor_core.control import SupervisorControl
from supervisor_core.events import EventTypeRegistry
from supervisor_core.health import FaultCounters
from supervisor_core.rpc_timings import RpcTimings

ENTRY_POINT_GROUP = "supervisor_core.extensions"

logger = logging.getLogger(__name__)


class DaemonView(SupervisorControl, Protocol):
    """What an extension sees of one running daemon generation (``Supervisor`` has it)."""

    def output_bytes(self) -> Mapping[tuple[str, str], Mapping[str, int]]:
        """Bytes read so far from each active process' stdout and stderr pipes.

        Keyed by ``(group, name)``, then by stream (``"stdout"``, ``"stderr"``); with
        ``redirect_stderr`` the child's stderr is counted under stdout. The counts cover
        every run of the process since its group was added, whether or not a log file
        keeps the bytes, and are read at call time (nothing is copied in between).
        """
        ...


class Extension:
    """Base class with the no-op default of every lifecycle hook; override what you need."""

    name: str = "extension"

    def first_serial(self) -> int | None:
        """The serial the bus must start at (an extension holding history), or None."""
        return None

    def report_faults(self, faults: FaultCounters) -> None:
        """The daemon's failure counters: add to them, register a count, or show them
        (once per run, before ``install``)."""

    def report_rpc_timings(self, timings: RpcTimings) -> None:
        """Told where the daemon counts XML-RPC call durations (read them, never add)."""

    def install(self, bus: EventBus) -> None:
        """Register the event types it publishes or asks for on ``bus.registry``
        (idempotent), and subscribe to the bus (once per run)."""

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """Routes to add to the control plane's HTTP app."""
        return ()

    def attach(self, control: DaemonView) -> None:
        """A new daemon generation is running (start-up, or after a HUP restart)."""

    def detach(self) -> None:
        """The current generation ends; its HTTP listeners are about to close."""

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Run listeners of the extension's own for the whole daemon run."""
        yield

    async def aclose(self) -> None:
        """Release everything; called once, after the last event was published."""


@runtime_checkable
class ExtensionFactory(Protocol):
    """What an entry point of the ``supervisor_core.extensions`` group names."""

    name: str

    def register_event_types(self, registry: EventTypeRegistry) -> None:
        """Add the event types the extension publishes or subscribes to (idempotent)."""

    def check(self, config: Config) -> None:
        """Validate this extension's sections of ``config``; raise ``ConfigError``."""

    def open(self, config: Config) -> Extension | None:
        """Build the extension for ``config`` (None when the config turns it off)."""


def discover_extensions() -> list[ExtensionFactory]:
    """Every installed extension factory, sorted by entry-point name.

    An entry point that fails to load is logged and skipped: a broken optional
    exporter must not keep the programs from being supervised.
    """
    factories: list[ExtensionFactory] = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        try:
            loaded = point.load()
        except Exception:  # any import failure of a plug-in is reported the same way
            logger.exception("extension %s (%s) could not be loaded", point.name, point.value)
            continue
        factory = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(factory, ExtensionFactory):
            logger.error("extension %s (%s) is not an ExtensionFactory", point.name, point.value)
            continue
        factories.append(factory)
    return factories


def installed_event_types(
    factories: Sequence[ExtensionFactory] | None = None,
) -> EventTypeRegistry:
    """A fresh registry of supervisord's event types plus those of ``factories``.

    ``factories`` defaults to every installed one (``discover_extensions``): the
    registry a superd on this host builds, for readers outside the daemon.
    """
    registry = EventTypeRegistry.with_core_types()
    for factory in discover_extensions() if factories is None else factories:
        factory.register_event_types(registry)
    return registry


def check_extensions(factories: Sequence[ExtensionFactory], config: Config) -> None:
    """Run every factory's check; one ``ConfigError`` with all problems, or nothing."""
    problems: list[Problem] = []
    for factory in factories:
        try:
            factory.check(config)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)


def first_serial(extensions: Sequence[Extension]) -> int:
    """The serial a new bus starts at: the highest any extension asks for (default 0)."""
    return max((s for e in extensions if (s := e.first_serial()) is not None), default=0)
