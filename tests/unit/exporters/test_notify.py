"""The notifier's pure parts on scripted histories: planner, settings, rendering, outbox."""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
from pathlib import Path

import pytest

from exporters.notify.model import Kind, Notification, Topic, from_json, notification_json
from exporters.notify.outbox import Outbox
from exporters.notify.planner import EVENT_TYPES, NotificationPlanner, PlannerSettings
from exporters.notify.render import json_body, mail_message, mail_subject, slack_body
from exporters.notify.settings import (
    NotifySettings,
    parse_settings,
    redact_url,
    scrub,
    settings_from_config,
)
from exporters.storms import StormExporterSettings, StormMonitor, StormSettings
from supervisor_core.bus import EventBus
from supervisor_core.config import parse
from supervisor_core.config.errors import ConfigError
from supervisor_core.config.model import Origin
from supervisor_core.events import (
    ProcessStateBackoff,
    ProcessStateExited,
    ProcessStateFatal,
    ProcessStateRunning,
    ProcessStateStarting,
)
from supervisor_core.lifecycle import Cause, ProcessState
from supervisor_core.testing import FakeClock

STORMS = StormExporterSettings(detector=StormSettings(burst=3, window=10.0, short_run=5.0))


class History:
    """A real bus and storm detector on a fake clock, with the planner subscribed."""

    def __init__(self, *, topics: frozenset[Topic], min_interval: float = 60.0) -> None:
        self.clock = FakeClock()
        self.bus = EventBus(self.clock)
        self.monitor = StormMonitor(STORMS, clock=self.clock, timers=self.clock)
        self.monitor.install(self.bus)
        self.planner = NotificationPlanner(
            PlannerSettings(topics=topics, min_interval=min_interval, host="web-1")
        )
        self.sent: list[Notification] = []
        self.bus.subscribe(
            lambda e: self.sent.extend(self.planner.feed(e)), name="p", types=EVENT_TYPES
        )

    def advance(self, seconds: float) -> None:
        """Let time pass: the detector's timers fire, a batch goes out at its deadline."""
        target = self.clock.monotonic() + seconds
        while (deadline := self.planner.next_deadline()) is not None and deadline <= target:
            self.clock.advance_to(max(deadline, self.clock.monotonic()))
            self.sent.extend(self.planner.advance(self.clock.monotonic(), self.clock.wall()))
        self.clock.advance_to(target)

    def start(self, name: str, cause: Cause) -> None:
        self.bus.publish(
            ProcessStateStarting(
                processname=name, groupname=name, from_state=ProcessState.EXITED, cause=cause
            )
        )
        self.bus.publish(
            ProcessStateRunning(
                processname=name,
                groupname=name,
                from_state=ProcessState.STARTING,
                cause=Cause.STARTSECS,
                pid=100,
            )
        )

    def crash(self, name: str, *, code: int = 1, expected: bool = False, tail: str = "") -> None:
        self.bus.publish(
            ProcessStateExited(
                processname=name,
                groupname=name,
                from_state=ProcessState.RUNNING,
                cause=Cause.EXIT,
                pid=100,
                expected=expected,
                returncode=code,
                run_duration=0.5,
                stderr_tail=(tail,) if tail else None,
            )
        )

    def kinds(self) -> list[tuple[str, str]]:
        return [(n.kind.value, n.name) for n in self.sent]


ALL = frozenset(Topic)


def test_a_crash_loop_gives_one_storm_begin_and_one_storm_end() -> None:
    """Twenty crashes make one storm_begin; ten calm seconds of RUNNING make one storm_end."""
    history = History(topics=frozenset({Topic.STORM}))
    history.start("web", Cause.AUTOSTART)
    for i in range(20):
        history.crash("web", code=3, tail=f"boom {i}")
        history.advance(0.5)
        history.start("web", Cause.DAMPED if i % 2 else Cause.AUTORESTART)
    assert history.kinds() == [("storm_begin", "web")]
    history.advance(10.0)
    assert history.kinds() == [("storm_begin", "web"), ("storm_end", "web")]
    end = history.sent[1]
    assert end.details["exits"] == 20
    assert end.details["exit_codes"] == [3]
    assert end.details["reason"] == "recovered"
    assert end.details["restarts_by_cause"] == {"autorestart": 10, "damped": 10}
    assert end.details["damped_restarts"] == 10
    assert end.details["stderr_tail"] == ["boom 19"]
    assert "damping delayed 10 restarts" in end.summary
    assert len(end.serials) == 1  # the PROCESS_STORM_END event


def test_storm_begin_reports_the_exits_so_far() -> None:
    """storm_begin counts the burst's exits and names the exit code, with its event serial."""
    history = History(topics=frozenset({Topic.STORM}))
    for _ in range(3):
        history.start("web", Cause.AUTORESTART)
        history.crash("web", code=-9)
    (begin,) = history.sent
    assert begin.kind is Kind.STORM_BEGIN
    assert begin.details["exits"] == 3
    assert begin.details["signals"] == ["SIGKILL"]
    assert "SIGKILL" in begin.summary
    assert begin.id.startswith("web-1/storm_begin/")


def test_fatal_gives_one_fatal_with_its_cause() -> None:
    """A PROCESS_STATE_FATAL (startretries) makes one fatal notification naming the tries."""
    history = History(topics=ALL)
    for tries in (1, 2):
        history.bus.publish(
            ProcessStateBackoff(
                processname="db",
                groupname="db",
                from_state=ProcessState.STARTING,
                cause=Cause.EXIT,
                tries=tries,
                returncode=2,
                expected=False,
                run_duration=0.1,
                stderr_tail=("no such table",),
            )
        )
    history.bus.publish(
        ProcessStateFatal(
            processname="db",
            groupname="db",
            from_state=ProcessState.BACKOFF,
            cause=Cause.STARTRETRIES,
            tries=2,
        )
    )
    assert history.kinds() == [("fatal", "db")]
    fatal = history.sent[0]
    assert fatal.details["cause"] == "startretries"
    assert fatal.details["stderr_tail"] == ["no such table"]
    assert fatal.details["exit_codes"] == ["exit 2"]


def test_unexpected_exits_are_batched_never_one_per_crash() -> None:
    """The first unexpected exit goes out at once; the next nine wait for min_interval, together."""
    history = History(topics=frozenset({Topic.UNEXPECTED_EXIT}), min_interval=60.0)
    for _ in range(10):
        history.start("worker", Cause.AUTORESTART)
        history.crash("worker", code=1)
        history.advance(20.0)  # slow enough that no storm begins
    history.advance(60.0)
    assert {n.kind for n in history.sent} == {Kind.UNEXPECTED_EXIT}
    # t=0 at once, then batches at 60, 120, 180 and 240: one per interval, all ten exits.
    counts = [n.details["exit_count"] for n in history.sent]
    assert counts == [1, 2, 3, 3, 1]
    times = [n.time - history.sent[0].time for n in history.sent]
    assert times == [0.0, 60.0, 120.0, 180.0, 240.0]
    assert [len(n.serials) for n in history.sent] == counts


def test_expected_exits_and_storm_members_are_not_unexpected_exits() -> None:
    """Expected exits never notify; exits of a process in a storm are left to the storm."""
    history = History(topics=ALL, min_interval=0.0)
    history.start("job", Cause.AUTOSTART)
    history.crash("job", code=0, expected=True)
    assert history.sent == []
    for _ in range(6):
        history.start("web", Cause.AUTORESTART)
        history.crash("web")
    kinds = [k for k, _ in history.kinds()]
    # A storm is made of restarts: the third automatic start begins it, so exits 1-2
    # are notified (no batching at 0 s) and exits 3-6 belong to the storm.
    assert kinds == ["unexpected_exit"] * 2 + ["storm_begin"]


def test_notify_on_without_storm_ignores_storm_events() -> None:
    """With notify_on = fatal a crash loop sends nothing."""
    history = History(topics=frozenset({Topic.FATAL}))
    for _ in range(10):
        history.start("web", Cause.AUTORESTART)
        history.crash("web")
    history.advance(30.0)
    assert history.sent == []


# --------------------------------------------------------------------------- settings

SECRET_URL = "https://hooks.example.com/services/T000/B000/s3cr3tT0k3n"


def _settings(text: str, tmp_path: Path) -> NotifySettings | None:
    path = tmp_path / "supervisord.conf"
    path.write_text(f"[supervisord]\nchildlogdir = {tmp_path}\n\n[exporter:notify]\n{text}")
    return settings_from_config(parse(path.read_text(), str(path)))


def test_settings_read_every_key(tmp_path: Path) -> None:
    """Every documented key is read; defaults: storm and fatal, the outbox in childlogdir."""
    (tmp_path / "pw").write_text("hunter2\n")
    settings = _settings(
        f"webhook_url = {SECRET_URL}, http://127.0.0.1:9/x\nformat = slack\n"
        "smtp_server = 127.0.0.1:2525\nmail_from = superd@example.com\n"
        "mail_to = a@example.com, b@example.com\nsmtp_user = u\nsmtp_password_file = pw\n"
        "notify_on = storm, unexpected_exit\nunexpected_exit_min_interval = 5m\nhost = web-1\n"
        "retry_initial = 500ms\n",
        tmp_path,
    )
    assert settings is not None
    assert [h.format for h in settings.webhooks] == ["slack", "slack"]
    assert settings.smtp is not None
    assert settings.smtp.password == "hunter2"
    assert settings.smtp.mail_to == ("a@example.com", "b@example.com")
    assert settings.topics == {Topic.STORM, Topic.UNEXPECTED_EXIT}
    assert settings.unexpected_exit_min_interval == 300.0
    assert settings.retry_initial == 0.5
    assert settings.outbox == str(tmp_path / "superd-notify-outbox.sqlite3")
    assert "hunter2" not in repr(settings)
    assert "s3cr3tT0k3n" not in repr(settings)


def test_no_section_is_off(tmp_path: Path) -> None:
    """Without [exporter:notify] there is no notifier."""
    path = tmp_path / "supervisord.conf"
    path.write_text("[supervisord]\n")
    assert settings_from_config(parse(path.read_text(), str(path))) is None


def test_bad_settings_name_file_line_and_hide_secrets() -> None:
    """Every bad key is reported with file:line; the password and URL token never appear."""
    values = {
        "webhook_url": "ftp://hooks.example.com/s3cr3tT0k3n",
        "smtp_password": "hunter2",
        "notify_on": "storm, everything",
        "timeout": "soon",
        "colour": "blue",
    }
    origins = {key: Origin("/etc/superd.conf", line) for line, key in enumerate(values, 10)}
    with pytest.raises(ConfigError) as caught:
        parse_settings(values, childlogdir="/tmp", here="/etc", origins=origins, hostname="h")
    text = str(caught.value)
    assert "/etc/superd.conf:10: [exporter:notify] webhook_url: not an http" in text
    assert "/etc/superd.conf:12: [exporter:notify] notify_on: unknown kind 'everything'" in text
    assert "/etc/superd.conf:13: [exporter:notify] timeout:" in text
    assert "/etc/superd.conf:14: [exporter:notify] colour: unknown option" in text
    assert "smtp_server: missing" in text
    assert "hunter2" not in text
    assert "s3cr3tT0k3n" not in text


def test_a_section_without_destination_is_refused() -> None:
    """A section naming neither webhook_url nor smtp_server is an error at its header."""
    with pytest.raises(ConfigError, match="names no destination"):
        parse_settings({}, childlogdir="/tmp", here="/etc", origin=Origin("/etc/s.conf", 3))


@pytest.mark.parametrize(
    "address", ["a@b.c\nBcc: x@y.z", "a@b.c, x@y.z>", "Ops <ops@example.com>", "nobody"]
)
def test_mail_addresses_cannot_smuggle_headers(address: str) -> None:
    """mail_from refuses anything but a bare address (no header or second recipient)."""
    with pytest.raises(ConfigError, match="mail_from"):
        parse_settings(
            {"smtp_server": "h:25", "mail_from": address, "mail_to": "a@b.c"},
            childlogdir="/tmp",
            here="/etc",
        )


def test_redact_and_scrub_hide_url_tokens() -> None:
    """A URL is shown as scheme://host:port/… and scrubbed out of any error text."""
    assert redact_url(SECRET_URL) == "https://hooks.example.com/…"
    settings = parse_settings({"webhook_url": SECRET_URL}, childlogdir="/t", here="/t")
    text = f"POST {SECRET_URL} failed; path /services/T000/B000/s3cr3tT0k3n"
    assert "s3cr3tT0k3n" not in scrub(text, settings.secrets)


# --------------------------------------------------------------------------- rendering

EVIL = "x\r\nBcc: victim@example.com\r\n.\r\nMAIL FROM:<e@vil> <!channel> <https://evil|click> ```"


def _evil_notification() -> Notification:
    return Notification(
        id="web-1/storm_end/42-1700000000000",
        kind=Kind.STORM_END,
        host="web-1",
        group="web",
        name="web",
        time=1_700_000_000.0,
        summary=f"web: restart storm ended {EVIL}",
        serials=(42,),
        details={"stderr_tail": [EVIL, "ok"], "exits": 3},
    )


def test_json_body_round_trips_through_the_outbox_form() -> None:
    """The webhook JSON has kind, host, group, name, RFC 3339 time, summary, details, serials."""
    notification = _evil_notification()
    body = json.loads(json_body(notification))
    assert body["kind"] == "storm_end"
    assert body["time"] == "2023-11-14T22:13:20.000Z"
    assert body["serials"] == [42]
    assert body["details"]["stderr_tail"][0] == EVIL
    assert from_json(json.dumps(notification_json(notification))) == notification


def test_slack_text_cannot_mention_or_link() -> None:
    """Output in a Slack message is escaped: no <!channel>, no link, no closed code block."""
    text = json.loads(slack_body(_evil_notification()))["text"]
    assert "<!channel>" not in text
    assert "<https://evil|click>" not in text
    assert "&lt;!channel&gt;" in text
    assert text.count("```") == 2  # only the block's own fences


def test_mail_headers_cannot_be_injected_by_output() -> None:
    """Subject has no CR/LF; the body cannot add headers; the message parses to our headers."""
    notification = _evil_notification()
    assert "\n" not in mail_subject(notification)
    assert "\r" not in mail_subject(notification)
    message = mail_message(notification, mail_from="s@example.com", mail_to=("o@example.com",))
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert sorted(parsed.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "X-Superd-Kind",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    assert parsed["Message-ID"] == "<web-1.storm_end.42-1700000000000@web-1>"
    body = parsed.get_body()
    assert body is not None
    assert "\r\n.\r\n" not in body.get_content()


# --------------------------------------------------------------------------- outbox


def test_outbox_rows_survive_an_unclosed_connection(tmp_path: Path) -> None:
    """A row is committed when add returns: another connection sees it at once."""
    path = str(tmp_path / "outbox.sqlite3")
    outbox = Outbox.open(path)
    outbox.add(_evil_notification(), [("webhook", f"webhook {SECRET_URL}")], now=1.0)
    other = Outbox.open(path)  # as the next superd would, the first never closed
    (row,) = other.heads()
    assert row.notification == _evil_notification()
    assert row.channel == "webhook"
    other.close()
    outbox.close()
    assert b"s3cr3tT0k3n" not in Path(path).read_bytes()


def test_outbox_keeps_order_per_target_and_ignores_duplicates(tmp_path: Path) -> None:
    """heads() gives each target's oldest row; the same notification twice is one row."""
    outbox = Outbox.open(str(tmp_path / "o.sqlite3"))
    first = _evil_notification()
    second = Notification(
        id="b", kind=Kind.FATAL, host="h", group="g", name="n", time=2.0, summary="s", serials=(1,)
    )
    targets = [("webhook", "webhook a"), ("smtp", "smtp b")]
    assert len(outbox.add(first, targets, now=1.0)) == 2
    assert outbox.add(first, targets, now=1.0) == []
    outbox.add(second, targets, now=1.0)
    assert [r.notification.id for r in outbox.heads()] == [first.id, first.id]
    for row in outbox.heads():
        if row.channel == "smtp":
            outbox.delete(row.row_id)
    assert sorted((r.channel, r.notification.id) for r in outbox.heads()) == [
        ("smtp", "b"),
        ("webhook", first.id),
    ]
    assert outbox.pending() == 3
    outbox.close()


def test_an_unusable_outbox_is_moved_aside(tmp_path: Path) -> None:
    """A file that is not our outbox is kept under another name; a fresh one starts."""
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    outbox = Outbox.open(str(path))
    assert outbox.pending() == 0
    outbox.close()
    assert [p.name for p in tmp_path.iterdir() if "unusable" in p.name]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_group_storm_is_one_storm_begin_of_its_own() -> None:
    """Two storming processes of one group: their two process storms, plus one group storm."""
    history = History(topics=frozenset({Topic.STORM}))
    for name in ("a", "b"):
        for _ in range(3):
            history.bus.publish(
                ProcessStateExited(
                    processname=name,
                    groupname="pool",
                    from_state=ProcessState.RUNNING,
                    cause=Cause.EXIT,
                    expected=False,
                    returncode=1,
                    run_duration=0.1,
                )
            )
            history.bus.publish(  # the autorestart: a storm is made of restarts
                ProcessStateStarting(
                    processname=name,
                    groupname="pool",
                    from_state=ProcessState.EXITED,
                    cause=Cause.AUTORESTART,
                )
            )
    scopes = [(n.kind.value, n.details["scope"], n.group, n.name) for n in history.sent]
    assert scopes == [
        ("storm_begin", "process", "pool", "a"),
        ("storm_begin", "process", "pool", "b"),
        ("storm_begin", "group", "pool", ""),
    ]
    assert history.sent[2].details["members"] == ["pool:a", "pool:b"]
    assert history.sent[2].summary.startswith("group pool: restart storm began")
