"""superlance from PyPI runs unchanged under superd: memmon, crashmail, httpok, and the
batch mailers fatalmailbatch, crashmailbatch and crashsms.

One superd runs the six listeners and their programs; mail goes to a sendmail stub
(``-s``, a script appending its stdin to a file) or, for the batch mailers which speak
SMTP, to a real SMTP server (aiosmtpd) on 127.0.0.1. Every condition is awaited with a
bounded deadline.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.listeners.harness import HERE, PYTHON, Daemon, header, wait_for
from tests.e2e.listeners.smtp_sink import SmtpSink
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOG = (
    "import time\nchunks = []\nwhile True:\n"
    "    chunks.append(bytearray(4_000_000))\n    time.sleep(0.05)\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lance:
    """The running superd, the mail files and the web program's port."""

    def __init__(self, daemon: Daemon, tmp: Path) -> None:
        self.daemon = daemon
        self.tmp = tmp

    def mail(self, name: str) -> str:
        path = self.tmp / f"mail-{name}"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def pid(self, name: str) -> int:
        return int(self.daemon.call("getProcessInfo", name)["pid"])


@pytest.fixture(scope="module")
def lance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lance]:
    superd = require_command("superd")
    bins = {name: require_command(name) for name in ("memmon", "crashmail", "httpok")}
    batch = {
        name: require_command(name) for name in ("fatalmailbatch", "crashmailbatch", "crashsms")
    }
    tmp = tmp_path_factory.mktemp("superlance")
    (tmp / "hog.py").write_text(HOG)
    port = free_port()

    def stub(name: str) -> str:
        return f"{PYTHON} {HERE / 'sendmail_stub.py'} {tmp / f'mail-{name}'}"

    with contextlib.ExitStack() as sinks:
        port_of = {name: sinks.enter_context(SmtpSink(tmp / f"mail-{name}")).port for name in batch}

        def batch_mailer(name: str, *args: str) -> str:
            # Every batch mailer sends at the first TICK_5 after an event (-i 0.01 min).
            # The pool buffer holds every state change of the nine programs and listeners
            # until the mailer (a slow Python start on a loaded machine) is READY; at
            # supervisord's default of 10, doomed's early FATAL could be the oldest event
            # and be discarded by the overflow rule, as supervisord would.
            return (
                f"[eventlistener:{name}]\ncommand = {batch[name]} -t ops@example.com "
                f"-f superd@example.com -H 127.0.0.1:{port_of[name]} -e TICK_5 -i 0.01"
                f"{''.join(' ' + a for a in args)}\nevents = PROCESS_STATE,TICK_5\n"
                "buffer_size = 200\n\n"
            )

        text = header(tmp, identifier="lance") + (
            f"[eventlistener:memmon]\ncommand = {bins['memmon']} -p hog=40MB "
            f"-m ops@example.com -s '{stub('memmon')}'\nevents = TICK_5\n\n"
            f"[eventlistener:crashmail]\ncommand = {bins['crashmail']} -p crashy "
            f"-m ops@example.com -s '{stub('crashmail')}'\nevents = PROCESS_STATE_EXITED\n\n"
            f"[eventlistener:httpok]\ncommand = {bins['httpok']} -p web -t 2 "
            f"-m ops@example.com -s '{stub('httpok')}' http://127.0.0.1:{port}/\n"
            "events = TICK_5\n\n"
            + batch_mailer("fatalmailbatch")
            + batch_mailer("crashmailbatch")
            + batch_mailer("crashsms", "-s", "crash-sms")
            + f"[program:hog]\ncommand = {PYTHON} {tmp / 'hog.py'}\nstartsecs = 0\n\n"
            "[program:crashy]\ncommand = /bin/sh -c 'sleep 1.5; exit 3'\nstartsecs = 1\n"
            "autorestart = false\n\n"
            f"[program:web]\ncommand = {PYTHON} {HERE / 'web.py'} {port} 3\nstartsecs = 1\n\n"
            "[program:doomed]\ncommand = /bin/sh -c 'exit 1'\nstartsecs = 1\n"
            "startretries = 0\n\n"
        )
        daemon = Daemon(superd, tmp, text)
        try:
            yield Lance(daemon, tmp)
        finally:
            daemon.close()


def test_memmon_restarts_a_growing_program_and_mails(lance: Lance) -> None:
    """memmon (TICK_5) sees hog past 40MB, restarts it through XML-RPC and sends mail."""
    first = wait_for(lambda: lance.pid("hog"), "hog running")
    mail = wait_for(lambda: lance.mail("memmon"), "memmon's mail", deadline=60)
    assert "hog" in mail
    assert "To: ops@example.com" in mail
    wait_for(lambda: lance.pid("hog") not in (0, first), "hog restarted with a new pid")


def test_crashmail_mails_on_an_unexpected_exit(lance: Lance) -> None:
    """crashmail gets PROCESS_STATE_EXITED expected:0 for crashy and mails about it."""
    mail = wait_for(lambda: lance.mail("crashmail"), "crashmail's mail", deadline=60)
    assert "Process crashy in group crashy exited unexpectedly" in mail


def test_httpok_restarts_a_program_whose_endpoint_stopped_answering(lance: Lance) -> None:
    """httpok (TICK_5) times out on web's endpoint, restarts web and mails."""
    first = wait_for(lambda: lance.pid("web"), "web running")
    mail = wait_for(lambda: lance.mail("httpok"), "httpok's mail", deadline=60)
    assert "web" in mail
    wait_for(lambda: lance.pid("web") not in (0, first), "web restarted with a new pid")


def test_fatalmailbatch_mails_on_fatal(lance: Lance) -> None:
    """fatalmailbatch batches PROCESS_STATE_FATAL and mails it at a TICK_5 over SMTP."""
    mail = wait_for(lambda: lance.mail("fatalmailbatch"), "fatalmailbatch's mail", deadline=60)
    assert "doomed" in mail
    assert "Process doomed:doomed failed to start too many times" in mail


def test_crashmailbatch_mails_a_batch_of_unexpected_exits(lance: Lance) -> None:
    """crashmailbatch batches crashy's unexpected exit and mails it over SMTP at a TICK_5."""
    mail = wait_for(lambda: lance.mail("crashmailbatch"), "crashmailbatch's mail", deadline=60)
    assert "Subject: Crash alert from supervisord" in mail
    assert "X-Envelope-To: ops@example.com" in mail
    assert re.search(r"-- Process crashy:crashy \(pid \d+\) died unexpectedly", mail), mail


def test_crashsms_sends_a_short_message_per_unexpected_exit(lance: Lance) -> None:
    """crashsms mails the one-line SMS text for crashy's unexpected exit through SMTP."""
    mail = wait_for(lambda: lance.mail("crashsms"), "crashsms's mail", deadline=60)
    assert "Subject: crash-sms" in mail
    assert "From: superd@example.com" in mail
    assert re.search(r"\[crashy:crashy\]\(\d+\) exited unexpectedly", mail), mail
