"""Benchmark supervisord and superd side by side on the same generated supervisord.conf.

Usage (from the repository root)::

    .venv/bin/python bench/run.py --quick      # about 1-2 minutes
    .venv/bin/python bench/run.py              # full sizes, up to ~15 minutes

The markdown table goes to stdout; progress to stderr; the markdown and a JSON file
with every summary land in ``bench/results/`` (git-ignored) unless ``--json`` /
``--markdown`` say otherwise.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository root importable so `bench.*` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.daemons import DaemonSpec, default_daemons
from bench.harness import log, run_all
from bench.load_figures import soak_verdict
from bench.scenarios import FULL, QUICK, Profile, all_scenarios
from bench.scenarios.load import SOAK_MAX_SLOPE
from bench.stats import ScenarioReport, render_markdown, report_to_json

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about 1-2 minutes)")
    parser.add_argument("--reps", type=int, help="repetitions per daemon and scenario")
    parser.add_argument("--programs", type=int, help="programs for idle/launch/rpc scenarios")
    parser.add_argument("--log-mib", type=int, help="MiB the log-throughput writer produces")
    parser.add_argument(
        "--log-cases",
        help="comma-separated log_throughput cases (lines100, w4k, w65500, w64k, w1m, inter, "
        "each also with _rot); default: all",
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated subset of: restart, log_throughput, idle_cpu, launch, rpc_latency, "
        "metrics_scrape, listener_storm, crash_storm, event_throughput, journal_storm, "
        "many_programs",
    )
    parser.add_argument(
        "--daemons",
        help="comma-separated daemons to run (default supervisord,superd; --soak: superd)",
    )
    parser.add_argument("--supervisord", help="command prefix for supervisord (before -n -c FILE)")
    parser.add_argument("--superd", help="command prefix for superd (before -n -c FILE)")
    parser.add_argument(
        "--duration", type=float, help="seconds of the load scenario's window (default 60)"
    )
    parser.add_argument(
        "--soak",
        action="store_true",
        help="run only the load scenario, once, for --soak-minutes (superd unless --daemons), "
        "and fail (exit 1) when its RSS grows faster than --soak-max-slope",
    )
    parser.add_argument("--soak-minutes", type=float, default=30.0, help="soak length (30)")
    parser.add_argument(
        "--soak-max-slope",
        type=float,
        default=SOAK_MAX_SLOPE,
        help=f"MiB/min the RSS may grow over the soak's second half ({SOAK_MAX_SLOPE})",
    )
    parser.add_argument("--json", type=Path, help="where to write the JSON results")
    parser.add_argument("--markdown", type=Path, help="where to write the markdown table")
    return parser


def _command_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({type(error).__name__})"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
    )


def machine_info(daemons: Sequence[DaemonSpec]) -> dict[str, Any]:
    """What the figures were measured on: date, cores, CPU, kernel, Python, daemon versions."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu_model = "unknown"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {d.name: _command_output([*d.argv, "--version"]) for d in daemons},
        "commands": {d.name: list(d.argv) for d in daemons},
    }


def select_daemons(args: argparse.Namespace) -> list[DaemonSpec]:
    """The daemons named by ``--daemons``, with ``--supervisord``/``--superd`` overrides."""
    specs = {d.name: d for d in default_daemons()}
    for name in ("supervisord", "superd"):
        override = getattr(args, name)
        if override:
            specs[name] = DaemonSpec.parse(name, override)
    default = "superd" if args.soak else "supervisord,superd"
    wanted = [name.strip() for name in (args.daemons or default).split(",") if name.strip()]
    unknown = [name for name in wanted if name not in specs]
    if unknown:
        raise SystemExit(f"--daemons: unknown daemon(s) {unknown}; known: {sorted(specs)}")
    return [specs[name] for name in wanted]


def select_profile(args: argparse.Namespace) -> Profile:
    """``FULL`` or ``QUICK`` with the command-line overrides applied."""
    base = QUICK if args.quick else FULL
    for option in ("reps", "programs", "log_mib"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise SystemExit(f"--{option.replace('_', '-')}: must be at least 1, got {value}")
    if args.duration is not None and args.duration <= 0:
        raise SystemExit(f"--duration: must be positive, got {args.duration}")
    if args.soak:
        if args.soak_minutes <= 0:
            raise SystemExit(f"--soak-minutes: must be positive, got {args.soak_minutes}")
        return base.with_overrides(
            reps=args.reps or 1,
            load_duration=args.soak_minutes * 60,
            load_soak=args.soak_max_slope,
        )
    return base.with_overrides(
        load_duration=args.duration,
        reps=args.reps,
        programs=args.programs,
        log_bytes=None if args.log_mib is None else args.log_mib * 1024 * 1024,
        log_cases=None
        if args.log_cases is None
        else tuple(key.strip() for key in args.log_cases.split(",") if key.strip()),
    )


def render_document(reports: Sequence[ScenarioReport], meta: dict[str, Any], profile: str) -> str:
    """The markdown section for one run: a heading with the machine, then the table."""
    return (
        f"### {meta['date']} — {profile}\n\n"
        f"Machine: {meta['nproc']} CPUs ({meta['cpu']}), Linux {meta['kernel']}, "
        f"Python {meta['python']}; "
        + ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
        + ".\n\n"
        + render_markdown(reports)
    )


def byte_compile_tree() -> None:
    """Write this tree's ``.pyc`` files before any daemon starts.

    supervisord from the venv's site-packages was byte-compiled at install; an editable
    superd would otherwise compile its ~200 modules at every launch (~0.1 s of CPU)
    when the environment sets PYTHONDONTWRITEBYTECODE, charging the launch scenarios
    for a difference of installation, not of daemon.
    """
    root = Path(__file__).resolve().parent.parent
    for package in ("supervisor_core", "exporters"):
        compileall.compile_dir(root / package, quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected scenarios and write the table and JSON."""
    args = build_parser().parse_args(argv)
    byte_compile_tree()
    daemons = select_daemons(args)
    profile = select_profile(args)
    scenarios = all_scenarios(profile)
    if args.soak:
        args.scenarios = args.scenarios or "load"
    if args.scenarios:
        wanted = {name.strip() for name in args.scenarios.split(",") if name.strip()}
        unknown = wanted - {s.name for s in scenarios}
        if unknown:
            raise SystemExit(f"--scenarios: unknown {sorted(unknown)}")
        scenarios = [s for s in scenarios if s.name in wanted]
    profile_name = "soak" if args.soak else "quick" if args.quick else "full"
    meta = machine_info(daemons)
    log(f"benchmark ({profile_name}, {profile.reps} reps): {', '.join(d.name for d in daemons)}")
    started = time.perf_counter()
    reports = run_all(scenarios, daemons, profile.reps)
    meta["duration_s"] = round(time.perf_counter() - started, 1)
    log(f"benchmark finished in {meta['duration_s']} s")

    label = " --quick" if args.quick else ""
    if args.soak:
        label += f" --soak --soak-minutes {args.soak_minutes:g}"
    document = render_document(reports, meta, f"`bench/run.py{label}`")
    status = 0
    if args.soak:
        loads = [report for report in reports if report.name == "load"]
        flat = bool(loads)
        for report in loads:
            ok, verdict = soak_verdict(report, args.soak_max_slope)
            flat = flat and ok
            document += f"\nSoak ({args.soak_minutes:g} min): {verdict}\n"
        status = 0 if flat else 1
        meta["soak_flat"] = flat
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = args.json or RESULTS_DIR / f"bench-{stamp}.json"
    markdown_path = args.markdown or RESULTS_DIR / f"bench-{stamp}.md"
    for path in (json_path, markdown_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta,
        "profile": {
            "name": profile_name,
            **{k: getattr(profile, k) for k in profile.__dataclass_fields__},
        },
        "scenarios": report_to_json(reports),
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    markdown_path.write_text(document)
    sys.stdout.write(document)
    log(f"wrote {json_path} and {markdown_path}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
