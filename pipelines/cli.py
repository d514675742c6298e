"""The `keepwarm` command: run the pipeline, print who is going cold, score the demo."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import yaml

from connectors.google import AuthError, require_token_file
from connectors.takeout import (
    SourceFileError,
    check_calendar_paths,
    check_contact_paths,
    check_mail_paths,
)
from engine.config import CONFIG_ENV, ConfigError, KeepwarmConfig, config_path, load_config
from engine.migrations import WarehouseTooNewError, refuse_newer
from engine.serving import ServingCopyMissingError, open_serving_copy
from engine.warehouse import WarehouseLockedError, database_file_problem, fetch_one
from pipelines.progress import RunProgress

EXAMPLE_QUERIES = """\
  select display_name, status, reason, next_step
    from marts.relationship_status
    where status in ('cold', 'cooling') and snoozed_until is null
    order by attention_rank
  select * from marts.contact_metrics order by interactions_365d desc limit 20
  select noise_reason, count(*) from core.interactions group by all
  select table_name, column_name, comment from duckdb_columns()
    where schema_name = 'marts'
"""


class UsageError(Exception):
    """A mistake the user can fix; the message says what is wrong and how to fix it."""


# Printed as one message with exit status 2, never as a traceback.
USER_ERRORS = (UsageError, ConfigError, WarehouseLockedError, WarehouseTooNewError, AuthError,
               SourceFileError)


def terminal_width() -> int:
    """Columns to fit output to: the terminal's, $COLUMNS, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def require_warehouse_file(path: Path, config_file: Path) -> None:
    """Raise UsageError when warehouse.path names something that cannot be the warehouse
    (engine.warehouse.database_file_problem), before anything opens it."""
    problem = database_file_problem(path)
    if problem:
        raise UsageError(f"{problem}\n  fix warehouse.path in {config_file}")


def check_sources(config: KeepwarmConfig, config_file: Path) -> None:
    """Say before a run starts what its first steps would fail on: the warehouse file,
    source paths and tokens.

    Raises:
        UsageError, AuthError: naming the path or account and the key to fix.
    """
    require_warehouse_file(Path(config.warehouse.path), config_file)
    if not any(dict(config.sources).values()):
        raise UsageError(f"{config_file} names no source to read: add one under `sources:` "
                         "(demo, files, gmail, gcal or gcontacts; README, Your own mail and "
                         "calendar)")
    files = config.sources.files
    if files is not None:
        for key, paths, check in (("mail", files.mail, check_mail_paths),
                                  ("calendars", files.calendars, check_calendar_paths),
                                  ("contacts", files.contacts, check_contact_paths)):
            try:
                check(paths)
            except SourceFileError as exc:
                raise UsageError(f"{exc}\n  fix sources.files.{key} in {config_file}") from None
    for source in ("gmail", "gcal", "gcontacts"):
        section = getattr(config.sources, source)
        for account in section.accounts if section else []:
            if not account.service_account_key:
                require_token_file(account.token_path(), account.address)
            elif not Path(account.service_account_key).expanduser().is_file():
                raise UsageError(f"no service account key at {account.service_account_key}: "
                                 f"fix sources.{source}.accounts ({account.address}) in "
                                 f"{config_file}")


def failed_steps(result) -> list[str]:
    """Each failed step with its error, one line each."""
    lines = []
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            message = data.user_failure_data.description  # a dagster.Failure: said for users
        else:
            error = data.error.cause or data.error
            message = error.message.strip()  # with the exception's name: likely a bug
        lines.append(f"{event.step_key} failed: {message}")
    return lines


def run_pipeline(config_file: Path, *, quiet: bool = True,
                 progress: RunProgress | None = None) -> bool:
    """Materialise every asset for `config_file`; True when all succeeded.

    One mailbox runs in this process. Several land side by side, one step process each,
    as the Dagster UI and the schedule run them. `progress` shows how the landing goes.
    """
    from assets.ingest import configured_mailboxes
    from pipelines.definitions import materialize_everything, send_step_output_to
    from pipelines.instance import dagster_home, project_instance

    config = load_config(config_file)
    parallel = len(configured_mailboxes(config)) > 1
    # Quiet: the failed steps are summed up below instead of Dagster's log with tracebacks.
    run_config = (
        {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}} if quiet else None
    )
    if quiet and parallel:
        send_step_output_to(dagster_home(config) / "step-processes.log")
    # The project's instance, which the UI reads too: this run shows in its run list.
    with project_instance(config) as instance:
        result = materialize_everything(
            config_file, instance=instance, parallel=parallel,
            run_config=progress.run_config(run_config) if progress else run_config)
    for line in failed_steps(result):
        print(f"keepwarm: {line}", file=sys.stderr)
    return result.success


def print_cold_list(con: duckdb.DuckDBPyConnection, *, limit: int,
                    width: int | None = None) -> int:
    """Print the ties that are cold or cooling, most worth acting on first, `width` wide;
    ties the user snoozed (`keepwarm snooze`) are left out until their snooze ends."""
    width = width or terminal_width()
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
    if not rows:
        return 0
    header = ("name", "address", "status", "last contact", "usual gap", "silent")
    table = [
        (name, address, status, last, f"{gap} d", f"{silent} d")  # the reason's rounding
        for name, address, status, last, gap, silent, _, _ in rows
    ]
    widths = fit_columns([max(len(str(r[i])) for r in [header, *table])
                          for i in range(len(header))], shrinkable=(0, 1), width=width)
    clips = (clip_end, clip_address, *[clip_end] * (len(header) - 2))

    def print_row(row: Sequence[str]) -> None:
        print("  ".join(clip(str(value), w).ljust(w)
                        for value, w, clip in zip(row, widths, clips, strict=True)).rstrip())

    print_row(header)
    print("  ".join("-" * w for w in widths))
    for row, (*_, reason, next_step) in zip(table, rows, strict=True):
        print_row(row)
        for label, text in (("why", reason), ("next", next_step)):
            print(textwrap.fill(text, width=max(width, 40), initial_indent=f"    {label}: ",
                                subsequent_indent=" " * (6 + len(label)),
                                break_on_hyphens=False))
    listed = total[0] + total[1]
    if len(rows) < listed:
        print(f"\n{len(rows)} of {listed} shown; --limit {listed} to see them all")
    return len(rows)


def fit_columns(widths: list[int], *, shrinkable: Sequence[int], width: int,
                gap: int = 2, narrowest: int = 10) -> list[int]:
    """Column widths that fit `width`, narrowing the widest shrinkable column first."""
    widths = list(widths)
    while sum(widths) + gap * (len(widths) - 1) > width:
        widest = max(shrinkable, key=lambda i: widths[i])
        if widths[widest] <= narrowest:
            break  # a very narrow terminal: let the lines wrap rather than lose the text
        widths[widest] -= 1
    return widths


def clip_end(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def clip_address(text: str, width: int) -> str:
    """Cut the local part first: an address keeps its domain while it can."""
    local, at, domain = text.rpartition("@")
    if len(text) <= width or not at or len(domain) + 4 > width:
        return clip_end(text, width)
    return clip_end(local, width - len(domain) - 1) + "@" + domain


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
            raise UsageError(f"no warehouse at {warehouse.path} yet: run `keepwarm --config "
                             f"{config_file} run` first") from None
        require_warehouse_file(Path(warehouse.path), config_file)
        # A warehouse built before serving copies existed: read it, if no run holds it.
        print(f"keepwarm: {missing}; reading the warehouse {warehouse.path} instead, which "
              "fails while a run writes it", file=sys.stderr)
        try:
            return duckdb.connect(warehouse.path, read_only=True)
        except duckdb.IOException:
            raise UsageError(f"{warehouse.path} is being written and has no serving copy "
                             "yet; try again after the run") from None


def cmd_run(args: argparse.Namespace) -> int:
    config_file = Path(args.config)
    config = load_config(config_file)
    check_sources(config, config_file)
    refuse_newer(config.warehouse.path)
    with RunProgress(sys.stderr, bars=not args.verbose) as progress:
        succeeded = run_pipeline(config_file, quiet=not args.verbose, progress=progress)
    if not succeeded:
        print("keepwarm: the run failed; `keepwarm run --verbose` shows Dagster's full log",
              file=sys.stderr)
        return 1
    from pipelines.digest_cli import print_digest  # matplotlib loads slowly

    config = load_config(config_file)
    with _open(config_file) as con:
        if progress.report(con) == "mistake":
            return 2
        print_digest(con, config, limit=args.limit)
        say(f"\nThe page: {config.outputs.digest_path} (written by every refresh)")
        if config.sources.demo is not None:
            score = score_cold_flags(con)
            say(f"\nDemo truth: {score.correct} of {score.flagged} cold flags were planted "
                f"(precision {score.precision:.2f}); {score.correct} of {score.planted} "
                f"planted lapses found (recall {score.recall:.2f}).")
            lapsed = score_cold_flags(con, lapsed=True,
                                      min_touchpoints=config.status.min_touchpoints)
            say(f"Cold or dormant: {lapsed.correct} of {lapsed.flagged} right (precision "
                f"{lapsed.precision:.2f}), {lapsed.correct} of {lapsed.planted} lapses found "
                f"(recall {lapsed.recall:.2f}).")
    say(f"\nWarehouse: {config.warehouse.serving_path} (the serving copy, replaced after "
        "each run; query it while runs write).")
    say('\nQuery it with `.venv/bin/keepwarm sql "<query>"` or any DuckDB client on that '
        "file, for example:\n")
    print(EXAMPLE_QUERIES)
    say("Explore the asset graph and its runs (this one included): .venv/bin/keepwarm ui")
    return 0


def say(text: str) -> None:
    """Print a paragraph wrapped to the terminal's width (leading blank lines kept)."""
    blank = text[: len(text) - len(text.lstrip("\n"))]
    print(blank + textwrap.fill(text.lstrip("\n"), width=terminal_width(),
                                break_long_words=False, break_on_hyphens=False))


def cmd_digest(args: argparse.Namespace) -> int:
    from pipelines.digest_cli import print_digest  # matplotlib loads slowly

    config_file = Path(args.config)
    with _open(config_file) as con:
        return print_digest(con, load_config(config_file), show_all=args.all,
                            html_path=args.html)


def cmd_person(args: argparse.Namespace) -> int:
    from pipelines.digest_cli import print_person

    config_file = Path(args.config)
    with _open(config_file) as con:
        return print_person(con, load_config(config_file), " ".join(args.query))


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

    The token asks for what keepwarm.yaml reads from this address (Gmail, Calendar,
    Contacts, in one consent); an address not configured yet gets Gmail, plus Calendar with
    --calendar and Contacts with --contacts.
    """
    from connectors.google import authorize, google_scopes
    from engine.config import GoogleAccountConfig

    sources = load_config(Path(args.config)).sources.google_sources(args.account)
    if not any(sources.values()):
        sources = {"gmail": True, "calendar": False, "contacts": False, "other_contacts": False}
    scopes = google_scopes(gmail=sources["gmail"], calendar=sources["calendar"] or args.calendar,
                           contacts=sources["contacts"] or args.contacts,
                           other_contacts=sources["other_contacts"])
    token = GoogleAccountConfig(address=args.account, token_file=args.token_file).token_path()
    token.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    authorize(args.client_secrets, token, scopes, account=args.account,
              open_browser=not args.no_browser)
    print(f"token for {args.account} saved to {token} (readable by you only); scopes: "
          f"{' '.join(scopes)}")
    return 0


SQL_EXAMPLE = 'keepwarm sql "select * from marts.relationship_status limit 5"'
WRITES = {"INSERT", "UPDATE", "DELETE", "MERGE_INTO", "CREATE", "CREATE_FUNC", "ALTER", "DROP",
          "VACUUM", "COPY_DATABASE"}


def cmd_sql(args: argparse.Namespace) -> int:
    with _open(Path(args.config)) as con:
        try:
            statements = {s.type.name for s in con.extract_statements(args.query)}
            if not statements:  # nothing but blanks, semicolons or comments
                raise UsageError(f"the query is empty; for example: {SQL_EXAMPLE}")
            if statements & WRITES:
                raise UsageError(read_only_message(min(statements & WRITES)))
            relation = con.sql(args.query)
            relation.show(max_width=terminal_width(), max_rows=args.max_rows)
            # A statement's result is kept, a query runs again: at most max_rows + 1 rows.
            cut = relation.limit(args.max_rows + 1).aggregate("count(*)").fetchall()[0][0]
        except duckdb.Error as exc:
            raise UsageError(explain_sql_error(exc)) from None
    if cut > args.max_rows:
        print(f"--max-rows {args.max_rows} cut the list: raise it to see more rows")
    return 0


def read_only_message(statement: str) -> str:
    return (f"keepwarm sql is read-only: {statement} cannot run on the serving copy; change "
            "what keepwarm computes through keepwarm.yaml and `keepwarm run`")


def explain_sql_error(error: duckdb.Error) -> str:
    """DuckDB's message without the echo of the query, and what to try next."""
    text = str(error)
    if "read-only mode" in text:  # a write the statement type did not give away (COPY FROM)
        return read_only_message(text.split('"')[1] if text.count('"') >= 2 else "a write")
    first = " ".join(text.split("\n\n")[0].split("\n"))  # "Did you mean" stays
    if isinstance(error, duckdb.CatalogException):
        return f'{first}\n  list the tables with: keepwarm sql "show all tables"'
    if isinstance(error, duckdb.BinderException):
        return f'{first}\n  list a table\'s columns with: keepwarm sql "describe SCHEMA.TABLE"'
    if isinstance(error, duckdb.ParserException):
        return f"{first}\n  check the query near that word; for example: {SQL_EXAMPLE}"
    return first


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the rule on several demo seeds, each in a throwaway warehouse."""
    load_config(Path(args.config))  # a mistake in it is said here, once
    base = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
    print(f"profile {args.profile}, end {args.end}")
    print(f"{'':5} {'cold, against the planted truth':^40}  {'cold or dormant':^18}  "
          f"{'backtest':^11}")
    print(_evaluate_row("seed", "flagged", "planted", "correct", "prec.", "recall",
                        "flagged", "prec.", "recall", "prec.", "recall"))
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
                # Scored on today's flags: a year of daily history would only cost time.
                "history": {**(base.get("history") or {}), "look_back_days": 1},
            }
            config_file = Path(tmp) / "keepwarm.yaml"
            config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
            if not run_pipeline(config_file):
                print(f"seed {seed}: the run failed", file=sys.stderr)
                return 1
            with duckdb.connect(config["warehouse"]["path"]) as con:
                scores.append(score_cold_flags(con))
                backtests.append(backtest_cold_flags(con, load_config(config_file)))
                lapses.append(score_cold_flags(
                    con, lapsed=True,
                    min_touchpoints=load_config(config_file).status.min_touchpoints))
        print(_evaluate_scores(str(seed), scores[-1], lapses[-1], backtests[-1]))
    pooled, pooled_lapse, pooled_backtest = (
        Score(*(sum(getattr(s, f) for s in group) for f in ("flagged", "planted", "correct")))
        for group in (scores, lapses, backtests))
    print(_evaluate_scores("all", pooled, pooled_lapse, pooled_backtest))
    return 0


def _evaluate_row(*cells: str) -> str:
    """One line of `keepwarm evaluate`'s table: 77 columns, three groups."""
    seed, flagged, planted, correct, precision, recall, *rest = cells
    lapse_flagged, lapse_precision, lapse_recall, back_precision, back_recall = rest
    return (f"{seed:>5} {flagged:>7} {planted:>7} {correct:>7} {precision:>5} {recall:>6}  "
            f"{lapse_flagged:>7} {lapse_precision:>5} {lapse_recall:>6}  "
            f"{back_precision:>5} {back_recall:>6}")


def _evaluate_scores(label: str, cold: Score, lapse: Score, backtest: Score) -> str:
    return _evaluate_row(label, str(cold.flagged), str(cold.planted), str(cold.correct),
                         f"{cold.precision:.2f}", f"{cold.recall:.2f}", str(lapse.flagged),
                         f"{lapse.precision:.2f}", f"{lapse.recall:.2f}",
                         f"{backtest.precision:.2f}", f"{backtest.recall:.2f}")


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
    require_warehouse_file(Path(config.warehouse.path), Path(args.config))
    try:
        recorded = act(config, " ".join(args.query), action(config.as_of().date()), note=note,
                       rebuild=not args.no_rebuild, wait_s=args.wait)
    except ActionError as exc:
        print(f"keepwarm: {exc}", file=sys.stderr)
        return 2
    width = terminal_width()
    for line in describe(recorded).splitlines():
        print(textwrap.fill(line, width, subsequent_indent="  ", break_long_words=False,
                            break_on_hyphens=False))
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


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line: every option says what it does and its default."""
    parser = argparse.ArgumentParser(
        prog="keepwarm", description="Keep a professional network warm.",
        epilog="Every command reads the config file named by --config.",
    )
    parser.add_argument("--config", default=str(config_path()), metavar="FILE",
                        help=f"the config file (default: %(default)s; ${CONFIG_ENV} sets "
                             "another default)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="sync every source, rebuild, print the digest",
                              description="Sync every source in the config, rebuild the "
                                          "warehouse and print the morning digest.")
    run.add_argument("--limit", type=positive_int, default=None, metavar="N",
                     help="entries per digest list (default: outputs.digest_limit in the "
                          "config)")
    run.add_argument("--verbose", action="store_true",
                     help="show Dagster's full log (default: only failures, in one line each)")
    run.set_defaults(handler=cmd_run)

    cold = commands.add_parser("cold", help="print the cold list from the last run",
                               description="Print the relationships going cold, from the "
                                           "last run, fitted to the terminal's width.")
    cold.add_argument("--limit", type=positive_int, default=50, metavar="N",
                      help="rows to print (default: %(default)s)")
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
    person.add_argument("query", metavar="QUERY", nargs="+",
                        help="a name or an address, or part of one (fuzzy; quotes optional)")
    person.set_defaults(handler=cmd_person)

    auth = commands.add_parser("auth", help="authorise access to a Google account")
    auth_source = auth.add_subparsers(dest="service", required=True, metavar="SERVICE")
    google = auth_source.add_parser(
        "google", help="Gmail metadata, Calendar events and Contacts, read-only",
        description="Sign in to Google in the browser and keep the token, readable by you only.")
    google.add_argument("--account", required=True, metavar="ADDRESS",
                        help="the Google address to authorise (required)")
    google.add_argument("--calendar", action="store_true",
                        help="also ask for Calendar (read-only) for an address not yet in the "
                             "config (default: what the config reads from the address, else "
                             "Gmail only)")
    google.add_argument("--contacts", action="store_true",
                        help="also ask for Contacts (read-only) for an address not yet in the "
                             "config (default: what the config reads from the address)")
    google.add_argument("--client-secrets", required=True, metavar="CLIENT.json",
                        help="the 'Desktop app' OAuth client JSON downloaded from Google Cloud "
                             "console (required)")
    google.add_argument("--token-file", metavar="FILE",
                        help="where to keep the token (default: "
                             "~/.config/keepwarm/tokens/ADDRESS.json)")
    google.add_argument("--no-browser", action="store_true",
                        help="print the consent URL instead of opening a browser (default: "
                             "open one)")
    google.set_defaults(handler=cmd_auth_google)

    ui = commands.add_parser(
        "ui", help="serve the Dagster UI (assets, runs, the nightly schedule) and run its "
        "schedules", description="Serve the Dagster UI and run its daemon on the project's "
        "Dagster instance, the one `keepwarm run` records its runs in.")
    ui.add_argument("--host", default="127.0.0.1",
                    help="address to serve on (default: %(default)s)")
    ui.add_argument("--port", type=int, default=3000,
                    help="port to serve on (default: %(default)s)")
    ui.set_defaults(handler=cmd_ui)

    sql = commands.add_parser("sql", help="run a read-only SQL query on the serving copy",
                              description="Run a read-only DuckDB SQL query on the serving "
                                          "copy and print the result to the terminal's width "
                                          "($COLUMNS sets another).")
    sql.add_argument("query", help='the SQL, in quotes: "select * from marts.contact_metrics"')
    sql.add_argument("--max-rows", type=positive_int, default=100, metavar="N",
                     help="rows to print; a longer result shows its first and last rows "
                          "(default: %(default)s)")
    sql.set_defaults(handler=cmd_sql)

    evaluate = commands.add_parser("evaluate", help="score cold flags on several demo seeds",
                                   description="Score the cold flags against the demo "
                                               "simulator's planted truth, one throwaway "
                                               "warehouse per seed.")
    evaluate.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23, 42, 101],
                          metavar="SEED", help="simulator seeds (default: %(default)s)")
    evaluate.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1),
                          metavar="YYYY-MM-DD",
                          help="the last simulated day (default: %(default)s)")
    evaluate.add_argument("--profile", default="default",
                          choices=["default", "sparse", "meetings"],
                          help="the simulated network (default: %(default)s)")
    evaluate.set_defaults(handler=cmd_evaluate)

    _add_action_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        print(f"keepwarm: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("keepwarm: interrupted", file=sys.stderr)
        return 130
    except duckdb.CatalogException as exc:
        # `digest`, `person` or `cold` over a model an earlier keepwarm built: a table or
        # column this one reads comes with the next run (`sql` explains its own errors).
        missing = str(exc).splitlines()[0].removeprefix("Catalog Error: ")
        print(f"keepwarm: the warehouse was built by an earlier keepwarm ({missing}); run "
              f"`keepwarm --config {args.config} run` to rebuild it, then try again",
              file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader stopped early (`keepwarm cold | head`): nothing to say, and Python
        # must not fail again flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
