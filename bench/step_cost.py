"""The pure state machine's cost per crash cycle (Spawned, then Exited with autorestart).

No I/O: ``states.step`` alone, on a virtual clock, for ``--cycles`` cycles; prints
microseconds per cycle. Compare two trees with PYTHONPATH::

    .venv/bin/python bench/step_cost.py
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/step_cost.py
"""

from __future__ import annotations

import argparse
import time

from supervisor_core import states
from supervisor_core.clock import Instant
from supervisor_core.config.model import AutoRestart, ProcessConfig
from supervisor_core.lifecycle import Cause, Requester


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20_000)
    args = parser.parse_args()
    config = ProcessConfig(
        name="c",
        program_name="c",
        group_name="c",
        command="/bin/true",
        startsecs=0,
        autorestart=AutoRestart.TRUE,
    )
    now = 1000.0
    record = states.ProcessRecord(config=config)
    start = states.OperatorStart(requester=Requester(cause=Cause.OPERATOR))
    record, _ = states.step(record, start, Instant(now, now))
    began = time.perf_counter()
    for pid in range(1, args.cycles + 1):
        now += 0.05
        record, _ = states.step(record, states.Spawned(pid=pid), Instant(now, now))
        record, _ = states.step(record, states.Exited(returncode=1), Instant(now, now))
    elapsed = time.perf_counter() - began
    print(f"{elapsed / args.cycles * 1e6:.1f} us per crash cycle ({args.cycles} cycles)")


if __name__ == "__main__":
    main()
