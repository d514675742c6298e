"""The `keepwarm` command: run the pipeline, print who is going cold, score the demo."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import yaml

from connectors.google import AuthError
from pipelines.config import ConfigError, KeepwarmConfig, config_path, load_config
from pipelines.progress import RunProgress
from pipelines.serving import ServingCopyMissingError, open_serving_copy
from pipelines.warehouse import WarehouseLockedError, fetch_one

EXAMPLE_QUERIES = """\
Query it with SQL: `.venv/bin/keepwarm sql "<query>"`, or any DuckDB client on that file.

  select display_name, status, reason, next_step from marts.relationship_status
    where status in ('cold', 'cooling') and snoozed_until is null order by attention_rank
  select * from marts.contact_metrics order by interactions_365d desc limit 20
  select noise_reason, count(*) from core.interactions group by all   -- what was left out
  select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'
"""


def run_pipeline(config_file: Path, *, quiet: bool = True,
                 progress: RunProgress | None = None) -> bool:
    """Materialise every asset for `config_file`; True when all succeeded.

    One mailbox runs in this process. Several land side by side, one step process each,
    as the Dagster UI and the schedule run them. `progress` shows how the landing goes.
    """
    from dagster import DagsterInstance

    from assets.ingest import configured_mailboxes
    from pipelines.definitions import materialize_everything

    parallel = len(configured_mailboxes(load_config(config_file))) > 1
    if os.environ.get("DAGSTER_HOME"):
        instance = DagsterInstance.get()
    else:
        # Step processes report to the run through the instance, so it must be on disk.
        instance = DagsterInstance.local_temp() if parallel else DagsterInstance.ephemeral()
    run_config = (
        {"loggers": {"console": {"config": {"log_level": "WARNING"}}}} if quiet else None
    )
    with instance:
        result = materialize_everything(
            config_file, instance=instance, parallel=parallel,
            run_config=progress.run_config(run_config) if progress else run_config)
        if result.success:
            # What the nightly sensor does after the refresh: snapshot the last full day.
            result = snapshot_last_day(config_file, instance=instance, run_config=run_config)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            print(f"{event.step_key} failed: {cause.message.strip()}", file=sys.stderr)
    return result.success


def snapshot_last_day(config_file: Path, *, instance, run_config=None):
    """Fill marts.status_history for the last full day, in this process."""
    from assets.history import HISTORY_JOB_NAME, last_full_day
    from pipelines.definitions import build_definitions

    job = build_definitions(config_file).resolve_job_def(HISTORY_JOB_NAME)
    return job.execute_in_process(instance=instance, run_config=run_config,
                                  partition_key=last_full_day().isoformat(),
                                  raise_on_error=False)


def print_cold_list(con: duckdb.DuckDBPyConnection, *, limit: int) -> int:
    """Print the ties that are cold or cooling, most worth acting on first; ties the user
    snoozed (`keepwarm snooze`) are left out until their snooze ends."""
    rows = con.execute(
        """
        select display_name, address, status, strftime(last_contact_at, '%Y-%m-%d'),
               round(usual_gap_days)::int, round(days_silent)::int, reason, next_step
        from marts.relationship_status
        where status in ('cold', 'cooling') and snoozed_until is null
        order by attention_rank
        limit $limit
        """,
        {"limit": limit},
    ).fetchall()
    total = fetch_one(
        con,
        "select count(*) filter (where status = 'cold' and snoozed_until is null), "
        "count(*) filter (where status = 'cooling' and snoozed_until is null), count(*), "
        "count(*) filter (where status in ('cold', 'cooling') and snoozed_until is not null) "
        "from marts.relationship_status",
    )
    snoozed = f" ({total[3]} more snoozed)" if total[3] else ""
    print(f"\nGoing cold: {total[0]} cold and {total[1]} cooling of {total[2]} relationships"
          f"{snoozed}.\n")
    header = ("name", "address", "status", "last contact", "usual gap", "silent")
    table = [
        (name, address, status, last, f"{gap} d", f"{silent} d")  # the reason's rounding
        for name, address, status, last, gap, silent, _, _ in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row, (*_, reason, next_step) in zip(table, rows, strict=True):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
        print(f"    why: {reason}\n    next: {next_step}")
    return len(rows)


@dataclass(frozen=True)
class Score:
    """Cold flags against the demo simulator's planted truth."""

    flagged: int
    planted: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.planted if self.planted else 0.0


def score_cold_flags(con: duckdb.DuckDBPyConnection, *, lapsed: bool = False,
                     min_touchpoints: int = 3) -> Score:
    """Compare status 'cold' with the relationships the simulator planted to stop.

    lapsed: score 'cold or dormant' instead, every status that says a relationship lapsed.
    Dormant contacts with under `min_touchpoints` touchpoints never became relationships,
    so they claim no lapse and are left out, as the backtest leaves them out.
    """
    flagged, planted, correct = fetch_one(
        con,
        """
        with truth as (
            select normalize_address(address) as person_id, planted_cold from raw.demo_truth
        ),
        flags as (
            select person_id from marts.relationship_status
            where status = 'cold'
               or ($lapsed and status = 'dormant' and touchpoints >= $min_touchpoints)
        )
        select
            (select count(*) from flags),
            (select count(*) from truth where planted_cold),
            (select count(*) from flags join truth using (person_id) where planted_cold)
        """,
        {"lapsed": lapsed, "min_touchpoints": min_touchpoints},
    )
    return Score(flagged=flagged, planted=planted, correct=correct)


def backtest_cold_flags(con: duckdb.DuckDBPyConnection, config: KeepwarmConfig) -> Score:
    """The backtest asset's rule on this warehouse's own history, without the truth.

    `planted` here counts the silences that really lapsed (docs/metrics.md, Backtest).
    """
    from assets.history import backtest_dates, run_backtest  # Dagster loads slowly

    run_backtest(con, config.model_params(),
                 backtest_dates(config.as_of(), config.backtest.cutoffs,
                                config.backtest.step_days))
    flagged, lapsed, correct = fetch_one(con, """
        select coalesce(sum(flagged_cold), 0), coalesce(sum(lapsed), 0),
               coalesce(sum(flagged_and_lapsed), 0)
        from marts.backtest""")
    return Score(flagged=flagged, planted=lapsed, correct=correct)


def _open(config_file: Path) -> duckdb.DuckDBPyConnection:
    """The serving copy, read-only: never held by a run, so never a lock error."""
    warehouse = load_config(config_file).warehouse
    try:
        return open_serving_copy(Path(warehouse.serving_path))
    except ServingCopyMissingError as missing:
        if not Path(warehouse.path).exists():
            raise SystemExit(f"no warehouse at {warehouse.path}: run `keepwarm run` first") \
                from missing
        # A warehouse built before serving copies existed: read it, if no run holds it.
        print(f"keepwarm: {missing}; reading the warehouse {warehouse.path} instead, which "
              "fails while a run writes it", file=sys.stderr)
        try:
            return duckdb.connect(warehouse.path, read_only=True)
        except duckdb.IOException as exc:
            raise SystemExit(f"keepwarm: {warehouse.path} is being written and has no "
                             f"serving copy yet; try again after the run ({exc})") from exc


def cmd_run(args: argparse.Namespace) -> int:
    config_file = Path(args.config)
    with RunProgress(sys.stderr, bars=not args.verbose) as progress:
        succeeded = run_pipeline(config_file, quiet=not args.verbose, progress=progress)
    if not succeeded:
        print("the run failed; re-run with --verbose for the log", file=sys.stderr)
        return 1
    from pipelines.digest.commands import print_digest  # matplotlib loads slowly

    config = load_config(config_file)
    with _open(config_file) as con:
        if progress.report(con) == "mistake":
            return 2
        print_digest(con, config, limit=args.limit)
        print(f"\nThe page: {config.outputs.digest_path} (written by every refresh)")
        if config.sources.demo is not None:
            score = score_cold_flags(con)
            print(
                f"\nDemo truth: {score.correct} of {score.flagged} cold flags were planted "
                f"(precision {score.precision:.2f}); {score.correct} of {score.planted} "
                f"planted lapses found (recall {score.recall:.2f})."
            )
            lapsed = score_cold_flags(con, lapsed=True,
                                      min_touchpoints=config.status.min_touchpoints)
            print(f"Cold or dormant: {lapsed.correct} of {lapsed.flagged} right (precision "
                  f"{lapsed.precision:.2f}), {lapsed.correct} of {lapsed.planted} lapses found "
                  f"(recall {lapsed.recall:.2f}).")
    print(f"\nWarehouse: {config.warehouse.serving_path} (the serving copy, replaced after "
          "each run; query it while runs write)\n")
    print(EXAMPLE_QUERIES)
    print("Explore the asset graph: .venv/bin/dagster dev -w workspace.yaml")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from pipelines.digest.commands import print_digest  # matplotlib loads slowly

    config_file = Path(args.config)
    with _open(config_file) as con:
        return print_digest(con, load_config(config_file), show_all=args.all,
                            html_path=args.html)


def cmd_person(args: argparse.Namespace) -> int:
    from pipelines.digest.commands import print_person

    config_file = Path(args.config)
    with _open(config_file) as con:
        return print_person(con, load_config(config_file), args.query)


def cmd_cold(args: argparse.Namespace) -> int:
    with _open(Path(args.config)) as con:
        print_cold_list(con, limit=args.limit)
    return 0


def cmd_auth_google(args: argparse.Namespace) -> int:
    """Run Google's consent flow in the browser and store the token, owner-only.

    The token asks for what keepwarm.yaml reads from this address (Gmail, Calendar or
    both, in one consent); an address not configured yet gets Gmail, plus Calendar with
    --calendar.
    """
    from connectors.google import authorize, google_scopes
    from pipelines.config import GoogleAccountConfig

    sources = load_config(Path(args.config)).sources.google_sources(args.account)
    if not any(sources.values()):
        sources = {"gmail": True, "calendar": args.calendar}
    scopes = google_scopes(gmail=sources["gmail"], calendar=sources["calendar"] or args.calendar)
    token = GoogleAccountConfig(address=args.account, token_file=args.token_file).token_path()
    token.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    authorize(args.client_secrets, token, scopes, account=args.account,
              open_browser=not args.no_browser)
    print(f"token for {args.account} saved to {token} (readable by you only); scopes: "
          f"{' '.join(scopes)}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    with _open(Path(args.config)) as con:
        con.sql(args.query).show(max_width=200, max_rows=args.max_rows)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the rule on several demo seeds, each in a throwaway warehouse."""
    base = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    print(f"profile {args.profile}, end {args.end}")
    print(f"{'seed':>6} {'flagged':>8} {'planted':>8} {'correct':>8} {'precision':>10} "
          f"{'recall':>7}   backtest on its own history: precision recall"
          "   cold or dormant: flagged correct precision recall")
    scores, backtests, lapses = [], [], []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            config = {
                **base,
                "warehouse": {"path": str(Path(tmp) / "eval.duckdb")},
                "sources": {"demo": {**(base.get("sources", {}).get("demo") or {}),
                                     "seed": seed, "end": args.end.isoformat(),
                                     "profile": args.profile}},
                "status": {**(base.get("status") or {}), "as_of": f"{args.end}T00:00:00Z"},
            }
            config_file = Path(tmp) / "keepwarm.yaml"
            config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
            if not run_pipeline(config_file):
                print(f"seed {seed}: the run failed", file=sys.stderr)
                return 1
            with duckdb.connect(config["warehouse"]["path"]) as con:
                s = score_cold_flags(con)
                b = backtest_cold_flags(con, load_config(config_file))
                lapse = score_cold_flags(
                    con, lapsed=True,
                    min_touchpoints=load_config(config_file).status.min_touchpoints)
        scores.append(s)
        backtests.append(b)
        lapses.append(lapse)
        print(f"{seed:>6} {s.flagged:>8} {s.planted:>8} {s.correct:>8} {s.precision:>10.2f} "
              f"{s.recall:>7.2f}   {b.precision:>42.2f} {b.recall:>6.2f}"
              f"   {lapse.flagged:>24} {lapse.correct:>7} {lapse.precision:>9.2f} "
              f"{lapse.recall:>6.2f}")
    pooled, pooled_backtest, pooled_lapse = (
        Score(*(sum(getattr(s, f) for s in group) for f in ("flagged", "planted", "correct")))
        for group in (scores, backtests, lapses))
    print(f"{'all':>6} {pooled.flagged:>8} {pooled.planted:>8} {pooled.correct:>8} "
          f"{pooled.precision:>10.2f} {pooled.recall:>7.2f}   "
          f"{pooled_backtest.precision:>42.2f} {pooled_backtest.recall:>6.2f}"
          f"   {pooled_lapse.flagged:>24} {pooled_lapse.correct:>7} "
          f"{pooled_lapse.precision:>9.2f} {pooled_lapse.recall:>6.2f}")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from pipelines.actions import check_log

    return _act(args, lambda today: check_log(args.date, args.how, args.minutes, today,
                                              undo=args.undo), note=args.note)


def cmd_snooze(args: argparse.Namespace) -> int:
    from pipelines.actions import check_snooze

    return _act(args, lambda today: check_snooze(args.until, args.days, today, undo=args.undo))


def cmd_ignore(args: argparse.Namespace) -> int:
    from pipelines.actions import Action

    return _act(args, lambda today: Action("ignore", undo=args.undo))


def cmd_cadence(args: argparse.Namespace) -> int:
    from pipelines.actions import check_cadence

    # QUERY may be several words ("Ana Lima 14"): a number at the end is DAYS.
    days = None
    if len(args.query) > 1 or not args.undo:
        try:
            days = float(args.query[-1])
            args.query = args.query[:-1]
        except ValueError:
            pass
    return _act(args, lambda today: check_cadence(days, undo=args.undo))


def _act(args: argparse.Namespace, action, note: str | None = None) -> int:
    """Record one action (pipelines/actions.py) and say what it did; a mistake is one line
    and exit status 2."""
    from pipelines.actions import ActionError, act, describe

    config = load_config(Path(args.config))
    try:
        recorded = act(config, " ".join(args.query), action(config.as_of().date()), note=note,
                       rebuild=not args.no_rebuild, wait_s=args.wait)
    except ActionError as exc:
        print(f"keepwarm: {exc}", file=sys.stderr)
        return 2
    print(describe(recorded))
    return 0


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, not {text!r}") \
            from None


def _action_parser(commands, name: str, help: str, undo: str) -> argparse.ArgumentParser:
    """A subcommand that records an action on one person, with the options all share."""
    from pipelines.actions import DEFAULT_WAIT_S

    parser = commands.add_parser(name, help=help, description=help)
    parser.add_argument("query", metavar="QUERY", nargs="+",
                        help="the person: an address (exact match wins), or a name or part "
                             "of one (quotes optional)")
    parser.add_argument("--undo", action="store_true", help=f"{undo} (default: off)")
    parser.add_argument("--no-rebuild", action="store_true",
                        help="only record it; it takes effect at the next run (default: "
                             "rebuild the model and republish the serving copy now)")
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT_S, metavar="SECONDS",
                        help="how long to wait for a run that is writing the warehouse "
                             "(default: %(default)g)")
    return parser


def _add_action_commands(commands) -> None:
    from pipelines.actions import DEFAULT_IN_PERSON_MINUTES, HOWS

    log = _action_parser(commands, "log",
                         "record contact no mail or calendar shows (a call, a chat in person)",
                         "withdraw the latest contact logged with them (the one on --date, "
                         "if given)")
    log.add_argument("--date", type=_iso_date, metavar="YYYY-MM-DD",
                     help="the day it happened (default: today)")
    log.add_argument("--how", choices=HOWS, default="call",
                     help="call, in-person (counts as face time) or other "
                          "(default: %(default)s)")
    log.add_argument("--minutes", type=float,
                     help="how long you met, for --how in-person "
                          f"(default: {DEFAULT_IN_PERSON_MINUTES:g})")
    log.add_argument("--note", help="your own note, kept in raw.actions only (default: none)")
    log.set_defaults(handler=cmd_log)

    snooze = _action_parser(commands, "snooze",
                            "keep someone off the going-cold lists until a date",
                            "end their snooze now")
    until = snooze.add_mutually_exclusive_group()
    until.add_argument("--until", type=_iso_date, metavar="YYYY-MM-DD",
                       help="the day they return to the lists (default: none; this or --days)")
    until.add_argument("--days", type=float, metavar="N",
                       help="snooze for N days from today (default: none; this or --until)")
    snooze.set_defaults(handler=cmd_snooze)

    ignore = _action_parser(commands, "ignore",
                            "not a relationship (a vendor, a former landlord): never a tie",
                            "count them again")
    ignore.set_defaults(handler=cmd_ignore)

    cadence = _action_parser(commands, "cadence",
                             "the rhythm you want with someone: cooling past DAYS of silence, "
                             "cold past 1.5 x DAYS; wins over status.cadence",
                             "clear it (status.cadence in keepwarm.yaml applies again)")
    # DAYS is read off the end of QUERY (cmd_cadence), so that names need no quotes.
    cadence.usage = "keepwarm cadence [-h] [--undo] [--no-rebuild] [--wait SECONDS] QUERY DAYS"
    cadence.epilog = ("DAYS: days between contacts, after QUERY (required without --undo; "
                      "no default)")
    cadence.set_defaults(handler=cmd_cadence)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keepwarm", description="Keep a professional network warm."
    )
    parser.add_argument("--config", default=str(config_path()),
                        help="config file (default: $KEEPWARM_CONFIG or ./keepwarm.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="sync every source, rebuild, print the digest")
    run.add_argument("--limit", type=int, default=None,
                     help="entries per digest list (default: outputs.digest_limit)")
    run.add_argument("--verbose", action="store_true", help="show Dagster's log")
    run.set_defaults(handler=cmd_run)

    cold = commands.add_parser("cold", help="print the cold list from the last run")
    cold.add_argument("--limit", type=int, default=50)
    cold.set_defaults(handler=cmd_cold)

    digest = commands.add_parser(
        "digest", help="print the digest from the last run: replies owed, ties going cold, "
        "people to reconnect with, key dates, meeting prep, introductions, the network")
    digest.add_argument("--all", action="store_true",
                        help="print every entry of every list (default: outputs.digest_limit "
                             "each, then 'and N more')")
    digest.add_argument("--html", type=Path, metavar="PATH",
                        help="also write the page to PATH (default: none; every refresh "
                             "writes it to outputs.digest_path)")
    digest.set_defaults(handler=cmd_digest)

    person = commands.add_parser("person", help="print one person: the tie, its rhythm, "
                                 "open loops, introductions, key dates and every interaction")
    person.add_argument("query", help="a name or an address, or part of one (fuzzy)")
    person.set_defaults(handler=cmd_person)

    auth = commands.add_parser("auth", help="authorise access to a Google account")
    auth_source = auth.add_subparsers(dest="service", required=True)
    google = auth_source.add_parser("google", help="Gmail metadata, read-only")
    google.add_argument("--account", required=True, help="the Google address to authorise")
    google.add_argument("--calendar", action="store_true",
                        help="also ask for Calendar (read-only) for an address not yet in "
                             "keepwarm.yaml")
    google.add_argument("--client-secrets", required=True,
                        help="the OAuth client JSON downloaded from Google Cloud")
    google.add_argument("--token-file", help="where to keep the token (default "
                        "~/.config/keepwarm/tokens/ACCOUNT.json)")
    google.add_argument("--no-browser", action="store_true",
                        help="print the consent URL instead of opening a browser")
    google.set_defaults(handler=cmd_auth_google)

    sql = commands.add_parser("sql", help="run a read-only SQL query on the serving copy")
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=100)
    sql.set_defaults(handler=cmd_sql)

    evaluate = commands.add_parser("evaluate", help="score cold flags on several demo seeds")
    evaluate.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23, 42, 101])
    evaluate.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1))
    evaluate.add_argument("--profile", default="default",
                          choices=["default", "sparse", "meetings"])
    evaluate.set_defaults(handler=cmd_evaluate)

    _add_action_commands(commands)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, WarehouseLockedError, AuthError) as exc:
        print(f"keepwarm: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
