"""Numbers shared with supervisord: XML-RPC fault codes, process states, exit codes.

These are part of supervisord's wire protocol and of supervisorctl's contract with
scripts (LSB init-script exit codes), so they are spelled as supervisord spells them.
"""

from __future__ import annotations

import enum

from supervisor_core.faults import Faults

# The client and the server share one table of codes.
Fault = Faults


class ExitStatus(enum.IntEnum):
    """Exit codes of a one-shot ``superctl ACTION``: LSB init-script meanings."""

    SUCCESS = 0
    GENERIC = 1
    INVALID_ARGS = 2
    UNIMPLEMENTED_FEATURE = 3
    INSUFFICIENT_PRIVILEGES = 4
    NOT_INSTALLED = 5
    NOT_RUNNING = 7


class StatusExitStatus(enum.IntEnum):
    """Exit codes that ``status`` uses instead: LSB *status*-action meanings."""

    NOT_RUNNING = 3
    UNKNOWN = 4


# Process state codes as getProcessInfo reports them (supervisord's ProcessStates).
STATE_RUNNING = 20
# States in which supervisorctl considers a process "not running" for ``status``.
STOPPED_STATES = frozenset({0, 100, 200, 1000})

# Faults that mean the program is dead rather than that the request was wrong;
# supervisorctl maps them to LSB "program is not running" (7).
DEAD_PROGRAM_FAULTS = frozenset({Fault.SPAWN_ERROR, Fault.ABNORMAL_TERMINATION, Fault.NOT_RUNNING})

# The API version supervisorctl 4.x insists on (``supervisor.getVersion``).
API_VERSION = "3.0"


def exitstatus_for_fault(current: int, fault: int, ignored: int | None = None) -> int:
    """The exit status after a per-process result with code ``fault``.

    ``SUCCESS`` and the ``ignored`` fault (e.g. ALREADY_STARTED for ``start``) keep the
    current status; dead-program faults give 7; anything else gives 1.
    """
    if fault in (ignored, Fault.SUCCESS):
        return current
    if fault in DEAD_PROGRAM_FAULTS:
        return ExitStatus.NOT_RUNNING
    return ExitStatus.GENERIC
