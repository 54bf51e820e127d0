"""A minimal acknowledging event listener for the listener_storm benchmark.

Usage: ack_listener.py COUNT_FILE. For every event it reads (header, then ``len``
characters of payload) it appends one byte to COUNT_FILE and answers ``RESULT 2\\nOK``,
so the file's size is the number of events it acknowledged.
"""

import os
import sys


def main() -> None:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stdin, stdout = sys.stdin, sys.stdout
    stdout.write("READY\n")
    stdout.flush()
    while True:
        line = stdin.readline()
        if not line:
            return
        length = int(line.rsplit("len:", 1)[1])
        stdin.read(length)
        os.write(fd, b".")
        stdout.write("RESULT 2\nOKREADY\n")
        stdout.flush()


if __name__ == "__main__":
    main()
