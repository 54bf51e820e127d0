"""The post-mortem in prose: one paragraph per process that restarted."""

from __future__ import annotations

import statistics

import pandas as pd

from exporters.notebook._common import _clock, _records
from exporters.notebook.frames import PostMortem


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 60 else f"{value / 60:.1f} min"


def _exits_text(runs: pd.DataFrame) -> str:
    exits = runs[runs["outcome"].isin(["crash", "failed start", "exit"])]
    counts = exits["exit"].value_counts()
    return ", ".join(f"{label} \u00d7{count}" for label, count in counts.items()) or "none"


def _process_story(report: PostMortem, process: str) -> str:
    restarts = report.restarts[report.restarts["process"] == process]
    runs = report.runs[report.runs["process"] == process]
    first, last = restarts["time"].min(), restarts["time"].max()
    times = "time" if len(restarts) == 1 else "times"
    causes = ", ".join(
        f"{cause} \u00d7{count}" for cause, count in restarts["cause"].value_counts().items()
    )
    lines = [
        f"{process} restarted {len(restarts)} {times} ({causes}) between {_clock(first)} and "
        f"{_clock(last)} ({_seconds((last - first).total_seconds())})."
    ]
    lines.append(f"Exits: {_exits_text(runs)}.")
    ended = runs["duration"].dropna()
    if not ended.empty:
        lines.append(
            f"Runs lasted {_seconds(float(statistics.median(ended)))} (median), "
            f"{_seconds(float(ended.max()))} at most."
        )
    tails = [tail for tail in runs["stderr_tail"] if tail]
    if tails:
        quoted = "\n".join(f"    | {line}" for line in tails[-1])
        lines.append(f"The last stderr lines were:\n{quoted}")
    storms = report.storms[report.storms["process"] == process]
    for storm in _records(storms):
        codes = ", ".join(
            [f"code {c}" for c in storm["exit_codes"]] + [str(s) for s in storm["signals"]]
        )
        lines.append(
            f"Restart storm from {_clock(storm['start'])} to {_clock(storm['end'])}: "
            f"{storm['restarts']} restarts ({codes}), ended: {storm['reason']}."
        )
    mine = report.notices[
        report.notices["process"].isin([process, process.split(":", maxsplit=1)[0]])
    ]
    noticed = mine[mine["kind"] == "noticed"]
    if noticed.empty:
        lines.append("Nobody noticed: no storm event, no alert.")
    lines.extend(
        f"Noticed by {notice['who']} at {_clock(notice['time'])}: {notice['what']}."
        for notice in _records(noticed)
    )
    lines.extend(
        f"Acted: {action['who']} at {_clock(action['time'])}: {action['what']}."
        for action in _records(mine[mine["kind"] == "acted"])
    )
    final = runs.iloc[-1] if not runs.empty else None
    if final is not None and final["outcome"] == "stopped":
        by = f" by {final['end_origin']}" if final["end_origin"] else ""
        why = f" ({final['end_cause']})" if final["end_cause"] else ""
        lines.append(f"It was stopped at {_clock(final['end'])}{by}{why}.")
    return "\n".join(lines)


def summarize(report: PostMortem) -> list[str]:
    """The story of every process that restarted, most restarts first (one string each).

    Example: ``web:web restarted 40 times (autorestart ×40) between ... Exits: code 1
    ×40. ... Noticed by superd storm detector at ... Acted: xmlrpc, unix socket pid 42
    uid 0, superctl/0.1 at ...: stopped it (RUNNING -> STOPPING, cause operator, ...).``
    """
    if report.restarts.empty:
        return ["No process restarted in this journal range."]
    order = report.restarts["process"].value_counts()
    return [_process_story(report, str(process)) for process in order.index]
