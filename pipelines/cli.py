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
from pipelines.config import CONFIG_ENV, ConfigError, KeepwarmConfig, config_path, load_config
from pipelines.serving import ServingCopyMissingError, open_serving_copy
from pipelines.warehouse import WarehouseLockedError, fetch_one

EXAMPLE_QUERIES = """\
Query it with SQL: `.venv/bin/keepwarm sql "<query>"`, or any DuckDB client on that file.

  select display_name, status, reason, next_step from marts.relationship_status
    where status in ('cold', 'cooling') order by attention_rank
  select * from marts.contact_metrics order by interactions_365d desc limit 20
  select noise_reason, count(*) from core.interactions group by all   -- what was left out
  select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'
"""


def run_pipeline(config_file: Path, *, quiet: bool = True) -> bool:
    """Materialise every asset for `config_file`; True when all succeeded.

    One mailbox runs in this process. Several land side by side, one step process each,
    as the Dagster UI and the schedule run them.
    """
    from assets.ingest import configured_mailboxes
    from pipelines.definitions import materialize_everything
    from pipelines.instance import project_instance

    config = load_config(config_file)
    parallel = len(configured_mailboxes(config)) > 1
    run_config = (
        {"loggers": {"console": {"config": {"log_level": "WARNING"}}}} if quiet else None
    )
    # The project's instance, which the UI reads too: this run shows in its run list.
    with project_instance(config) as instance:
        result = materialize_everything(config_file, instance=instance, parallel=parallel,
                                        run_config=run_config)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            print(f"{event.step_key} failed: {cause.message.strip()}", file=sys.stderr)
    return result.success


def print_cold_list(con: duckdb.DuckDBPyConnection, *, limit: int) -> int:
    """Print the ties that are cold or cooling, most worth acting on first."""
    rows = con.execute(
        """
        select display_name, address, status, strftime(last_contact_at, '%Y-%m-%d'),
               usual_gap_days, days_silent, reason, next_step
        from marts.relationship_status
        where status in ('cold', 'cooling')
        order by attention_rank
        limit $limit
        """,
        {"limit": limit},
    ).fetchall()
    total = fetch_one(
        con,
        "select count(*) filter (where status = 'cold'), count(*) filter (where status = "
        "'cooling'), count(*) from marts.relationship_status",
    )
    print(f"\nGoing cold: {total[0]} cold and {total[1]} cooling of {total[2]} relationships.\n")
    header = ("name", "address", "status", "last contact", "usual gap", "silent")
    table = [
        (name, address, status, last, f"{gap:.0f} d", f"{silent:.0f} d")
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


def score_cold_flags(con: duckdb.DuckDBPyConnection) -> Score:
    """Compare status 'cold' with the relationships the simulator planted to stop."""
    flagged, planted, correct = fetch_one(
        con,
        """
        with truth as (
            select normalize_address(address) as person_id, planted_cold from raw.demo_truth
        ),
        flags as (
            select person_id from marts.relationship_status where status = 'cold'
        )
        select
            (select count(*) from flags),
            (select count(*) from truth where planted_cold),
            (select count(*) from flags join truth using (person_id) where planted_cold)
        """,
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
    if not run_pipeline(config_file, quiet=not args.verbose):
        print("the run failed; re-run with --verbose for the log", file=sys.stderr)
        return 1
    config = load_config(config_file)
    with _open(config_file) as con:
        print_cold_list(con, limit=args.limit)
        if config.sources.demo is not None:
            score = score_cold_flags(con)
            print(
                f"\nDemo truth: {score.correct} of {score.flagged} cold flags were planted "
                f"(precision {score.precision:.2f}); {score.correct} of {score.planted} "
                f"planted lapses found (recall {score.recall:.2f})."
            )
    print(f"\nWarehouse: {config.warehouse.serving_path} (the serving copy, replaced after "
          "each run; query it while runs write)\n")
    print(EXAMPLE_QUERIES)
    print("Explore the asset graph and its runs (this one included): .venv/bin/keepwarm ui")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Serve the Dagster UI and run the daemon (schedules) on the project's instance.

    `dg dev`, Dagster's current command for this, started on workspace.yaml with the
    config file and the instance that `keepwarm run` uses, so both share one run history.
    """
    import signal
    import socket
    import subprocess

    from pipelines.instance import DAGSTER_HOME_ENV, prepare_dagster_home

    config_file = Path(args.config).resolve()
    home = prepare_dagster_home(load_config(config_file))
    with socket.socket() as probe:
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            print(f"keepwarm: cannot serve on {args.host}:{args.port} ({exc.strerror}); pick "
                  "another port with --port", file=sys.stderr)
            return 2
    root = Path(__file__).resolve().parent.parent
    command = [str(Path(sys.executable).parent / "dg"), "dev", "--workspace",
               str(root / "workspace.yaml"), "--host", args.host, "--port", str(args.port)]
    env = {**os.environ, DAGSTER_HOME_ENV: str(home), CONFIG_ENV: str(config_file)}
    print(f"Dagster UI on http://{args.host}:{args.port} for {config_file}; runs, schedules "
          f"and asset history are kept in {home}. Ctrl-C stops it.", flush=True)
    server = subprocess.Popen(command, cwd=root, env=env)
    # Stopped by a signal, dg shuts its webserver and daemon down as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: server.send_signal(signal.SIGINT))
    while True:
        try:
            return server.wait()
        except KeyboardInterrupt:
            continue  # the terminal sent Ctrl-C to dg too: wait while it shuts down


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
          f"{'recall':>7}   backtest on its own history: precision recall")
    scores, backtests = [], []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            config = {
                **base,
                "warehouse": {"path": str(Path(tmp) / "eval.duckdb")},
                "sources": {"demo": {**(base.get("sources", {}).get("demo") or {}),
                                     "seed": seed, "end": args.end.isoformat(),
                                     "profile": args.profile}},
                "status": {**(base.get("status") or {}), "as_of": f"{args.end}T00:00:00Z"},
                # Scored on today's flags: a year of daily history would only cost time.
                "history": {**(base.get("history") or {}), "look_back_days": 1},
            }
            config_file = Path(tmp) / "keepwarm.yaml"
            config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
            if not run_pipeline(config_file):
                print(f"seed {seed}: the run failed", file=sys.stderr)
                return 1
            with duckdb.connect(config["warehouse"]["path"]) as con:
                s = score_cold_flags(con)
                b = backtest_cold_flags(con, load_config(config_file))
        scores.append(s)
        backtests.append(b)
        print(f"{seed:>6} {s.flagged:>8} {s.planted:>8} {s.correct:>8} {s.precision:>10.2f} "
              f"{s.recall:>7.2f}   {b.precision:>42.2f} {b.recall:>6.2f}")
    pooled = Score(*(sum(getattr(s, f) for s in scores) for f in ("flagged", "planted",
                                                                   "correct")))
    pooled_backtest = Score(*(sum(getattr(b, f) for b in backtests)
                              for f in ("flagged", "planted", "correct")))
    print(f"{'all':>6} {pooled.flagged:>8} {pooled.planted:>8} {pooled.correct:>8} "
          f"{pooled.precision:>10.2f} {pooled.recall:>7.2f}   "
          f"{pooled_backtest.precision:>42.2f} {pooled_backtest.recall:>6.2f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keepwarm", description="Keep a professional network warm."
    )
    parser.add_argument("--config", default=str(config_path()),
                        help="config file (default: $KEEPWARM_CONFIG or ./keepwarm.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="sync every source, rebuild, print who is going cold")
    run.add_argument("--limit", type=int, default=20, help="rows of the cold list to print")
    run.add_argument("--verbose", action="store_true", help="show Dagster's log")
    run.set_defaults(handler=cmd_run)

    cold = commands.add_parser("cold", help="print the cold list from the last run")
    cold.add_argument("--limit", type=int, default=50)
    cold.set_defaults(handler=cmd_cold)

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

    ui = commands.add_parser(
        "ui", help="serve the Dagster UI (assets, runs, the nightly schedule) and run "
        "its schedules", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ui.add_argument("--host", default="127.0.0.1", help="address to serve on")
    ui.add_argument("--port", type=int, default=3000, help="port to serve on")
    ui.set_defaults(handler=cmd_ui)

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

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, WarehouseLockedError, AuthError) as exc:
        print(f"keepwarm: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
