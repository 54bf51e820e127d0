"""``alerts_fired``: the shipped alerts evaluated on a history of runs (rules module thresholds)."""

from __future__ import annotations

import pandas as pd
import pytest

from exporters.alerts.rules import AlertConfig, Thresholds, alert_specs
from exporters.notebook.replay_alerts import History, alerts_fired
from exporters.storms import StormSettings

T0 = 1_700_000_000.0
FAST = AlertConfig(
    thresholds=Thresholds(
        flapping_restarts=5,
        flapping_window=900,
        flapping_for=120,
        storm_for=60,
        fatal_for=0,
        down_for=300,
    )
)


def loop(count: int, *, run: float = 1.0, gap: float = 9.0, fatal: bool = False) -> History:
    """``count`` runs of ``run`` seconds, each restarted ``gap`` seconds after it ended."""
    runs = [(T0 + i * (run + gap), T0 + i * (run + gap) + run) for i in range(count)]
    end = runs[-1][1]
    return History(group="api", name="api", runs=runs, fatal_at=end if fatal else None, end=end)


def fired(frame: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """alertname -> first firing time, for the alerts that fire."""
    rows = frame[frame["fires"]]
    return dict(zip(rows["alertname"], rows["first_firing"], strict=True))


def at(seconds: float) -> pd.Timestamp:
    """T0 + seconds as the frame shows times."""
    return pd.Timestamp(round((T0 + seconds) * 1e6), unit="us", tz="UTC")


def test_flapping_fires_for_seconds_after_the_restart_that_crossed_the_threshold() -> None:
    """Six restarts (more than 5) within 900 s: ProcessFlapping fires 120 s (its for:)
    after the sixth restart, and never with one restart fewer."""
    frame = alerts_fired(loop(7), FAST)
    sixth_restart = 6 * 10.0
    assert fired(frame)["ProcessFlapping"] == at(sixth_restart + 120)
    assert "ProcessFlapping" not in fired(alerts_fired(loop(6), FAST))


def test_the_thresholds_come_from_the_alert_config() -> None:
    """Raising flapping_restarts in the AlertConfig silences ProcessFlapping: nothing is
    hard-coded beside the rules module."""
    quiet = AlertConfig(thresholds=Thresholds(flapping_restarts=10, flapping_for=120))
    assert "ProcessFlapping" not in fired(alerts_fired(loop(7), quiet))
    (spec,) = [s for s in alert_specs(quiet) if s.name == "ProcessFlapping"]
    (row,) = alerts_fired(loop(7), quiet).query("alertname == 'ProcessFlapping'").itertuples()
    assert f"more than {spec.threshold:g} restarts within {spec.lookback_seconds:g} s" in str(
        row.condition
    )


def test_fatal_fires_when_the_history_goes_fatal() -> None:
    """A history ending in FATAL fires ProcessFatal at that moment (for: 0)."""
    history = loop(3, fatal=True)
    assert history.fatal_at is not None
    assert fired(alerts_fired(history, FAST))["ProcessFatal"] == at(history.fatal_at - T0)
    assert "ProcessFatal" not in fired(alerts_fired(loop(3), FAST))


@pytest.mark.parametrize(("gap", "fires"), [(400.0, True), (200.0, False)])
def test_down_fires_when_a_wait_between_runs_lasts_down_for(gap: float, fires: bool) -> None:
    """A 400 s wait between runs is longer than down_for (300 s): ProcessDown fires 300 s
    into it; a 200 s wait does not."""
    frame = alerts_fired(loop(2, gap=gap), FAST)
    if fires:
        assert fired(frame)["ProcessDown"] == at(1.0 + 300)
    else:
        assert "ProcessDown" not in fired(frame)


def test_a_storm_fires_only_when_it_lasts_storm_for() -> None:
    """Restarts every 10 s make a storm (burst 3 in 60 s); ProcessRestartStorm fires once it
    has lasted 60 s, so 20 runs fire it and a storm cut short by FATAL does not."""
    settings = StormSettings(burst=3, window=60.0)
    long_loop = alerts_fired(loop(20), FAST, settings)
    assert "ProcessRestartStorm" in fired(long_loop)
    short = alerts_fired(loop(4, fatal=True), FAST, settings)
    assert "ProcessRestartStorm" not in fired(short)


def test_alerts_about_superd_itself_are_listed_as_not_applying() -> None:
    """Every shipped alert has a row; SupervisorDown and EventsDropped do not apply."""
    frame = alerts_fired(loop(2), FAST)
    assert list(frame["alertname"]) == [spec.name for spec in alert_specs(FAST)]
    skipped = set(frame[~frame["applies"]]["alertname"])
    assert skipped == {"SupervisorDown", "EventsDropped"}
