"""HTTP basic authentication: plain and {SHA} passwords, per-listener policy."""

from __future__ import annotations

import base64
import hashlib

import pytest

from supervisor_core.config.model import InetHttpServerConfig, UnixHttpServerConfig
from supervisor_core.http.auth import AuthPolicy, Credentials, parse_basic_authorization


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_plain_password() -> None:
    """A plain-text password matches only the same user and password."""
    creds = Credentials(username="user", password="s3cret")
    assert creds.check("user", "s3cret")
    assert not creds.check("user", "wrong")
    assert not creds.check("other", "s3cret")


def test_sha_password() -> None:
    """A {SHA}hex password matches the password whose SHA-1 it is, not the hash itself."""
    digest = hashlib.sha1(b"s3cret").hexdigest()
    creds = Credentials(username="user", password="{SHA}" + digest)
    assert creds.check("user", "s3cret")
    assert not creds.check("user", "{SHA}" + digest)
    assert not creds.check("user", digest)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", None),
        ("Basic", None),
        ("Basic !!!notbase64", None),
        ("Basic " + base64.b64encode(b"nocolon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), None),
        (basic("u", "p:with:colons"), ("u", "p:with:colons")),
        ("basic " + base64.b64encode(b"u:").decode(), ("u", "")),
    ],
)
def test_parse_basic_authorization(header: str | None, expected: tuple[str, str] | None) -> None:
    """Only well-formed Basic credentials parse; the password may contain colons."""
    assert parse_basic_authorization(header) == expected


def test_policy_is_per_listener() -> None:
    """The unix socket and the TCP port each require their own section's credentials."""
    policy = AuthPolicy.from_configs(
        unix=UnixHttpServerConfig(file="/tmp/s", username="u", password="up"),
        inet=InetHttpServerConfig(host="127.0.0.1", port=9001, username="i", password="ip"),
    )
    assert policy.allows(basic("u", "up"), over_unix_socket=True)
    assert not policy.allows(basic("i", "ip"), over_unix_socket=True)
    assert policy.allows(basic("i", "ip"), over_unix_socket=False)
    assert not policy.allows(None, over_unix_socket=False)


def test_no_username_means_open() -> None:
    """A server section without username (or no section) lets every request through."""
    policy = AuthPolicy.from_configs(unix=UnixHttpServerConfig(file="/tmp/s"), inet=None)
    assert policy.allows(None, over_unix_socket=True)
    assert policy.allows("garbage", over_unix_socket=False)


def test_username_without_password_requires_empty_password() -> None:
    """A username with no password accepts that user with an empty password only."""
    policy = AuthPolicy.from_configs(
        unix=None, inet=InetHttpServerConfig(host="", port=1, username="u")
    )
    assert policy.allows(basic("u", ""), over_unix_socket=False)
    assert not policy.allows(basic("u", "x"), over_unix_socket=False)
