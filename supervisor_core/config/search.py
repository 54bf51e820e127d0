"""Where supervisord looks for its configuration when ``-c`` is not given."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable


def default_search_path(argv0: str | None = None) -> tuple[str, ...]:
    """supervisord's search path, in order.

    ``argv0`` is the running program (``sys.argv[0]`` by default); the first two
    candidates sit beside its installation prefix (``<prefix>/bin/superd`` ->
    ``<prefix>/etc/supervisord.conf``, ``<prefix>/supervisord.conf``), then the
    working directory, then ``/etc``.
    """
    prefix = os.path.dirname(os.path.dirname(sys.argv[0] if argv0 is None else argv0))
    return (
        os.path.join(prefix, "etc", "supervisord.conf"),
        os.path.join(prefix, "supervisord.conf"),
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    )


def find_config(
    search_path: Iterable[str] | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> str | None:
    """The first existing file of ``search_path`` (default: supervisord's), or None."""
    for candidate in default_search_path() if search_path is None else search_path:
        if exists(candidate):
            return candidate
    return None
