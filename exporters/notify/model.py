"""What a notification is: its kind, the facts it reports, and its JSON form.

Rules of this file:
- Pure data. A ``Notification`` is built by the planner from bus events only and is
  the one thing the outbox stores and every channel renders (JSON, Slack, mail).
- ``notification_json`` is the webhook body and the outbox row; ``from_json`` reads
  it back after a restart, so the two are inverse (a golden test pins them).
- ``id`` is derived from the event serial and wall time the notification came
  from, so a notification re-sent after a crash carries the same id (receivers can
  deduplicate on it: webhook ``Idempotency-Key``, mail ``Message-ID``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "ExitRecord",
    "Kind",
    "Notification",
    "Topic",
    "from_json",
    "notification_json",
    "rfc3339",
]


class Topic(enum.StrEnum):
    """What ``notify_on`` names: a family of notification kinds."""

    STORM = "storm"
    FATAL = "fatal"
    UNEXPECTED_EXIT = "unexpected_exit"


class Kind(enum.StrEnum):
    """The ``kind`` of one notification."""

    STORM_BEGIN = "storm_begin"
    STORM_END = "storm_end"
    FATAL = "fatal"
    UNEXPECTED_EXIT = "unexpected_exit"

    @property
    def topic(self) -> Topic:
        """The ``notify_on`` value that turns this kind on."""
        if self in (Kind.STORM_BEGIN, Kind.STORM_END):
            return Topic.STORM
        return Topic(self.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitRecord:
    """One exit of one process, as its PROCESS_STATE event reported it."""

    serial: int
    time: float
    group: str
    name: str
    returncode: int | None
    expected: bool | None
    run_duration: float | None
    state: str  # EXITED, BACKOFF (a failed start)

    def to_json(self) -> dict[str, object]:
        """The exit as a JSON object (``time`` in RFC 3339)."""
        return {
            "serial": self.serial,
            "time": rfc3339(self.time),
            "group": self.group,
            "name": self.name,
            "returncode": self.returncode,
            "expected": self.expected,
            "run_duration": self.run_duration,
            "state": self.state,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One message for a person.

    ``group``/``name`` are empty where they do not apply (a host storm; a batch of
    unexpected exits of several processes). ``details`` holds JSON values only.
    """

    id: str
    kind: Kind
    host: str
    group: str
    name: str
    time: float
    summary: str
    serials: tuple[int, ...]
    details: dict[str, object] = field(default_factory=dict)


def rfc3339(wall: float) -> str:
    """Epoch seconds as an RFC 3339 UTC timestamp with milliseconds."""
    moment = datetime.fromtimestamp(wall, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def notification_json(notification: Notification) -> dict[str, object]:
    """The JSON object a webhook receives (and the outbox keeps)."""
    return {
        "id": notification.id,
        "kind": notification.kind.value,
        "host": notification.host,
        "group": notification.group,
        "name": notification.name,
        "time": rfc3339(notification.time),
        "unix_time": notification.time,
        "summary": notification.summary,
        "details": notification.details,
        "serials": list(notification.serials),
    }


def from_json(text: str) -> Notification:
    """The notification an outbox row holds (inverse of ``notification_json``).

    Raises:
        ValueError: the text is not such an object.
    """
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        details = data["details"]
        serials = data["serials"]
        if not isinstance(details, dict) or not isinstance(serials, list):
            raise ValueError("details/serials have the wrong type")
        return Notification(
            id=str(data["id"]),
            kind=Kind(data["kind"]),
            host=str(data["host"]),
            group=str(data["group"]),
            name=str(data["name"]),
            time=float(data["unix_time"]),
            summary=str(data["summary"]),
            serials=tuple(int(s) for s in serials),
            details=details,
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a notification: {error}") from None
