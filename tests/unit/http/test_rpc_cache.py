"""getAllProcessInfo's encoded answer is reused exactly while the control's snapshot_key holds."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Sequence
from pathlib import Path

import pytest

from supervisor_core import control
from supervisor_core.http.faults import RpcFault
from supervisor_core.http.rpc import RpcInterface
from supervisor_core.http.xmlrpc import ResultEncodingError
from supervisor_core.lifecycle import SupervisorState

from .fake_control import FakeControl, make_fake

METHOD = "supervisor.getAllProcessInfo"


class KeyedControl(FakeControl):
    """A FakeControl whose snapshot_key the test sets, counting groups() calls."""

    def __init__(self, base: FakeControl) -> None:
        super().__init__(base.groups_by_name, priorities=base.priorities)
        self.keys: list[object] = []
        self.key: object = "k1"
        self.snapshots = 0

    def snapshot_key(self) -> object:
        if self.keys:
            return self.keys.pop(0)
        return self.key

    def groups(self) -> Sequence[control.GroupInfo]:
        self.snapshots += 1
        return super().groups()


@pytest.fixture
def keyed(tmp_path: Path) -> KeyedControl:
    return KeyedControl(make_fake(str(tmp_path)))


def decoded(body: bytes) -> object:
    return xmlrpc.client.loads(body)[0][0]


async def test_same_key_reuses_the_body_and_a_new_key_rebuilds_it(keyed: KeyedControl) -> None:
    """With an unchanged key the second call builds no snapshot; a changed key shows the change."""
    rpc = RpcInterface(keyed)
    first = await rpc.call_encoded(METHOD, ())
    assert decoded(first) == await rpc.call(METHOD, ())
    built = keyed.snapshots
    assert await rpc.call_encoded(METHOD, ()) is first
    assert keyed.snapshots == built
    keyed.process("worker").pid = 777
    keyed.key = "k2"
    changed = await rpc.call_encoded(METHOD, ())
    assert changed != first
    assert 777 in [info["pid"] for info in decoded(changed)]  # type: ignore[attr-defined]


async def test_a_key_that_moved_during_the_build_is_not_stored(keyed: KeyedControl) -> None:
    """A snapshot straddling a change (key before != key after) is answered but not cached."""
    rpc = RpcInterface(keyed)
    keyed.keys = ["before", "after"]
    keyed.key = "before"
    await rpc.call_encoded(METHOD, ())
    built = keyed.snapshots
    await rpc.call_encoded(METHOD, ())
    assert keyed.snapshots == built + 1


async def test_fresh_keys_never_cache_and_state_is_still_checked(tmp_path: Path) -> None:
    """The plain fake (a new object per key) rebuilds every time; SHUTDOWN still faults."""
    fake = make_fake(str(tmp_path))
    rpc = RpcInterface(fake)
    assert await rpc.call_encoded(METHOD, ()) == await rpc.call_encoded(METHOD, ())
    fake.state = SupervisorState.SHUTDOWN
    with pytest.raises(RpcFault):
        await rpc.call_encoded(METHOD, ())


class NoPidControl(KeyedControl):
    """A control whose pid() is None, which XML-RPC cannot encode."""

    def pid(self) -> int:
        return None  # type: ignore[return-value]


async def test_other_methods_are_encoded_and_unencodable_results_named(
    keyed: KeyedControl,
) -> None:
    """Every other method goes through call(); a None result raises ResultEncodingError."""
    rpc = RpcInterface(keyed)
    body = await rpc.call_encoded("supervisor.getState", ())
    assert decoded(body) == {"statecode": 1, "statename": "RUNNING"}
    broken = RpcInterface(NoPidControl(keyed))
    with pytest.raises(ResultEncodingError, match=r"supervisor\.getPID"):
        await broken.call_encoded("supervisor.getPID", ())


async def test_calls_naming_one_process_or_group_snapshot_only_that_group(
    keyed: KeyedControl,
) -> None:
    """getProcessInfo, readProcessStdoutLog's lookup and the group calls never snapshot every
    group (with 500 programs that made one getProcessInfo cost ~40 times getState)."""
    rpc = RpcInterface(keyed)
    info = await rpc.call("supervisor.getProcessInfo", ("worker",))
    assert info["name"] == "worker"  # type: ignore[index]
    with pytest.raises(RpcFault, match="BAD_NAME"):
        await rpc.call("supervisor.getProcessInfo", ("nosuch",))
    with pytest.raises(RpcFault, match="BAD_NAME"):
        await rpc.call("supervisor.stopProcessGroup", ("nosuch",))
    assert keyed.snapshots == 0
