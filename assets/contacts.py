"""`raw/contacts`: the address books, read straight into raw.contacts and raw.contact_groups.

Sources: the demo's simulated address book (sources.demo.address_book), vCard files
(sources.files.contacts globs). Each contact version is stored once (engine/contacts.py);
reading the same book again adds nothing.
"""

from datetime import UTC, datetime
from typing import Any

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.ingest import INGEST_GROUP, RAW_MESSAGES
from assets.resources import Settings, WarehouseResource
from connectors.demo.address_book import demo_address_book
from connectors.takeout.vcard import VcardStats, read_vcard_paths
from engine.contacts import apply_contacts
from engine.warehouse import WRITER_TAGS, row_count

RAW_CONTACTS = AssetKey(["raw", "contacts"])


@asset(
    key=RAW_CONTACTS,
    deps=[RAW_MESSAGES],
    group_name=INGEST_GROUP,
    kinds={"duckdb"},
    op_tags=WRITER_TAGS,
    description="Address-book contacts, one row per version (raw.contacts), and their "
    "labels (raw.contact_groups): the demo's, and .vcf files.",
)
def raw_contacts(
    context: AssetExecutionContext, settings: Settings, warehouse: WarehouseResource
) -> MaterializeResult:
    config = settings.load()
    notes: dict[str, Any] = {"versions": 0, "deleted": 0, "quarantined": 0}
    with warehouse.connect() as con:
        demo = config.sources.demo
        if demo is not None and demo.address_book:
            end = demo.end or datetime.now(UTC).date()
            for (account,) in con.execute(
                "select distinct account from raw.demo_truth order by 1"
            ).fetchall():
                people = con.execute(
                    "select address, name, segment from raw.demo_truth where account = $a",
                    {"a": account},
                ).fetchall()
                book = demo_address_book(account, people, seed=demo.seed, end=end)
                # A snapshot source: the simulated book replaces the one stored before.
                for table in ("contacts", "contact_groups"):
                    con.execute(
                        f"delete from raw.{table} where account = $a and source = 'demo'",
                        {"a": account},
                    )
                apply_contacts(con, account, "demo", [], groups=book.groups)
                for record, seen_at in book.versions:
                    load = apply_contacts(con, account, "demo", [record], now=seen_at)
                    notes["versions"] += load.versions
        files = config.sources.files
        if files is not None and files.contacts:
            stats = VcardStats()
            for batch in read_vcard_paths(files.contacts, files.account, stats=stats):
                load = apply_contacts(
                    con, files.account, "vcard", batch.contacts, quarantine=batch.quarantine
                )
                notes["versions"] += load.versions
                notes["quarantined"] += load.quarantined
            notes["vcard_cards"] = stats.cards
        rows = row_count(con, "raw.contacts")
    context.log.info(f"address books: {notes}")
    return MaterializeResult(metadata={"dagster/row_count": rows, **notes})
