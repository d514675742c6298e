"""The marts read after the per-person pass, one SQL file at a time, side by side with
another commit's version of the same file (issue 18 §3).

A whole rebuild spends most of its time in core.interactions; to measure a mart alone, a
copy of a network is built once (`prepare`), then each mart's file is run again on it,
statement by statement, in a fresh interpreter per figure so that its peak resident set
(VmHWM) is its own. `--sql=REF` runs the file as it is at a git commit instead of the
working tree's, and `compare` checks that two versions build the same rows.

    python bench/marts.py prepare SIZE DEST [--memory-limit=450MB]
    python bench/marts.py time COPY TABLE [--sql=REF] [--memory-limit=450MB] [--explain]
    python bench/marts.py side COPY [--base=REF] [--memory-limit=450MB] [--rounds=1]
    python bench/marts.py compare COPY [--base=REF]
    python bench/marts.py exercise COPY DEST

`exercise` copies a prepared network and plants what the simulator never makes, so that
`compare` on the copy goes through every path: birthday events whose title names someone
(in another case, after an invitee's, or no one), and people who move to a new sender
domain (a second address of theirs, some after a silence, some spelt with a tag).

SIZE is a bench/networks.py size label (1m, 3m, 10m); REF defaults to the merge base with
main. Each command prints JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from bench.bench_mbox import peak_rss_of_this_process  # noqa: E402
from bench.measure import hottest_operators  # noqa: E402
from bench.networks import model_config  # noqa: E402

MARTS = ["job_changes", "open_loops", "introductions", "key_dates"]
# The marts' own temporary tables, if a file makes any, are dropped with its connection.
_WRITES = (
    "create or replace table",
    "insert into",
    "create temp table",
    "create or replace temp table",
)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def base_ref() -> str:
    return _git("merge-base", "HEAD", "main")


def sql_file(table: str, ref: str | None, into: Path) -> Path:
    """marts/<table>.sql as the working tree has it, or as commit `ref` had it."""
    if ref is None:
        return REPO / "assets" / "sql" / "marts" / f"{table}.sql"
    target = into / ref / f"{table}.sql"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_git("show", f"{ref}:assets/sql/marts/{table}.sql") + "\n")
    return target


def _connect(path: str, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    from engine.warehouse import connection_settings

    con = duckdb.connect(path)
    con.execute("set enable_progress_bar = false")
    if memory_limit:
        con.execute("set memory_limit = ?", [memory_limit])
    con.execute(
        "set max_temp_directory_size = ?", [connection_settings(path)["max_temp_directory_size"]]
    )
    return con


def prepare(size: str, dest: str, memory_limit: str | None) -> dict:
    """A working copy of the network of `size` at `dest`, with the whole model built."""
    from assets.tables import MODEL_TABLES, build_table
    from bench.networks import SIZES, network, working_copy

    net = network(SIZES[size])
    target = working_copy(net, Path(dest).parent, Path(dest).name)
    params = model_config(target).model_params()
    started = time.perf_counter()
    uncapped = []
    with _connect(str(target), memory_limit) as con:
        for schema, table in MODEL_TABLES:
            built = build_table(con, schema, table, params, full=True, memory_cap=memory_limit)
            if "memory_cap_exceeded" in built:
                uncapped.append(f"{schema}.{table}")
    return {
        "path": str(target),
        "seconds": time.perf_counter() - started,
        "uncapped_retries": uncapped,
    }


def run_file(
    path: str,
    table: str,
    ref: str | None,
    memory_limit: str | None,
    explain: bool = False,
    keep_as: str | None = None,
) -> dict:
    """Run one mart's file on the copy at `path`, statement by statement, and time each.

    No retry without the cap: running out of memory is the answer. `keep_as` renames the
    table built to marts.<keep_as> (for `compare`); otherwise the build is rolled back,
    so that every run starts from the same file.
    """
    from engine.warehouse import _NOT_CODE, _PARAMETER, sql_statements

    params = model_config(path).model_params()
    with tempfile.TemporaryDirectory() as tmp:
        statements = sql_statements(sql_file(table, ref, Path(tmp)))
    figures: dict[str, Any] = {
        "table": table,
        "sql": ref or "working tree",
        "memory_limit": memory_limit,
        "statements": [],
        "hottest": {},
    }
    with _connect(path, memory_limit) as con:
        at_start = peak_rss_of_this_process()
        con.execute("set preserve_insertion_order = false")
        con.begin()
        started = time.perf_counter()
        try:
            for number, statement in enumerate(statements, 1):
                code = "\n".join(
                    line for line in statement.splitlines() if not line.lstrip().startswith("--")
                ).strip()
                if code.lower().startswith("comment on"):
                    con.execute(statement)
                    continue
                names = set(_PARAMETER.findall(_NOT_CODE.sub("", statement)))
                bound = {name: params[name] for name in names} or None
                label = f"{number}: {' '.join(code.split()[:5])[:60]}"
                began = time.perf_counter()
                if explain and code.lower().startswith(_WRITES):
                    plan = con.execute(
                        "explain (analyze, format json) " + statement, bound
                    ).fetchall()
                    figures["hottest"][label] = hottest_operators(json.loads(plan[0][1]))
                else:
                    con.execute(statement, bound)
                figures["statements"].append([label, round(time.perf_counter() - began, 3)])
            figures["rows"] = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            if keep_as:
                con.execute(f"drop table if exists marts.{keep_as}")
                con.execute(f"create table marts.{keep_as} as select * from marts.{table}")
                con.commit()
            else:
                con.rollback()
        except duckdb.OutOfMemoryException as exc:
            con.rollback()
            figures["out_of_memory"] = str(exc).splitlines()[0]
        figures["seconds"] = round(time.perf_counter() - started, 3)
    figures["peak_rss_mib"] = round(peak_rss_of_this_process())
    figures["rss_at_start_mib"] = round(at_start)
    return figures


def _child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


def side_by_side(path: str, base: str, memory_limit: str | None, rounds: int) -> dict:
    """Each mart with `base`'s file and the working tree's, alternating, a child each."""
    limit = [f"--memory-limit={memory_limit}"] if memory_limit else []
    rows = []
    for _ in range(rounds):
        for table in MARTS:
            for ref in (base, None):
                sql = [f"--sql={ref}"] if ref else []
                load = _load()
                figures = _child("time", path, table, *sql, *limit)
                rows.append(
                    {
                        "table": table,
                        "sql": ref or "branch",
                        "seconds": figures["seconds"],
                        "rows": figures.get("rows"),
                        "peak_rss_mib": figures["peak_rss_mib"],
                        "out_of_memory": figures.get("out_of_memory"),
                        "load_before": load,
                        "load_after": _load(),
                    }
                )
    return {"base": base, "memory_limit": memory_limit, "runs": rows}


def compare(path: str, base: str) -> dict:
    """Build each mart with `base`'s file and the working tree's; rows in one, not the other."""
    found = {}
    for table in MARTS:
        run_file(path, table, base, None, keep_as=f"{table}__base")
        run_file(path, table, None, None, keep_as=f"{table}__branch")
        with duckdb.connect(path) as con:
            a, b = f"marts.{table}__base", f"marts.{table}__branch"
            found[table] = {
                "rows_base": con.execute(f"select count(*) from {a}").fetchone()[0],
                "rows_branch": con.execute(f"select count(*) from {b}").fetchone()[0],
                "base_except_branch": con.execute(
                    f"select count(*) from (from {a} except all from {b})"
                ).fetchone()[0],
                "branch_except_base": con.execute(
                    f"select count(*) from (from {b} except all from {a})"
                ).fetchone()[0],
            }
            con.execute(f"drop table {a}")
            con.execute(f"drop table {b}")
    return {"base": base, "tables": found}


# What `exercise` plants. Titles: half of the birthday events lose their invitees, and a
# title begins with a person's name (as written, upper-cased, or lower-cased with a
# suffix), or with no one's, or there is none; a few names are emptied. Moves: one sender
# in ten gets a second address at a new domain, written upper-cased or with a tag, used
# for their mail from 2025-11 on; for every other mover the three months before are
# silent, so that the silence rule both passes and fails.
_EXERCISE = """
update raw.events set
    attendees = case when hash(event_key) % 2 = 0 then [] else attendees end,
    summary = case hash(event_key) % 5
        when 0 then (select display_name from core.people
                     where person_id = (select min(person_id) from core.people
                                        where person_id >= md5(event_key)))
                    || ': birthday'
        when 1 then upper((select display_name from core.people
                           where person_id = (select max(person_id) from core.people
                                              where person_id <= md5(event_key))))
        when 2 then lower((select display_name from core.people
                           where person_id = (select min(person_id) from core.people
                                              where person_id >= md5(event_key))))
                    || ' turns 40'
        when 3 then 'Birthday of someone else'
        else null end
where event_type = 'birthday';
update core.people set display_name = '' where hash(person_id) % 997 = 0;

create temp table movers as
select address, person_id,
       split_part(address, '@', 1) || '@moved-' || (hash(address) % 7) || '.example' as moved,
       hash(address) % 20 = 0 as silent
from core.identities
where not is_self and hash(address) % 10 = 0;
insert into core.identities by name
select i.* replace (m.moved as address) from core.identities i join movers m using (address);
update raw.messages set from_addrs = [{
        'address': case when hash(message_key) % 2 = 0 then upper(m.moved)
                        else replace(m.moved, '@', '+news@') end,
        'name': from_addrs[1].name}]
from movers m
where m.address = normalize_address(raw.messages.from_addrs[1].address)
  and sent_at >= timestamptz '2025-11-01 00:00:00+00';
delete from raw.messages
where sent_at between timestamptz '2025-08-01 00:00:00+00' and timestamptz '2025-11-01 00:00:00+00'
  and normalize_address(from_addrs[1].address) in (select address from movers where silent);
"""


def exercise(path: str, dest: str) -> dict:
    """A copy of the prepared network at `path` with _EXERCISE's rows planted."""
    import shutil

    shutil.copyfile(path, dest)
    with duckdb.connect(dest) as con:
        con.execute(_EXERCISE)
        titled = con.execute(
            "select count(*) from raw.events where event_type = 'birthday' and summary is not null"
        ).fetchone()[0]
        moved = con.execute(
            "select count(*) from raw.messages where from_addrs[1].address ilike '%moved-%'"
        ).fetchone()[0]
    return {"path": dest, "titled_birthdays": titled, "messages_from_new_domains": moved}


def main(argv: list[str]) -> None:
    kind, *rest = argv
    flags = {f.split("=", 1)[0]: [*f.split("=", 1), ""][1] for f in rest if f.startswith("--")}
    args = [a for a in rest if not a.startswith("--")]
    limit = flags.get("--memory-limit")
    if kind == "prepare":
        figures = prepare(args[0], args[1], limit)
    elif kind == "time":
        figures = run_file(args[0], args[1], flags.get("--sql"), limit, "--explain" in flags)
    elif kind == "side":
        figures = side_by_side(
            args[0], flags.get("--base") or base_ref(), limit, int(flags.get("--rounds") or 1)
        )
    elif kind == "exercise":
        figures = exercise(args[0], args[1])
    elif kind == "compare":
        figures = compare(args[0], flags.get("--base") or base_ref())
    else:
        raise SystemExit(f"unknown command {kind!r}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
