"""When Prometheus' alerts fired: ``ALERTS`` over ``/api/v1/query_range`` -> a DataFrame."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Sequence

import pandas as pd

from exporters.notebook._common import _time
from supervisor_core.names import make_namespec


def prometheus_alerts(
    url: str,
    *,
    start: float,
    end: float,
    step: float = 15.0,
    alertnames: Sequence[str] = (),
    timeout: float = 30.0,
) -> pd.DataFrame:
    """When Prometheus' alerts fired between ``start`` and ``end`` (wall times).

    Reads ``ALERTS{alertstate="firing"}`` with ``/api/v1/query_range`` at ``step``
    seconds. One row per alert series: ``alertname``, ``process`` (``group:name`` when
    the alert has them), ``instance``, ``severity``, ``first_firing``,
    ``last_firing``, ``still_firing`` (it fired at the last step of the range, so
    ``last_firing`` is where the range ends, not where the alert did).

    Raises:
        OSError: Prometheus cannot be reached; ValueError: it answered with an error.
    """
    matchers = 'alertstate="firing"'
    if alertnames:
        matchers += ', alertname=~"' + "|".join(alertnames) + '"'
    query = urllib.parse.urlencode(
        {"query": f"ALERTS{{{matchers}}}", "start": start, "end": end, "step": step}
    )
    with urllib.request.urlopen(
        f"{url.rstrip('/')}/api/v1/query_range?{query}", timeout=timeout
    ) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"Prometheus {url}: {body.get('error', body)}")
    rows: list[dict[str, object]] = []
    for series in body["data"]["result"]:
        labels: dict[str, str] = series["metric"]
        times = [float(t) for t, _ in series["values"]]
        process = (
            make_namespec(labels["group"], labels["name"])
            if "group" in labels and "name" in labels
            else ""
        )
        rows.append(
            {
                "alertname": labels.get("alertname", ""),
                "process": process,
                "instance": labels.get("instance", ""),
                "severity": labels.get("severity", ""),
                "first_firing": _time(min(times)),
                "last_firing": _time(max(times)),
                "still_firing": max(times) > end - step,
            }
        )
    columns = [
        "alertname",
        "process",
        "instance",
        "severity",
        "first_firing",
        "last_firing",
        "still_firing",
    ]
    return pd.DataFrame(rows, columns=columns).sort_values("first_firing", kind="stable")
