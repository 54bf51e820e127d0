"""``[exporter:prometheus]``: where else to serve ``/metrics``.

Without the section, ``/metrics`` is served by the control-plane app only (behind its
auth). With ``listen = host:port`` superd also serves ``/metrics`` there, without
auth, for a Prometheus that should not hold the supervisor's credentials. supervisord
ignores the section, so one file serves both.

    [exporter:prometheus]
    listen = 127.0.0.1:9101
"""

from __future__ import annotations

from dataclasses import dataclass

from supervisor_core.config.model import Config, ExtensionSection
from supervisor_core.config.reader import ExtensionReader

SECTION = "exporter:prometheus"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenAddress:
    """A TCP address to bind; ``host`` None means every interface (``*:9101``)."""

    host: str | None
    port: int

    def __str__(self) -> str:
        host = "*" if self.host is None else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrometheusSettings:
    """What ``[exporter:prometheus]`` asks for; ``listen`` None: no extra listener."""

    listen: ListenAddress | None = None


def parse_listen(text: str) -> ListenAddress:
    """``host:port``, ``[v6]:port``, ``*:port`` or ``:port``; raises ValueError."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        raise ValueError("expected host:port")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError("port is not an integer") from None
    if not 0 <= port <= 65535:
        raise ValueError("port is out of range 0..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return ListenAddress(host=None if host in ("", "*") else host, port=port)


def settings_from_section(section: ExtensionSection) -> PrometheusSettings:
    """Read the section; raises ``ConfigError`` naming ``file:line`` for each problem."""
    reader = ExtensionReader(section)
    settings = PrometheusSettings(listen=reader.get("listen", None, parse_listen))
    reader.check()
    return settings


def settings_from_config(config: Config) -> PrometheusSettings:
    """The ``[exporter:prometheus]`` settings of a loaded configuration (defaults when absent)."""
    return settings_from_section(config.extension_section_or_empty(SECTION))
