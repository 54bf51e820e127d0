"""``async with embedded(...)`` in a notebook: a superd inside the kernel's running event loop.

nbclient executes a notebook on a real ipykernel whose cells use top-level ``await``
(the kernel's loop is already running; ``asyncio.run`` would refuse). The cells start
a steady program and a crash loop in the kernel's loop, watch the crash loop's
restarts on the daemon's bus, stop everything by leaving the block, and print what
they saw as JSON. The test checks it against the operating system: the pids were
real children of the kernel, none is left after the block, and the kernel's signal
handlers are the ones it had.
"""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETUP = """
import json, os, signal
from supervisor_core.embedded import embedded
from supervisor_core.lifecycle import ProcessState

def handlers():
    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    return {s.name: repr(signal.getsignal(s)) for s in watched}

config = '''
[supervisord]
childlogdir = {tmp}
[program:steady]
command = /bin/sh -c 'exec sleep 3600'
startsecs = 0
[program:crashy]
command = /bin/sh -c 'sleep 0.1; exit 4'
startsecs = 0
autorestart = true
'''
"""

RUN = """
import asyncio
import psutil
starts = []
enough = asyncio.Event()

def on_start(event):
    if event.data.processname == "crashy":
        starts.append(event.data.cause.value)
    if len(starts) >= 3:
        enough.set()

# The cell's own handlers (ipykernel installs a SIGINT handler while an async cell runs).
before = handlers()
async with embedded(config) as sup:
    sup.bus.subscribe(on_start, name="notebook", types=("PROCESS_STATE_STARTING",))
    async with asyncio.timeout(60):
        await sup.wait_state("steady", ProcessState.RUNNING)
        steady = sup.process("steady")
        await enough.wait()
    inside = handlers()
    parent = psutil.Process(steady.pid).ppid()
    table = [(p.name, p.statename, p.pid) for p in sup.processes()]
after = [(p.name, p.statename) for p in sup.processes()]
seen = {"kernel": os.getpid(), "parent": parent, "steady_pid": steady.pid, "table": table}
seen |= {"starts": starts, "after": after, "before": before, "inside": inside}
print("EMBEDDED " + json.dumps(seen | {"handlers_after": handlers()}))
"""


def test_a_supervisor_runs_in_the_kernels_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Top-level ``async with embedded(config)`` in a notebook cell starts real children of
    the kernel (their parent is the kernel), its bus reports the crash loop's autorestarts,
    leaving the block stops every child, and the kernel's signal handlers are untouched."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(SETUP.replace("{tmp}", str(tmp_path))),
        nbformat.v4.new_code_cell(RUN),
    ]
    client = NotebookClient(
        notebook,
        timeout=90,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    text = "".join(str(o.get("text", "")) for o in outputs)
    (line,) = [x for x in text.splitlines() if x.startswith("EMBEDDED ")]
    seen = json.loads(line.removeprefix("EMBEDDED "))
    names = {name: (state, pid) for name, state, pid in seen["table"]}
    assert names["steady"] == ("RUNNING", seen["steady_pid"])
    assert seen["parent"] == seen["kernel"]
    # The children were the kernel's own (no daemon in between) and are gone now:
    # the kernel is still alive, so a leftover child would still exist.
    assert not psutil.pid_exists(seen["steady_pid"])
    assert len(seen["starts"]) >= 3
    assert set(seen["starts"]) == {"autorestart"}  # subscribed after the autostart
    assert seen["after"] == []  # shut down: no group is left
    assert seen["inside"] == seen["before"] == seen["handlers_after"]
    # superd's log lines reach the cell through the supervisor_core loggers (Python's
    # last-resort handler: the kernel configures no logging, and neither do we).
    stderr = "".join(str(o.get("text", "")) for o in outputs if o.get("name") == "stderr")
    assert "exited: crashy (exit status 4; not expected)" in stderr
