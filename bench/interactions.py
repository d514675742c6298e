"""core.interactions alone, statement by statement, and two versions of its SQL compared.

The whole rebuild (bench/measure.py rebuild) times a SQL file as one figure; this splits
assets/sql/core/interactions.sql into its statements, so that a change to one of them is
seen on its own, and checks that another version of the file writes the same rows.

    python bench/interactions.py prepare NETWORK DIR       # a copy with core.* up to actions
    python bench/interactions.py build WAREHOUSE [SQL] [--memory-limit=450MB] [--explain]
    python bench/interactions.py compare WAREHOUSE OTHER   # EXCEPT ALL both ways

NETWORK is a label of bench/networks.py (1m, 3m, 10m); SQL defaults to the file in
assets/sql/core. `build` runs one full build in a fresh interpreter, so that its peak
resident set belongs to it alone; give each version its own copy of the prepared file.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from bench.bench_mbox import peak_rss_of_this_process  # noqa: E402
from bench.measure import hottest_operators  # noqa: E402
from bench.networks import SIZES, model_config, network  # noqa: E402

DEFAULT_SQL = REPO / "assets" / "sql" / "core" / "interactions.sql"


def prepare(label: str, directory: str) -> dict:
    """A private copy of a cached network with the tables core.interactions reads built."""
    from assets.tables import MODEL_TABLES, build_table

    target = Path(directory) / f"{label}.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(network(SIZES[label]).path, target)
    params = model_config(target).model_params()
    started = time.perf_counter()
    with duckdb.connect(str(target)) as con:
        for schema, table in MODEL_TABLES[: MODEL_TABLES.index(("core", "interactions"))]:
            build_table(con, schema, table, params, full=True)
        con.execute("checkpoint")
    return {"warehouse": str(target), "seconds": time.perf_counter() - started}


def build(path: str, sql: Path, memory_limit: str | None, explain: bool) -> dict:
    """One full build of core.interactions from `sql`, in a transaction as build_table runs
    it, with each statement timed (and profiled with `explain`)."""
    from engine.warehouse import _NOT_CODE, _PARAMETER, sql_fingerprint, sql_statements

    params = model_config(path).model_params()
    params = {**params, "sql_fingerprint": sql_fingerprint(sql, params), "full_rebuild": True}
    statements = []
    with duckdb.connect(path) as con:
        con.execute("set enable_progress_bar = false")
        if memory_limit:
            con.execute("set memory_limit = ?", [memory_limit])
        con.execute("set preserve_insertion_order = false")
        at_start = peak_rss_of_this_process()
        started = time.perf_counter()
        con.begin()
        for statement in sql_statements(sql):
            names = set(_PARAMETER.findall(_NOT_CODE.sub("", statement)))
            bound = {name: params[name] for name in names} or None
            code = "\n".join(
                line for line in statement.splitlines() if not line.lstrip().startswith("--")
            )
            head = " ".join(code.split()[:6])
            began = time.perf_counter()
            figure: dict = {"statement": head}
            if explain and not head.lower().startswith(
                ("drop", "create or replace temp view", "create or replace temp macro")
            ):
                plan = con.execute("explain (analyze, format json) " + statement, bound)
                figure["hottest"] = hottest_operators(json.loads(plan.fetchall()[0][1]), 4)
            else:
                con.execute(statement, bound)
            figure["seconds"] = round(time.perf_counter() - began, 3)
            figure["peak_rss_mib"] = peak_rss_of_this_process()
            statements.append(figure)
            print(figure["seconds"], figure["peak_rss_mib"], head, file=sys.stderr, flush=True)
        con.commit()
        seconds = time.perf_counter() - started
        rows = con.execute("select count(*) from core.interactions").fetchone()[0]
    return {
        "sql": str(sql),
        "seconds": round(seconds, 3),
        "peak_rss_mib": peak_rss_of_this_process(),
        "rss_at_start_mib": at_start,
        "memory_limit": memory_limit,
        "rows": rows,
        "statements": statements,
    }


def compare(path: str, other: str) -> dict:
    """Rows of core.interactions in one warehouse and not the other, both ways (as bags)."""
    with duckdb.connect(path, read_only=True) as con:
        con.execute("attach ? as other (read_only)", [other])
        only_here, only_there = con.execute(
            "select (select count(*) from (select * from core.interactions"
            "        except all select * from other.core.interactions)),"
            "       (select count(*) from (select * from other.core.interactions"
            "        except all select * from core.interactions))"
        ).fetchone()
        rows = con.execute("select count(*) from core.interactions").fetchone()[0]
    return {"rows": rows, "only_in_first": only_here, "only_in_second": only_there}


def main(argv: list[str]) -> None:
    kind, target, *rest = argv
    flags = [a for a in rest if a.startswith("--")]
    args = [a for a in rest if not a.startswith("--")]
    if kind == "prepare":
        figures = prepare(target, args[0])
    elif kind == "build":
        limits = [f.split("=", 1)[1] for f in flags if f.startswith("--memory-limit=")]
        sql = Path(args[0]) if args else DEFAULT_SQL
        figures = build(target, sql, limits[0] if limits else None, "--explain" in flags)
    elif kind == "compare":
        figures = compare(target, args[0])
    else:
        raise SystemExit(f"unknown command {kind!r}")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
