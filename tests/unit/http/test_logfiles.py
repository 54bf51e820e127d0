"""Log reading with supervisord's readLog/tailProcessLog semantics."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from supervisor.options import readFile, tailFile

from supervisor_core.http.faults import Faults, RpcFault
from supervisor_core.http.logfiles import (
    read_log,
    read_named_log,
    tail_log,
    tail_named_log,
    xml_safe_text,
)

CONTENT = bytes(range(48, 58)) * 3  # 30 bytes of digits


@pytest.fixture
def log(tmp_path: Path) -> str:
    path = tmp_path / "x.log"
    path.write_bytes(CONTENT)
    return str(path)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(offset=st.integers(-40, 40), length=st.integers(-40, 40))
def test_read_log_matches_supervisord(log: str, offset: int, length: int) -> None:
    """read_log returns what supervisord's readFile returns, or the same fault."""
    try:
        expected: bytes | str = readFile(log, offset, length)
    except ValueError as e:
        expected = e.args[0]
    try:
        actual: bytes | str = read_log(log, offset, length)
    except RpcFault as fault:
        actual = fault.code.name
    assert actual == expected


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(offset=st.integers(-40, 40), length=st.integers(-40, 40))
def test_tail_log_matches_supervisord(log: str, offset: int, length: int) -> None:
    """tail_log returns supervisord tailFile's [data, offset, overflow] for any window."""
    data, new_offset, overflow = tailFile(log, offset, length)
    result = tail_log(log, offset, length)
    assert (result.data.decode(), result.offset, result.overflow) == (data, new_offset, overflow)


def test_missing_files(tmp_path: Path) -> None:
    """No log configured or not yet created: NO_FILE for reads, empty tail at offset 0."""
    missing = str(tmp_path / "nope.log")
    with pytest.raises(RpcFault) as info:
        read_named_log(missing, 0, 0)
    assert info.value.text == f"NO_FILE: {missing}"
    with pytest.raises(RpcFault) as info:
        read_named_log("", 0, 0)
    assert info.value.text == "NO_FILE"
    assert tail_named_log(missing, 5, 10).offset == 0
    assert tail_named_log(None, 5, 10).data == b""


def test_unreadable_file_is_failed(tmp_path: Path) -> None:
    """A path that cannot be read (a directory) is FAILED, as in supervisord."""
    with pytest.raises(RpcFault) as info:
        read_log(str(tmp_path), 0, 0)
    assert info.value.code == Faults.FAILED


def test_xml_safe_text_replaces_what_xml_cannot_carry() -> None:
    """Invalid UTF-8 and control characters (ANSI escapes) become U+FFFD; tabs stay."""
    assert xml_safe_text(b"\x1b[31mred\x1b[0m\t\n") == "\ufffd[31mred\ufffd[0m\t\n"
    assert xml_safe_text(b"caf\xc3\xa9 \xff") == "café \ufffd"
