#!/usr/bin/env python3
"""Demo program: runs a few seconds, then crashes with exit code 1 (or dies of SIGTERM)."""

import argparse
import random
import signal
import sys
import threading


def main() -> int:
    """Live between --min-seconds and --max-seconds, then exit 1 as a crash."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=6.0)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lifetime = random.uniform(args.min_seconds, args.max_seconds)
    print(f"flaky: up, will crash in {lifetime:.1f}s", flush=True)
    if stop.wait(lifetime):
        print("flaky: asked to stop", flush=True)
        return 0
    print("flaky: crashing", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
