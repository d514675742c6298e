"""One measurement per fresh interpreter, so that peak memory belongs to it alone.

bench/run.py starts this file once per figure. DuckDB's memory is native, so Python's
tracers miss it; the child's own high-water resident set (VmHWM) is the honest figure,
and it includes the interpreter and its imports (`rss_at_start_mib` says how much that
was). Each child prints one JSON object.

    python bench/measure.py rebuild  WAREHOUSE [--explain] [--memory-limit=1GB]
    python bench/measure.py baseline WAREHOUSE
    python bench/measure.py nightly  CONFIG
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from bench.bench_mbox import peak_rss_of_this_process  # noqa: E402
from bench.networks import model_config  # noqa: E402

_WRITES_TABLE = re.compile(r"(create\s+or\s+replace\s+table|insert\s+into)\s+([\w.]+)", re.I)


class TimedConnection:
    """A DuckDB connection that times the statements run through it, per SQL file.

    `file` names the file being run (rebuild sets it); every statement's time is added to
    it. With `explain`, each statement that writes a table (`create or replace table`,
    `insert into`) runs as EXPLAIN ANALYZE instead, which does the same work and keeps the
    most expensive operators from DuckDB's profile.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, explain: bool = False) -> None:
        self._con = con
        self._explain = explain
        self.file = "other"
        self.seconds: dict[str, float] = {}
        self.hottest: dict[str, list[dict]] = {}

    def execute(self, query: str, parameters: Any = None) -> duckdb.DuckDBPyConnection:
        code = "\n".join(line for line in query.splitlines() if not line.lstrip().startswith("--"))
        writes = _WRITES_TABLE.match(code.lstrip())
        started = time.perf_counter()
        if writes and self._explain:
            plan = self._con.execute(
                "explain (analyze, format json) " + query, parameters
            ).fetchall()
            label = f"{self.file}: {writes.group(1).lower()} {writes.group(2)}"
            self.hottest[label] = hottest_operators(json.loads(plan[0][1]))
            result = self._con
        else:
            result = self._con.execute(query, parameters)
        self.seconds[self.file] = self.seconds.get(self.file, 0.0) + (
            time.perf_counter() - started)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def hottest_operators(profile: dict, count: int = 6) -> list[dict]:
    """The operators that took longest in a DuckDB JSON profile (time summed over threads)."""
    found = []
    pending = list(profile.get("operator", profile.get("children", [])))
    while pending:
        node = pending.pop()
        pending.extend(node.get("children", []))
        details = {k: v for k, v in node.get("extra_info", {}).items() if "Estimated" not in k}
        found.append(
            {
                "operator": node.get("type") or node.get("operator_type"),
                "seconds": node.get("timing") or node.get("operator_timing") or 0.0,
                "rows": node.get("intermediate_rows", node.get("operator_cardinality")),
                "details": " ".join(f"{k}: {v}" for k, v in details.items())[:300],
            }
        )
    return sorted(found, key=lambda op: op["seconds"], reverse=True)[:count]


def _connect(path: str, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path, **kwargs)
    # The progress bar is only terminal noise in a child whose output is parsed.
    con.execute("set enable_progress_bar = false")
    return con


def rebuild(path: str, explain: bool = False, memory_limit: str | None = None) -> dict:
    """Rebuild core.* and marts.* from raw.*, whole, as assets/tables.py's rebuild_model does.

    DuckDB's memory_limit is the configured one (warehouse.memory_limit) unless
    `memory_limit` overrides it, to see what a cap costs in time.
    """
    from assets.tables import MODEL_TABLES, build_table
    from engine.warehouse import connection_settings

    config = model_config(path)
    memory_limit = memory_limit or config.warehouse.memory_limit
    with _connect(path) as con:
        if memory_limit:
            # Bound, and DuckDB says what is wrong with a value it cannot read.
            con.execute("set memory_limit = ?", [memory_limit])
        # The spill bound the pipeline's connections get (engine/warehouse.py).
        spill = connection_settings(path)["max_temp_directory_size"]
        con.execute("set max_temp_directory_size = ?", [spill])
        at_start = peak_rss_of_this_process()
        timed = TimedConnection(con, explain=explain)
        started = time.perf_counter()
        # As rebuild_model(con, config, full=True) does, file by file.
        params = config.model_params()
        uncapped = []
        for schema, table in MODEL_TABLES:
            timed.file = f"{schema}.{table}"
            built = build_table(timed, schema, table, params, full=True, memory_cap=memory_limit)
            if "memory_cap_exceeded" in built:  # rolled back and built again without the cap
                uncapped.append(f"{schema}.{table}")
        seconds = time.perf_counter() - started
        peak = peak_rss_of_this_process()
        counts = con.execute(
            "select (select count(*) from raw.messages), (select count(*) from raw.events),"
            " (select count(*) from core.interactions), (select count(*) from core.people),"
            " (select count(*) from marts.relationship_status)"
        ).fetchall()[0]
    return {
        "seconds": seconds,
        "statements": timed.seconds,
        "hottest": timed.hottest,
        "peak_rss_mib": peak,
        "rss_at_start_mib": at_start,
        "memory_limit": memory_limit,
        "uncapped_retries": uncapped,
        **dict(zip(("messages", "events", "interactions", "people", "ties"), counts, strict=True)),
    }


def baseline(path: str) -> dict:
    """The plain-Python baseline over raw.*, then its figures checked against the model's."""
    from bench.baseline import compute, differences, model_metrics

    params = model_config(path).model_params()
    with _connect(path, read_only=True) as con:
        at_start = peak_rss_of_this_process()
        started = time.perf_counter()
        figures = compute(con, params)
        seconds = time.perf_counter() - started
        peak = peak_rss_of_this_process()
        mismatches = differences(figures, model_metrics(con))
    return {
        "seconds": seconds,
        "peak_rss_mib": peak,
        "rss_at_start_mib": at_start,
        "people": len(figures),
        "ties": sum(1 for m in figures.values() if "status" in m),
        "mismatches": mismatches,
    }


def nightly(config_path: str) -> dict:
    """The whole Dagster job, as the nightly schedule runs it, on the configured store."""
    from dagster import DagsterEventType, DagsterInstance

    from engine.config import load_config
    from pipelines.definitions import JOB_NAME, build_definitions

    at_start = peak_rss_of_this_process()
    started = time.perf_counter()
    definitions = build_definitions(Path(config_path))
    loaded = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = definitions.resolve_job_def(JOB_NAME).execute_in_process(
            instance=instance, raise_on_error=False
        )
        finished = time.perf_counter()
        steps = _step_seconds(instance, result.run_id, DagsterEventType)
    new_messages = next(
        (
            e.materialization.metadata["loaded_this_run"].value
            for e in result.get_asset_materialization_events()
            if e.asset_key.path == ["raw", "messages"]
        ),
        None,
    )
    warehouse = load_config(Path(config_path)).warehouse.path
    with _connect(warehouse, read_only=True) as con:
        mode, messages = con.execute(
            "select mode, messages_rebuilt from core.interaction_builds"
            " order by built_at desc limit 1").fetchall()[0]
        summary_mode, people, everyone = con.execute(
            "select mode, people_rebuilt, (select count(*) from marts.contact_summaries)"
            " from marts.contact_summary_builds order by built_at desc limit 1").fetchall()[0]
    return {
        "success": result.success,
        "seconds": finished - loaded,
        "interactions_build": f"{mode}, {messages:,} messages",
        "summaries_build": f"{summary_mode}, {people:,} of {everyone:,} people",
        "definitions_s": loaded - started,
        "steps": steps,
        "new_messages": new_messages,
        "peak_rss_mib": peak_rss_of_this_process(),
        "rss_at_start_mib": at_start,
    }


def _step_seconds(instance: Any, run_id: str, event_type: Any) -> dict[str, float]:
    starts, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == event_type.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (event_type.STEP_SUCCESS, event_type.STEP_FAILURE):
            seconds[event.step_key] = entry.timestamp - starts.get(event.step_key, entry.timestamp)
    return seconds


def main(argv: list[str]) -> None:
    kind, target, *flags = argv
    if kind == "rebuild":
        limits = [f.split("=", 1)[1] for f in flags if f.startswith("--memory-limit=")]
        figures = rebuild(target, "--explain" in flags, limits[0] if limits else None)
    elif kind == "baseline":
        figures = baseline(target)
    elif kind == "nightly":
        figures = nightly(target)
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
