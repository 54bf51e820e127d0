"""The built-in notifier on a real superd: webhook receiver and aiosmtpd sink as real peers.

A program crashes eight times right after it starts, then stays up; another can never
start (FATAL). The receiver and the SMTP sink must each get exactly one storm_begin,
one storm_end (after the calm window) and one fatal: never one message per crash.
Then superd is SIGKILLed after the storm began but before any target could take the
notification: the next superd delivers it, once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest

from tests.integration.notify_peers import SmtpSink, WebhookReceiver, free_port
from tests.integration.superd_harness import Superd, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEADLINE = 60.0
CRASHES = 8

# Crashes CRASHES times (exit 3, a line on stderr), counted in a file, then stays up.
CRASHY = f"""\
import signal, sys
path = sys.argv[1]
try:
    count = int(open(path).read())
except FileNotFoundError:
    count = 0
open(path, "w").write(str(count + 1))
if count < {CRASHES}:
    sys.stderr.write(f"crash {{count}}: <!channel> Bcc: x@example.com\\n")
    sys.exit(3)
signal.pause()
"""


def config(
    tmp: Path,
    *,
    http_port: int,
    webhook: int,
    smtp: int,
    window: str,
    doomed: bool,
    notify_on: str = "storm, fatal",
) -> str:
    (tmp / "crashy.py").write_text(CRASHY)
    text = (
        f"[unix_http_server]\nfile = {tmp / 'sock'}\n\n"
        f"[inet_http_server]\nport = 127.0.0.1:{http_port}\n\n"
        f"[supervisord]\nlogfile = {tmp / 'main.log'}\npidfile = {tmp / 'superd.pid'}\n"
        f"childlogdir = {tmp}\nidentifier = notify\nloglevel = debug\n\n"
        f"[exporter:storms]\nburst = 3\nwindow = {window}\n\n"
        "[exporter:notify]\n"
        f"webhook_url = http://127.0.0.1:{webhook}/hook/T0K3N\n"
        f"smtp_server = 127.0.0.1:{smtp}\nmail_from = superd@example.com\n"
        f"mail_to = ops@example.com\nnotify_on = {notify_on}\nhost = e2e-host\n"
        "unexpected_exit_min_interval = 1h\n"
        "retry_initial = 200ms\nretry_max = 1s\n\n"
        f"[program:crashy]\ncommand = {sys.executable} {tmp / 'crashy.py'} {tmp / 'count'}\n"
        "startsecs = 0\nautorestart = true\nstderr_logfile = NONE\nstdout_logfile = NONE\n\n"
    )
    if doomed:
        text += (
            f"[program:doomed]\ncommand = {sys.executable} -c 'import sys; sys.exit(2)'\n"
            "startsecs = 1\nstartretries = 1\nautorestart = true\n"
            "stderr_logfile = NONE\nstdout_logfile = NONE\n\n"
        )
    return text


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body.decode()


def notification_events(port: int) -> list[dict[str, object]]:
    text = get(f"http://127.0.0.1:{port}/events?types=NOTIFICATION")
    return [json.loads(line) for line in text.splitlines() if line]


def outbox_rows(tmp: Path) -> list[tuple[str, int]]:
    """(kind, attempts) of every row in the outbox file, read as another process would."""
    path = tmp / "superd-notify-outbox.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return [(str(k), int(a)) for k, a in db.execute("SELECT kind, attempts FROM outbox")]
        except sqlite3.OperationalError:  # the table is not created yet
            return []


def webhook_pairs(receiver: WebhookReceiver) -> Counter[tuple[str, str]]:
    return Counter((r.json()["kind"], r.json()["name"]) for r in receiver.items())


def mail_pairs(sink: SmtpSink) -> Counter[tuple[str, str]]:
    pairs: Counter[tuple[str, str]] = Counter()
    for message in sink.messages():
        body = message.get_body()
        assert body is not None
        line = next(x for x in body.get_content().splitlines() if x.startswith("process:"))
        pairs[(str(message["X-Superd-Kind"]), line.rsplit(":", 1)[1])] += 1
    return pairs


def stop(superd: Superd) -> None:
    superd.send(signal.SIGTERM)
    assert superd.wait_exit(timeout=DEADLINE) == 0


def test_crash_loop_and_fatal_give_one_message_each(tmp_path: Path) -> None:
    """8 crashes: one storm_begin, then one storm_end; a FATAL: one fatal; at both targets."""
    port = free_port()
    with WebhookReceiver() as receiver, SmtpSink() as sink:
        superd = Superd(
            tmp_path,
            config(
                tmp_path,
                http_port=port,
                webhook=receiver.port,
                smtp=sink.port,
                window="3s",
                doomed=True,
            ),
            "-n",
        )
        try:
            superd.wait_running()
            expected = Counter(
                {("storm_begin", "crashy"): 1, ("storm_end", "crashy"): 1, ("fatal", "doomed"): 1}
            )
            receiver.wait_for(lambda items: len(items) >= 3, "three webhook posts", DEADLINE)
            sink.wait_for(lambda items: len(items) >= 3, "three mails", DEADLINE)
            # Nothing is left to send (so nothing more will come) ...
            wait_for(lambda: outbox_rows(tmp_path) == [], "an empty outbox", DEADLINE)
            # ... and crashy is up for good: no storm can begin again.
            assert superd.states()["crashy"] == "RUNNING"
            assert webhook_pairs(receiver) == expected
            assert mail_pairs(sink) == expected
            end = next(r.json() for r in receiver.items() if r.json()["kind"] == "storm_end")
            assert end["details"]["exits"] == CRASHES
            assert end["details"]["exit_codes"] == [3]
            assert end["details"]["reason"] == "recovered"
            assert end["details"]["restarts_by_cause"] == {"autorestart": CRASHES}
            assert end["details"]["stderr_tail"] == [
                f"crash {CRASHES - 1}: <!channel> Bcc: x@example.com"
            ]
            for message in sink.messages():
                assert message["Bcc"] is None
            fatal = next(r.json() for r in receiver.items() if r.json()["kind"] == "fatal")
            assert fatal["details"]["cause"] == "startretries"
            # The bus saw it all: three queued, three sent per channel; the metric agrees.
            events = Counter((e["type"], e["channel"]) for e in notification_events(port))
            for channel in ("webhook", "smtp"):
                assert events[("NOTIFICATION_QUEUED", channel)] == 3
                assert events[("NOTIFICATION_SENT", channel)] == 3
            metrics = get(f"http://127.0.0.1:{port}/metrics")
            assert 'supervisor_notifications_total{channel="webhook",outcome="sent"} 3.0' in metrics
            assert 'supervisor_notifications_total{channel="smtp",outcome="sent"} 3.0' in metrics
            assert "T0K3N" not in metrics + json.dumps(notification_events(port))
            assert "T0K3N" not in superd.stdout_text() + superd.main_log()
            stop(superd)
        finally:
            superd.close()


def test_sigkill_between_storm_and_delivery_still_delivers_once(tmp_path: Path) -> None:
    """SIGKILL after storm_begin was queued but before any target answered: delivered once."""
    port, webhook, smtp = free_port(), free_port(), free_port()
    text = config(tmp_path, http_port=port, webhook=webhook, smtp=smtp, window="120s", doomed=False)
    first = Superd(tmp_path, text, "-n")
    try:
        first.wait_running()
        # Nobody listens yet: the storm_begin is queued and its first attempts fail.
        wait_for(
            lambda: (
                sorted(outbox_rows(tmp_path))
                and all(
                    kind == "storm_begin" and attempts >= 1
                    for kind, attempts in outbox_rows(tmp_path)
                )
                and len(outbox_rows(tmp_path)) == 2
            ),
            "storm_begin queued for both targets, first attempts failed",
            DEADLINE,
        )
        children = [p.pid for p in psutil.Process(first.process.pid).children(recursive=True)]
        first.process.send_signal(signal.SIGKILL)
        first.wait_exit()
        for pid in children:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                continue
    finally:
        first.close()
    (tmp_path / "sock").unlink(missing_ok=True)

    with WebhookReceiver(webhook) as receiver, SmtpSink(port=smtp) as sink:
        second = Superd(tmp_path, text, "-n")  # crashy counted its crashes: it stays up now
        try:
            second.wait_running()
            wait_for(lambda: outbox_rows(tmp_path) == [], "the outbox delivered", DEADLINE)
            assert receiver.kinds() == ["storm_begin"]
            assert sink.kinds() == ["storm_begin"]
            stop(second)
        finally:
            second.close()
    assert receiver.kinds() == ["storm_begin"]
    assert sink.kinds() == ["storm_begin"]


def test_unexpected_exits_are_batched_and_the_batch_is_sent_at_shutdown(tmp_path: Path) -> None:
    """notify_on = unexpected_exit: the first crash at once, the other 7 in one batch at SIGTERM."""
    port = free_port()
    with WebhookReceiver() as receiver, SmtpSink() as sink:
        superd = Superd(
            tmp_path,
            config(
                tmp_path,
                http_port=port,
                webhook=receiver.port,
                smtp=sink.port,
                window="3s",
                doomed=False,
                notify_on="unexpected_exit",
            ),
            "-n",
        )
        try:
            superd.wait_running()
            receiver.wait_for(lambda items: len(items) >= 1, "the first exit at once", DEADLINE)
            wait_for(
                lambda: (
                    superd.states()["crashy"] == "RUNNING"
                    and (tmp_path / "count").read_text() == str(CRASHES + 1)
                ),
                "crashy calm",
                DEADLINE,
            )
            assert receiver.kinds() == ["unexpected_exit"]  # the rest wait for the hour
            stop(superd)
        finally:
            superd.close()
        counts = [r.json()["details"]["exit_count"] for r in receiver.items()]
        assert counts == [1, CRASHES - 1]
        assert receiver.kinds() == ["unexpected_exit"] * 2
        assert sink.kinds() == ["unexpected_exit"] * 2
        serials = [s for r in receiver.items() for s in r.json()["serials"]]
        assert len(set(serials)) == CRASHES
