"""supervisord's XML-RPC fault codes and the mapping from control errors to faults.

The codes and the fault strings (``NAME`` or ``NAME: detail``) are part of the wire
protocol: supervisorctl and other clients switch on the code and print the string.
"""

from __future__ import annotations

import reprlib
import xmlrpc.client

from supervisor_core import control
from supervisor_core.faults import Faults

__all__ = ["Faults", "RpcFault", "echo", "fault_from_error"]


# (Repr takes keyword arguments only from Python 3.12.)
# Echoed argument values are cut to this many characters and nesting levels: a list
# nested 1,000 deep or a 2 MB string must not become the fault text (repr() of the
# former raises RecursionError).
_ECHO = reprlib.Repr()
_ECHO.maxlevel = 3
_ECHO.maxstring = _ECHO.maxother = 200
_ECHO.maxlist = _ECHO.maxdict = 8
_ECHO_MAX = 200


def echo(detail: object) -> str:
    """``detail`` as fault text: strings as given (cut to 200 characters), anything
    else as a bounded repr; never recursive, never long."""
    if isinstance(detail, xmlrpc.client.Binary):
        # supervisord echoes a <base64> value as its bytes read as latin-1.
        detail = detail.data.decode("latin-1")
    if isinstance(detail, str):
        return detail if len(detail) <= _ECHO_MAX else detail[:_ECHO_MAX] + "..."
    return _ECHO.repr(detail)


class RpcFault(Exception):
    """A fault an RPC method returns: a code and supervisord's text for it."""

    def __init__(self, code: Faults, detail: object = None) -> None:
        self.code = code
        self.text = code.name if detail is None else f"{code.name}: {echo(detail)}"
        super().__init__(self.text)

    def as_struct(self) -> dict[str, int | str]:
        """The ``{faultCode, faultString}`` struct ``system.multicall`` returns."""
        return {"faultCode": int(self.code), "faultString": self.text}


# Which fault each domain error becomes; the fault text carries the error's detail.
_ERROR_FAULTS: dict[type[control.ControlError], Faults] = {
    control.BadName: Faults.BAD_NAME,
    control.BadSignal: Faults.BAD_SIGNAL,
    control.NoFile: Faults.NO_FILE,
    control.NotExecutable: Faults.NOT_EXECUTABLE,
    control.Failed: Faults.FAILED,
    control.AbnormalTermination: Faults.ABNORMAL_TERMINATION,
    control.SpawnFailed: Faults.SPAWN_ERROR,
    control.AlreadyStarted: Faults.ALREADY_STARTED,
    control.NotRunning: Faults.NOT_RUNNING,
    control.AlreadyAdded: Faults.ALREADY_ADDED,
    control.StillRunning: Faults.STILL_RUNNING,
    control.CantReread: Faults.CANT_REREAD,
    control.ShutdownState: Faults.SHUTDOWN_STATE,
}


def fault_from_error(error: control.ControlError) -> RpcFault:
    """The fault supervisord would return for ``error`` (FAILED for unknown subclasses)."""
    for cls in type(error).__mro__:
        code = _ERROR_FAULTS.get(cls)
        if code is not None:
            return RpcFault(code, error.detail)
    return RpcFault(Faults.FAILED, error.detail if error.detail is not None else str(error))
