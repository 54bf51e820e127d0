#!/bin/sh
# One run of a crash-storm program: count the start, then exit 50 ms later.
# Usage: crash_once.sh STARTS_FILE STOP_FILE. Appends one line to STARTS_FILE per
# start; once STOP_FILE exists it exits 2 at once (an expected exit: the storm ends).
echo >> "$1"
[ -e "$2" ] && exit 2
exec /bin/sleep 0.05
