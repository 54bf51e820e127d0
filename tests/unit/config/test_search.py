"""supervisord's default config search path and the first existing file on it."""

from __future__ import annotations

from supervisor_core.config import default_search_path, find_config


def test_search_path_order() -> None:
    """Beside the install prefix first, then the working directory, then /etc."""
    assert default_search_path("/opt/venv/bin/superd") == (
        "/opt/venv/etc/supervisord.conf",
        "/opt/venv/supervisord.conf",
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    )


def test_find_config_returns_first_existing() -> None:
    """The first candidate that exists wins; none existing gives None."""
    existing = {"/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"}
    paths = default_search_path("/usr/bin/superd")
    assert find_config(paths, existing.__contains__) == "/etc/supervisord.conf"
    assert find_config(paths, lambda _: False) is None
