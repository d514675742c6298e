"""How well could any cold rule do on the demo networks? Ceilings from the simulator itself.

`keepwarm evaluate` scores keepwarm's rule against the simulator's planted stops. This
script asks what the best possible rule would score on the same networks, so that a
shortfall can be told apart from noise no rule can see through. It reads the simulator's
contact episodes directly (exact times, no mail noise to filter: more than the warehouse
shows) and classifies each person with the simulator's own generative model:

* **Bayes, model known**: the posterior odds that the relationship was planted to stop,
  under the model the simulator draws from — a person's mean gap from the segment mixture
  (uniform within each segment's range), a gamma shape uniform on GAP_SHAPES, gamma
  renewal gaps, the window's phase for ties that predate it, and the planting rule (a
  share PLANTED_SHARE stop after a contact that leaves a silence of PLANTED_MIN_GAPS mean
  gaps to MAX_SILENCE_FOR_COLD_DAYS). Referred people, whom an introduction in the
  mailbox marks, get their segment's range. It knows everything a rule could learn from
  all the networks there are, but not the person's own rhythm.
* **Bayes, rhythm known**: the same with each person's true mean gap from raw.demo_truth
  (only the shape unknown): what is lost to estimating a rhythm from two years.

A person is flagged when the posterior odds exceed a threshold: 1 is the rule with the
fewest mistakes; 2 and 3 trade recall for precision. "expected" is the sum of posterior
probabilities, against the number planted: a check that the model matches the simulator.

Approximations: the count of later stop candidates a planted stop was drawn among is set
to its expectation, the chance that a tie had any candidate is a window-length ratio, and
the truncation of the lead-in by a tie's start date is ignored. Pure Python (no numpy in
the project); about 10 s a network.

    .venv/bin/python bench/cold_ceiling.py                              # 3 profiles x 10 seeds
    .venv/bin/python bench/cold_ceiling.py --profiles default --seeds 7
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from connectors.demo import simulate  # noqa: E402
from connectors.demo.simulator import (  # noqa: E402
    CONTACTS_BEFORE_STOP,
    GAP_SHAPES,
    MAX_SILENCE_FOR_COLD_DAYS,
    NEW_TIE_END_MARGIN_DAYS,
    PLANTED_MIN_DAYS,
    PLANTED_MIN_GAPS,
    PLANTED_SHARE,
    PREDATES_WINDOW,
    PROFILES,
    REFERRED_GAPS,
    REFERRED_START_MARGINS_DAYS,
    SEGMENTS,
)
from pipelines.cli import Score  # noqa: E402

THRESHOLDS = (1.0, 2.0, 3.0)
MEAN_GAP_POINTS = 24  # midpoints per segment's range of mean gaps
SHAPE_POINTS = 8
LEAD_IN_SAMPLES = 40_000
LEAD_IN_BIN = 0.05  # in mean gaps
LEAD_IN_BINS = 200  # up to 10 mean gaps; beyond, the density is taken as the floor
MIN_CONTACTS_BEFORE_STOP = CONTACTS_BEFORE_STOP + 1  # the stop is a contact itself


def log_gamma_tail(a: float, x: float) -> float:
    """log Q(a, x), the regularised upper incomplete gamma function, for a > 0.

    The series for P(a, x) below x = a + 1, the continued fraction for Q above it
    (modified Lentz), worked in logs so that a far tail does not underflow.
    """
    if x <= 0.0:
        return 0.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        denominator = a
        while term > total * 1e-15:
            denominator += 1.0
            term *= x / denominator
            total += term
        lower = total * math.exp(log_prefactor)
        return math.log1p(-lower) if lower < 1.0 else -math.inf
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = d if abs(d) > tiny else tiny
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return log_prefactor + math.log(h)


def log_sum_exp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in values))


def lead_in_density(shape: float, rng: random.Random) -> list[float]:
    """Density of the first contact's time after the window opens, in mean gaps.

    Drawn the way the simulator places a tie that predates the window: a random phase of
    one gap before the window, a random part of the next, then whole gaps until the
    window is reached. It depends on the shape only, as gaps scale with the mean.
    """
    counts = [0] * LEAD_IN_BINS
    for _ in range(LEAD_IN_SAMPLES):
        t = -rng.gammavariate(shape, 1 / shape) * rng.random()
        t += rng.gammavariate(shape, 1 / shape) * rng.random()
        while t < 0:
            t += rng.gammavariate(shape, 1 / shape)
        if t < LEAD_IN_BINS * LEAD_IN_BIN:
            counts[int(t / LEAD_IN_BIN)] += 1
    scale = LEAD_IN_SAMPLES * LEAD_IN_BIN
    return [max(n, 0.5) / scale for n in counts]


@dataclass(frozen=True)
class History:
    """One person's contact as the simulator drew it, in days from the window's start."""

    times: list[float]
    window_days: float
    referred: bool

    @property
    def silence(self) -> float:
        return self.window_days - self.times[-1]

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in pairwise(self.times)]


def mean_gap_grid(segments: list[tuple[int, tuple[float, float]]],
                  ) -> list[tuple[float, float]]:
    """Midpoints of each segment's range of mean gaps, each with its log prior weight:
    the segment's share of people, spread evenly over its points."""
    people = sum(count for count, _ in segments)
    return [(low + (i + 0.5) * (high - low) / MEAN_GAP_POINTS,
             math.log(count / people / MEAN_GAP_POINTS))
            for count, (low, high) in segments
            for i in range(MEAN_GAP_POINTS)]


class PlantedStopModel:
    """The simulator's generative model, as a prior over (mean gap, shape) on a grid."""

    def __init__(self, profile: str) -> None:
        settings = PROFILES[profile]
        segments = [
            (max(1, round(count * settings.people)),
             (low * settings.gaps, high * settings.gaps))
            for count, (low, high), _ in SEGMENTS.values()
        ]
        self.shapes = [GAP_SHAPES[0] + (i + 0.5) * (GAP_SHAPES[1] - GAP_SHAPES[0]) / SHAPE_POINTS
                       for i in range(SHAPE_POINTS)]
        rng = random.Random(0)
        self.lead_in = {shape: lead_in_density(shape, rng) for shape in self.shapes}
        # (mean gap, log prior weight of the point) over the segment mixture. Referred
        # people are told apart (an introduction brought them, which the mailbox shows)
        # and have a range of their own.
        self.mean_gaps = mean_gap_grid(segments)
        self.referred_mean_gaps = mean_gap_grid([(1, REFERRED_GAPS)])

    def lapse_log_odds(self, history: History, mean_gap: float | None = None) -> float:
        """log posterior odds that contact stopped for good at the last time seen.

        With `mean_gap`, the person's rhythm is known and only the shape is averaged over.
        """
        if mean_gap is not None:
            points = [(mean_gap, 0.0)]
        else:
            points = self.referred_mean_gaps if history.referred else self.mean_gaps
        gaps = history.gaps
        n, total = len(gaps), sum(gaps)
        total_log = sum(math.log(g) for g in gaps)
        silence, lead_in = history.silence, history.times[0]
        late_silences = [history.window_days - t
                         for t in history.times[MIN_CONTACTS_BEFORE_STOP - 1:]]
        stopped, alive = [], []
        log_shape_weight = -math.log(len(self.shapes))
        for mu, log_weight in points:
            low = max(PLANTED_MIN_GAPS * mu, PLANTED_MIN_DAYS)
            candidates = sum(low <= s <= MAX_SILENCE_FOR_COLD_DAYS for s in late_silences)
            can_stop_here = (len(history.times) >= MIN_CONTACTS_BEFORE_STOP
                             and low <= silence <= MAX_SILENCE_FOR_COLD_DAYS)
            # The stop is drawn among its candidates: those seen, and the contacts that
            # would have followed it while the silence left was still long enough.
            log_stop = (math.log(PLANTED_SHARE) - math.log(candidates + (silence - low) / mu)
                        if can_stop_here else -math.inf)
            any_candidate = min(1.0, max(0.0, MAX_SILENCE_FOR_COLD_DAYS - low) / mu)
            log_not_stopped = math.log1p(-PLANTED_SHARE * any_candidate)
            for shape in self.shapes:
                log_gaps = (n * (shape * math.log(shape / mu) - math.lgamma(shape))
                            + (shape - 1) * total_log - shape * total / mu)
                log_history = (log_weight + log_shape_weight + log_gaps
                               + self._log_start(history, lead_in, mu, shape))
                stopped.append(log_history + log_stop)
                alive.append(log_history + log_not_stopped
                             + log_gamma_tail(shape, shape * silence / mu))
        return log_sum_exp(stopped) - log_sum_exp(alive)

    def _log_start(self, history: History, lead_in: float, mu: float, shape: float) -> float:
        """log density of the first contact's time: a tie from before, or a new one."""
        if history.referred:
            after_start, before_end = REFERRED_START_MARGINS_DAYS
            first, last = after_start, history.window_days - before_end
            return -math.log(last - first) if first <= lead_in <= last else -math.inf
        new_span = history.window_days - NEW_TIE_END_MARGIN_DAYS
        new = (1 - PREDATES_WINDOW) / new_span if lead_in <= new_span else 0.0
        density = self.lead_in[shape]
        bin_ = int(lead_in / mu / LEAD_IN_BIN)
        old = PREDATES_WINDOW * density[min(bin_, LEAD_IN_BINS - 1)] / mu
        return math.log(old + new)


@dataclass
class Tally:
    flagged: int = 0
    correct: int = 0
    planted: int = 0
    expected: float = 0.0

    def add(self, other: Tally) -> None:
        self.flagged += other.flagged
        self.correct += other.correct
        self.planted += other.planted
        self.expected += other.expected

    def cells(self) -> str:
        score = Score(flagged=self.flagged, planted=self.planted, correct=self.correct)
        return (f"{self.flagged:>4} {self.correct:>4} {score.precision:>5.2f} "
                f"{score.recall:>5.2f}")


CLASSIFIERS = [(known, threshold) for known in (False, True) for threshold in THRESHOLDS]


def score_network(model: PlantedStopModel, profile: str, seed: int, end: date,
                  months: int, *, list_people: bool = False,
                  ) -> tuple[list[Tally], list[tuple[float, bool]]]:
    """One Tally per classifier (model known / rhythm known, each threshold), and each
    person's posterior probability of a lapse under the model, with the truth.

    With `list_people`, print everyone planted or with odds over 1, for reading misses.
    """
    network = simulate(seed=seed, end=end, months=months, profile=profile)
    window_days = (network.window_end - network.window_start).total_seconds() / 86400
    truth = {row.address: row for row in network.truth}
    tallies = [Tally() for _ in CLASSIFIERS]
    judged = []
    for address, times in network.contact_times.items():
        row = truth[address]
        if not times:
            continue
        history = History(
            times=[(t - network.window_start).total_seconds() / 86400 for t in times],
            window_days=window_days, referred=row.segment == "referred")
        odds = {False: model.lapse_log_odds(history),
                True: model.lapse_log_odds(history, mean_gap=row.mean_gap_days)}
        for tally, (known, threshold) in zip(tallies, CLASSIFIERS, strict=True):
            flagged = odds[known] > math.log(threshold)
            tally.flagged += flagged
            tally.correct += flagged and row.planted_cold
            tally.expected += 1 / (1 + math.exp(-odds[known]))
        judged.append((1 / (1 + math.exp(-odds[False])), row.planted_cold))
        if list_people and (row.planted_cold or odds[False] > 0):
            print(f"    {address:<34} planted {row.planted_cold!s:<5} "
                  f"contacts {len(times):>3}  silent {history.silence:>5.0f} d  "
                  f"true mean gap {row.mean_gap_days:>5.1f} d  odds: model "
                  f"{math.exp(odds[False]):>8.2f}  known {math.exp(odds[True]):>8.2f}")
    planted = sum(row.planted_cold for row in network.truth)
    for tally in tallies:
        tally.planted = planted
    return tallies, judged


CALIBRATION_BINS = (0.0, 0.02, 0.2, 0.5, 0.8, 0.98, 1.0)


def print_calibration(judged: list[tuple[float, bool]]) -> None:
    """Planted share against the mean posterior, by posterior: equal when the model is
    the simulator's."""
    print("\ncalibration of the model's posterior: people, mean posterior, share planted")
    for low, high in pairwise(CALIBRATION_BINS):
        inside = [(p, planted) for p, planted in judged
                  if low <= p < high or (high == 1.0 and p == 1.0)]
        if inside:
            mean = sum(p for p, _ in inside) / len(inside)
            share = sum(planted for _, planted in inside) / len(inside)
            print(f"  {low:.2f}-{high:.2f} {len(inside):>6} {mean:>8.3f} {share:>8.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=sorted(PROFILES),
                        choices=sorted(PROFILES))
    parser.add_argument("--seeds", type=int, nargs="+",
                        default=[7, 11, 23, 42, 101, 1, 2, 3, 4, 5])
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--list", action="store_true",
                        help="print each person planted or with model odds over 1")
    args = parser.parse_args(argv)

    heads = "  ".join(f"{'known' if known else 'model'} odds>{threshold:g}".center(22)
                      for known, threshold in CLASSIFIERS)
    print(f"end {args.end}, {args.months} months; per classifier: flagged correct "
          "precision recall")
    print(f"{'profile':>9} {'seed':>5} {'planted':>7} {'expected':>15}  {heads}")
    overall = [Tally() for _ in CLASSIFIERS]
    judged = []
    for profile in args.profiles:
        model = PlantedStopModel(profile)
        pooled = [Tally() for _ in CLASSIFIERS]
        for seed in args.seeds:
            tallies, people = score_network(model, profile, seed, args.end, args.months,
                                            list_people=args.list)
            judged += people
            print_row(profile, str(seed), tallies)
            for total, tally in zip(pooled, tallies, strict=True):
                total.add(tally)
        print_row(profile, "all", pooled)
        for total, tally in zip(overall, pooled, strict=True):
            total.add(tally)
    print_row("all", "", overall)
    print_calibration(judged)
    return 0


def print_row(profile: str, seed: str, tallies: list[Tally]) -> None:
    model, known = tallies[0], tallies[len(THRESHOLDS)]
    print(f"{profile:>9} {seed:>5} {model.planted:>7} {model.expected:>7.1f} "
          f"{known.expected:>7.1f}  " + "  ".join(t.cells() for t in tallies), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
