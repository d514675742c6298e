""".vcf files through Dagster: each run reads the whole export into raw.contacts, and a card
the export no longer holds is deleted, since a file has no tombstones to say so.

Real materialisation of every asset over a real DuckDB file, with the Takeout-style
fixture (tests/fixtures/contacts/takeout30.vcf: four usable cards, two quarantined).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from pipelines.definitions import materialize_everything
from tests.conftest import make_config

FIXTURE = Path(__file__).parent / "fixtures" / "contacts" / "takeout30.vcf"
ME = "alex@example.com"
JO_CARD = re.compile(r"BEGIN:VCARD\r?\n(?:(?!END:VCARD).*\r?\n)*?FN:Jo Chen\r?\n"
                     r"(?:(?!END:VCARD).*\r?\n)*?END:VCARD\r?\n")
# Jo's key dates, found through the address Jo mails from.
JO_DATES = ("select k.kind, k.next_occurrence from marts.key_dates k "
            "join core.identities i using (person_id) where i.address = $a order by k.kind")


def run(path: Path) -> dict:
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    return {key: value.value for key, value in meta["raw/contacts"].items()}


def latest(warehouse: str) -> dict[str, tuple]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return {key: tuple(rest) for key, *rest in con.execute(
            "select contact_key, version, deleted, display_name from raw.contacts "
            "where source = 'vcard' and account = $a "
            "qualify row_number() over (partition by contact_key order by version desc) = 1",
            {"a": ME}).fetchall()}


def test_a_card_taken_out_of_the_export_is_deleted_and_one_put_back_returns(tmp_path):
    export = tmp_path / "contacts.vcf"
    text = FIXTURE.read_text()
    export.write_text(text)
    mail = tmp_path / "mail.mbox"
    mail.write_text(f"From jo@client.example Mon Nov  2 10:00:00 2026\nFrom: jo@client.example\n"
                    f"To: {ME}\nDate: Mon, 02 Nov 2026 10:00:00 +0000\n"
                    "Message-ID: <1@example.com>\n\nhello\n\n")
    path, config = make_config(
        tmp_path, me={"addresses": [ME]}, status={"as_of": "2026-11-10T00:00:00+00:00"},
        sources={"files": {"account": ME, "mail": [str(mail)], "contacts": [str(export)]}})

    first = run(path)
    assert (first["versions"], first["deleted"], first["quarantined"]) == (4, 0, 2)
    cards = latest(config.warehouse.path)
    jo_key = next(key for key, (_, _, name) in cards.items() if name == "Jo Chen")
    assert jo_key == "jo-2" and len(cards) == 4
    assert all(deleted is False for _, deleted, _ in cards.values())
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute(JO_DATES, {"a": "jo@client.example"}).fetchall() == [
            ("anniversary", date(2027, 6, 20)), ("birthday", date(2026, 11, 30))]

    # The same export again: nothing new, nothing deleted.
    again = run(path)
    assert (again["versions"], again["deleted"]) == (0, 0)

    # Jo's card removed from the export: Jo's contact is deleted, the others untouched,
    # and Jo's birthday and anniversary leave the key dates.
    without_jo, removed = JO_CARD.subn("", text)
    assert removed == 1
    export.write_text(without_jo)
    gone = run(path)
    assert (gone["versions"], gone["deleted"]) == (0, 1)
    after = latest(config.warehouse.path)
    assert after[jo_key] == (2, True, None)
    assert {k: v for k, v in after.items() if k != jo_key} == {
        k: v for k, v in cards.items() if k != jo_key}
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute(JO_DATES, {"a": "jo@client.example"}).fetchall() == []

    # Put back, it is a contact again (a new version, not the old row revived).
    export.write_text(text)
    back = run(path)
    assert (back["versions"], back["deleted"]) == (1, 0)
    assert latest(config.warehouse.path)[jo_key] == (3, False, "Jo Chen")
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute(JO_DATES, {"a": "jo@client.example"}).fetchall() == [
            ("anniversary", date(2027, 6, 20)), ("birthday", date(2026, 11, 30))]
