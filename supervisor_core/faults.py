"""supervisord's XML-RPC fault codes: one table for the server (``http``) and the client (``ctl``).

The codes are part of the wire protocol: supervisorctl and other clients switch on
``faultCode``, and the group operations report them as each result's ``status``.
"""

from __future__ import annotations

import enum


class Faults(enum.IntEnum):
    """supervisord's fault codes (``supervisor.xmlrpc.Faults``)."""

    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92
