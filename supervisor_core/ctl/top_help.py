"""The usage and help of ``superctl top`` (kept apart so ``help`` never imports rich)."""

from __future__ import annotations

USAGE = "top [NAME...]"
HELP = f"""{USAGE}
    A live view of every process (or the named ones): state, uptime, restarts,
    storms, CPU, memory, open files and last exit, updated as events happen.
    Keys: up/down (or j/k) select, s start, x stop, r restart, q quit."""
