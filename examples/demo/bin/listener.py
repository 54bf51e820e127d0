#!/usr/bin/env python3
"""Demo event listener speaking supervisord's protocol on stdin/stdout.

READY, then for each event: a header line of ``key:value`` tokens, ``len`` bytes
of payload, and the answer ``RESULT 2\\nOK``. What it saw goes to stderr.
"""

import sys


def main() -> int:
    """Acknowledge every event until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        line = stdin.readline()
        if not line:
            return 0
        headers = dict(token.split(":", 1) for token in line.decode().split())
        payload = stdin.read(int(headers.get("len", "0")))
        sys.stderr.write(f"{headers.get('eventname')}: {payload.decode(errors='replace')}\n")
        sys.stderr.flush()
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
