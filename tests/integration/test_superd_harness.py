"""The test harness itself: a test that fails with superd still running leaves nothing."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.integration.superd_harness import PROGRAM, Superd, base_config, program_section

pytestmark = pytest.mark.integration


def test_close_kills_the_programs_of_a_superd_left_running(tmp_path: Path) -> None:
    """``Superd.close()`` on a running superd kills its programs too, not only superd."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    superd = Superd(tmp_path, base_config(tmp_path) + program_section("a", tmp_path, priority=1))
    try:
        superd.wait_states({"a": "RUNNING"})
        program = psutil.Process(superd.call("getProcessInfo", "a")["pid"])
    finally:
        superd.close()
    program.wait(timeout=10)  # raises psutil.TimeoutExpired while it still runs
    assert not program.is_running()
