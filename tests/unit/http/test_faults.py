"""Fault codes and the mapping of control errors to supervisord faults."""

from __future__ import annotations

import pytest
from supervisor.xmlrpc import Faults as SupervisordFaults

from supervisor_core import control
from supervisor_core.http.faults import Faults, RpcFault, fault_from_error


def test_fault_codes_are_supervisords() -> None:
    """Every fault name and code equals supervisord's own table."""
    theirs = {k: v for k, v in vars(SupervisordFaults).items() if k.isupper()}
    assert {f.name: int(f) for f in Faults} == theirs


@pytest.mark.parametrize(
    ("error", "code", "text"),
    [
        (control.BadName("web:x"), 10, "BAD_NAME: web:x"),
        (control.BadSignal("FOO"), 11, "BAD_SIGNAL: FOO"),
        (control.NoFile("/bin/nope"), 20, "NO_FILE: /bin/nope"),
        (control.NotExecutable("/etc"), 21, "NOT_EXECUTABLE: /etc"),
        (control.Failed("boom"), 30, "FAILED: boom"),
        (control.AbnormalTermination("w"), 40, "ABNORMAL_TERMINATION: w"),
        (control.SpawnFailed("w"), 50, "SPAWN_ERROR: w"),
        (control.AlreadyStarted("w"), 60, "ALREADY_STARTED: w"),
        (control.NotRunning("w"), 70, "NOT_RUNNING: w"),
        (control.AlreadyAdded("g"), 90, "ALREADY_ADDED: g"),
        (control.StillRunning("g"), 91, "STILL_RUNNING: g"),
        (control.CantReread("bad line"), 92, "CANT_REREAD: bad line"),
        (control.ShutdownState(), 6, "SHUTDOWN_STATE"),
        (control.NoFile(), 20, "NO_FILE"),
    ],
)
def test_control_errors_map_to_supervisord_faults(
    error: control.ControlError, code: int, text: str
) -> None:
    """Each domain error becomes the fault code and 'NAME: detail' text supervisord sends."""
    fault = fault_from_error(error)
    assert (fault.code, fault.text) == (code, text)


def test_unknown_error_subclass_is_failed() -> None:
    """A ControlError subclass without its own mapping is reported as FAILED with its text."""

    class Odd(control.ControlError):
        pass

    assert fault_from_error(Odd()).text == "FAILED: Odd"
    assert fault_from_error(Odd("why")).text == "FAILED: why"


def test_subclasses_of_mapped_errors_keep_their_parent_code() -> None:
    """A daemon may refine an error class; the refinement keeps the parent's fault code."""

    class MissingCommand(control.NoFile):
        pass

    assert fault_from_error(MissingCommand("/x")).code == Faults.NO_FILE


def test_multicall_struct_shape() -> None:
    """A fault inside system.multicall is the {faultCode, faultString} struct."""
    assert RpcFault(Faults.FAILED, "x").as_struct() == {"faultCode": 30, "faultString": "FAILED: x"}


def test_control_error_str_names_the_error() -> None:
    """str() of a domain error reads as 'Name: detail' for logs."""
    assert str(control.NotRunning("web")) == "NotRunning: web"
    assert str(control.ShutdownState()) == "ShutdownState"
