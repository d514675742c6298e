"""bench/cold_ceiling.py: the incomplete gamma tail against closed forms, and the
simulator's planting rule as hard limits of the posterior."""

from __future__ import annotations

import math

import pytest

from bench.cold_ceiling import History, PlantedStopModel, log_gamma_tail, main
from connectors.demo.simulator import MAX_SILENCE_FOR_COLD_DAYS, PLANTED_MIN_DAYS


@pytest.mark.parametrize("x", [0.01, 0.7, 1.9, 2.5, 9.0, 60.0])
def test_gamma_tail_matches_closed_forms(x):
    # Q(1, x) = e^-x; Q(2, x) = (1 + x) e^-x; Q(1/2, x) = erfc(sqrt x). The values of x
    # fall on both sides of a + 1, so both the series and the continued fraction are used.
    assert log_gamma_tail(1.0, x) == pytest.approx(-x, rel=1e-9, abs=1e-12)
    assert log_gamma_tail(2.0, x) == pytest.approx(math.log1p(x) - x, rel=1e-9, abs=1e-12)
    assert math.exp(log_gamma_tail(0.5, x)) == pytest.approx(math.erfc(math.sqrt(x)),
                                                            rel=1e-9)


def test_far_tail_does_not_underflow():
    # e^-800 is below the smallest double; its log is still exact.
    assert log_gamma_tail(2.0, 800.0) == pytest.approx(math.log(801.0) - 800.0, rel=1e-12)


def weekly(silence: float, contacts: int = 20) -> History:
    times = [10.0 + 7.0 * i for i in range(contacts)]
    return History(times=times, window_days=times[-1] + silence, referred=False)


def test_planting_limits_are_hard():
    model = PlantedStopModel("default")
    # The simulator never plants a silence under a month or over MAX_SILENCE_FOR_COLD_DAYS,
    # nor after fewer than five contacts.
    assert model.lapse_log_odds(weekly(PLANTED_MIN_DAYS - 1)) == -math.inf
    assert model.lapse_log_odds(weekly(MAX_SILENCE_FOR_COLD_DAYS + 1)) == -math.inf
    assert model.lapse_log_odds(weekly(200.0, contacts=4)) == -math.inf
    # A weekly tie silent for 120 days has stopped by any reading. Told that the mean gap
    # is really 40 days, 120 days is under 3.5 of them, which the simulator never plants.
    assert model.lapse_log_odds(weekly(120.0)) > math.log(1e6)
    assert model.lapse_log_odds(weekly(120.0), mean_gap=40.0) == -math.inf


def test_runs_on_one_network(capsys):
    assert main(["--profiles", "sparse", "--seeds", "11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    overall = next(line.split() for line in lines if line.split()[:1] == ["all"])
    # planted, expected twice, and flagged, correct, precision and recall of six classifiers
    assert len(overall) == 1 + 1 + 2 + 6 * 4
    people = sum(int(line.split()[1]) for line in lines[lines.index(
        "calibration of the model's posterior: people, mean posterior, share planted") + 1:])
    assert people > 0
