"""Every XML-RPC method against the real supervisord and superd: same shapes, same faults.

Both daemons run the same config; a table of calls (generated from supervisord's own
``system.listMethods`` plus hand-written valid and invalid arguments) is played in
order against both, settling after state changes, and each answer is reduced to a
comparable form: a value with pids, times, paths and uptimes masked (or only its
type structure where the text is the daemon's own, like ``methodHelp``), a fault
code with its normalised string, or an HTTP error status. Where supervisord answers
HTTP 500 (it crashes on some wrongly typed arguments) superd answers the documented
``INCORRECT_PARAMETERS`` fault instead (docs/compatibility.md); those calls are
listed in the table with the fault superd must give.
"""

from __future__ import annotations

import re
import signal
import sys
import xmlrpc.client
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ctl_diff import (
    CONFIG,
    Daemon,
    normalise,
    running_daemons,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# Programs only this test needs: no logs at all, missing and unexecutable commands
# (started by hand, and autostarted into FATAL), a slow starter, and one that ignores
# SIGTERM so that a shutdown lasts long enough to be observed.
RPC_CONFIG = (
    CONFIG
    + """
[program:nolog]
command={python} -c "import time; time.sleep(1000)"
autostart=false
startsecs=0
stdout_logfile=NONE
stderr_logfile=NONE

[program:missing]
command=/nonexistent/command
autostart=false

[program:noexec]
command=/etc/passwd
autostart=false

[program:lost]
command=/nonexistent/lost
startretries=0

[program:unexecutable]
command=/etc/passwd
startretries=0

[program:slowstart]
command={python} -c "import time; time.sleep(1000)"
autostart=false
startsecs=1

[program:stubborn]
command={python} -c "import signal as s, time; s.signal(s.SIGTERM, s.SIG_IGN); time.sleep(1000)"
startsecs=0
stopwaitsecs=2
priority=1
"""
)

EXTRA = """\
[program:extra]
command={python} -c "import time; time.sleep({seconds})"
startsecs=0
"""

# Struct keys whose values are a daemon's pids or clock readings.
VOLATILE_KEYS = frozenset({"pid", "start", "stop", "now"})


@dataclass(frozen=True)
class Call:
    """One row of the table: a method, its arguments and how to compare the answers.

    ``shape``: compare only the type structure (the text is each daemon's own).
    ``settle``: wait until no process is in transition afterwards.
    ``ours``: a documented difference: superd must answer this fault code (supervisord
    answers HTTP 500, or accepts the value loosely).
    ``unordered``: the result is a list whose order is a daemon's internal choice.
    ``auto_logs``: compare AUTO log paths as "auto": after a reread supervisord
    reports "auto" until a group is re-added, superd the running process's path
    (docs/compatibility.md).
    """

    method: str
    args: tuple[Any, ...] = ()
    shape: bool = False
    settle: bool = False
    ours: int | None = None
    unordered: bool = False
    auto_logs: bool = False

    def __str__(self) -> str:
        return f"{self.method}{self.args!r}"


# A step is a call or an action on both daemons' files/state (then no comparison).
Action = Callable[[Daemon], None]
Step = Call | Action


def shape_of(value: Any) -> Any:
    """The type structure of an XML-RPC value (keys kept, leaves as type names)."""
    if isinstance(value, dict):
        return {key: shape_of(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape_of(item) for item in value]
    return type(value).__name__


def canonical(value: Any, daemon: Daemon) -> Any:
    """``value`` with paths, pids, times and uptimes masked, types kept."""
    if isinstance(value, dict):
        return {
            key: (type(item).__name__ if key in VOLATILE_KEYS else canonical(item, daemon))
            for key, item in sorted(value.items())
        }
    if isinstance(value, list):
        return [canonical(item, daemon) for item in value]
    if isinstance(value, str):
        return normalise(value, daemon)
    return value


_AUTO_LOG = re.compile(r"^/.*-(?:stdout|stderr)---supervisor-\w{8}\.log$")

# Fault strings whose detail is the daemon's own prose: a config parser's message, or
# the argument superd names where supervisord says only INCORRECT_PARAMETERS.
_FAULT_DETAIL_MASKS = [
    (re.compile(r"^CANT_REREAD: .*", re.DOTALL), "CANT_REREAD: <why>"),
    (re.compile(r"^INCORRECT_PARAMETERS: \w+ must be an? \w+$"), "INCORRECT_PARAMETERS"),
]


def outcome(daemon: Daemon, call: Call) -> Any:
    """The comparable answer of ``daemon`` to ``call``."""
    try:
        with daemon.proxy() as proxy:
            value = getattr(proxy, call.method)(*call.args)
    except xmlrpc.client.Fault as fault:
        text = normalise(fault.faultString, daemon)
        for pattern, replacement in _FAULT_DETAIL_MASKS:
            text = pattern.sub(replacement, text)
        return ("fault", fault.faultCode, text)
    except xmlrpc.client.ProtocolError as error:
        return ("http", error.errcode)
    if call.auto_logs:
        value = [
            {k: _AUTO_LOG.sub("auto", v) if isinstance(v, str) else v for k, v in entry.items()}
            for entry in value
        ]
    result = shape_of(value) if call.shape else canonical(value, daemon)
    if call.unordered and isinstance(result, list):
        result = sorted(result, key=repr)
    return ("ok", result)


def write_extra(seconds: int | None) -> Action:
    """An action writing (or removing) ``conf.d/extra.conf``."""

    def act(daemon: Daemon) -> None:
        target = daemon.directory / "conf.d" / "extra.conf"
        if seconds is None:
            target.unlink()
        else:
            target.write_text(EXTRA.format(python=sys.executable, seconds=seconds))

    return act


def break_config(daemon: Daemon) -> None:
    """Make the include invalid (a program without a command)."""
    (daemon.directory / "conf.d" / "broken.conf").write_text("[program:broken]\n")


def repair_config(daemon: Daemon) -> None:
    """Undo :func:`break_config`."""
    (daemon.directory / "conf.d" / "broken.conf").unlink()


def settle(daemon: Daemon) -> None:
    """Wait until no process of the daemon is in transition."""
    wait_settled(daemon)


PROCESS = "sleeper"
STOPPED = "x:b"


def log_calls() -> list[Call]:
    """read/tail of the process logs and the main log with good and bad offsets."""
    calls: list[Call] = []
    for method in ("readProcessStdoutLog", "readProcessStderrLog", "readProcessLog"):
        m = f"supervisor.{method}"
        calls += [
            Call(m, (PROCESS, 0, 0)),
            Call(m, (PROCESS, -2, 0)),
            Call(m, (PROCESS, 0, 1)),
            Call(m, (PROCESS, 1, 100)),
            Call(m, (PROCESS, 100, 0)),
            Call(m, (PROCESS, "1", "0")),
            Call(m, (PROCESS, -1, 1)),
            Call(m, (PROCESS, 0, -1)),
            Call(m, ("x:a", 0, 0)),
            Call(m, ("nolog", 0, 0)),
            Call(m, ("nope", 0, 0)),
            Call(m, ("x:*", 0, 0)),
            Call(m, (PROCESS, 0)),
            Call(m, (PROCESS, "x", 0), ours=2),
            Call(m, (PROCESS, 0, [1])),
        ]
    for method in ("tailProcessStdoutLog", "tailProcessStderrLog", "tailProcessLog"):
        m = f"supervisor.{method}"
        calls += [
            Call(m, (PROCESS, 0, 100)),
            Call(m, (PROCESS, 0, 1)),
            Call(m, (PROCESS, 10, 5)),
            Call(m, (PROCESS, -5, 2)),
            Call(m, (PROCESS, 0, 0)),
            Call(m, (PROCESS, 2, -1)),
            Call(m, ("nolog", 0, 100)),
            Call(m, ("nope", 0, 1)),
            Call(m, ("x:*", 0, 1)),
            Call(m, (PROCESS, 0, 1, 2)),
            Call(m, (PROCESS, "a", 1), ours=2),
        ]
    for m in ("supervisor.readLog", "supervisor.readMainLog"):
        calls += [
            Call(m, (0, 0), shape=True),
            Call(m, (-10, 0), shape=True),
            Call(m, (10**8, 0)),
            Call(m, (-10, 5)),
            Call(m, (0, -1)),
            Call(m, (0,)),
            Call(m, ("x", 0), ours=2),
        ]
    return calls


def signal_calls() -> list[Call]:
    """signalProcess/Group/All with names, numbers, bad signals and bad names."""
    sp, sg, sa = (
        "supervisor.signalProcess",
        "supervisor.signalProcessGroup",
        "supervisor.signalAllProcesses",
    )
    hup = int(signal.SIGHUP)
    return [
        Call(sp, (PROCESS, "HUP")),
        Call(sp, (PROCESS, "sighup")),
        Call(sp, (PROCESS, " hup ")),
        Call(sp, (PROCESS, str(hup))),
        Call(sp, (PROCESS, hup)),
        Call(sp, (PROCESS, 0)),
        Call(sp, (PROCESS, "0")),
        Call(sp, (PROCESS, "BOGUS")),
        Call(sp, (PROCESS, 999)),
        Call(sp, (PROCESS, -1)),
        Call(sp, (PROCESS, [1]), ours=11),
        Call(sp, (STOPPED, "HUP")),
        Call(sp, (STOPPED, "BOGUS")),
        Call(sp, ("nope", "HUP")),
        Call(sp, ("x:*", "CONT"), unordered=True),
        Call(sp, ("x:", "BOGUS"), unordered=True),
        Call(sp, (PROCESS,)),
        Call(sg, ("x", "CONT"), unordered=True),
        Call(sg, ("x", "BOGUS"), unordered=True),
        Call(sg, ("nope", "CONT")),
        Call(sg, (1, "CONT")),
        Call(sa, ("CONT",), unordered=True),
        Call(sa, ("0",), unordered=True),
        Call(sa, ("BOGUS",), unordered=True),
        Call(sa, ()),
    ]


def start_stop_calls() -> list[Step]:
    """Starting and stopping names, groups and all, waiting and not."""
    st, sp = "supervisor.startProcess", "supervisor.stopProcess"
    stg, spg = "supervisor.startProcessGroup", "supervisor.stopProcessGroup"
    sta, spa = "supervisor.startAllProcesses", "supervisor.stopAllProcesses"
    return [
        Call(st, (STOPPED,)),
        Call(st, (STOPPED,)),
        Call("supervisor.getProcessInfo", (STOPPED,)),
        Call(sp, (STOPPED,)),
        Call(sp, (STOPPED,)),
        Call("supervisor.getProcessInfo", (STOPPED,)),
        Call(st, (STOPPED, False), settle=True),
        Call(sp, (STOPPED, False), settle=True),
        Call(st, (STOPPED, True)),
        Call(sp, (STOPPED, True)),
        Call(st, (STOPPED, "yes"), settle=True, ours=2),
        Call(sp, (STOPPED, "yes"), settle=True, ours=2),
        Call(st, ("nope",)),
        Call(sp, ("nope",)),
        Call(st, ("missing",)),
        Call(st, ("noexec",)),
        Call(st, (7,), ours=2),
        Call(st, ()),
        Call(st, ("x:*",), unordered=True),
        Call(st, ("x:*",), unordered=True),
        Call(sp, ("x:*",), unordered=True),
        Call(sp, ("x:",), unordered=True),
        Call(stg, ("x",), unordered=True),
        Call(stg, ("x",), unordered=True),
        Call(spg, ("x", False), settle=True, unordered=True),
        Call(stg, ("x", False), settle=True, unordered=True),
        Call(stg, ("nope",)),
        Call(spg, ("nope",)),
        Call(spg, ("x:a",)),
        Call(st, ("slowstart", False)),
        Call("supervisor.getProcessInfo", ("slowstart",)),
        Call(st, ("slowstart",)),
        Call(sp, ("slowstart",)),
        Call(st, ("slowstart", False)),
        Call(sp, ("slowstart", True)),
        Call("supervisor.getProcessInfo", ("slowstart",)),
        Call(st, ("slowstart", True)),
        Call("supervisor.getProcessInfo", ("slowstart",)),
        Call(sp, ("slowstart",)),
        Call(st, ("quick",), settle=True),
        Call(st, ("quick", True), settle=True),
        Call(st, ("lost",)),
        Call(st, ("unexecutable",)),
        Call(sp, ("quick",)),
        Call(sp, ("lost",)),
        Call("supervisor.removeProcessGroup", ("lost",)),
        Call("supervisor.getProcessInfo", ("lost",)),
        Call("supervisor.addProcessGroup", ("lost",), settle=True),
        Call("supervisor.getProcessInfo", ("lost",)),
        Call(st, ("quick", False), settle=True),
        Call("supervisor.getProcessInfo", ("quick",)),
        Call(spa, (), unordered=True),
        Call("supervisor.getAllProcessInfo", ()),
        Call(sta, (False,), settle=True, unordered=True),
        Call(spa, (False,), settle=True, unordered=True),
        Call(st, ("nolog",)),
        Call(sp, ("nolog",)),
    ]


def config_calls() -> list[Step]:
    """reloadConfig/addProcessGroup/removeProcessGroup around an added, changed, removed file."""
    rc, add, rm = (
        "supervisor.reloadConfig",
        "supervisor.addProcessGroup",
        "supervisor.removeProcessGroup",
    )
    return [
        Call(rc),
        write_extra(1000),
        Call(rc),
        Call("supervisor.getAllConfigInfo", auto_logs=True),
        Call(add, ("extra",), settle=True),
        Call(add, ("extra",)),
        Call(add, ("nope",)),
        Call(add, (3,)),
        Call(rm, ("extra",)),
        Call("supervisor.stopProcess", ("extra",)),
        Call(rm, ("extra",)),
        Call(rm, ("extra",)),
        Call(rm, ("nope",)),
        Call(add, ("extra",), settle=True),
        write_extra(999),
        Call(rc),
        write_extra(None),
        Call(rc),
        break_config,
        Call(rc),
        repair_config,
        Call(rc),
        Call("supervisor.getAllConfigInfo", auto_logs=True),
    ]


def multicall_calls() -> list[Call]:
    """system.multicall with mixed good and bad calls, waits and malformed entries."""
    mc = "system.multicall"
    mixed = [
        {"methodName": "supervisor.getState", "params": []},
        {"methodName": "supervisor.nope", "params": []},
        {"methodName": "supervisor.getProcessInfo", "params": ["nope"]},
        {"methodName": "supervisor.getAPIVersion", "params": [1]},
        {"methodName": "system.multicall", "params": [[]]},
        {"params": []},
        {"methodName": "supervisor.startProcess", "params": [STOPPED]},
        {"methodName": "supervisor.startProcess", "params": [STOPPED]},
        {"methodName": "supervisor.stopProcess", "params": [STOPPED, True]},
        {"methodName": "supervisor.getIdentification"},
        {"methodName": "supervisor.signalProcess", "params": [PROCESS, "BOGUS"]},
    ]
    return [
        Call(mc, ([],)),
        Call(mc, (mixed,)),
        Call(mc, ([{"methodName": "supervisor.getProcessInfo", "params": [PROCESS]}],)),
        Call(mc, ()),
        Call(mc, ("x",), ours=2),
    ]


def table(methods: list[str]) -> list[Step]:
    """The whole ordered table of calls, for the methods supervisord lists."""
    pi = "supervisor.getProcessInfo"
    steps: list[Step] = [Call("system.listMethods")]
    steps += [Call("system.methodSignature", (m,)) for m in methods]
    steps += [Call("system.methodHelp", (m,), shape=True) for m in methods]
    steps += [
        Call("system.methodSignature", ("nope",)),
        Call("system.methodSignature", ("supervisor",)),
        Call("system.methodHelp", ("nope.nope",)),
        Call("system.methodSignature", ()),
        Call("system.methodSignature", (1,)),
        Call("system.methodHelp", (1,)),
        Call("system.listMethods", (1,)),
    ]
    for m in ("getAPIVersion", "getVersion", "getSupervisorVersion", "getIdentification"):
        steps += [Call(f"supervisor.{m}"), Call(f"supervisor.{m}", (1,))]
    steps += [
        Call("supervisor.getState"),
        Call("supervisor.getPID", shape=True),
        Call("supervisor.getAllProcessInfo"),
        Call("supervisor.getAllProcessInfo", (1,)),
        Call("supervisor.getAllConfigInfo"),
    ]
    for name in (PROCESS, "x:a", STOPPED, "dup:dup_00", "quick", "nolog", "lost", "unexecutable"):
        steps.append(Call(pi, (name,)))
    for bad in ("x:*", "x:", "x", "nope", "x:zz", "nope:*", ":a"):
        steps.append(Call(pi, (bad,)))
    steps += [
        Call(pi, (1,), ours=2),
        Call(pi, ([],), ours=2),
        Call(pi, ()),
        Call(pi, (PROCESS, 1)),
    ]
    for unknown in (
        "supervisor.nope",
        "nope.getState",
        "supervisor._update",
        "supervisor.getState.real",
        "getState",
        "system.nope",
    ):
        steps.append(Call(unknown))
    steps += log_calls()
    steps += signal_calls()
    sp = "supervisor.sendProcessStdin"
    steps += [
        Call(sp, (PROCESS, "x\n")),
        Call(sp, (PROCESS, "")),
        Call(sp, (STOPPED, "x")),
        Call(sp, ("nope", "x")),
        Call(sp, ("x:*", "x")),
        Call(sp, (PROCESS, 5)),
        Call(sp, (PROCESS,)),
        Call("supervisor.sendRemoteCommEvent", ("type", "data")),
        Call("supervisor.sendRemoteCommEvent", ("type",)),
        Call("supervisor.sendRemoteCommEvent", (1, 2), ours=2),
    ]
    for m in ("supervisor.clearProcessLogs", "supervisor.clearProcessLog"):
        steps += [
            Call(m, (PROCESS,)),
            Call(m, ("nolog",)),
            Call(m, ("nope",)),
            Call(m, ("x:*",)),
            Call(m, ()),
        ]
    # x:b has never run: its AUTO logs exist (created at config load) and are empty,
    # before and after clearAllProcessLogs (supervisord clears nothing of a process
    # without dispatchers, so the files stay).
    never_started = [
        Call(f"supervisor.{method}", (STOPPED, 0, 0))
        for method in ("readProcessStdoutLog", "readProcessStderrLog")
    ]
    steps += [
        Call("supervisor.readProcessStdoutLog", (PROCESS, 0, 0)),
        *never_started,
        Call("supervisor.clearAllProcessLogs", (), unordered=True),
        *never_started,
        Call("supervisor.tailProcessStdoutLog", (STOPPED, 0, 100)),
        Call("supervisor.clearAllProcessLogs", (1,)),
        Call("supervisor.clearLog"),
        Call("supervisor.clearLog", (1,)),
        Call("supervisor.readLog", (0, 0), shape=True),
    ]
    steps += multicall_calls()
    steps += start_stop_calls()
    steps += config_calls()
    steps += [
        Call("supervisor.restart", (1,)),
        Call("supervisor.restart"),
        wait_restarted,
        Call("supervisor.getState"),
        Call("supervisor.getAllProcessInfo"),
    ]
    return steps


def wait_restarted(daemon: Daemon) -> None:
    """After ``restart``: until the daemon serves RUNNING again with settled processes."""

    def running() -> bool:
        try:
            return bool(daemon.call("getState")["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Fault):
            return False

    wait_until(f"{daemon.kind} to come back from restart", running)
    wait_settled(daemon)


SHUTDOWN_STEPS: list[Call] = [
    Call("supervisor.shutdown", (1,)),
    Call("supervisor.shutdown"),
    Call("supervisor.getState"),
    Call("supervisor.getProcessInfo", (PROCESS,)),
    Call("supervisor.signalAllProcesses", ("CONT",)),
    Call("supervisor.shutdown"),
    Call("supervisor.sendRemoteCommEvent", ("type", "data")),
    Call("system.listMethods"),
    Call("system.multicall", ([{"methodName": "supervisor.getState", "params": []}],)),
]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Daemon, Daemon]]:
    """A real supervisord and a superd on the same config, stopped by pid at the end."""
    with running_daemons(
        tmp_path, [("real", "supervisord"), ("ours", "superd")], config=RPC_CONFIG
    ) as (real, ours):
        yield real, ours


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where two canonical answers differ (first few), for a readable report."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                found.append(
                    f"{path}.{key}: {expected.get(key, '<absent>')!r} / "
                    f"{actual.get(key, '<absent>')!r}"
                )
            else:
                found += differences(expected[key], actual[key], f"{path}.{key}")
        return found
    if (
        isinstance(expected, list | tuple)
        and isinstance(actual, list | tuple)
        and len(expected) == len(actual)
    ):
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in differences(e, a, f"{path}[{i}]")
        ]
    if expected != actual:
        return [f"{path}: {expected!r} / {actual!r}"]
    return []


def play(real: Daemon, ours: Daemon, steps: Sequence[Step]) -> list[str]:
    """Play ``steps`` against both daemons; the mismatches, one per line."""
    mismatches: list[str] = []
    for step in steps:
        if not isinstance(step, Call):
            step(real)
            step(ours)
            continue
        expected, actual = outcome(real, step), outcome(ours, step)
        if step.ours is not None:
            # A documented difference (docs/compatibility.md): supervisord answers
            # HTTP 500 or takes the value loosely; superd answers this fault.
            if actual[:2] != ("fault", step.ours):
                mismatches.append(f"{step}: want fault {step.ours}, superd: {actual}")
        elif expected != actual:
            found = differences(expected, actual)
            mismatches.append(f"{step}: (supervisord / superd)\n  " + "\n  ".join(found[:6]))
        if step.settle:
            settle(real)
            settle(ours)
    return mismatches


def test_every_method_with_valid_and_invalid_arguments(pair: tuple[Daemon, Daemon]) -> None:
    """Each call of the table gets the same value shape or fault from both daemons."""
    real, ours = pair
    with real.proxy() as proxy:
        methods = proxy.system.listMethods()
    steps = table(methods)
    covered = {step.method for step in [*steps, *SHUTDOWN_STEPS] if isinstance(step, Call)}
    assert set(methods) <= covered, set(methods) - covered
    mismatches = play(real, ours, steps)
    assert not mismatches, "\n".join(mismatches)


def test_calls_while_shutting_down(pair: tuple[Daemon, Daemon]) -> None:
    """During a shutdown both refuse supervisor.* calls but serve system.* and comm events."""
    real, ours = pair
    for daemon in pair:
        assert daemon.call("getProcessInfo", "stubborn")["statename"] == "RUNNING"
    mismatches = play(real, ours, SHUTDOWN_STEPS)
    assert not mismatches, "\n".join(mismatches)
    for daemon in pair:
        daemon.process.wait(timeout=30)
        assert daemon.process.returncode == 0
