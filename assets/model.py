"""The model and metrics layers: one asset per table, each built by its SQL file."""


from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from assets.contacts import RAW_CONTACTS
from assets.ingest import RAW_EVENTS, RAW_MESSAGES
from assets.resources import Settings, WarehouseResource
from assets.tables import build_table, markdown_table
from engine.warehouse import WRITER_TAGS

MODEL_GROUP = "model"
METRICS_GROUP = "metrics"

Describe = Callable[[duckdb.DuckDBPyConnection], dict[str, Any]]


def sql_asset(
    schema: str,
    table: str,
    *,
    deps: Sequence[AssetKey],
    group: str,
    description: str,
    describe: Describe | None = None,
):
    """An asset that rebuilds `schema.table` from `assets/sql/<schema>/<table>.sql`."""

    @asset(
        key=[schema, table],
        deps=deps,
        group_name=group,
        kinds={"duckdb", "sql"},
        description=description,
        # One writer at a time: a step waiting for the file should not hold an executor slot.
        op_tags=WRITER_TAGS,
    )
    def _build(
        context: AssetExecutionContext, settings: Settings, warehouse: WarehouseResource
    ) -> MaterializeResult:
        config = settings.load()
        with warehouse.connect() as con:
            metadata = build_table(con, schema, table, config.model_params(),
                                   memory_cap=warehouse.memory_limit)
            if describe:
                metadata.update(describe(con))
        return MaterializeResult(metadata=metadata)

    return _build


def _describe_status(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    counts = dict(
        con.execute(
            "select status, count(*) from marts.relationship_status group by 1 order by 1"
        ).fetchall()
    )
    cold_list = con.sql(
        """
        select display_name as name, address, status,
               strftime(last_contact_at, '%Y-%m-%d') as last_contact,
               -- whole days, rounded as the reason rounds them
               round(usual_gap_days)::int as usual_gap, round(days_silent)::int as days_silent,
               reason, next_step
        from marts.relationship_status
        -- Snoozed ties (keepwarm snooze) stay off the list until their day comes.
        where status in ('cold', 'cooling') and snoozed_until is null
        order by attention_rank
        limit 25
        """
    ).pl()
    return {
        **{f"status/{status}": MetadataValue.int(n) for status, n in counts.items()},
        "going_cold": MetadataValue.md(markdown_table(cold_list)),
    }


def _describe_last_build(
    con: duckdb.DuckDBPyConnection, builds_table: str, *counts: str
) -> dict[str, Any]:
    """What the latest incremental build recorded in `builds_table` did: its mode, why,
    and the `counts` columns (how much it redid)."""
    row = con.execute(
        f"select mode, reason, {', '.join(counts)} from {builds_table}"
        " order by built_at desc limit 1"
    ).fetchone()
    mode, reason, *figures = row
    return {
        "build/mode": MetadataValue.text(mode),
        "build/reason": MetadataValue.text(reason),
        **{f"build/{name}": MetadataValue.int(n) for name, n in zip(counts, figures, strict=True)},
    }


contacts = sql_asset(
    "core", "contacts",
    deps=[RAW_CONTACTS], group=MODEL_GROUP,
    description="Each address-book contact as it stands: its latest version, not deleted.",
)  # fmt: skip
identities = sql_asset(
    "core", "identities",
    deps=[RAW_MESSAGES, RAW_EVENTS, contacts.key], group=MODEL_GROUP,
    description="Every address seen, normalised, mapped to a person.",
)  # fmt: skip
contact_people = sql_asset(
    "core", "contact_people",
    deps=[contacts.key, identities.key], group=MODEL_GROUP,
    description="Which person each address-book contact is, with what the marts read of it "
                "(labels, dates, organisation).",
)  # fmt: skip
people = sql_asset(
    "core", "people",
    deps=[identities.key], group=MODEL_GROUP,
    description="One row per person, merged addresses together.",
)  # fmt: skip
actions = sql_asset(
    "core", "actions",
    deps=[identities.key], group=MODEL_GROUP,
    description="What you told keepwarm about people (keepwarm log, snooze, ignore, cadence: "
                "raw.actions) that is in force, resolved to each person.",
)  # fmt: skip
interactions = sql_asset(
    "core", "interactions",
    deps=[identities.key, actions.key, RAW_MESSAGES, RAW_EVENTS], group=MODEL_GROUP,
    description="One row per person per message or meeting, noise marked. Incremental: "
                "only what changed in raw.* is rebuilt (core.interaction_builds says why not).",
    describe=lambda con: _describe_last_build(con, "core.interaction_builds", "messages_rebuilt",
                                              "events_rebuilt", "rows_written"),
)  # fmt: skip
contact_summaries = sql_asset(
    "marts", "contact_summaries",
    deps=[interactions.key], group=METRICS_GROUP,
    description="What each person's interactions add up to as of today: the sums the "
                "metrics are computed from. Incremental: only people whose contact changed "
                "or crossed a window are redone (marts.contact_summary_builds says why not).",
    describe=lambda con: _describe_last_build(con, "marts.contact_summary_builds",
                                              "people_rebuilt"),
)  # fmt: skip
contact_metrics = sql_asset(
    "marts", "contact_metrics",
    deps=[people.key, contact_summaries.key, contact_people.key, RAW_CONTACTS],
    group=METRICS_GROUP,
    description="Recency, frequency, reciprocity, meetings and address-book labels per "
                "person.",
)  # fmt: skip
job_changes = sql_asset(
    "marts", "job_changes",
    deps=[identities.key, contact_people.key, RAW_MESSAGES, RAW_CONTACTS],
    group=METRICS_GROUP,
    description="Organisation or title changes between address-book versions, and new "
                "sender domains after the old one went quiet.",
)  # fmt: skip
relationship_status = sql_asset(
    "marts", "relationship_status",
    deps=[contact_metrics.key, contact_summaries.key, actions.key, job_changes.key],
    group=METRICS_GROUP,
    description="New / active / cooling / cold / dormant per tie, with reason and next step.",
    describe=_describe_status,
)  # fmt: skip
def _figure(value: Any) -> str:
    """One value of the one-row summary as a reader expects it: a count as a count, a
    moment as a date and time, a fraction to four decimals at most."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, float):
        return str(round(value, 4))
    return "" if value is None else str(value)


def _describe_network_summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    # Row by row, not transposed as a frame: a column of mixed types would make every
    # count a float and the as-of time a number of microseconds.
    cursor = con.execute("from marts.network_summary")
    names = [column[0] for column in cursor.description]
    row = cursor.fetchone() or [None] * len(names)
    figures = pl.DataFrame({"figure": names, "value": [_figure(v) for v in row]})
    return {"summary": MetadataValue.md(markdown_table(figures))}


network_summary = sql_asset(
    "marts", "network_summary",
    deps=[contact_metrics.key, relationship_status.key], group=METRICS_GROUP,
    description="The network's shape in one row: active ties against ~150, Dunbar layers, "
                "ties gained and lost, overall give-and-take.",
    describe=_describe_network_summary,
)  # fmt: skip
open_loops = sql_asset(
    "marts", "open_loops",
    deps=[contact_metrics.key, interactions.key], group=METRICS_GROUP,
    description="Messages never answered, either way, and meetings with no follow-up.",
)  # fmt: skip
introductions = sql_asset(
    "marts", "introductions",
    deps=[identities.key, people.key, interactions.key, contact_metrics.key, RAW_MESSAGES],
    group=METRICS_GROUP,
    description="Introductions you made (A and B, new to each other) and received (who "
                "referred whom), and whether the two introduced were in touch afterwards.",
)  # fmt: skip
key_dates = sql_asset(
    "marts", "key_dates",
    deps=[identities.key, people.key, contact_people.key, contact_metrics.key, RAW_EVENTS],
    group=METRICS_GROUP,
    description="Birthdays and other dates from the address book and the birthday "
                "calendar, and first-contact anniversaries of inner-layer ties.",
)  # fmt: skip
