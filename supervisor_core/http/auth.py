"""HTTP basic authentication as supervisord's HTTP servers do it.

Each server (``[unix_http_server]``, ``[inet_http_server]``) has its own optional
``username``/``password``; the password is plain text or ``{SHA}`` followed by the
hex SHA-1 of the password. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from supervisor_core.config.model import InetHttpServerConfig, UnixHttpServerConfig

# supervisord's realm (medusa's auth_handler default); clients only echo it back.
REALM = "default"
_SHA_PREFIX = "{SHA}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """One username and its password: plain text, or ``{SHA}`` + hex SHA-1."""

    username: str
    password: str

    def check(self, username: str, password: str) -> bool:
        """True when ``username``/``password`` match, compared in constant time."""
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        if self.password.startswith(_SHA_PREFIX):
            # SHA-1 because that is supervisord's "{SHA}" password format.
            stored = self.password[len(_SHA_PREFIX) :].strip().lower().encode()
            given = hashlib.sha1(password.encode()).hexdigest().encode()
        else:
            stored = self.password.encode()
            given = password.encode()
        password_ok = hmac.compare_digest(given, stored)
        return user_ok and password_ok

    @classmethod
    def from_server_config(
        cls, config: UnixHttpServerConfig | InetHttpServerConfig | None
    ) -> Credentials | None:
        """The credentials a server section asks for, or None for no authentication.

        As in supervisord, a server is protected only when it has a username.
        """
        if config is None or config.username is None:
            return None
        return cls(username=config.username, password=config.password or "")


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """``(username, password)`` from an ``Authorization: Basic ...`` header, or None."""
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return username, password


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthPolicy:
    """Which credentials each kind of listener requires (None: open)."""

    unix: Credentials | None = None
    inet: Credentials | None = None

    @classmethod
    def from_configs(
        cls, *, unix: UnixHttpServerConfig | None, inet: InetHttpServerConfig | None
    ) -> AuthPolicy:
        """The policy supervisord applies for these server sections."""
        return cls(
            unix=Credentials.from_server_config(unix),
            inet=Credentials.from_server_config(inet),
        )

    def required(self, *, over_unix_socket: bool) -> Credentials | None:
        """The credentials a request arriving on that kind of listener must carry."""
        return self.unix if over_unix_socket else self.inet

    def allows(self, authorization: str | None, *, over_unix_socket: bool) -> bool:
        """Whether a request with this ``Authorization`` header may proceed."""
        credentials = self.required(over_unix_socket=over_unix_socket)
        if credentials is None:
            return True
        given = parse_basic_authorization(authorization)
        if given is None:
            return False
        return credentials.check(*given)
