"""Scenarios for ``supervisor_core.orphans.OrphanReaper``, each run in a fresh interpreter.

A sweep reaps every unclaimed exited child of its process, so it must not run inside
pytest (whose other children belong to other tests). ``python THIS_FILE SCENARIO``
prints one JSON object with what happened; tests/integration/test_orphans.py asserts.
Unclaimed children started here stand for orphans: to the kernel and to the reaper an
adopted orphan is exactly an exited child that no owner claimed.
"""

# A scenario script, not the daemon: children are forked straight from coroutines
# (ASYNC220) and /proc is read there (ASYNC240), both instant and in a throwaway process.
# ruff: noqa: ASYNC220, ASYNC240

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from supervisor_core.config.model import ReadyCheck, ReadyKind
from supervisor_core.orphans import ClaimingSpawner, OrphanReaper
from supervisor_core.probes import AsyncioProbes
from supervisor_core.spawn import PopenSpawner, SpawnRequest

DEADLINE = 10.0


async def exited(pid: int) -> None:
    """Until ``pid`` (a child) has terminated; it stays a zombie (pidfd, no wait)."""
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(pid)
    done: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(pidfd, on_readable)
    try:
        await asyncio.wait_for(done, DEADLINE)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def is_zombie_child(pid: int) -> bool:
    """``pid`` is an exited child nobody reaped yet (peeked without reaping)."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None and info.si_pid == pid


async def until(condition: Callable[[], bool]) -> None:
    """Until ``condition()`` (checked after each loop turn), bounded by DEADLINE."""
    async with asyncio.timeout(DEADLINE):
        # The reaper has no completion hook to await: one loop turn is its unit of
        # progress (a SIGCHLD callback, a scheduled sweep), so check after each turn.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0)


async def claimed_head_blocks_then_resumes() -> dict[str, object]:
    """An exited claimed child ahead of an orphan: the sweep waits behind it, leaves it
    to its owner (who gets its real status) and reaps the orphan after the release."""
    reaper = OrphanReaper(asyncio.get_running_loop())
    owned = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    release = reaper.claim_popen(owned)
    orphan = subprocess.Popen(["/bin/sh", "-c", "exit 5"])  # unclaimed
    await exited(owned.pid)
    await exited(orphan.pid)
    first_sweep = reaper.sweep()
    blocked = is_zombie_child(owned.pid) and is_zombie_child(orphan.pid)
    reaper.install()  # SIGCHLD from now on; its first sweep is blocked again
    await asyncio.sleep(0)
    owned_returncode = owned.wait()
    release()
    await until(lambda: reaper.snapshot().reaped == 1)
    snapshot = reaper.snapshot()
    reaper.close()
    return {
        "first_sweep": first_sweep,
        "blocked": blocked,
        "owned_returncode": owned_returncode,
        "reaped": snapshot.reaped,
        "last_pid_is_orphan": snapshot.last_pid == orphan.pid,
        "last_returncode": snapshot.last_returncode,
        "claimed": snapshot.claimed,
    }


async def sigchld_reaps_a_burst() -> dict[str, object]:
    """Many orphans exiting at once (one SIGCHLD may stand for several) are all reaped."""
    reaper = OrphanReaper(asyncio.get_running_loop())
    reaper.install()
    orphans = [subprocess.Popen(["/bin/sh", "-c", f"exit {n}"]) for n in range(40)]
    await until(lambda: reaper.snapshot().reaped == len(orphans))
    left = [p.pid for p in orphans if os.path.exists(f"/proc/{p.pid}")]
    reaper.close()
    for popen in orphans:  # the reaper took them: tell Popen, or __del__ warns
        popen.returncode = 0
    return {"reaped": reaper.snapshot().reaped, "left": left}


async def spawner_children_keep_their_status() -> dict[str, object]:
    """Children of the claiming spawner are left to their pidfd watcher (exit 9 stays 9);
    one whose owner stopped watching it while it ran is the reaper's once it exits."""
    reaper = OrphanReaper(asyncio.get_running_loop())
    reaper.install()
    spawner = ClaimingSpawner(PopenSpawner(), reaper)
    quick = spawner.spawn(SpawnRequest(name="q", group_name="q", command="/bin/sh -c 'exit 9'"))
    status = await asyncio.wait_for(quick.wait_exited(), DEADLINE)
    abandoned = spawner.spawn(SpawnRequest(name="s", group_name="s", command="sleep 1000"))
    claimed_while_running = reaper.snapshot().claimed
    abandoned.close()  # the owner stops watching (a process removed in UNKNOWN)
    for fd in abandoned.take_output():
        if fd is not None:
            os.close(fd)
    os.kill(abandoned.pid, signal.SIGTERM)
    await until(lambda: reaper.snapshot().reaped == 1)
    snapshot = reaper.snapshot()
    quick.close()
    reaper.close()
    return {
        "quick_returncode": status.returncode,
        "claimed_while_running": claimed_while_running,
        "reaped": snapshot.reaped,
        "last_pid_is_abandoned": snapshot.last_pid == abandoned.pid,
        "last_returncode": snapshot.last_returncode,
        "claimed_after": snapshot.claimed,
    }


async def stale_claim_does_not_block() -> dict[str, object]:
    """A claim whose owner says it already reaped that pid does not protect a zombie
    carrying the pid now (a recycled pid is somebody else)."""
    reaper = OrphanReaper(asyncio.get_running_loop())
    orphan = subprocess.Popen(["/bin/sh", "-c", "exit 4"])
    reaper.claim(orphan.pid, lambda: True)
    await exited(orphan.pid)
    reaped = reaper.sweep()
    orphan.returncode = 4
    return {"reaped": reaped, "claimed": reaper.snapshot().claimed}


async def probe_runs(claiming: bool) -> dict[str, object]:
    """Five attempts of a failing command probe (exit 1), with a sweep forced at the worst
    moment of each: the probe's child has exited and the probe has not reaped it yet."""
    loop = asyncio.get_running_loop()
    reaper = OrphanReaper(loop)
    attempts: list[int] = []
    ready = asyncio.Event()
    five = asyncio.Event()

    def claim(popen: subprocess.Popen[bytes]) -> Callable[[], None]:
        release = reaper.claim_popen(popen) if claiming else (lambda: None)
        pidfd = os.pidfd_open(popen.pid)

        def exited() -> None:  # the same loop turn as the probe's own wake-up
            loop.remove_reader(pidfd)
            os.close(pidfd)
            reaper.sweep()

        loop.add_reader(pidfd, exited)
        attempts.append(popen.pid)
        if len(attempts) == 5:
            five.set()
        return release

    check = ReadyCheck(kind=ReadyKind.COMMAND, target="/bin/sh -c 'exit 1'")
    probe = AsyncioProbes(claim).start(check, 0.02, ready.set)
    waits = [asyncio.ensure_future(five.wait()), asyncio.ensure_future(ready.wait())]
    async with asyncio.timeout(DEADLINE):
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    probe.cancel()
    for wait in waits:
        wait.cancel()
    return {"ready": ready.is_set(), "orphans_reaped": reaper.snapshot().reaped}


async def probes_keep_their_exit_status() -> dict[str, object]:
    """A claimed probe's failure stays a failure; the same probe unclaimed (what a probe
    would be without its claim hook) has its exit taken and passes by mistake."""
    return {"claimed": await probe_runs(True), "unclaimed": await probe_runs(False)}


SCENARIOS: dict[str, Callable[[], Coroutine[Any, Any, dict[str, object]]]] = {
    "claimed_head_blocks_then_resumes": claimed_head_blocks_then_resumes,
    "sigchld_reaps_a_burst": sigchld_reaps_a_burst,
    "spawner_children_keep_their_status": spawner_children_keep_their_status,
    "stale_claim_does_not_block": stale_claim_does_not_block,
    "probes_keep_their_exit_status": probes_keep_their_exit_status,
}

if __name__ == "__main__":
    print(json.dumps(asyncio.run(SCENARIOS[sys.argv[1]]())))
