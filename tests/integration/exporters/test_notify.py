"""The notifier against real peers: an HTTP receiver, an aiosmtpd SMTP sink, the SQLite outbox."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from exporters.notify.channels import SmtpChannel, WebhookChannel
from exporters.notify.counts import NotificationCounts
from exporters.notify.events import register_notify_types
from exporters.notify.extension import build_channels
from exporters.notify.model import Kind, Notification
from exporters.notify.notifier import Notifier
from exporters.notify.outbox import Outbox
from exporters.notify.settings import NotifySettings, parse_settings
from supervisor_core.bus import EventBus
from supervisor_core.events import Event
from supervisor_core.testing import FakeClock
from tests.integration.notify_peers import SmtpSink, WebhookReceiver, free_port

pytestmark = pytest.mark.integration

TOKEN = "T0K3N-s3cr3t"
PASSWORD = "hunter2-pw"


def notification(serial: int = 7, kind: Kind = Kind.STORM_BEGIN) -> Notification:
    return Notification(
        id=f"web-1/{kind.value}/{serial}-1700000000000",
        kind=kind,
        host="web-1",
        group="web",
        name="web",
        time=1_700_000_000.0,
        summary="web: restart storm began: 5 exits (exit 3)",
        serials=(serial,),
        details={"exits": 5, "stderr_tail": ["Traceback", "boom"]},
    )


class Rig:
    """A notifier on a real bus and outbox, with its published events recorded."""

    def __init__(self, settings: NotifySettings, tmp: Path) -> None:
        self.clock = FakeClock()
        self.bus = EventBus(self.clock)
        register_notify_types(self.bus.registry)  # as superd's registry has them
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append, name="record", types=("NOTIFICATION",))
        self.counts = NotificationCounts.install(self.bus)
        self.outbox = Outbox.open(str(tmp / "outbox.sqlite3"))
        self.channels = build_channels(settings)
        self.notifier = Notifier(settings, self.outbox, self.channels, clock=self.clock)
        self.notifier.install(self.bus)

    def types(self) -> list[str]:
        return [e.name for e in self.events]

    async def close(self) -> None:
        self.notifier.close()
        for channel in self.channels:
            await channel.aclose()
        self.outbox.close()


def settings_for(tmp: Path, **values: str) -> NotifySettings:
    return parse_settings(values, childlogdir=str(tmp), here=str(tmp), hostname="web-1")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink(refuse=("nobody@example.com",)) as server:
        yield server


async def test_one_notification_reaches_webhook_slack_and_mail(
    tmp_path: Path, receiver: WebhookReceiver, sink: SmtpSink
) -> None:
    """One queued notification is POSTed as JSON, and mailed, once each; the outbox empties."""
    rig = Rig(
        settings_for(
            tmp_path,
            webhook_url=receiver.url(f"/hook/{TOKEN}"),
            smtp_server=f"127.0.0.1:{sink.port}",
            mail_from="superd@example.com",
            mail_to="ops@example.com, oncall@example.com",
        ),
        tmp_path,
    )
    rig.notifier._enqueue(notification())
    assert rig.outbox.pending() == 2
    assert await rig.notifier.deliver_due() == 0.0
    assert await rig.notifier.deliver_due() is None
    (request,) = receiver.items()
    assert request.path == f"/hook/{TOKEN}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Idempotency-Key"] == "web-1/storm_begin/7-1700000000000"
    body = request.json()
    assert (body["kind"], body["host"], body["group"], body["name"]) == (
        "storm_begin",
        "web-1",
        "web",
        "web",
    )
    assert body["time"] == "2023-11-14T22:13:20.000Z"
    assert body["serials"] == [7]
    ((mail_from, rcpt, message),) = sink.items()
    assert (mail_from, rcpt) == ("superd@example.com", ["ops@example.com", "oncall@example.com"])
    assert message["Subject"] == "[superd web-1] web: restart storm began: 5 exits (exit 3)"
    assert "boom" in message.get_body().get_content()
    assert rig.outbox.pending() == 0
    assert sorted(rig.types()) == sorted(["NOTIFICATION_QUEUED"] * 2 + ["NOTIFICATION_SENT"] * 2)
    assert rig.counts()[("webhook", "sent")] == 1
    assert rig.counts()[("smtp", "sent")] == 1
    await rig.close()


async def test_slack_format_posts_text(tmp_path: Path, receiver: WebhookReceiver) -> None:
    """format = slack posts {"text": ...} with the summary and the stderr tail in a block."""
    rig = Rig(settings_for(tmp_path, webhook_url=receiver.url(), format="slack"), tmp_path)
    rig.notifier._enqueue(notification())
    await rig.notifier.deliver_due()
    (request,) = receiver.items()
    text = request.json()["text"]
    assert "restart storm began" in text
    assert "```\nTraceback\nboom\n```" in text
    await rig.close()


async def test_a_failing_target_is_retried_with_backoff_in_order(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    """503 is retried after retry_initial, doubling; a later notification waits its turn."""
    rig = Rig(
        settings_for(tmp_path, webhook_url=receiver.url(), retry_initial="2s", retry_max="3s"),
        tmp_path,
    )
    receiver.status = 503
    rig.notifier._enqueue(notification(1))
    rig.notifier._enqueue(notification(2, Kind.STORM_END))
    assert await rig.notifier.deliver_due() == 0.0
    assert await rig.notifier.deliver_due() == pytest.approx(2.0)
    rig.clock.set_wall(rig.clock.wall() + 2.0)
    await rig.notifier.deliver_due()
    assert await rig.notifier.deliver_due() == pytest.approx(3.0)  # 4 s capped at retry_max
    failed = [e.data for e in rig.events if e.name == "NOTIFICATION_FAILED"]
    assert [(f.attempts, f.retry_in) for f in failed] == [(1, 2.0), (2, 3.0)]
    assert "HTTP 503" in failed[0].reason
    receiver.status = 200
    rig.clock.set_wall(rig.clock.wall() + 3.0)
    while await rig.notifier.deliver_due() == 0.0:
        continue
    assert receiver.kinds() == ["storm_begin", "storm_end"]
    assert rig.counts()[("webhook", "failed")] == 2
    assert rig.counts()[("webhook", "sent")] == 2
    await rig.close()


async def test_a_permanent_refusal_is_dropped_and_counted(
    tmp_path: Path, receiver: WebhookReceiver, sink: SmtpSink
) -> None:
    """HTTP 400 and a refused recipient drop the notification (counted), not retried."""
    rig = Rig(
        settings_for(
            tmp_path,
            webhook_url=receiver.url(),
            smtp_server=f"127.0.0.1:{sink.port}",
            mail_from="superd@example.com",
            mail_to="nobody@example.com",
        ),
        tmp_path,
    )
    receiver.status = 400
    rig.notifier._enqueue(notification())
    await rig.notifier.deliver_due()
    assert await rig.notifier.deliver_due() is None
    assert rig.outbox.pending() == 0
    assert rig.counts()[("webhook", "dropped")] == 1
    assert rig.counts()[("smtp", "dropped")] == 1
    assert sink.items() == []
    await rig.close()


async def test_a_notification_older_than_give_up_after_is_dropped(tmp_path: Path) -> None:
    """An unreachable target is retried until give_up_after, then the row is dropped."""
    port = free_port()  # nobody listens: connection refused
    rig = Rig(
        settings_for(tmp_path, webhook_url=f"http://127.0.0.1:{port}/x", give_up_after="10s"),
        tmp_path,
    )
    rig.notifier._enqueue(notification())
    await rig.notifier.deliver_due()
    assert rig.types()[-1] == "NOTIFICATION_FAILED"
    rig.clock.set_wall(rig.clock.wall() + 11.0)
    await rig.notifier.deliver_due()
    assert rig.types()[-1] == "NOTIFICATION_DROPPED"
    assert rig.outbox.pending() == 0
    await rig.close()


async def test_secrets_never_reach_logs_or_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL token and an SMTP password stay out of every log line and published event."""

    def authenticate(*args: object) -> AuthResult:
        return AuthResult(success=False, handled=False)

    caplog.set_level(logging.DEBUG)
    with SmtpSink(authenticator=authenticate, auth_require_tls=False) as sink:
        port = free_port()
        rig = Rig(
            settings_for(
                tmp_path,
                webhook_url=f"http://127.0.0.1:{port}/hook/{TOKEN}?key={TOKEN}",
                smtp_server=f"127.0.0.1:{sink.port}",
                mail_from="superd@example.com",
                mail_to="ops@example.com",
                smtp_user="superd",
                smtp_password=PASSWORD,
            ),
            tmp_path,
        )
        rig.notifier._enqueue(notification())
        await rig.notifier.deliver_due()
    reasons = [getattr(e.data, "reason", "") for e in rig.events]
    assert sum("authentication failed" in r for r in reasons) == 1
    assert sum("ClientConnectorError" in r for r in reasons) == 1
    seen = caplog.text + repr([e.data for e in rig.events]) + repr(rig.notifier.settings)
    assert TOKEN not in seen
    assert PASSWORD not in seen
    assert f"127.0.0.1:{port}" in seen  # the redacted target is still named
    await rig.close()


async def test_mail_login_with_password_file_is_accepted(tmp_path: Path) -> None:
    """smtp_user with smtp_password_file logs in (AUTH PLAIN) and the mail is delivered."""
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == PASSWORD.encode())

    (tmp_path / "pw").write_text(PASSWORD + "\n")
    with SmtpSink(authenticator=authenticate, auth_require_tls=False) as sink:
        rig = Rig(
            settings_for(
                tmp_path,
                smtp_server=f"127.0.0.1:{sink.port}",
                mail_from="superd@example.com",
                mail_to="ops@example.com",
                smtp_user="superd",
                smtp_password_file="pw",
            ),
            tmp_path,
        )
        rig.notifier._enqueue(notification())
        await rig.notifier.deliver_due()
        sink.wait_for(lambda items: len(items) == 1, "one mail")
    assert logins == [(b"superd", PASSWORD.encode())]
    assert rig.counts()[("smtp", "sent")] == 1
    await rig.close()


def test_channels_are_built_per_url() -> None:
    """Two webhook URLs are two channels (two targets, two outbox rows per notification)."""
    settings = parse_settings(
        {"webhook_url": "http://127.0.0.1:1/a, http://127.0.0.1:1/b"},
        childlogdir="/tmp",
        here="/tmp",
    )
    channels = build_channels(settings)
    assert [type(c) for c in channels] == [WebhookChannel, WebhookChannel]
    assert len({c.key for c in channels}) == 2
    assert not any(isinstance(c, SmtpChannel) for c in channels)
