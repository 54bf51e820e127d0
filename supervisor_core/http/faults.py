"""supervisord's XML-RPC fault codes and the mapping from control errors to faults.

The codes and the fault strings (``NAME`` or ``NAME: detail``) are part of the wire
protocol: supervisorctl and other clients switch on the code and print the string.
"""

from __future__ import annotations

from supervisor_core import control
from supervisor_core.faults import Faults

__all__ = ["Faults", "RpcFault", "fault_from_error"]


class RpcFault(Exception):
    """A fault an RPC method returns: a code and supervisord's text for it."""

    def __init__(self, code: Faults, detail: object = None) -> None:
        self.code = code
        self.text = code.name if detail is None else f"{code.name}: {detail}"
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
