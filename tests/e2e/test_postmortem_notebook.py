"""The post-mortem notebook, executed by nbclient on a real ipykernel, tells a real crash loop.

superd (a subprocess) runs a crash-looping program until its storm detector has
seen a storm and a dozen restarts, an operator stops it, superd shuts down; then the
notebook runs against that journal. Its story must carry the restart count superd's
own ``supervisor_process_restarts_total`` reports (all of them ``autorestart``), the
storm, the exit code, the stderr tail, who noticed and who acted (the operator's
stop, with the origin superd recorded); its plots must be there.
"""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.prometheus_server import free_port
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "restart-storm-postmortem.ipynb"
RESTARTS = 12  # enough for a storm (burst 3) and a count that cannot be a coincidence
RESTARTS_METRIC = 'supervisor_process_restarts_total{group="crashy",name="crashy"}'


def metric(port: int, series: str) -> float | None:
    """One sample of superd's /metrics (None while absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def crashed_journal(tmp_path: Path) -> tuple[Path, int]:
    """A journal of a crash loop of RESTARTS+ restarts, then a stop; yields (path, restarts)."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 30s\n\n"
        + "[program:crashy]\n"
        + "command = /bin/sh -c 'echo connecting to db >&2; sleep 0.1; "
        + "echo FATAL: database unreachable >&2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_running()
        wait_for(
            lambda: (metric(port, RESTARTS_METRIC) or 0) >= RESTARTS,
            f"{RESTARTS} restarts of crashy",
        )
        superd.call("stopProcess", "crashy")
        restarts = metric(port, RESTARTS_METRIC)
        assert restarts is not None
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0  # the journal is committed and closed
    finally:
        superd.close()
    return tmp_path / "superd-journal.sqlite3", int(restarts)


def run_notebook(journal: Path, workdir: Path, *, probe: str = "") -> list[dict[str, object]]:
    """Execute the notebook with injected parameters (and ``probe``, a cell of the test's
    appended at the end, run in the same kernel); returns every cell output."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (index,) = [
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    ]
    injected = nbformat.v4.new_code_cell(
        f"journal_path = {str(journal)!r}\nprometheus_url = ''\n"
        "storm_burst = 3\nstorm_window = 30.0\n",
        metadata={"tags": ["injected-parameters"]},
    )
    notebook.cells.insert(index + 1, injected)
    if probe:
        notebook.cells.append(nbformat.v4.new_code_cell(probe))
    client = NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return [output for cell in notebook.cells for output in cell.get("outputs", [])]


def test_the_notebook_tells_the_story_of_a_real_crash_loop(
    crashed_journal: tuple[Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executed notebook reports superd's own restart count by cause, the storm with exit
    code 4, the last stderr lines, the storm detector's notice, who stopped it, and draws
    three plots."""
    # jupyter_core warns about its path migration unless told which one to use.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    journal, restarts = crashed_journal
    outputs = run_notebook(journal, tmp_path)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs, default=str))
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert errors == []
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))  # type: ignore[union-attr]
        for o in outputs
    )
    assert f"crashy restarted {restarts} times (autorestart \u00d7{restarts}) between " in text
    assert re.search(r"Exits: code 4 \u00d7\d+", text)
    assert "    | FATAL: database unreachable" in text
    assert re.search(r"Restart storm from \S+ \S+ UTC to \S+ \S+ UTC: \d+ restarts \(code 4", text)
    assert "Noticed by superd storm detector at" in text
    assert "PROCESS_STORM_BEGIN" in text
    assert re.search(
        r"Acted: xmlrpc, unix socket pid \d+ uid \d+, [^\n]* at \S+ \S+ UTC: stopped it "
        r"\(\w+ -> STOPP\w+, cause operator, serial \d+\)\.",
        text,
    )
    assert re.search(r"It was stopped at \S+ \S+ UTC by xmlrpc, unix socket pid \d+", text)
    assert "steady restarted" not in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]  # type: ignore[operator]
    assert len(images) == 3


# Run in the notebook's kernel after it: what its timeline figure drew, per process line.
TIMELINE_PROBE = """
import json
(axes,) = timeline.axes
labels = [t.get_text() for t in axes.get_yticklabels()]
bars = [
    {"line": labels[round(p.get_y() + p.get_height() / 2)], "width": p.get_width()}
    for p in axes.patches
]
shades = [c.get_paths()[0].get_extents().width for c in axes.collections]
running = int((report.runs["outcome"] == "running").sum())
print("TIMELINE " + json.dumps({"bars": bars, "shades": shades, "running": running}))
"""


def test_runs_still_going_are_drawn_from_a_live_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run against the journal of a superd still running (a steady program that never
    exited, a crash loop in a storm under way), the notebook's timeline draws the steady
    run and the crash loop's current run with a positive width, and shades the storm
    (before the NaT fix, runs without an end had a NaN width and were never drawn)."""
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 120s\n\n"
        + "[program:crashy]\ncommand = /bin/sh -c 'sleep 0.5; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )
    storm = 'supervisor_process_restart_storm{group="crashy",name="crashy"}'
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_running()
        wait_for(lambda: metric(port, storm) == 1.0, "a storm of crashy")
        outputs = run_notebook(tmp_path / "superd-journal.sqlite3", tmp_path, probe=TIMELINE_PROBE)
        assert superd.states()["steady"] == "RUNNING"  # it never exited while read
    finally:
        superd.close()
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert errors == []
    text_out = "".join(str(o.get("text", "")) for o in outputs)
    (line,) = [x for x in text_out.splitlines() if x.startswith("TIMELINE ")]
    drawn = json.loads(line.removeprefix("TIMELINE "))
    steady = [bar for bar in drawn["bars"] if bar["line"] == "steady"]
    assert len(steady) == 1
    assert steady[0]["width"] > 0  # NaN before the fix
    assert drawn["running"] >= 1
    assert all(bar["width"] > 0 for bar in drawn["bars"])
    assert len(drawn["bars"]) >= 4  # crashy's runs too
    assert drawn["shades"]
    assert all(width > 0 for width in drawn["shades"])  # the storm under way is shaded
