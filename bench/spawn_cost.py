"""Parent CPU and wall time per spawn through superd's real spawner, and its growth with N.

Spawns ``--programs`` children (``/bin/sleep 3600``) through ``PopenSpawner`` with
the environment and pipes superd gives a program, keeping every child's fds open as
the daemon does (so later spawns see a larger fd table), then kills and reaps them all.
CPU is this process's user+system time (``time.process_time``): it does not count the
time spent waiting for the CPU, so it is comparable between loaded and quiet moments,
unlike wall time. Prints the per-spawn cost over the first and the last tenth of the
spawns (growth with N shows as a difference) and over all of them.

Compare two trees with PYTHONPATH (alternate the runs)::

    .venv/bin/python bench/spawn_cost.py --programs 2000
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/spawn_cost.py --programs 2000

``--popen`` forces the ``subprocess.Popen`` path where the spawner has a choice;
``--private-table on|off`` forces the private-fd-table thread on or off (default: the
spawner's own choice, by the size of the fd table); ``--extra-fds N`` opens N more fds
first (a daemon with that many already), so the growth shows without N children.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import time

from supervisor_core.spawn import ChildHandle, PopenSpawner, SpawnRequest

# Per child the daemon holds stdin/stdout/stderr pipe ends and a pidfd (logs not opened here).
FDS_PER_CHILD = 4


def _spawner(force_popen: bool, private_table: str = "auto") -> PopenSpawner:
    if private_table != "auto":
        return PopenSpawner(private_fd_table=private_table == "on")  # type: ignore[call-arg,unused-ignore]
    if not force_popen:
        return PopenSpawner()
    try:
        return PopenSpawner(posix_spawn=False)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # a tree without the posix_spawn path: Popen is all it has
        return PopenSpawner()


async def one_run(
    programs: int, force_popen: bool, private_table: str = "auto"
) -> tuple[list[float], list[float]]:
    """Spawn ``programs`` sleepers; per-spawn (cpu, wall) seconds; all killed and reaped."""
    spawner = _spawner(force_popen, private_table)
    children: list[ChildHandle] = []
    cpu: list[float] = []
    wall: list[float] = []
    try:
        for index in range(programs):
            request = SpawnRequest(
                name=f"sleep_{index:04d}", group_name=f"sleep_{index:04d}", command="sleep 3600"
            )
            c0, w0 = time.process_time(), time.perf_counter()
            child = spawner.spawn(request)
            c1, w1 = time.process_time(), time.perf_counter()
            children.append(child)
            cpu.append(c1 - c0)
            wall.append(w1 - w0)
    finally:
        for started in children:
            started.send_signal(signal.SIGKILL)
        for started in children:
            await asyncio.wait_for(started.wait_exited(), 30)
            started.close()
        close = getattr(spawner, "close", None)  # a tree without the thread has none
        if close is not None:
            close()
    return cpu, wall


def _us(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e6:7.1f} us (mean {statistics.fmean(values) * 1e6:7.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--popen", action="store_true", help="force the subprocess.Popen path")
    parser.add_argument("--private-table", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--extra-fds", type=int, default=0, help="fds to hold open first")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FDS_PER_CHILD * args.programs + args.extra_fds + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    tenth = max(1, args.programs // 10)
    extra = [os.pipe2(os.O_CLOEXEC) for _ in range(args.extra_fds // 2)]
    for rep in range(args.reps):
        cpu, wall = asyncio.run(one_run(args.programs, args.popen, args.private_table))
        print(
            f"rep {rep}: {args.programs} spawns, per spawn CPU: all {_us(cpu)}, "
            f"first tenth {_us(cpu[:tenth])}, last tenth {_us(cpu[-tenth:])}; "
            f"wall: all {_us(wall)}, last tenth {_us(wall[-tenth:])}"
        )
    for pair in extra:
        for fd in pair:
            os.close(fd)


if __name__ == "__main__":
    main()
