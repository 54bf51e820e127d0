"""A recording event listener: each header and payload it receives, one JSON line each.

Usage: recorder.py RECORD_FILE [--reject-first N]

It speaks the protocol with raw reads (as supervisor.childutils does, in text mode:
``len:`` counts characters) and answers ``RESULT 2\\nOK``. With ``--reject-first N`` the
first N events are answered ``FAIL`` (and are re-sent by the pool).
"""

import json
import os
import sys


def main() -> None:
    record = sys.argv[1]
    reject = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--reject-first" else 0
    stdin, stdout = sys.stdin, sys.stdout
    while True:
        stdout.write("READY\n")
        stdout.flush()
        line = stdin.readline()
        if not line:
            return
        headers = dict(token.split(":", 1) for token in line.split())
        payload = stdin.read(int(headers["len"]))
        with open(record, "a", encoding="utf-8") as f:
            f.write(json.dumps({"pid": os.getpid(), "headers": headers, "payload": payload}))
            f.write("\n")
        if reject > 0:
            reject -= 1
            stdout.write("RESULT 4\nFAIL")
        else:
            stdout.write("RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    main()
