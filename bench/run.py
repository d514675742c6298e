"""The benchmark suite: model build, nightly run and ingest at scale, each against a baseline.

    .venv/bin/python bench/run.py                      # 10k, 100k, 1m and 10m messages
    .venv/bin/python bench/run.py --sizes 10k,100k,1m
    .venv/bin/python bench/run.py --quick              # 10k only, one run each (a smoke run)

For every size (networks from bench/networks.py, cached under bench/.cache/):

* model rebuild: core.* and marts.* rebuilt from raw.* by tests/conftest.py's
  rebuild_model, in a fresh process whose peak resident set is the memory figure;
  timed per SQL statement too.
* baseline: the same headline metrics in plain Python over the raw rows (bench/baseline.py),
  in its own process; its per-person figures are checked against the model's.

Then, once: the nightly Dagster job (refresh_everything) when 1,000 new messages arrive on
top of the 1M store, against a full model rebuild; ingest at a small size through the
existing mbox and Gmail benches; and the fitted exponent of rebuild time against messages
(least squares on log-log). Without --quick, also the demo team's `keepwarm run` on Celery
against the multiprocess executor (bench/cluster.py). The output is markdown, ready for
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from bench.baseline import COMPARED  # noqa: E402
from bench.first_import import verdict as first_import_verdict  # noqa: E402
from bench.ingest import (  # noqa: E402
    IngestFigure,
    gmail_figure,
    mbox_figure,
    plan_verdict,
    reader_verdicts,
)
from bench.networks import (  # noqa: E402
    CACHE_DIR,
    SIZES,
    Network,
    network,
    nightly_store,
    working_copy,
)

MEASURE = Path(__file__).resolve().parent / "measure.py"
NIGHTLY_SIZE = "1m"
FIRST_IMPORT_MESSAGES = 520_000
FIRST_IMPORT_QUICK = 5_000  # below the target's size: its line reads n/a
NEW_MESSAGES = 1_000
TARGET_SIZE = "1m"
TARGET_SECONDS = 30.0
TARGET_PEAK_MIB = 2 * 1024
BASELINE_NOTE = (
    "The baseline is a plain-Python script over the raw rows (bench/baseline.py), read once "
    "from DuckDB. It covers, per person: first and last contact, last inbound and last "
    "outbound, touchpoint counts over 30/90/365 days, messages sent and received, "
    "reciprocity balance, meetings, the tie flag; per tie: touchpoints, mean gap, usual gap "
    "and status by the going-cold rule of docs/metrics.md (the cold flag). The model has no "
    "median gap (it uses the mean, docs/metrics.md), so neither does the baseline. It does "
    "not compute weights, meeting hours, reply figures, tie strength, reasons, next steps, "
    "open loops or the network summary, which the model's time includes."
)
LARGE_FROM = 50_000
TIME_EXPONENT_ALL = "fitted exponent: rebuild time vs messages, all sizes"
TIME_EXPONENT_LARGE = "fitted exponent: rebuild time vs messages, 100k and up"
PEAK_EXPONENT_LARGE = "fitted exponent: rebuild peak RSS vs messages, 100k and up"
# About 4 minutes and 18 GiB per model rebuild, 6 minutes per baseline: measured once.
RUN_ONCE = {"10m"}


@dataclass
class SizeResult:
    """Everything measured on one network."""

    network: Network
    rebuilds: list[dict] = field(default_factory=list)
    baselines: list[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.network.size.label

    @property
    def messages(self) -> int:
        return self.network.messages

    def rebuild_seconds(self) -> list[float]:
        return [r["seconds"] for r in self.rebuilds]

    def rebuild_peaks(self) -> list[float]:
        return [r["peak_rss_mib"] for r in self.rebuilds]


# --- measuring ----------------------------------------------------------------------------


def measure(kind: str, target: Path, *flags: str) -> dict:
    """Run one measurement in a fresh interpreter and return its figures."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(MEASURE), kind, str(target), *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} on {target} failed:\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - started
    return figures


def measure_size(
    net: Network, workdir: Path, repeat: int, rebuild_flags: tuple[str, ...] = ()
) -> SizeResult:
    """Rebuild the model, then run the baseline, `repeat` times each on a private copy."""
    result = SizeResult(net)
    copy = working_copy(net, workdir, f"{net.size.label}.duckdb")
    try:
        for _ in range(repeat):
            result.rebuilds.append(measure("rebuild", copy, *rebuild_flags))
            progress(f"{net.size.label}: model rebuild {result.rebuilds[-1]['seconds']:.1f} s")
        for _ in range(repeat):
            result.baselines.append(measure("baseline", copy))
            progress(f"{net.size.label}: baseline {result.baselines[-1]['seconds']:.1f} s")
    finally:
        copy.unlink(missing_ok=True)
    return result


def measure_nightly(net: Network, workdir: Path, repeat: int) -> list[dict]:
    """The whole Dagster job on a fresh copy of the store each time (a run consumes the
    night's mail: the mbox cursor moves past it): as a nightly run finds it, the model
    built the night before, and, to compare, with no model yet, so that it builds all."""
    runs = []
    for attempt in range(repeat):
        for built in (True, False):
            directory = workdir / f"nightly-{attempt}-{'built' if built else 'bare'}"
            config = nightly_store(net, directory, NEW_MESSAGES, model_built=built)
            try:
                runs.append({**measure("nightly", config), "model_built": built})
            finally:
                shutil.rmtree(directory, ignore_errors=True)
            last = runs[-1]
            outcome = "" if complete_run(last) else (
                f" (FAILED: success {last['success']}, loaded {last['new_messages']})")
            progress(f"nightly job on {net.size.label}, interactions "
                     f"{last['interactions_build']}, summaries {last['summaries_build']}: "
                     f"{last['seconds']:.1f} s{outcome}")
    return runs


def profile(net: Network, workdir: Path) -> dict:
    """The rebuild once more, each table's statement under EXPLAIN ANALYZE."""
    copy = working_copy(net, workdir, f"{net.size.label}-profile.duckdb")
    try:
        return measure("rebuild", copy, "--explain")
    finally:
        copy.unlink(missing_ok=True)


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# --- arithmetic ---------------------------------------------------------------------------


def fitted_exponent(xs: list[float], ys: list[float]) -> float | None:
    """Slope of log(y) on log(x) by least squares: y grows as x to this power."""
    if len(xs) < 2:
        return None
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    spread = sum((x - mx) ** 2 for x in lx)
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / spread


def exponents_of(results: list[SizeResult]) -> dict[str, float | None]:
    """Fitted exponents over every size, and over 100k messages and up, where the fixed
    cost of a run (opening the file, planning, small tables) no longer flatters the slope."""
    large = [r for r in results if r.messages >= LARGE_FROM]

    def fit(chosen: list[SizeResult], figure) -> float | None:
        return fitted_exponent([r.messages for r in chosen], [figure(r) for r in chosen])

    def time_of(r: SizeResult) -> float:
        return statistics.median(r.rebuild_seconds())

    def peak_of(r: SizeResult) -> float:
        return max(r.rebuild_peaks())

    return {
        TIME_EXPONENT_ALL: fit(results, time_of),
        TIME_EXPONENT_LARGE: fit(large, time_of),
        PEAK_EXPONENT_LARGE: fit(large, peak_of),
    }


# --- printing -----------------------------------------------------------------------------


def seconds(values: list[float]) -> str:
    runs = " / ".join(f"{v:.1f}" for v in values)
    return f"{statistics.median(values):.1f} s" + (f" (runs {runs})" if len(values) > 1 else "")


def mib(values: list[float]) -> str:
    runs = " / ".join(f"{v:,.0f}" for v in values)
    return f"{max(values):,.0f} MiB" + (f" (runs {runs})" if len(values) > 1 else "")


def speed(baseline: float, ours: float) -> str:
    if ours <= baseline:
        return f"{baseline / ours:.2f}x faster"
    return f"{ours / baseline:.2f}x slower"


def share(baseline: float, ours: float) -> str:
    return f"{ours / baseline:.2f}x the baseline's"


def table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "".join("---:|" if i in right else "---|" for i in range(len(header))))
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def networks_table(results: list[SizeResult]) -> str:
    rows = []
    for r in results:
        n, size, rebuild = r.network, r.network.size, r.rebuilds[0]
        made = f"simulate {n.simulate_s:.1f} s + load {n.load_s:.1f} s"
        if size.copies > 1:
            made += f" + {size.copies - 1} renamed copies in SQL {n.copy_s:.1f} s"
        rows.append([
            size.label, f"{size.scale:g}", str(size.months), str(size.copies),
            f"{n.messages:,}", f"{n.events:,}", f"{rebuild['interactions']:,}",
            f"{rebuild['people']:,}", made, "cached" if n.cached else "built now",
        ])  # fmt: skip
    return table(
        ["size", "scale", "months", "copies", "raw.messages", "raw.events",
         "core.interactions", "core.people", "generation", ""],
        rows, right={1, 2, 3, 4, 5, 6, 7},
    )  # fmt: skip


def figures_table(
    results: list[SizeResult], nightly: list[dict], nightly_base: SizeResult | None,
    ingest: list[IngestFigure], exponents: dict[str, float | None],
) -> str:
    rows = []
    for r in results:
        ours, theirs = r.rebuild_seconds(), [b["seconds"] for b in r.baselines]
        size = f"{r.label} ({r.messages:,} msgs)"
        rows.append([
            "model rebuild: wall", size, seconds(ours), f"plain Python {seconds(theirs)}",
            speed(statistics.median(theirs), statistics.median(ours)),
        ])  # fmt: skip
        peaks, base_peaks = r.rebuild_peaks(), [b["peak_rss_mib"] for b in r.baselines]
        rows.append([
            "model rebuild: peak RSS", size,
            f"{mib(peaks)}; {r.rebuilds[0]['rss_at_start_mib']:,.0f} before the work",
            f"plain Python {mib(base_peaks)}; "
            f"{r.baselines[0]['rss_at_start_mib']:,.0f} before the work",
            share(max(base_peaks), max(peaks)),
        ])  # fmt: skip
        rows.append(["baseline = model, per person", size, *agreement(r)])
    for name, value in exponents.items():
        over = results if name == TIME_EXPONENT_ALL else [
            r for r in results if r.messages >= LARGE_FROM]
        rows.append([
            name, ", ".join(r.label for r in over) or "-",
            "n/a" if value is None else f"{value:.2f}", "linear = 1.00", "",
        ])  # fmt: skip
    complete = [n for n in nightly if complete_run(n)]
    if nightly and nightly_base:
        size = f"{nightly_base.label} + {NEW_MESSAGES:,} new msgs"
        failed = len(nightly) - len(complete)
        note = f" ({failed} of {len(nightly)} runs failed, left out)" if failed else ""
        nightly_runs = [n for n in complete if n["model_built"]]
        everything = [n for n in complete if not n["model_built"]]
        if not nightly_runs or not everything:
            rows.append(["nightly job (refresh_everything): wall", size,
                         f"a run failed{note}", "", ""])
        else:
            jobs = [n["seconds"] for n in nightly_runs]
            all_jobs = [n["seconds"] for n in everything]
            full = nightly_base.rebuild_seconds()
            rows.append([
                "nightly job (refresh_everything): wall", size,
                f"{seconds(jobs)} ({builds(nightly_runs)}); whole process "
                f"{seconds([n['process_s'] for n in nightly_runs])}{note}",
                f"the same job building everything {seconds(all_jobs)} "
                f"({builds(everything)})",
                f"{statistics.median(jobs) / statistics.median(all_jobs):.2f}x",
            ])  # fmt: skip
            rows.append([
                "nightly job against a model rebuild", size, seconds(jobs),
                f"full model rebuild {seconds(full)}",
                f"{statistics.median(jobs) / statistics.median(full):.2f}x",
            ])  # fmt: skip
            rows.append([
                "nightly job: peak RSS", size, mib([n["peak_rss_mib"] for n in nightly_runs]),
                f"building everything {mib([n['peak_rss_mib'] for n in everything])}", "",
            ])  # fmt: skip
    for figure in ingest:
        rows.append(
            [figure.figure, figure.input, figure.keepwarm, figure.compared_with, figure.ratio]
        )
    return table(["figure", "size", "keepwarm", "compared with", "ratio"], rows)


def builds(runs: list[dict]) -> str:
    """How the incremental tables were built in these runs: "incremental, 1,000 messages;
    summaries incremental, 2,287 of 33,801 people"."""
    interactions = "; ".join(sorted({n["interactions_build"] for n in runs}))
    summaries = "; ".join(sorted({n["summaries_build"] for n in runs}))
    return f"{interactions}; summaries {summaries}"


def complete_run(nightly_run: dict) -> bool:
    """The job succeeded and loaded exactly the night's mail."""
    return nightly_run["success"] and nightly_run["new_messages"] == NEW_MESSAGES


def agreement(r: SizeResult) -> list[str]:
    check = r.baselines[0]
    counted = f"{check['people']:,} people, {check['ties']:,} ties"
    if check["mismatches"]:
        first = check["mismatches"][0]
        return [f"DIFFERENT: {counted}", f"first: {first}", "baseline is wrong or model changed"]
    return [counted, f"{len(COMPARED)} figures each (bench/baseline.py)", "equal"]


def statements_table(results: list[SizeResult]) -> str:
    statements = [s for s in results[-1].rebuilds[0]["statements"] if s != "comments"]
    rows = []
    for statement in statements:
        row = [statement]
        for r in results:
            spent = r.rebuilds[0]["statements"].get(statement, 0.0)
            row.append(f"{spent:.2f} s ({spent / r.rebuilds[0]['seconds']:.0%})")
        rows.append(row)
    return table(["SQL file", *(r.label for r in results)], rows, right=set(range(1, 99)))


def nightly_steps(nightly: list[dict]) -> str:
    steps = next((n for n in nightly if complete_run(n) and n["model_built"]), nightly[0])["steps"]
    ordered = sorted(steps.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {spent:.1f} s" for name, spent in ordered)


def verdicts(
    results: list[SizeResult], exponents: dict[str, float | None], nightly: list[dict],
    memory_limit: str | None = None,
) -> list[tuple]:
    """(passed or None when not measured, target, evidence) per target."""
    by_label = {r.label: r for r in results}
    at_target = by_label.get(TARGET_SIZE)
    found: list[tuple] = []
    if at_target is None:
        found.append((None, f"model rebuild of 1M messages under {TARGET_SECONDS:.0f} s",
                      f"{TARGET_SIZE} was not run"))
        found.append((None, "model rebuild of 1M messages under 2 GiB peak memory",
                      f"{TARGET_SIZE} was not run"))
    else:
        times, peaks = at_target.rebuild_seconds(), at_target.rebuild_peaks()
        found.append((
            max(times) < TARGET_SECONDS,
            f"model rebuild of 1M messages under {TARGET_SECONDS:.0f} s",
            f"slowest of {len(times)} runs {max(times):.1f} s (runs "
            + " / ".join(f"{t:.1f}" for t in times) + ")",
        ))  # fmt: skip
        found.append((
            max(peaks) < TARGET_PEAK_MIB,
            "model rebuild of 1M messages under 2 GiB peak memory",
            f"highest of {len(peaks)} runs {max(peaks):,.0f} MiB of {TARGET_PEAK_MIB:,} (runs "
            + " / ".join(f"{p:,.0f}" for p in peaks) + ")",
        ))  # fmt: skip
    exponent, memory = exponents[TIME_EXPONENT_LARGE], exponents[PEAK_EXPONENT_LARGE]
    if exponent is None:
        found.append((None, "cost grows at most linearly with messages",
                      "needs two sizes of 100k messages or more"))
    else:
        large = [r.label for r in results if r.messages >= LARGE_FROM]
        found.append((
            exponent <= 1.0 and memory <= 1.0, "cost grows at most linearly with messages",
            f"time ~ messages^{exponent:.2f}, peak memory ~ messages^{memory:.2f} "
            f"(least squares on log-log over {', '.join(large)}; all sizes: time "
            f"^{exponents[TIME_EXPONENT_ALL]:.2f})",
        ))  # fmt: skip
    found.append(big_store_verdict(results, memory_limit))
    found.append(nightly_verdict(nightly))
    found.append(digest_verdict(nightly))
    return found


# Issue 18 §3: the largest store, built whole under the cap the pipeline uses.
BIG_STORE = "10m"
BIG_STORE_SECONDS = 180.0
BIG_STORE_PEAK_MIB = 4 * 1024


def big_store_verdict(results: list[SizeResult], memory_limit: str | None = None) -> tuple:
    """The 10M rebuild under the default warehouse.memory_limit: no table rolled back and
    built again without the cap (build_table's retry), peak and time within the target.
    Without a 10M run the largest size run is reported, as n/a."""
    target = (f"{BIG_STORE.upper()}-message store rebuilds under the default "
              f"warehouse.memory_limit without the uncapped retry, <= "
              f"{BIG_STORE_PEAK_MIB // 1024} GiB and <= {BIG_STORE_SECONDS:.0f} s")
    if not results:
        return (None, target, "no size was run")
    by_label = {r.label: r for r in results}
    chosen = by_label.get(BIG_STORE) or max(results, key=lambda r: r.messages)
    runs = chosen.rebuilds
    slowest = max(r["seconds"] for r in runs)
    peak = max(r["peak_rss_mib"] for r in runs)
    retried = sorted({t for r in runs for t in r.get("uncapped_retries", [])})
    detail = (f"{chosen.label} ({chosen.messages:,} messages) under memory_limit "
              f"{runs[0].get('memory_limit')}: slowest of {len(runs)} rebuilds {slowest:.1f} s, "
              f"peak {peak:,.0f} MiB, built again without the cap: "
              f"{', '.join(retried) or 'none'}")
    if memory_limit:
        return (None, target, detail + f" (--memory-limit {memory_limit}: not the default)")
    if chosen.label != BIG_STORE:
        return (None, target, detail + f" ({BIG_STORE} was not run)")
    passed = not retried and slowest <= BIG_STORE_SECONDS and peak <= BIG_STORE_PEAK_MIB
    return (passed, target, detail)


# "Well under the full rebuild": at most half of what the same job takes to build all.
NIGHTLY_SHARE = 0.5


def nightly_verdict(nightly: list[dict]) -> tuple:
    target = (f"nightly job at most {NIGHTLY_SHARE:.0%} of the same job building everything, "
              "and incremental in its work")
    complete = [n for n in nightly if complete_run(n)]
    # Each attempt runs the night and then the same job building everything, back to
    # back: the pair shares the machine's state, so the pairs are compared and the worst
    # one judged (the load on a shared machine drifts between attempts).
    attempts = zip([n for n in nightly if n["model_built"]],
                   [n for n in nightly if not n["model_built"]], strict=True)
    pairs = [(built["seconds"], bare["seconds"]) for built, bare in attempts
             if complete_run(built) and complete_run(bare)]
    if not pairs:
        return (None, target, "the nightly job was not run, or failed")
    share = max(built / bare for built, bare in pairs)
    modes = builds([n for n in complete if n["model_built"]])
    incremental_work = all(n["interactions_build"].startswith("incremental")
                           and n["summaries_build"].startswith("incremental")
                           for n in complete if n["model_built"])
    return (
        share <= NIGHTLY_SHARE and incremental_work, target,
        "nightly runs against the same attempt's build-everything run: "
        + ", ".join(f"{built:.1f} s / {bare:.1f} s" for built, bare in pairs)
        + f" ({modes}); the worst pair {share:.2f}x",
    )


# outputs/digest, the last step of every refresh: its Dagster step, as the nightly run on
# the 1M store times it (queries, charts, the page and its metadata).
DIGEST_STEP = "outputs__digest"
DIGEST_SECONDS = 2.0


def digest_verdict(nightly: list[dict]) -> tuple:
    target = f"digest asset (outputs/digest) under {DIGEST_SECONDS:.0f} s on the nightly store"
    spent = [n["steps"][DIGEST_STEP] for n in nightly
             if complete_run(n) and DIGEST_STEP in n["steps"]]
    if not spent:
        return (None, target, "the nightly job was not run, or failed")
    return (max(spent) < DIGEST_SECONDS, target,
            f"slowest of {len(spent)} runs {max(spent):.2f} s (runs "
            + " / ".join(f"{t:.2f}" for t in spent) + ")")


def hottest_table(profiled: dict) -> str:
    rows = []
    for statement, operators in profiled["hottest"].items():
        spent = profiled["statements"].get(statement.split(":")[0], 0.0)
        if spent < 0.05 * profiled["seconds"]:
            continue
        for op in operators[:4]:
            rows.append([
                f"{statement} ({spent:.1f} s)", op["operator"], f"{op['seconds']:.2f} s",
                f"{op['rows']:,}" if op["rows"] is not None else "", op["details"][:120],
            ])  # fmt: skip
    return table(
        ["statement (its file's wall under EXPLAIN ANALYZE)", "operator", "operator time",
         "rows", "what"],
        rows, right={2, 3},
    )  # fmt: skip


def load_average() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"


def machine() -> str:
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, IndexError, ValueError):
        pass
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs{memory}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


# --- the run ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help=f"comma-separated, from {', '.join(SIZES)}")
    parser.add_argument("--quick", action="store_true",
                        help="10k only (unless --sizes), one run each, nightly on the "
                             "smallest size, small ingest inputs")  # fmt: skip
    parser.add_argument("--repeat", type=int,
                        help="runs per figure (default 2; 1 with --quick and for 10m)")
    parser.add_argument("--memory-limit",
                        help="DuckDB memory_limit for the model rebuilds, e.g. 1500MB "
                             "(default: warehouse.memory_limit, as the pipeline runs)")
    parser.add_argument("--cache", type=Path, default=CACHE_DIR, help="network cache folder")
    parser.add_argument("--profile", action="store_true",
                        help="EXPLAIN ANALYZE the largest size even if every target passes")
    parser.add_argument("--no-nightly", action="store_true")
    parser.add_argument("--no-ingest", action="store_true")
    parser.add_argument("--no-cluster", action="store_true",
                        help="skip Celery against multiprocess (skipped with --quick too)")
    args = parser.parse_args(argv)
    labels = (args.sizes or ("10k" if args.quick else ",".join(SIZES))).split(",")
    unknown = [label for label in labels if label not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    args.labels = sorted(labels, key=list(SIZES).index)
    args.rebuild_flags = (f"--memory-limit={args.memory_limit}",) if args.memory_limit else ()
    return args


def repeats(args: argparse.Namespace, label: str) -> int:
    if args.repeat:
        return args.repeat
    return 1 if args.quick or label in RUN_ONCE else 2


@dataclass
class Report:
    """What one run measured and printed."""

    text: str
    results: list[SizeResult]
    nightly: list[dict]
    verdicts: list[tuple]
    rows: list[str]


def run(argv: list[str] | None = None) -> Report:
    args = parse_args(argv)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"# keepwarm benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say(f"# {machine()}")
    say(f"# {' '.join(['bench/run.py', *(argv if argv is not None else sys.argv[1:])])}")
    say(f"# load average at start: {load_average()}")
    say()
    workdir = Path(tempfile.mkdtemp(prefix="keepwarm-bench-"))
    try:
        results = []
        for label in args.labels:
            net = network(SIZES[label], args.cache)
            progress(f"{label}: {net.messages:,} messages ({'cached' if net.cached else 'built'})")
            results.append(measure_size(net, workdir, repeats(args, label), args.rebuild_flags))
        nightly_base = None
        nightly: list[dict] = []
        if not args.no_nightly:
            label = args.labels[0] if args.quick else NIGHTLY_SIZE
            nightly_base = next((r for r in results if r.label == label), None)
            if nightly_base is None:
                nightly_base = measure_size(network(SIZES[label], args.cache), workdir, 1)
            nightly = measure_nightly(nightly_base.network, workdir, repeats(args, label))
        ingest: list[IngestFigure] = []
        if not args.no_ingest:
            mbox = mbox_figure(repeat=1 if args.quick else 3)
            ingest = [f for f in (mbox, gmail_figure(300 if args.quick else 2_000)) if f]
        cluster = None
        if not (args.quick or args.no_cluster):  # issue 19: about 3 minutes on 2 cores
            cluster = cluster_line()
        exponents = exponents_of(results)
        found = verdicts(results, exponents, nightly, args.memory_limit)
        if not args.no_ingest:  # issue 18 §2 (the mbox reader) and §4 (the Gmail plan)
            found += [*reader_verdicts(args.quick), plan_verdict(args.quick)]
            # issue 18 §1: keepwarm run on an empty warehouse against the reader alone
            found.append(first_import_verdict(
                FIRST_IMPORT_QUICK if args.quick else FIRST_IMPORT_MESSAGES))
        profiled = None
        if any(passed is False for passed, *_ in found) or args.profile:
            profiled = profile(
                next((r for r in results if r.label == TARGET_SIZE), results[-1]).network,
                workdir,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    say(f"# load average at the end: {load_average()} (other work on the machine slows "
        "every figure alike; compare ratios within a run)")
    say()
    say("## Networks\n")
    say(networks_table(results))
    say()
    say("## Figures\n")
    figures = figures_table(results, nightly, nightly_base, ingest, exponents)
    say(figures)
    say()
    say(BASELINE_NOTE)
    say()
    say("## Targets\n")
    for passed, target, evidence in found:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[passed]
        say(f"- {mark} {target}: {evidence}")
    say()
    say("## Where the rebuild's time goes (first run, per SQL file)\n")
    say(statements_table(results))
    if nightly:
        say()
        say(f"Nightly job steps ({nightly_base.label}, first run): {nightly_steps(nightly)}.")
    if cluster:
        say()
        say(f"## The same run on a cluster (Celery)\n\n{cluster}")
    if profiled:
        say()
        say(f"## Profile: EXPLAIN ANALYZE at {profiled['messages']:,} messages\n")
        say(hottest_table(profiled))
    rows = [line.split(" | ")[0].removeprefix("| ") for line in figures.splitlines()[2:]]
    return Report("\n".join(lines), results, nightly, found, rows)


def cluster_line() -> str:
    """bench/cluster.py's line, or why it could not run here."""
    progress("cluster: the demo team on multiprocess, then on Celery")
    try:
        from bench.cluster import line, measure

        return line(measure())
    except Exception as exc:  # a broker or S3 stand-in that cannot start on this machine
        return f"not measured: {exc!r}"


def main(argv: list[str] | None = None) -> int:
    """Exit status 1 when the baseline and the model disagree (a missed target is a
    finding, printed as FAIL, not an error)."""
    report = run(argv)
    return 1 if any(r.baselines[0]["mismatches"] for r in report.results) else 0


if __name__ == "__main__":
    sys.exit(main())
