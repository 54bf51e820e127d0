#!/usr/bin/env python3
"""Demo program: prints a heartbeat line every --interval seconds until SIGTERM."""

import argparse
import signal
import sys
import threading


def main() -> int:
    """Print heartbeats until SIGTERM or SIGINT, then exit 0."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--name", default="steady")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    beat = 0
    while not stop.wait(args.interval):
        beat += 1
        print(f"{args.name}: heartbeat {beat}", flush=True)
    print(f"{args.name}: stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
