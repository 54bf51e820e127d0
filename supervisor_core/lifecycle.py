"""The vocabulary of a process' life: its states, and why each transition happened.

Rules of this file:
- Pure data, no behaviour beyond small predicates: the state machine (``states``),
  the event types (``events``), the control plane and every exporter import these
  names, so this module sits below all of them and imports nothing of the core.
- States are ``IntEnum`` s with supervisord's numeric codes (``getProcessInfo``'s
  ``state``, ``getState``'s ``statecode``); their names are supervisord's.
- ``Cause`` is the one answer to "why did this transition happen". The state
  machine sets it on every transition it publishes and every consumer (metrics,
  journal, web page, notebooks, traces, storm detector) counts from it and nothing
  else. ``AUTOMATIC_RESTART_CAUSES`` is the definition of a *restart*
  (``supervisor_process_restarts_total``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ProcessState(enum.IntEnum):
    """A process' state, with supervisord's numeric codes (getProcessInfo ``state``)."""

    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000


class SupervisorState(enum.IntEnum):
    """The daemon's own state (``getState``), with supervisord's codes."""

    FATAL = 2
    RUNNING = 1
    RESTARTING = 0
    SHUTDOWN = -1


class EventListenerState(enum.IntEnum):
    """Where an event listener is in the listener protocol, with supervisord's codes."""

    READY = 10
    BUSY = 20
    ACKNOWLEDGED = 30
    UNKNOWN = 40


# supervisord's groupings, used by the RPC layer to choose fault codes.
STOPPED_STATES = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.UNKNOWN}
)
RUNNING_STATES = frozenset({ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STARTING})
SIGNALLABLE_STATES = frozenset({ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING})


class Cause(enum.StrEnum):
    """Why a process changed state: set by the state machine on every transition.

    Requested transitions (a start or stop somebody or something asked for) carry
    the requester's cause; the others carry what the machine reacted to.
    """

    # -- requested: a Requester says who asked
    AUTOSTART = "autostart"
    """``autostart=true`` at daemon start-up."""
    OPERATOR = "operator"
    """A person or program through XML-RPC, the web page or superctl (``origin`` says which)."""
    LISTENER = "listener"
    """An XML-RPC call from one of superd's own event listeners (memmon, httpok, ...)."""
    UPDATE = "update"
    """A group added at run time (``update``, ``add``) started its autostart processes."""
    RELOAD = "reload"
    """The daemon restarted itself (SIGHUP, ``supervisor.restart``): stops and starts."""
    SHUTDOWN = "shutdown"
    """The daemon is shutting down and stops everything."""
    # -- automatic restarts: the ones supervisor_process_restarts_total counts
    AUTORESTART = "autorestart"
    """``autorestart`` started the process again at once after it exited from RUNNING."""
    DAMPED = "damped"
    """``autorestart`` started it again after a restart-damping delay (``backoff_*``)."""
    RETRY = "retry"
    """A failed start is retried out of BACKOFF (``startretries``)."""
    DEPENDENCY = "dependency"
    """A start or stop made for a dependency (``depends_on``): a dependency started for
    a dependent that was started, a dependent stopped before what it depends on."""
    # -- what the machine reacted to
    STARTSECS = "startsecs"
    """The child stayed up for ``startsecs``: STARTING -> RUNNING."""
    READY = "ready"
    """The child was found ready (``ready=`` notify, tcp, http, command): -> RUNNING."""
    READY_TIMEOUT = "ready_timeout"
    """The child was not ready within ``ready_timeout``: a failed start, -> BACKOFF."""
    WATCHDOG = "watchdog"
    """The child stopped sending ``WATCHDOG=1`` for ``watchdog_timeout`` and was killed."""
    EXIT = "exit"
    """The child exited without being asked to (from STARTING, RUNNING or UNKNOWN)."""
    SPAWN_ERROR = "spawn_error"
    """The child could not be created (fork/exec failed): STARTING -> BACKOFF."""
    STARTRETRIES = "startretries"
    """The retry budget is spent: BACKOFF -> FATAL."""
    STARTLIMIT = "startlimit"
    """The start limit (``startlimit_burst``) refused an automatic start: -> FATAL."""
    SIGNAL_ERROR = "signal_error"
    """A signal could not be delivered: -> UNKNOWN."""

    @property
    def is_automatic_restart(self) -> bool:
        """Whether a start with this cause is a *restart* (no request behind it)."""
        return self in AUTOMATIC_RESTART_CAUSES

    @property
    def is_requested(self) -> bool:
        """Whether a transition with this cause was asked for (see ``Requester``)."""
        return self in REQUESTED_CAUSES


AUTOMATIC_RESTART_CAUSES = frozenset({Cause.AUTORESTART, Cause.DAMPED, Cause.RETRY})
START_CAUSES: tuple[Cause, ...] = (
    Cause.AUTOSTART,
    Cause.OPERATOR,
    Cause.LISTENER,
    Cause.UPDATE,
    Cause.RELOAD,
    Cause.DEPENDENCY,
    Cause.AUTORESTART,
    Cause.DAMPED,
    Cause.RETRY,
)
"""The causes a STARTING transition can carry (``supervisor_process_starts_total``)."""
REQUESTED_CAUSES = frozenset(
    {
        Cause.AUTOSTART,
        Cause.OPERATOR,
        Cause.LISTENER,
        Cause.UPDATE,
        Cause.RELOAD,
        Cause.SHUTDOWN,
        Cause.DEPENDENCY,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Requester:
    """Who asked for a start, stop or signal, and through which channel.

    ``cause`` is one of ``REQUESTED_CAUSES``; ``origin`` names the channel and the
    peer as precisely as it can be told (``"xmlrpc unix socket, pid 4242 uid 0"``,
    ``"web 127.0.0.1"``, ``"listener memmon"``), or "" when there is nothing to add
    (autostart, shutdown).
    """

    cause: Cause
    origin: str = ""
    peer_pid: int | None = None
    """The requesting process, where the channel tells it (a unix socket's
    SO_PEERCRED): the daemon attributes a request from one of its own event
    listeners to that listener (cause LISTENER)."""

    def __post_init__(self) -> None:
        if not self.cause.is_requested:
            raise ValueError(f"{self.cause.value!r} is not the cause of a request")


AUTOSTART = Requester(cause=Cause.AUTOSTART)
SHUTDOWN = Requester(cause=Cause.SHUTDOWN)
RELOAD = Requester(cause=Cause.RELOAD)
