"""What to delete so the journal stays within its age and size limits (pure).

The newest event is never deleted: the journal's last serial is where the next
daemon continues numbering, so it must survive any retention pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Deleting down to exactly the limit would run a pass after almost every batch;
# trimming to 90% leaves room for a while.
SIZE_TARGET = 0.9


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    """Keep events younger than ``max_age`` seconds and the file under ``max_bytes``.

    ``None`` disables a limit; both None keeps everything.
    """

    max_age: float | None = None
    max_bytes: int | None = None

    @property
    def enabled(self) -> bool:
        """Whether any limit applies."""
        return self.max_age is not None or self.max_bytes is not None

    def age_cutoff(self, now_wall: float) -> float | None:
        """Events with ``wall_time`` before this are too old (None: no age limit)."""
        return None if self.max_age is None else now_wall - self.max_age

    def excess_rows(self, *, used_bytes: int, row_count: int) -> int:
        """How many of the oldest rows to delete to bring ``used_bytes`` down.

        Assumes rows are of similar size (the journal's are: one event each), and
        never returns more than ``row_count - 1``.
        """
        if self.max_bytes is None or used_bytes <= self.max_bytes or row_count <= 1:
            return 0
        target = math.floor(self.max_bytes * SIZE_TARGET)
        # Integer ceil(row_count * (used - target) / used): no float rounding surprises.
        excess = -(-row_count * (used_bytes - target) // used_bytes)
        return min(row_count - 1, max(1, excess))
