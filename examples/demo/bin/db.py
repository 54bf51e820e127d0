#!/usr/bin/env python3
"""A database stand-in for the demo: warms up, then tells superd it is ready (sd_notify).

Speaks systemd's sd_notify protocol by hand (one datagram per message): STATUS= while
it warms up, READY=1 when it accepts work, then WATCHDOG=1 every second so superd's
watchdog_timeout sees it alive.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time


def notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), target)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for percent in (25, 50, 75):
        notify(f"STATUS=warming up {percent}%")
        print(f"db: warming up {percent}%", flush=True)
        time.sleep(1)
    notify("READY=1\nSTATUS=accepting connections")
    print("db: ready", flush=True)
    while True:
        notify("WATCHDOG=1")
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
