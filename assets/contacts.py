"""`raw/contacts`: the address books, read straight into raw.contacts and raw.contact_groups.

Sources: Google Contacts (sources.gcontacts, the People API), the demo's simulated address
book (sources.demo.address_book), vCard files (sources.files.contacts globs). Each contact
version is stored once (engine/contacts.py); reading the same book again adds nothing.

Straight into DuckDB rather than through the landing zone: an address book is thousands of
rows, not millions, and each People page is applied with its cursor in one transaction, so
a run killed mid-sync resumes from the last page applied.
"""

from datetime import UTC, datetime
from typing import Any

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.ingest import INGEST_GROUP, RAW_MESSAGES, google_credentials
from assets.resources import Settings, WarehouseResource
from connectors.demo.address_book import demo_address_book
from connectors.google import (
    CONTACTS_STREAM,
    OTHER_CONTACTS_STREAM,
    AuthError,
    PeopleSyncError,
    PeopleSyncReport,
    QuotaLimiter,
    build_people_service,
    sync_contacts,
)
from connectors.google.people_records import SOURCE as GCONTACTS
from connectors.takeout import SourceFileError
from connectors.takeout.vcard import VcardStats, read_vcard_paths
from engine.config import KeepwarmConfig
from engine.contacts import apply_contacts, stored_contact_keys
from engine.warehouse import WRITER_TAGS, load_cursor, row_count

RAW_CONTACTS = AssetKey(["raw", "contacts"])


@asset(
    key=RAW_CONTACTS,
    deps=[RAW_MESSAGES],
    group_name=INGEST_GROUP,
    kinds={"duckdb"},
    op_tags=WRITER_TAGS,
    description="Address-book contacts, one row per version (raw.contacts), and their "
    "labels (raw.contact_groups): Google Contacts, the demo's, and .vcf files.",
)
def raw_contacts(
    context: AssetExecutionContext, settings: Settings, warehouse: WarehouseResource
) -> MaterializeResult:
    config = settings.load()
    notes: dict[str, Any] = {"versions": 0, "deleted": 0, "quarantined": 0}
    with warehouse.connect() as con:
        try:
            for address, report in _sync_google(config, con, notes):
                notes[f"gcontacts/{address}"] = MetadataValue.json(report.as_metadata())
                context.log.info(f"contacts of {address}: {report.mode}, {report.contacts} "
                                 f"contacts, {report.deletions + report.pruned} deletions")
        except (AuthError, PeopleSyncError) as exc:
            raise Failure(str(exc)) from None
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
            seen: set[str] = set()
            try:
                for batch in read_vcard_paths(files.contacts, files.account, stats=stats):
                    load = apply_contacts(
                        con, files.account, "vcard", batch.contacts, quarantine=batch.quarantine
                    )
                    seen.update(record.contact_key for record in batch.contacts)
                    notes["versions"] += load.versions
                    notes["quarantined"] += load.quarantined
            except SourceFileError as exc:
                # The user's to fix, so the UI shows one line, not a traceback.
                raise Failure(f"{exc}; fix sources.files.contacts in {settings.config_path}") \
                    from None
            # A .vcf export is the whole address book and has no tombstones: a card it no
            # longer holds was deleted (or its file taken out of the config). Decided only
            # once every file is read, so a failed read deletes nothing.
            gone = [key for key in stored_contact_keys(con, files.account, "vcard")
                    if key not in seen]
            notes["deleted"] += apply_contacts(con, files.account, "vcard", [],
                                               deleted_keys=gone).deleted
            notes["vcard_cards"] = stats.cards
        rows = row_count(con, "raw.contacts")
    context.log.info(f"address books: {notes}")
    return MaterializeResult(metadata={"dagster/row_count": rows, **notes})


def _sync_google(config: KeepwarmConfig, con: duckdb.DuckDBPyConnection, notes: dict[str, Any]):
    """Sync each sources.gcontacts account, page by page, each page applied with its cursor
    before the next is asked for; yields (address, report) as each account finishes."""
    gcontacts = config.sources.gcontacts
    streams = [(CONTACTS_STREAM, "people/")]
    if gcontacts and gcontacts.other_contacts:
        streams.append((OTHER_CONTACTS_STREAM, "otherContacts/"))
    for account in gcontacts.accounts if gcontacts else []:
        address = account.address
        service = build_people_service(google_credentials(config, account),
                                       gcontacts.api_endpoint)
        # The account's requests share one bucket, whichever stream sends them.
        limiter = QuotaLimiter.for_ceiling(gcontacts.requests_per_minute)
        for stream, prefix in streams:
            report = PeopleSyncReport(address)
            batches = sync_contacts(
                service, address, load_cursor(con, address, GCONTACTS, stream),
                limiter=limiter, stream=stream,
                # A resync after an expired token prunes, on its last page, what Google no
                # longer lists (this stream's keys only); read once every earlier page is
                # applied.
                known_contacts=lambda address=address, prefix=prefix: [
                    k for k in stored_contact_keys(con, address, GCONTACTS)
                    if k.startswith(prefix)],
                report=report,
            )
            for batch in batches:
                load = apply_contacts(
                    con, address, GCONTACTS, batch.contacts,
                    deleted_keys=[key for _, key in batch.deleted_contact_keys],
                    groups=batch.groups, quarantine=batch.quarantine, cursor=batch.cursor,
                )
                notes["versions"] += load.versions
                notes["deleted"] += load.deleted
                notes["quarantined"] += load.quarantined
            yield (address if stream == CONTACTS_STREAM else f"{address}/other"), report
