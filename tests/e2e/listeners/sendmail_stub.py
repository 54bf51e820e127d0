"""A sendmail stand-in: appends the message on stdin to the file named by argv[1]."""

import sys

with open(sys.argv[1], "a", encoding="utf-8") as f:
    f.write(sys.stdin.read())
    f.write("\n--- end of message ---\n")
