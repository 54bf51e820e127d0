"""What recording superd's children (survivors.py) costs in a crash storm.

``--programs`` children of ``/bin/true`` are spawned through the real ``PopenSpawner``
and respawned as soon as each exits, ``--spawns`` times in all, once through a bare
spawner and once through ``RecordingSpawner`` (a record file in a temporary
directory), alternating for ``--rounds`` rounds. Prints CPU and wall time per spawn
for each, and the record writes per spawn (batched: one per loop iteration at most).
Also prints the cost of one record write for a few sizes::

    .venv/bin/python bench/child_record_cost.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from supervisor_core.child_record import ChildEntry, RecordWriter, encode_entry
from supervisor_core.children import ChildRegistry, RecordingSpawner
from supervisor_core.spawn import PopenSpawner, Spawner, SpawnRequest


async def storm(spawner: Spawner, programs: int, spawns: int) -> None:
    done = asyncio.Event()
    left = spawns

    def start(index: int) -> None:
        nonlocal left
        if left <= 0:
            if not running:
                done.set()
            return
        left -= 1
        request = SpawnRequest(name=f"p{index}", group_name=f"p{index}", command="/bin/true")
        child = spawner.spawn(request)
        running.add(index)

        def exited(_status: object) -> None:
            child.close()
            running.discard(index)
            start(index)

        child.add_exit_callback(exited)

    running: set[int] = set()
    for index in range(programs):
        start(index)
    await done.wait()


def measure(record: bool, programs: int, spawns: int, directory: str) -> tuple[float, float, int]:
    registry = ChildRegistry(os.path.join(directory, "superd.pid.children"))
    spawner: Spawner = PopenSpawner()
    if record:
        spawner = RecordingSpawner(spawner, registry)
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(storm(spawner, programs, spawns))
    return time.process_time() - cpu, time.perf_counter() - wall, registry.writes


def write_cost(entries: int, directory: str, repeat: int = 200) -> float:
    children = [
        encode_entry(
            ChildEntry(
                pid=10_000 + i, starttime=123_456 + i, group=f"g{i}", name=f"n{i}", spawned_at=1.7e9
            )
        )
        for i in range(entries)
    ]
    writer = RecordWriter(os.path.join(directory, "cost.children"))
    began = time.perf_counter()
    for index in range(repeat):
        writer.write("boot", children[: entries - index % 2])  # the size changes each time
    elapsed = time.perf_counter() - began
    writer.close(remove=True)
    return elapsed / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--spawns", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as directory:
        for size in (10, 100, 500, 1000):
            print(
                f"one record write, {size:5} children: {write_cost(size, directory) * 1e6:8.1f} us"
            )
        totals: dict[bool, list[float]] = {False: [0.0, 0.0, 0], True: [0.0, 0.0, 0]}
        for _ in range(args.rounds):
            for record in (False, True):
                cpu, wall, writes = measure(record, args.programs, args.spawns, directory)
                totals[record][0] += cpu
                totals[record][1] += wall
                totals[record][2] += writes
        count = args.rounds * args.spawns
        for record in (False, True):
            cpu_total, wall_total, write_total = totals[record]
            label = "recorded" if record else "bare    "
            print(
                f"{label}: {cpu_total / count * 1e6:7.1f} us CPU/spawn, "
                f"{wall_total / count * 1e6:7.1f} us wall/spawn, "
                f"{write_total / count:.3f} writes/spawn ({args.programs} programs)"
            )


if __name__ == "__main__":
    main()
