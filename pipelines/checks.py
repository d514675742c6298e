"""Asset checks: invariants the warehouse must keep, declared next to what they guard."""


from dagster import AssetCheckResult, AssetKey, asset_check

from assets.ingest import RAW_MESSAGES
from assets.resources import WarehouseResource
from engine.warehouse import WRITER_TAGS, fetch_one


def _duplicates(warehouse: WarehouseResource, query: str) -> int:
    with warehouse.connect() as con:
        return fetch_one(con, query)[0]


# They read the DuckDB file, so on a cluster they run where it is: the writer queue.
@asset_check(asset=RAW_MESSAGES, description="No two rows share (account, message_key).",
             op_tags=WRITER_TAGS)
def messages_have_unique_keys(warehouse: WarehouseResource) -> AssetCheckResult:
    duplicates = _duplicates(
        warehouse,
        "select count(*) from (select 1 from raw.messages "
        "group by account, message_key having count(*) > 1)",
    )
    return AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_keys": duplicates})


@asset_check(
    asset=AssetKey(["marts", "relationship_status"]),
    description="Exactly one status per tie, and every tie in contact_metrics has one.",
    op_tags=WRITER_TAGS,
)
def one_status_per_tie(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as con:
        repeated, missing = fetch_one(
            con,
            """
            select
                (select count(*) - count(distinct person_id) from marts.relationship_status),
                (select count(*) from marts.contact_metrics m where is_tie and not exists (
                    select 1 from marts.relationship_status s where s.person_id = m.person_id))
            """,
        )
    return AssetCheckResult(
        passed=repeated == 0 and missing == 0,
        metadata={"repeated_people": repeated, "ties_without_status": missing},
    )


CHECKS = [messages_have_unique_keys, one_status_per_tie]
