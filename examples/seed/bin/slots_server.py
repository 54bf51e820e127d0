#!/usr/bin/env python3
"""Stand-in for the article's game server: reads --config, serves until SIGTERM."""

import argparse
import json
import signal
import sys
import threading


def main() -> int:
    """Load the JSON config, then heartbeat until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--srvName", required=True)
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"{args.srvName}: serving with {config}", flush=True)
    while not stop.wait(float(config.get("heartbeat_seconds", 5))):
        print(f"{args.srvName}: alive", flush=True)
    print(f"{args.srvName}: bye", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
