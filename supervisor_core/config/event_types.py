"""Names of supervisord's event types, the ones ``[eventlistener:x] events=`` may use.

Kept here (not imported from supervisor, which is only a test peer) so the loader
can check ``events=`` lines; the list is supervisord 4.x's ``EventTypes``.
"""

from __future__ import annotations

EVENT_TYPE_NAMES = frozenset(
    {
        "EVENT",
        "PROCESS_STATE",
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE_BACKOFF",
        "PROCESS_STATE_STOPPING",
        "PROCESS_STATE_EXITED",
        "PROCESS_STATE_STOPPED",
        "PROCESS_STATE_FATAL",
        "PROCESS_STATE_UNKNOWN",
        "REMOTE_COMMUNICATION",
        "PROCESS_LOG",
        "PROCESS_LOG_STDOUT",
        "PROCESS_LOG_STDERR",
        "PROCESS_COMMUNICATION",
        "PROCESS_COMMUNICATION_STDOUT",
        "PROCESS_COMMUNICATION_STDERR",
        "SUPERVISOR_STATE_CHANGE",
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE_STOPPING",
        "TICK",
        "TICK_5",
        "TICK_60",
        "TICK_3600",
        "PROCESS_GROUP",
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_REMOVED",
    }
)
