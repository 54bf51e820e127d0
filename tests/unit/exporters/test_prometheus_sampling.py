"""children_index: one scan of a /proc-like tree, parent pid -> child pids."""

from __future__ import annotations

from pathlib import Path

from exporters.prometheus.sampling import children_index


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
