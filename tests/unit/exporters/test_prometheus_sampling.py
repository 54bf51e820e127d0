"""children_index: one scan of a /proc-like tree, parent pid -> child pids."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporters.prometheus.sampling import children_index, sample_trees


def _process(proc: Path, pid: int, comm: str, ppid: int) -> None:
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560\n")


def test_children_index_reads_ppid_after_the_last_parenthesis(tmp_path: Path) -> None:
    """Spaces or parentheses in comm keep the ppid; vanished and non-pid entries are skipped."""
    _process(tmp_path, 1, "init", 0)
    _process(tmp_path, 10, "sleep", 1)
    _process(tmp_path, 11, "we (ird) name", 10)
    _process(tmp_path, 12, ") S 99", 10)
    (tmp_path / "13").mkdir()  # vanished between listdir and open: no stat file
    (tmp_path / "self").mkdir()
    index = children_index(str(tmp_path))
    assert {parent: sorted(children) for parent, children in index.items()} == {
        0: [1],
        1: [10],
        10: [11, 12],
    }


def _full_stat(pid: int, ppid: int, state: str, utime: int, stime: int, threads: int) -> str:
    # proc(5) fields 1..24: pid (comm) state ppid pgrp session tty tpgid flags minflt
    # cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads
    # itrealvalue starttime vsize rss ...
    return (
        f"{pid} (x y) {state} {ppid} {pid} {pid} 0 -1 0 0 0 0 0 {utime} {stime} 1 2 20 0 "
        f"{threads} 0 100 4096 25 18446744073709551615 0\n"
    )


def test_sample_trees_sums_a_tree_from_one_scan(tmp_path: Path) -> None:
    """CPU ticks (own + reaped children), threads, pages and fds summed; zombie root is None."""
    for pid, ppid, state in ((10, 1, "S"), (11, 10, "S"), (12, 11, "R"), (20, 1, "Z")):
        (tmp_path / str(pid) / "fd").mkdir(parents=True)
        (tmp_path / str(pid) / "stat").write_text(_full_stat(pid, ppid, state, 100, 50, 2))
        for fd in range(3):
            (tmp_path / str(pid) / "fd" / str(fd)).touch()
    samples = sample_trees([10, 11, 20, 99], proc=str(tmp_path))
    ticks = os.sysconf("SC_CLK_TCK")
    tree = samples[10]
    assert tree is not None
    assert tree.processes == 3
    assert tree.threads == 6
    assert tree.open_fds == 9
    assert tree.rss == 3 * 25 * os.sysconf("SC_PAGE_SIZE")
    assert tree.cpu_user == pytest.approx(3 * 101 / ticks)
    assert tree.cpu_system == pytest.approx(3 * 52 / ticks)
    subtree = samples[11]
    assert subtree is not None
    assert subtree.processes == 2
    assert samples[20] is None  # zombie
    assert samples[99] is None  # gone


def test_a_childless_root_and_an_unparsable_stat(tmp_path: Path) -> None:
    """A root without children is itself; an unparsable stat is absent, not zero."""
    for pid, stat in ((30, _full_stat(30, 1, "S", 7, 3, 1)), (31, "31 (x) S 1 garbage\n")):
        (tmp_path / str(pid) / "fd").mkdir(parents=True)
        (tmp_path / str(pid) / "stat").write_text(stat)
    (tmp_path / "30" / "fd" / "0").touch()
    samples = sample_trees([30, 31], proc=str(tmp_path))
    ticks = os.sysconf("SC_CLK_TCK")
    single = samples[30]
    assert single is not None
    assert (single.processes, single.threads, single.open_fds) == (1, 1, 1)
    assert single.cpu_user == pytest.approx(8 / ticks)
    assert single.cpu_system == pytest.approx(5 / ticks)
    assert samples[31] is None
