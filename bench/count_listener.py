"""An acknowledging event listener that counts the events of the crash-storm programs.

Usage: count_listener.py COUNT_FILE PREFIX. For every event it reads (header, then
``len`` characters of payload) it answers ``RESULT 2\\nOK``; when the payload's
``processname`` starts with PREFIX it first appends one byte to COUNT_FILE, so the
file's size is the number of such events delivered to it.
"""

import os
import sys


def main() -> None:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    wanted = f"processname:{sys.argv[2]}"
    stdin, stdout = sys.stdin, sys.stdout
    stdout.write("READY\n")
    stdout.flush()
    while True:
        line = stdin.readline()
        if not line:
            return
        length = int(line.rsplit("len:", 1)[1])
        payload = stdin.read(length)
        if payload.startswith(wanted) or f" {wanted}" in payload:
            os.write(fd, b".")
        stdout.write("RESULT 2\nOKREADY\n")
        stdout.flush()


if __name__ == "__main__":
    main()
