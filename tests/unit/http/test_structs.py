"""getProcessInfo/getAllConfigInfo structs and status descriptions."""

from __future__ import annotations

import datetime
import signal
import time
import xmlrpc.client
from typing import ClassVar

import pytest

from supervisor_core import control
from supervisor_core.config.model import (
    AUTO,
    ChannelConfig,
    GroupConfig,
    GroupKind,
    ProcessConfig,
)
from supervisor_core.http import structs
from supervisor_core.lifecycle import ProcessState

NOW = 1_700_000_000.0


def info(state: ProcessState, **kw: object) -> control.ProcessInfo:
    fields: dict[str, object] = {
        "name": "web",
        "group": "web",
        "state": state,
        "start": 0.0,
        "stop": 0.0,
        "now": NOW,
        "pid": 0,
        "spawnerr": "",
        "exitstatus": 0,
        "stdout_logfile": "",
        "stderr_logfile": "",
    }
    fields.update(kw)
    return control.ProcessInfo(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("snapshot", "description"),
    [
        (info(ProcessState.RUNNING, pid=123, start=NOW - 62), "pid 123, uptime 0:01:02"),
        (info(ProcessState.RUNNING, pid=9, start=NOW - 90061), "pid 9, uptime 1 day, 1:01:01"),
        (info(ProcessState.RUNNING, pid=9, start=NOW + 50), "pid 9, uptime 0:00:00"),
        (info(ProcessState.FATAL, spawnerr="can't find command 'x'"), "can't find command 'x'"),
        (info(ProcessState.BACKOFF), 'unknown error (try "tail web")'),
        (
            info(ProcessState.BACKOFF, name="web_0", group="web"),
            'unknown error (try "tail web_0")',
        ),
        (info(ProcessState.STOPPED), "Not started"),
        (info(ProcessState.EXITED), "Not started"),
        (info(ProcessState.STARTING), ""),
        (info(ProcessState.STOPPING), ""),
        (info(ProcessState.UNKNOWN), ""),
    ],
)
def test_describe(snapshot: control.ProcessInfo, description: str) -> None:
    """Descriptions are supervisord's texts, word for word."""
    assert structs.describe(snapshot) == description


def test_describe_stopped_shows_local_stop_time() -> None:
    """A stopped process that ran shows its stop time in local time, like 'Nov 14 10:13 PM'."""
    stopped = info(ProcessState.STOPPED, start=NOW - 100, stop=NOW - 10)
    expected = datetime.datetime(*time.localtime(NOW - 10)[:6]).strftime("%b %d %I:%M %p")  # noqa: DTZ001
    assert structs.describe(stopped) == expected


def test_process_info_struct_has_supervisords_keys_and_types() -> None:
    """The struct has exactly getProcessInfo's keys, ints for times, and no None."""
    struct = structs.process_info_struct(
        info(ProcessState.RUNNING, pid=5, start=NOW - 1, stdout_logfile="/l/o", stop=2**40)
    )
    assert set(struct) == {
        "name", "group", "start", "stop", "now", "state", "statename", "spawnerr",
        "exitstatus", "logfile", "stdout_logfile", "stderr_logfile", "pid", "description",
    }  # fmt: skip
    assert struct["logfile"] == struct["stdout_logfile"] == "/l/o"
    assert struct["stop"] == xmlrpc.client.MAXINT
    assert all(isinstance(struct[k], int) for k in ("start", "stop", "now", "state", "pid"))
    xmlrpc.client.dumps((struct,))  # marshallable without allow_none


def _supervisord_config_info_keys() -> set[str]:
    # The keys supervisord's getAllConfigInfo emits, read from a real call on a stub.
    from supervisor.rpcinterface import SupervisorNamespaceRPCInterface
    from supervisor.states import SupervisorStates

    class P:
        def __getattr__(self, name: str) -> object:
            return 1

    class G:
        name = "g"
        priority = 1
        process_configs = (P(),)

    class Options:
        mood = SupervisorStates.RUNNING
        process_group_configs = (G(),)

    class Supervisord:
        options = Options()
        process_groups: ClassVar[dict[str, object]] = {}

    rpc = SupervisorNamespaceRPCInterface(Supervisord())
    (entry,) = rpc.getAllConfigInfo()
    return set(entry)


def test_config_info_struct_matches_supervisord() -> None:
    """getAllConfigInfo entries have supervisord's keys; None and AUTO become 'none'/'auto'.

    serverurl None (AUTO in the model, as in supervisord) is reported 'none' like supervisord.
    """
    process = ProcessConfig(
        name="cat",
        program_name="cat",
        group_name="g",
        command="/bin/cat",
        exitcodes=frozenset({2, 0}),
        stopsignal=signal.SIGINT,
        user="0",
        stdout=ChannelConfig(logfile=AUTO),
        stderr=ChannelConfig(logfile=None),
    )
    group = GroupConfig(name="g", kind=GroupKind.PROGRAM, priority=5, processes=(process,))
    (struct,) = structs.all_config_info([group], {"g"})
    assert set(struct) == _supervisord_config_info_keys()
    assert struct["exitcodes"] == [0, 2]
    assert struct["stopsignal"] == int(signal.SIGINT)
    assert struct["stdout_logfile"] == "auto"
    assert struct["stderr_logfile"] == "none"
    assert struct["directory"] == "none"
    assert struct["serverurl"] == "none"
    assert struct["uid"] == 0
    assert struct["inuse"] is True
    assert struct["group_prio"] == 5
    xmlrpc.client.dumps(([struct],))


def test_config_info_reports_resolved_auto_logfiles() -> None:
    """An AUTO log of an existing process is reported by its path; explicit paths are kept."""
    process = ProcessConfig(
        name="cat",
        program_name="cat",
        group_name="g",
        command="/bin/cat",
        stdout=ChannelConfig(logfile=AUTO),
        stderr=ChannelConfig(logfile="/var/log/cat.err"),
    )
    group = GroupConfig(name="g", kind=GroupKind.PROGRAM, processes=(process,))
    paths = {("g", "cat"): ("/tmp/cat-stdout---supervisor-abc.log", "/var/log/cat.err")}
    (struct,) = structs.all_config_info([group], {"g"}, paths)
    assert struct["stdout_logfile"] == "/tmp/cat-stdout---supervisor-abc.log"
    assert struct["stderr_logfile"] == "/var/log/cat.err"
    (inactive,) = structs.all_config_info([group], set())
    assert inactive["stdout_logfile"] == "auto"


def test_config_info_is_sorted_by_name_and_marks_inactive_groups() -> None:
    """Entries are sorted by process name; groups not active have inuse False."""

    def group(name: str) -> GroupConfig:
        p = ProcessConfig(name=name, program_name=name, group_name=name, command="x", user="root")
        return GroupConfig(name=name, kind=GroupKind.PROGRAM, processes=(p,))

    result = structs.all_config_info([group("b"), group("a")], {"b"})
    assert [(s["name"], s["inuse"], s["uid"]) for s in result] == [("a", False, 0), ("b", True, 0)]


def test_unknown_user_has_no_uid() -> None:
    """A user that does not resolve reports uid 'none' rather than failing the whole call."""
    p = ProcessConfig(name="a", program_name="a", group_name="a", command="x", user="no-such-usr")
    g = GroupConfig(name="a", kind=GroupKind.PROGRAM, processes=(p,))
    assert structs.all_config_info([g], set())[0]["uid"] == "none"
