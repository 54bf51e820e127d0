"""supervisord's XML-RPC API over a fake control: arguments, results and faults."""

from __future__ import annotations

import signal
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest
from supervisor.rpcinterface import SupervisorNamespaceRPCInterface
from supervisor.xmlrpc import SystemNamespaceRPCInterface

from supervisor_core import SUPERVISORD_COMPAT_VERSION, control
from supervisor_core.http.faults import RpcFault
from supervisor_core.http.rpc import RpcInterface, parse_signal
from supervisor_core.lifecycle import ProcessState, SupervisorState

from .fake_control import FakeControl, make_fake, running


@pytest.fixture
def fake(tmp_path: Path) -> FakeControl:
    return make_fake(str(tmp_path))


@pytest.fixture
def rpc(fake: FakeControl) -> RpcInterface:
    return RpcInterface(fake)


def write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


async def fault_of(rpc: RpcInterface, method: str, *params: Any) -> tuple[int, str]:
    with pytest.raises(RpcFault) as info:
        await rpc.call(method, params)
    return int(info.value.code), info.value.text


def test_fake_implements_the_protocol(fake: FakeControl) -> None:
    """The in-test fake satisfies SupervisorControl (so the tests exercise the real seam)."""
    implementation: control.SupervisorControl = fake
    assert isinstance(implementation, control.SupervisorControl)


def test_method_list_and_signatures_equal_supervisords(rpc: RpcInterface) -> None:
    """Every method supervisord publishes exists here with the same signature, and no more."""
    theirs = SystemNamespaceRPCInterface([("supervisor", SupervisorNamespaceRPCInterface(None))])
    assert sorted(rpc.methods) == theirs.listMethods()
    for name, spec in rpc.methods.items():
        assert spec.signature() == theirs.methodSignature(name), name


async def test_identification_and_state(rpc: RpcInterface, fake: FakeControl) -> None:
    """Version, identification, state and pid come from the control as supervisord shapes them."""
    assert await rpc.call("supervisor.getAPIVersion", ()) == "3.0"
    assert await rpc.call("supervisor.getVersion", ()) == "3.0"
    assert await rpc.call("supervisor.getSupervisorVersion", ()) == SUPERVISORD_COMPAT_VERSION
    assert await rpc.call("supervisor.getIdentification", ()) == "fake-supervisor"
    assert await rpc.call("supervisor.getPID", ()) == 4242
    assert await rpc.call("supervisor.getState", ()) == {"statecode": 1, "statename": "RUNNING"}
    fake.state = SupervisorState.FATAL
    assert await rpc.call("supervisor.getState", ()) == {"statecode": 2, "statename": "FATAL"}


@pytest.mark.parametrize("state", [0, -1])
async def test_shutdown_state_refuses_supervisor_calls(
    rpc: RpcInterface, fake: FakeControl, state: int
) -> None:
    """While restarting or shutting down every supervisor.* call but sendRemoteCommEvent faults."""
    fake.state = SupervisorState(state)
    assert await fault_of(rpc, "supervisor.getState") == (6, "SHUTDOWN_STATE")
    assert await fault_of(rpc, "supervisor.startProcess", "worker") == (6, "SHUTDOWN_STATE")
    assert await rpc.call("supervisor.sendRemoteCommEvent", ("t", "d")) is True
    assert "system.multicall" in await rpc.call("system.listMethods", ())


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("supervisor.getState", (1,)),
        ("supervisor.readLog", (0,)),
        ("supervisor.startProcess", ()),
        ("supervisor.startProcess", ("a", True, 3)),
        ("supervisor.signalProcess", ("a",)),
        ("system.multicall", ()),
    ],
)
async def test_wrong_argument_count_is_incorrect_parameters(
    rpc: RpcInterface, method: str, params: tuple[Any, ...]
) -> None:
    """Too few or too many arguments is INCORRECT_PARAMETERS, as supervisord's TypeError is."""
    assert await fault_of(rpc, method, *params) == (2, "INCORRECT_PARAMETERS")


@pytest.mark.parametrize(
    ("method", "params", "text"),
    [
        ("supervisor.startProcess", (5,), "name must be a string"),
        ("supervisor.startProcess", ("worker", "yes"), "wait must be a boolean"),
        ("supervisor.readLog", ("x", 0), "offset must be an integer"),
        ("supervisor.readLog", (0, [1]), "length must be an integer"),
        ("supervisor.getProcessInfo", ({"a": 1},), "name must be a string"),
        ("supervisor.sendRemoteCommEvent", (1, "d"), "type must be a string"),
        ("system.multicall", ("x",), "calls must be an array"),
    ],
)
async def test_wrong_argument_types_name_the_argument(
    rpc: RpcInterface, method: str, params: tuple[Any, ...], text: str
) -> None:
    """A wrongly typed argument is INCORRECT_PARAMETERS naming it (supervisord would 500)."""
    assert await fault_of(rpc, method, *params) == (2, f"INCORRECT_PARAMETERS: {text}")


@pytest.mark.parametrize(
    "method",
    ["supervisor.nope", "nope", "supervisor.getState.x", "supervisor._check_state", "", "system."],
)
async def test_unknown_methods(rpc: RpcInterface, method: str) -> None:
    """Anything not in the published table is UNKNOWN_METHOD (no attribute traversal)."""
    assert await fault_of(rpc, method) == (1, "UNKNOWN_METHOD")


async def test_read_and_clear_main_log(rpc: RpcInterface, fake: FakeControl) -> None:
    """readLog reads the main log with offsets; clearLog asks the control; NO_FILE otherwise."""
    assert fake.main_log is not None
    log_path = fake.main_log
    assert await fault_of(rpc, "supervisor.readLog", 0, 0) == (20, f"NO_FILE: {log_path}")
    write(log_path, b"hello world\x1b")
    assert await rpc.call("supervisor.readLog", (0, 5)) == "hello"
    assert await rpc.call("supervisor.readMainLog", ("-6", 0)) == "world\ufffd"
    assert await fault_of(rpc, "supervisor.readLog", -1, 1) == (3, "BAD_ARGUMENTS")
    assert await rpc.call("supervisor.clearLog", ()) is True
    assert fake.log_cleared == 1
    fake.main_log = None
    assert await fault_of(rpc, "supervisor.readLog", 0, 0) == (20, "NO_FILE")
    assert await fault_of(rpc, "supervisor.clearLog") == (20, "NO_FILE")


async def test_shutdown_and_restart(rpc: RpcInterface, fake: FakeControl) -> None:
    """shutdown and restart return True after asking the control."""
    assert await rpc.call("supervisor.shutdown", ()) is True
    assert await rpc.call("supervisor.restart", ()) is True
    assert fake.calls == ["shutdown", "restart"]


async def test_reload_and_groups(rpc: RpcInterface, fake: FakeControl) -> None:
    """reloadConfig nests the diff as [[added, changed, removed]]; add/remove map errors."""
    fake.reload_result = control.ReloadResult(added=("extra",), removed=("broken",))
    assert await rpc.call("supervisor.reloadConfig", ()) == [[["extra"], [], ["broken"]]]
    fake.reload_result = control.CantReread("/etc/s.conf:3: bad")
    assert await fault_of(rpc, "supervisor.reloadConfig") == (92, "CANT_REREAD: /etc/s.conf:3: bad")
    assert await rpc.call("supervisor.addProcessGroup", ("extra",)) is True
    assert await fault_of(rpc, "supervisor.addProcessGroup", "extra") == (
        90,
        "ALREADY_ADDED: extra",
    )
    assert await fault_of(rpc, "supervisor.addProcessGroup", "zzz") == (10, "BAD_NAME: zzz")
    running(fake.process("worker"))
    assert await fault_of(rpc, "supervisor.removeProcessGroup", "worker") == (
        91,
        "STILL_RUNNING: worker",
    )
    assert await rpc.call("supervisor.removeProcessGroup", ("extra",)) is True
    assert await fault_of(rpc, "supervisor.removeProcessGroup", "extra") == (10, "BAD_NAME: extra")


async def test_all_config_info(rpc: RpcInterface) -> None:
    """getAllConfigInfo flattens the configured groups and marks the active ones in use."""
    result = await rpc.call("supervisor.getAllConfigInfo", ())
    assert [(e["name"], e["group"], e["inuse"]) for e in result] == [
        ("extra", "extra", False),
        ("web_0", "web", True),
        ("web_1", "web", True),
    ]


async def test_start_process_waits_for_running(rpc: RpcInterface, fake: FakeControl) -> None:
    """startProcess with wait returns True once RUNNING; a second start is ALREADY_STARTED."""
    assert await rpc.call("supervisor.startProcess", ("worker",)) is True
    assert fake.process("worker").state == ProcessState.RUNNING
    assert await fault_of(rpc, "supervisor.startProcess", "worker:worker") == (
        60,
        "ALREADY_STARTED: worker",
    )


async def test_start_process_without_wait_returns_while_starting(
    rpc: RpcInterface, fake: FakeControl
) -> None:
    """wait=False returns as soon as the spawn is under way."""
    fake.process("worker").start_outcome = "hang"
    assert await rpc.call("supervisor.startProcess", ("worker", False)) is True
    assert fake.process("worker").state == ProcessState.STARTING


@pytest.mark.parametrize(
    ("outcome", "fault"),
    [
        ("abnormal", (40, "ABNORMAL_TERMINATION: worker")),
        ("spawnerr", (50, "SPAWN_ERROR: worker")),
        ("nofile", (20, "NO_FILE: no such file: /bin/worker")),
        ("noexec", (21, "NOT_EXECUTABLE: /bin/worker is not executable")),
    ],
)
async def test_start_process_failures(
    rpc: RpcInterface, fake: FakeControl, outcome: str, fault: tuple[int, str]
) -> None:
    """Each way a start fails reaches the client as supervisord's fault."""
    fake.process("worker").start_outcome = outcome
    assert await fault_of(rpc, "supervisor.startProcess", "worker") == fault


@pytest.mark.parametrize("name", ["nope", "web:nope", "nope:web_0", "web_0"])
async def test_bad_names(rpc: RpcInterface, name: str) -> None:
    """Unknown groups or processes are BAD_NAME with the name as given."""
    for method in ("startProcess", "stopProcess", "getProcessInfo", "clearProcessLogs"):
        assert await fault_of(rpc, f"supervisor.{method}", name) == (10, f"BAD_NAME: {name}")


async def test_group_name_is_not_a_process_for_single_process_calls(rpc: RpcInterface) -> None:
    """getProcessInfo/readProcessStdoutLog/sendProcessStdin of 'group:*' is BAD_NAME."""
    assert await fault_of(rpc, "supervisor.getProcessInfo", "web:*") == (10, "BAD_NAME: web:*")
    assert await fault_of(rpc, "supervisor.readProcessStdoutLog", "web:", 0, 0) == (
        10,
        "BAD_NAME: web:",
    )
    assert await fault_of(rpc, "supervisor.sendProcessStdin", "web:*", "x") == (
        10,
        "BAD_NAME: web:*",
    )


async def test_start_group_reports_each_process(rpc: RpcInterface, fake: FakeControl) -> None:
    """startProcessGroup starts the stopped ones and lists {name, group, status, description}."""
    running(fake.process("web:web_1"))
    assert await rpc.call("supervisor.startProcessGroup", ("web",)) == [
        {"name": "web_0", "group": "web", "status": 80, "description": "OK"}
    ]
    assert await rpc.call("supervisor.startProcess", ("web:*",)) == []


async def test_start_all_mixes_successes_and_faults(rpc: RpcInterface, fake: FakeControl) -> None:
    """startAllProcesses spawns in priority order, waits for all, and reports each outcome."""
    fake.process("web:web_1").start_outcome = "nofile"
    result = await rpc.call("supervisor.startAllProcesses", ())
    assert fake.calls == ["start web:web_0", "start web:web_1", "start worker", "start broken"]
    assert sorted((r["name"], r["status"], r["description"]) for r in result) == [
        ("broken", 40, "ABNORMAL_TERMINATION: broken"),
        ("web_0", 80, "OK"),
        ("web_1", 20, "NO_FILE: no such file: /bin/web_1"),
        ("worker", 80, "OK"),
    ]


async def test_start_all_without_wait(rpc: RpcInterface, fake: FakeControl) -> None:
    """startAllProcesses(False) reports OK for every spawn without waiting."""
    result = await rpc.call("supervisor.startAllProcesses", (False,))
    assert [r["description"] for r in result] == ["OK"] * 4


async def test_start_unknown_group(rpc: RpcInterface) -> None:
    """startProcessGroup/stopProcessGroup/signalProcessGroup of an unknown group is BAD_NAME."""
    for method, extra in (("startProcessGroup", ()), ("stopProcessGroup", ())):
        assert await fault_of(rpc, f"supervisor.{method}", "zz", *extra) == (10, "BAD_NAME: zz")
    assert await fault_of(rpc, "supervisor.signalProcessGroup", "zz", "HUP") == (10, "BAD_NAME: zz")


async def test_stop_process(rpc: RpcInterface, fake: FakeControl) -> None:
    """stopProcess waits until stopped; stopping a stopped process is NOT_RUNNING."""
    running(fake.process("worker"))
    assert await rpc.call("supervisor.stopProcess", ("worker",)) is True
    assert fake.process("worker").state == ProcessState.STOPPED
    assert await fault_of(rpc, "supervisor.stopProcess", "worker") == (70, "NOT_RUNNING: worker")
    running(fake.process("worker"))
    assert await rpc.call("supervisor.stopProcess", ("worker", False)) is True
    assert fake.process("worker").state == ProcessState.STOPPING


async def test_stop_group_and_all(rpc: RpcInterface, fake: FakeControl) -> None:
    """stopProcessGroup/stopAllProcesses stop only running processes and report each."""
    running(fake.process("web:web_0"))
    running(fake.process("worker"))
    assert await rpc.call("supervisor.stopProcess", ("web:*",)) == [
        {"name": "web_0", "group": "web", "status": 80, "description": "OK"}
    ]
    result = await rpc.call("supervisor.stopAllProcesses", ())
    assert result == [{"name": "worker", "group": "worker", "status": 80, "description": "OK"}]
    running(fake.process("worker"))
    assert await rpc.call("supervisor.stopProcessGroup", ("worker", False)) == [
        {"name": "worker", "group": "worker", "status": 80, "description": "OK"}
    ]


async def test_signal_process(rpc: RpcInterface, fake: FakeControl) -> None:
    """signalProcess accepts names and numbers; bad signals and stopped processes fault."""
    worker = running(fake.process("worker"))
    assert await rpc.call("supervisor.signalProcess", ("worker", "HUP")) is True
    assert await rpc.call("supervisor.signalProcess", ("worker", "sigusr1")) is True
    assert await rpc.call("supervisor.signalProcess", ("worker", 15)) is True
    assert worker.signals == [signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM]
    assert await fault_of(rpc, "supervisor.signalProcess", "worker", "BOGUS") == (
        11,
        "BAD_SIGNAL: BOGUS",
    )
    assert await fault_of(rpc, "supervisor.signalProcess", "web:web_0", "HUP") == (
        70,
        "NOT_RUNNING: web:web_0",
    )
    assert await fault_of(rpc, "supervisor.signalProcess", "nope", "HUP") == (10, "BAD_NAME: nope")


async def test_signal_group_and_all(rpc: RpcInterface, fake: FakeControl) -> None:
    """Group signals go to signallable processes only; a bad signal is reported per process."""
    running(fake.process("web:web_1"))
    running(fake.process("worker"))
    assert await rpc.call("supervisor.signalProcessGroup", ("web", "TERM")) == [
        {"name": "web_1", "group": "web", "status": 80, "description": "OK"}
    ]
    assert await rpc.call("supervisor.signalProcess", ("web:*", "TERM")) == [
        {"name": "web_1", "group": "web", "status": 80, "description": "OK"}
    ]
    result = await rpc.call("supervisor.signalAllProcesses", ("NOPE",))
    assert [(r["name"], r["status"], r["description"]) for r in result] == [
        ("web_1", 11, "BAD_SIGNAL: NOPE"),
        ("worker", 11, "BAD_SIGNAL: NOPE"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("HUP", signal.SIGHUP),
        (" kill ", signal.SIGKILL),
        ("SIGTERM", signal.SIGTERM),
        ("9", signal.SIGKILL),
        (2, signal.SIGINT),
    ],
)
def test_parse_signal(value: object, expected: signal.Signals) -> None:
    """Signals are accepted by name (any case, with or without SIG) or number."""
    assert parse_signal(value) is expected


async def test_signal_zero_is_a_probe(rpc: RpcInterface, fake: FakeControl) -> None:
    """Signal 0 (0 or "0") succeeds on a running process, sends nothing, faults on a stopped one."""
    worker = running(fake.process("worker"))
    assert await rpc.call("supervisor.signalProcess", ("worker", 0)) is True
    assert await rpc.call("supervisor.signalProcess", ("worker", "0")) is True
    assert worker.signals == []
    assert await fault_of(rpc, "supervisor.signalProcess", "web:web_0", 0) == (
        70,
        "NOT_RUNNING: web:web_0",
    )
    result = await rpc.call("supervisor.signalAllProcesses", ("0",))
    assert [(r["name"], r["status"]) for r in result] == [("worker", 80)]


async def test_help_of_a_non_string_is_signature_unsupported(rpc: RpcInterface) -> None:
    """methodHelp/methodSignature of a value that names no method is SIGNATURE_UNSUPPORTED."""
    assert await fault_of(rpc, "system.methodHelp", 1) == (4, "SIGNATURE_UNSUPPORTED")
    assert await fault_of(rpc, "system.methodSignature", []) == (4, "SIGNATURE_UNSUPPORTED")


async def test_wrongly_typed_group_names_are_bad_names(rpc: RpcInterface) -> None:
    """Group-name arguments of the wrong type are BAD_NAME naming the value, as in supervisord."""
    assert await fault_of(rpc, "supervisor.signalProcessGroup", 1, "HUP") == (10, "BAD_NAME: 1")
    assert await fault_of(rpc, "supervisor.startProcessGroup", [], True) == (10, "BAD_NAME: []")
    assert await fault_of(rpc, "supervisor.addProcessGroup", 3) == (10, "BAD_NAME: 3")
    assert await fault_of(rpc, "supervisor.removeProcessGroup", 3) == (10, "BAD_NAME: 3")


@pytest.mark.parametrize("value", ["", "SIG", "NOPE", "99999", -1, 1.5, "SIG_DFL"])
def test_parse_signal_rejects(value: object) -> None:
    """Anything that is not a real signal is BAD_SIGNAL naming the value."""
    with pytest.raises(RpcFault) as info:
        parse_signal(value)
    assert info.value.text == f"BAD_SIGNAL: {value}"


async def test_send_process_stdin(rpc: RpcInterface, fake: FakeControl) -> None:
    """Text is written as UTF-8, base64 as bytes; non-strings, stopped or closed stdin fault."""
    worker = running(fake.process("worker"))
    assert await rpc.call("supervisor.sendProcessStdin", ("worker", "hé\n")) is True
    binary = xmlrpc.client.Binary(b"\x00\x01")
    assert await rpc.call("supervisor.sendProcessStdin", ("worker", binary)) is True
    assert bytes(worker.stdin) == "hé\n".encode() + b"\x00\x01"
    assert await fault_of(rpc, "supervisor.sendProcessStdin", "worker", 5) == (
        2,
        "INCORRECT_PARAMETERS: 5",
    )
    worker.stdin_closed = True
    assert await fault_of(rpc, "supervisor.sendProcessStdin", "worker", "x") == (
        20,
        "NO_FILE: worker",
    )
    assert await fault_of(rpc, "supervisor.sendProcessStdin", "web:web_0", "x") == (
        70,
        "NOT_RUNNING: web:web_0",
    )


async def test_send_remote_comm_event(rpc: RpcInterface, fake: FakeControl) -> None:
    """sendRemoteCommEvent hands type and data to the control."""
    assert await rpc.call("supervisor.sendRemoteCommEvent", ("kind", "body")) is True
    assert fake.events == [("kind", "body")]


async def test_process_info(rpc: RpcInterface, fake: FakeControl) -> None:
    """getProcessInfo describes one process; getAllProcessInfo lists all in lexical order."""
    running(fake.process("worker"), pid=321)
    info = await rpc.call("supervisor.getProcessInfo", ("worker",))
    assert info["description"] == "pid 321, uptime 0:01:02"
    assert (info["statename"], info["state"], info["pid"]) == ("RUNNING", 20, 321)
    everything = await rpc.call("supervisor.getAllProcessInfo", ())
    assert [(i["group"], i["name"]) for i in everything] == [
        ("broken", "broken"),
        ("web", "web_0"),
        ("web", "web_1"),
        ("worker", "worker"),
    ]
    assert everything[1]["description"] == "Not started"


async def test_process_logs(rpc: RpcInterface, fake: FakeControl) -> None:
    """Process logs are read and tailed per channel; a missing log is NO_FILE or empty tail."""
    worker = fake.process("worker")
    assert await fault_of(rpc, "supervisor.readProcessStdoutLog", "worker", 0, 0) == (
        20,
        f"NO_FILE: {worker.stdout_logfile}",
    )
    assert await rpc.call("supervisor.tailProcessStdoutLog", ("worker", 0, 10)) == ["", 0, False]
    write(worker.stdout_logfile, b"out line\n")
    write(worker.stderr_logfile, b"err line\n")
    assert await rpc.call("supervisor.readProcessStdoutLog", ("worker", 0, 0)) == "out line\n"
    assert await rpc.call("supervisor.readProcessLog", ("worker", 4, 4)) == "line"
    assert await rpc.call("supervisor.readProcessStderrLog", ("worker", 0, 3)) == "err"
    assert await rpc.call("supervisor.tailProcessStdoutLog", ("worker", 0, 4)) == [
        "ine\n",
        9,
        True,
    ]
    assert await rpc.call("supervisor.tailProcessLog", ("worker", 9, 4)) == ["", 9, False]
    assert await rpc.call("supervisor.tailProcessStderrLog", ("worker", 0, 100)) == [
        "err line\n",
        9,
        False,
    ]
    assert await fault_of(rpc, "supervisor.readProcessStderrLog", "web:web_0", 0, 0) == (
        20,
        "NO_FILE",
    )


async def test_clear_process_logs(rpc: RpcInterface, fake: FakeControl) -> None:
    """clearProcessLogs clears one process; clearAllProcessLogs reports each, FAILED included."""
    assert await rpc.call("supervisor.clearProcessLogs", ("worker",)) is True
    assert await rpc.call("supervisor.clearProcessLog", ("worker",)) is True
    assert fake.process("worker").logs_cleared == 2
    fake.process("broken").clear_fails = True
    assert await fault_of(rpc, "supervisor.clearProcessLogs", "broken") == (30, "FAILED: broken")
    result = await rpc.call("supervisor.clearAllProcessLogs", ())
    assert [(r["name"], r["status"], r["description"]) for r in result] == [
        ("web_0", 80, "OK"),
        ("web_1", 80, "OK"),
        ("worker", 80, "OK"),
        ("broken", 30, "FAILED: broken"),
    ]


async def test_system_introspection(rpc: RpcInterface) -> None:
    """listMethods, methodHelp and methodSignature describe the table; unknown names fault."""
    methods = await rpc.call("system.listMethods", ())
    assert methods == sorted(methods)
    assert "supervisor.startProcess" in methods
    help_text = await rpc.call("system.methodHelp", ("supervisor.startProcess",))
    assert "@param string name" in help_text
    assert "@return boolean result" in help_text
    assert await rpc.call("system.methodSignature", ("supervisor.readLog",)) == [
        "string",
        "int",
        "int",
    ]
    assert await fault_of(rpc, "system.methodHelp", "x.y") == (4, "SIGNATURE_UNSUPPORTED")
    assert await fault_of(rpc, "system.methodSignature", "x.y") == (4, "SIGNATURE_UNSUPPORTED")


async def test_multicall(rpc: RpcInterface, fake: FakeControl) -> None:
    """multicall runs calls in order: bare values for successes, fault structs for failures."""
    calls: list[Any] = [
        {"methodName": "supervisor.getAPIVersion", "params": []},
        {"methodName": "supervisor.startProcess", "params": ["worker"]},
        {"methodName": "supervisor.getProcessInfo", "params": ["worker"]},
        {"methodName": "supervisor.nope"},
        {"params": []},
        {"methodName": "system.multicall", "params": [[]]},
        "not a struct",
        {"methodName": "supervisor.getPID", "params": "not an array"},
        {"methodName": "supervisor.getProcessInfo", "params": ["zz"]},
    ]
    results = await rpc.call("system.multicall", (calls,))
    assert results[0] == "3.0"
    assert results[1] is True
    assert results[2]["statename"] == "RUNNING"  # the earlier call took effect first
    assert results[3:] == [
        {"faultCode": 1, "faultString": "UNKNOWN_METHOD"},
        {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS: No methodName"},
        {
            "faultCode": 2,
            "faultString": "INCORRECT_PARAMETERS: Recursive system.multicall forbidden",
        },
        {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS: each call must be a struct"},
        {
            "faultCode": 2,
            "faultString": "INCORRECT_PARAMETERS: methodName/params of the wrong type",
        },
        {"faultCode": 10, "faultString": "BAD_NAME: zz"},
    ]
    xmlrpc.client.dumps((results,))


async def test_multicall_contains_unexpected_errors(rpc: RpcInterface, fake: FakeControl) -> None:
    """A bug inside one call of a multicall is a FAILED struct; the other calls still run."""

    def broken() -> str:
        raise RuntimeError("kaput")

    fake.identification = broken  # type: ignore[method-assign]
    results = await rpc.call(
        "system.multicall",
        (
            [
                {"methodName": "supervisor.getIdentification", "params": []},
                {"methodName": "supervisor.getPID", "params": []},
            ],
        ),
    )
    assert results == [{"faultCode": 30, "faultString": "FAILED: RuntimeError: kaput"}, 4242]
