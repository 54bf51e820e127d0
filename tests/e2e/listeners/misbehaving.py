"""An event listener that breaks the protocol in one way: garbage, wronglen, closer, silent.

- garbage: writes ``HELLO!`` instead of ``READY`` and then waits;
- wronglen: READY, reads an event, answers ``RESULT 1\\nOK`` then ``READY`` (the
  body is judged as ``O``, rejected; ``KREADY`` is then garbage), waits;
- closer: READY, reads an event, closes its stdout, waits;
- silent: READY, reads an event, never answers.

``misbehaving.py MODE RECORD_FILE 1`` runs ``recorder.py RECORD_FILE`` instead (so one
``numprocs = 2`` pool holds a bad listener, process 0, and a good one, process 1).
"""

import os
import sys
import time

mode = sys.argv[1]
if sys.argv[3:] == ["1"]:
    recorder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recorder.py")
    os.execv(sys.executable, [sys.executable, recorder, sys.argv[2]])
out = sys.stdout
if mode == "garbage":
    out.write("HELLO!\n")
else:
    out.write("READY\n")
out.flush()
if mode != "garbage":
    line = sys.stdin.readline()
    headers = dict(token.split(":", 1) for token in line.split())
    sys.stdin.read(int(headers["len"]))
    if mode == "wronglen":
        out.write("RESULT 1\nOKREADY\n")
        out.flush()
    elif mode == "closer":
        os.close(1)
while True:
    time.sleep(60)
