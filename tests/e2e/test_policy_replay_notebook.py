"""The policy-replay notebook, executed by papermill on a real ipykernel, against a real superd.

superd (a subprocess) runs a crash-looping program with its HTTP server behind basic
auth; once it has restarted a dozen times an operator stops it. papermill runs the
notebook against that superd's URL (``/events``, with the credentials), while it is
still up; then superd shuts down and the test reads the same history from the
journal. The notebook's replays must be exactly what ``supervisor_core.damping``
computes from the recorded runs, its table and plot must be there, and it must
recommend a policy.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from exporters.alerts.rules import AlertConfig
from exporters.notebook import load_events, restarts, runs
from exporters.notebook.replay_alerts import History, alerts_fired
from exporters.storms import StormSettings
from supervisor_core.damping import (
    BackoffPolicy,
    StartLimit,
    replay_delays,
    start_limit_reached,
)
from tests.e2e.prometheus_server import free_port
from tests.e2e.test_postmortem_notebook import RESTARTS, RESTARTS_METRIC, metric
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "policy-replay.ipynb"
USER, PASSWORD = "ops", "s3cret pass"
CANDIDATES = [
    {"backoff_initial": 0.2, "backoff_factor": 2.0, "backoff_max": 2.0},
    {"backoff_initial": 0.1, "backoff_factor": 1.5, "backoff_max": 1.0, "backoff_jitter": 0.3},
    {"startlimit_burst": 4, "startlimit_interval": 10.0},
]


def test_the_notebook_is_checked_in_without_outputs_and_with_a_parameters_cell() -> None:
    """papermill finds the tagged parameters cell; no cell carries outputs from a past run."""
    notebook = json.loads(NOTEBOOK.read_text())
    tagged = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    assert "candidates = [" in "".join(tagged[0]["source"])
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def run_notebook(url: str, workdir: Path) -> list[dict[str, object]]:
    """papermill executes the notebook against ``url``; returns every cell output."""
    import papermill

    executed = workdir / "policy-replay.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        parameters={
            "source": url,
            "username": USER,
            "password": PASSWORD,
            "process": "crashy",
            "candidates": CANDIDATES,
            "max_downtime": 60.0,
        },
        kernel_name="python3",
        cwd=str(workdir),
        progress_bar=False,
    )
    notebook = json.loads(executed.read_text())
    return [output for cell in notebook["cells"] for output in cell.get("outputs", [])]


def command_line(tmp_path: Path) -> None:
    """The commands docs/postmortem.md gives: papermill on the journal, nbconvert to HTML."""
    bin_dir = Path(sys.executable).parent
    out = tmp_path / "replay.ipynb"
    subprocess.run(
        [
            str(bin_dir / "papermill"),
            str(NOTEBOOK),
            str(out),
            "-p",
            "source",
            str(tmp_path / "superd-journal.sqlite3"),
            "--cwd",
            str(tmp_path),
        ],
        check=True,
        timeout=240,
        capture_output=True,
    )
    subprocess.run(
        [str(bin_dir / "jupyter"), "nbconvert", "--to", "html", str(out)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    html = (tmp_path / "replay.html").read_text()
    assert "Replaying crashy" in html
    assert "REPLAY {" in html


def _text(value: object) -> str:
    """An output's text: nbformat files store it as a list of lines."""
    return "".join(value) if isinstance(value, list) else str(value)


def direct_replay(durations: list[float], first: float, last: float, **options: float) -> dict:
    """What damping decides for the recorded runs, computed here step by step."""
    policy = BackoffPolicy(
        initial=options.get("backoff_initial", 0.0),
        factor=options.get("backoff_factor", 2.0),
        maximum=options.get("backoff_max", 300.0),
        jitter=options.get("backoff_jitter", 0.0),
    )
    limit = StartLimit(
        burst=int(options.get("startlimit_burst", 0)),
        interval=options.get("startlimit_interval", 10.0),
    )
    starts, ends, fatal = [first], [], None
    for index, duration in enumerate(durations):
        ends.append(starts[-1] + duration)
        delay = replay_delays(policy, durations[: index + 1], name="crashy", exit_wall_times=ends)[
            -1
        ]
        following = ends[-1] + delay
        if following >= last:
            break
        if start_limit_reached(limit, starts, following):
            fatal = following
            break
        starts.append(following)
    delays = list(
        replay_delays(policy, durations[: len(ends)], name="crashy", exit_wall_times=ends)
    )
    history = History(
        group="crashy",
        name="crashy",
        runs=list(zip(starts[: len(ends)], ends, strict=True)),  # a last start may not have run
        fatal_at=fatal,
        end=last,
    )
    fired = alerts_fired(history, AlertConfig(), StormSettings())
    alerts = {
        str(row.alertname): None if pd.isna(row.first_firing) else row.first_firing.timestamp()
        for row in fired[fired["applies"]].itertuples()
    }
    return {"delays": delays, "restarts": len(ends) - 1, "fatal_at": fatal, "alerts": alerts}


def test_the_replay_notebook_equals_damping_on_a_real_crash_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read over /events with credentials, each replay's delays, restarts and FATAL time equal
    a direct supervisor_core.damping computation on the journal's runs; a table, a plot and a
    recommendation are produced."""
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    metrics_port, http_port = free_port(), free_port()
    text = (
        base_config(tmp_path)
        + f"[inet_http_server]\nport = 127.0.0.1:{http_port}\n"
        + f"username = {USER}\npassword = {PASSWORD}\n\n"
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{metrics_port}\n\n"
        + "[program:crashy]\n"
        + "command = /bin/sh -c 'sleep 0.1; echo FATAL: database unreachable >&2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_running()
        wait_for(
            lambda: (metric(metrics_port, RESTARTS_METRIC) or 0) >= RESTARTS,
            f"{RESTARTS} restarts of crashy",
        )
        superd.call("stopProcess", "crashy")
        url = f"http://127.0.0.1:{http_port}"
        with pytest.raises(ValueError, match="HTTP 401"):
            load_events(url, username=USER, password="wrong")
        over_http = load_events(url, username=USER, password=PASSWORD)
        middle = float(over_http["wall_time"].iloc[len(over_http) // 2])
        filtered = load_events(
            f"http://{USER}:s3cret%20pass@127.0.0.1:{http_port}", since=middle, processes=["crashy"]
        )
        outputs = run_notebook(url, tmp_path)
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
    finally:
        superd.close()

    journal = load_events(tmp_path / "superd-journal.sqlite3")
    # /events and the journal give the same frame for the same events.
    same = journal[journal["serial"].isin(over_http["serial"])].reset_index(drop=True)
    assert len(same) == len(over_http)
    for column in ("serial", "type", "process", "to_state", "cause", "pid", "exit_status"):
        assert same[column].astype(str).tolist() == over_http[column].astype(str).tolist()
    assert (same["time"] == over_http["time"]).all()
    # since and processes select the same events over /events (credentials in the URL).
    expected = load_events(tmp_path / "superd-journal.sqlite3", since=middle, processes=["crashy"])
    expected = expected[expected["serial"] <= over_http["serial"].max()]
    assert filtered["serial"].tolist() == expected["serial"].tolist()
    assert len(filtered) > 0
    assert set(filtered["process"]) == {"crashy"}

    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert errors == []
    text_out = "\n".join(
        _text(o.get("text", "")) + _text(o.get("data", {}).get("text/plain", ""))  # type: ignore[union-attr]
        for o in outputs
    )
    replays = [
        json.loads(line[len("REPLAY ") :])
        for line in text_out.splitlines()
        if line.startswith("REPLAY ")
    ]
    assert len(replays) == 1 + len(CANDIDATES)

    recorded = runs(over_http)
    recorded = recorded[
        (recorded["process"] == "crashy")
        & recorded["outcome"].isin(["crash", "failed start", "exit"])
    ]
    durations = [float(d) for d in recorded["duration"]]
    first = recorded["start"].iloc[0].timestamp()
    last = recorded["end"].iloc[-1].timestamp()
    restarted = int(restarts(over_http)["process"].value_counts()["crashy"])
    assert restarted >= RESTARTS
    for replay, options in zip(replays, [{}, *CANDIDATES], strict=True):
        direct = direct_replay(durations, first, last, **options)
        assert replay["delays"] == pytest.approx(direct["delays"], abs=1e-9)
        assert replay["restarts"] == direct["restarts"]
        if direct["fatal_at"] is None:
            assert replay["fatal_at"] is None
        else:
            assert replay["fatal_at"] == pytest.approx(direct["fatal_at"], abs=1e-5)
        # The shipped rules' alerts, evaluated on the directly computed runs.
        assert replay["alerts"].keys() == direct["alerts"].keys()
        for name, when in direct["alerts"].items():
            assert (replay["alerts"][name] is None) == (when is None), name
            if when is not None:
                assert replay["alerts"][name] == pytest.approx(when, abs=1e-5), name
        assert replay["policy"]["recorded_restarts"] >= restarted - 1
    assert replays[0]["restarts"] == len(durations) - 1  # no damping re-lives the history
    assert replays[3]["fatal_at"] is not None  # 4 starts in 10 s: a loop of 0.1 s runs hits it
    assert any(d > 0 for d in replays[1]["delays"])
    assert re.search(
        r"Recommended: backoff_initial=[\d.]+, .*: \d+ restarts instead of \d+", text_out
    )
    # Twelve restarts within seconds: more than ProcessFlapping's 5 in 15 minutes.
    assert replays[0]["alerts"]["ProcessFlapping"] is not None
    assert replays[3]["alerts"]["ProcessFatal"] is not None  # the start limit's FATAL
    assert re.search(
        r"Alerts it would have fired: .*\(without damping: .*ProcessFlapping", text_out
    )
    images = [o for o in outputs if "image/png" in o.get("data", {})]  # type: ignore[operator]
    assert len(images) == 1
    command_line(tmp_path)
    tables = [o for o in outputs if "text/html" in o.get("data", {})]  # type: ignore[operator]
    assert tables
