"""The heap trimmer: when it gives free heap pages back, and glibc's functions it uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from supervisor_core.bus import EventBus
from supervisor_core.events import Tick5, Tick60
from supervisor_core.heap import GlibcHeap, HeapTrimmer, load, resident_bytes
from supervisor_core.testing import FakeClock

MIB = 1 << 20


@dataclass
class FakeHeap:
    """glibc's view, set by the test: free bytes and resident bytes; counts trims."""

    free: int = 0
    resident: int = 50 * MIB
    trims: list[int] = field(default_factory=list)

    def heap(self) -> GlibcHeap:
        def trim() -> bool:
            self.trims.append(self.resident)
            self.resident -= self.free // 2  # what the kernel got back
            return True

        return GlibcHeap(free_bytes=lambda: self.free, trim=trim)


def _bus() -> EventBus:
    return EventBus(FakeClock(monotonic=50.0, wall=1_700_000_000.0))


def _tick(bus: EventBus, when: int = 1_700_000_005) -> None:
    bus.publish(Tick5(when=when))


def test_trims_on_tick5_once_enough_is_free() -> None:
    """A TICK_5 with at least the threshold free trims; below it, nothing happens."""
    fake = FakeHeap(free=MIB - 1)
    bus = _bus()
    trimmer = HeapTrimmer.install(bus, fake.heap(), threshold=MIB, resident=lambda: fake.resident)
    assert trimmer is not None
    _tick(bus)
    assert fake.trims == []
    fake.free = 8 * MIB
    _tick(bus)
    assert fake.trims == [50 * MIB]
    assert trimmer.trims == 1


def test_does_not_trim_again_until_the_resident_set_grows() -> None:
    """Trimmed pages stay free to glibc: the next trim waits until RSS grew by the threshold."""
    fake = FakeHeap(free=8 * MIB)
    bus = _bus()
    trimmer = HeapTrimmer.install(bus, fake.heap(), threshold=MIB, resident=lambda: fake.resident)
    assert trimmer is not None
    _tick(bus)
    after_first = fake.resident
    for _ in range(3):
        _tick(bus)
    assert len(fake.trims) == 1
    fake.resident = after_first + MIB  # a burst dirtied the free pages again
    _tick(bus)
    assert fake.trims == [50 * MIB, after_first + MIB]


def test_only_tick5_drives_it_and_close_stops_it() -> None:
    """Other events never trim; after close, TICK_5 does not either."""
    fake = FakeHeap(free=8 * MIB)
    bus = _bus()
    trimmer = HeapTrimmer.install(bus, fake.heap(), threshold=MIB, resident=lambda: fake.resident)
    assert trimmer is not None
    bus.publish(Tick60(when=1_700_000_040))
    assert fake.trims == []
    trimmer.close()
    _tick(bus)
    assert fake.trims == []


def test_glibc_trim_gives_freed_heap_pages_back() -> None:
    """On glibc, memory freed below a live allocation is resident until the trim returns it."""
    heap = load()
    assert heap is not None, "this test runs on glibc (Debian)"
    # 1,000-byte objects come from malloc's heap (not mmap); the last one stays live,
    # above the others, so glibc cannot shrink the heap by itself.
    blocks = [bytearray(1000) for _ in range(40_000)]
    keeper = bytearray(1000)
    del blocks
    before = resident_bytes()
    assert heap.free_bytes() >= 30 * MIB
    heap.trim()
    after = resident_bytes()
    assert before - after >= 20 * MIB, (before, after)
    assert len(keeper) == 1000
