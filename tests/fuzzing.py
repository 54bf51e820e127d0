"""Shared pieces of the property tests that fuzz a real superd (issue 19).

Deterministic by default, so CI cannot flake: hypothesis runs ``derandomize=True``
with no example database, and every run tries the same inputs. To hunt longer and
with fresh inputs, set for example::

    SUPERD_FUZZ_EXAMPLES=5000 SUPERD_FUZZ_RANDOM=1 \\
        .venv/bin/python -m pytest tests/integration/test_fuzz_rpc.py --timeout 0

``SUPERD_FUZZ_EXAMPLES`` replaces every test's example count; ``SUPERD_FUZZ_RANDOM=1``
draws new random inputs each run and keeps failures in hypothesis' example database
(``.hypothesis/``), so the next run replays them first.
"""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

REQUEST_TIMEOUT = 30.0


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings for a test against a live daemon: ``examples`` inputs (or
    ``SUPERD_FUZZ_EXAMPLES``), no deadline (the machine is shared), derandomized
    unless ``SUPERD_FUZZ_RANDOM=1``."""
    count = int(os.environ.get("SUPERD_FUZZ_EXAMPLES", examples))
    randomized = os.environ.get("SUPERD_FUZZ_RANDOM", "") == "1"
    return settings(
        max_examples=count,
        deadline=None,
        derandomize=not randomized,
        # None turns the database off; the default one lives in .hypothesis/.
        database=DirectoryBasedExampleDatabase(".hypothesis/examples") if randomized else None,
        # The daemon is shared by every example of a module: that is the point.
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
        print_blob=True,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request on a fresh connection to 127.0.0.1:``port``, read to the end."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        data = response.read()
        found = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, found, data)
    finally:
        connection.close()
