"""vCard files (.vcf: Google Takeout's 3.0, Apple's and Outlook's 3.0/4.0) as ContactRecords.

Streaming: the file is read line by line and each BEGIN:VCARD ... END:VCARD block is
parsed on its own with `vobject`, so a large export never sits in memory whole and one
bad card costs only itself. A card that does not parse, or has neither a name nor an
email address, is quarantined with its file, line and the reason.

What is read (nothing else is kept: no TEL, ADR, NOTE or PHOTO):

* `contact_key`: the card's UID; without one, "vcard:" + a hash of its name and first
  address (stable across exports while those stay the same).
* `etag`: REV when given, else a hash of the card's text (a new version when it changes).
* `display_name`: FN, else the N parts joined (given, family).
* `emails`: every EMAIL, lower-cased, the preferred one (TYPE=pref or PREF=1) first.
* `organization`, `title`: the first ORG component and TITLE.
* `birthday`: BDAY as "YYYY-MM-DD" or "--MM-DD" (vCard 4.0 "--0309", 3.0 "1984-03-09",
  "19840309", a date-time's date; Apple's year 1604 with X-APPLE-OMIT-YEAR means none).
* `events`: ANNIVERSARY / X-ANNIVERSARY as ("anniversary", date).
* `groups`: CATEGORIES (Takeout writes a contact's labels there, with "myContacts").
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vobject

from connectors.contacts import ContactRecord
from connectors.records import QuarantineRecord
from connectors.takeout.files import check_readable_files

SOURCE = "vcard"
_BEGIN = re.compile(rb"^BEGIN:VCARD\s*$", re.I)
_END = re.compile(rb"^END:VCARD\s*$", re.I)
_DATE = re.compile(r"^(?:(\d{4})-?|--)(\d{2})-?(\d{2})(?:T.*)?$")


@dataclass(slots=True)
class VcardBatch:
    """Contacts read from one file, and the cards that could not be."""

    path: str
    contacts: list[ContactRecord] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)


@dataclass
class VcardStats:
    cards: int = 0
    contacts: int = 0
    quarantined: int = 0
    unreadable_dates: int = 0


def vcard_date(text: str, params: dict[str, Any] | None = None) -> str | None:
    """A BDAY/ANNIVERSARY value as "YYYY-MM-DD" or "--MM-DD"; None when unreadable."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    year, month, day = match.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    omit = (params or {}).get("X-APPLE-OMIT-YEAR")
    if year and not (omit and year in omit) and year != "0000":
        return f"{year}-{month}-{day}"
    return f"--{month}-{day}"


def _pref(line: Any) -> bool:
    params = {k.upper(): [str(v).lower() for v in vs] for k, vs in line.params.items()}
    return "pref" in params.get("TYPE", []) or "1" in params.get("PREF", [])


def card_record(account: str, card: Any, text: str, stats: VcardStats) -> ContactRecord:
    """One parsed vCard as a record.

    Raises:
        ValueError: the card has neither a name nor an email address.
    """
    contents = card.contents
    emails: list[str] = []
    for line in sorted(contents.get("email", []), key=lambda e: not _pref(e)):
        address = str(line.value).strip().lower()
        if "@" in address and address not in emails:
            emails.append(address)
    name = str(contents["fn"][0].value).strip() if "fn" in contents else ""
    if not name and "n" in contents:
        n = contents["n"][0].value
        name = " ".join(p for p in (str(n.given).strip(), str(n.family).strip()) if p)
    if not name and not emails:
        raise ValueError("card has neither a name (FN/N) nor an email address")
    org_value = contents["org"][0].value if "org" in contents else None
    if isinstance(org_value, list):
        org_value = org_value[0] if org_value else None
    title = str(contents["title"][0].value).strip() if "title" in contents else ""

    def date_of(key: str) -> str | None:
        if key not in contents:
            return None
        line = contents[key][0]
        value = vcard_date(str(line.value), line.params)
        if value is None:
            stats.unreadable_dates += 1
        return value

    events = tuple(
        ("anniversary", d) for key in ("anniversary", "x-anniversary") if (d := date_of(key))
    )
    groups: list[str] = []
    for line in contents.get("categories", []):
        values = line.value if isinstance(line.value, list) else str(line.value).split(",")
        groups += [g.strip() for g in values if g.strip() and g.strip() not in groups]
    uid = str(contents["uid"][0].value).strip() if "uid" in contents else ""
    if not uid:
        seed = f"{name}\n{emails[0] if emails else ''}".lower()
        uid = "vcard:" + hashlib.sha256(seed.encode()).hexdigest()[:20]
    rev = str(contents["rev"][0].value).strip() if "rev" in contents else ""
    return ContactRecord(
        account=account,
        source=SOURCE,
        contact_key=uid,
        etag=rev or hashlib.sha256(text.encode()).hexdigest()[:16],
        display_name=name or None,
        emails=tuple(emails),
        organization=(str(org_value).strip() or None) if org_value else None,
        title=title or None,
        birthday=date_of("bday"),
        events=events,
        groups=tuple(groups),
    )


def _cards(path: Path) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each top-level card, read line by line."""
    depth, start, lines = 0, 0, []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if _BEGIN.match(raw):
                depth += 1
                if depth == 1:
                    start, lines = number, []
            if depth:
                lines.append(raw)
            if _END.match(raw) and depth:
                depth -= 1
                if depth == 0:
                    data = b"".join(lines)
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = data.decode("latin-1")
                    yield start, text
    if depth:
        yield start, b"".join(lines).decode("utf-8", "replace")


def read_vcard(
    path: str | os.PathLike[str],
    account: str,
    *,
    batch_size: int = 500,
    stats: VcardStats | None = None,
) -> Iterator[VcardBatch]:
    """Contacts of one .vcf file, `batch_size` cards at a time."""
    path = Path(path).expanduser()
    stats = stats if stats is not None else VcardStats()
    batch = VcardBatch(str(path))
    for line_no, text in _cards(path):
        stats.cards += 1
        locator = f"{path}:{line_no}"
        try:
            if not _END.match(text.rstrip().splitlines()[-1].encode()):
                raise ValueError("card is cut off: no END:VCARD before the end of the file")
            card = vobject.readOne(text, validate=False)
            batch.contacts.append(card_record(account, card, text, stats))
            stats.contacts += 1
        except Exception as exc:  # vobject raises many kinds on malformed input
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            batch.quarantine.append(
                QuarantineRecord(
                    source=SOURCE,
                    account=account,
                    kind="contact",
                    locator=locator,
                    reason=f"unreadable vCard: {reason}",
                    excerpt=_excerpt(text),
                )
            )
            stats.quarantined += 1
        if len(batch.contacts) + len(batch.quarantine) >= batch_size:
            yield batch
            batch = VcardBatch(str(path))
    if batch.contacts or batch.quarantine:
        yield batch


def _excerpt(text: str) -> str:
    """The card's structure without personal values: its property names only."""
    names = [line.split(":", 1)[0].split(";", 1)[0] for line in text.splitlines() if ":" in line]
    return ",".join(names)[:300]


def check_contact_paths(patterns: Iterable[str]) -> list[Path]:
    """The .vcf files `patterns` (paths or globs, ~ expanded) name, each once, each a
    readable file; nothing is read.

    Raises:
        SourceFileError: the first path that is missing, matches nothing, is a folder or
            cannot be read; the message names it.
    """
    return check_readable_files(patterns, "Takeout/Contacts/*/*.vcf")


def read_vcard_paths(
    patterns: Iterable[str], account: str, *, stats: VcardStats | None = None
) -> Iterator[VcardBatch]:
    """Every file `patterns` name, each once, in their order (a glob's matches sorted).
    All are checked before the first is read, so a typo fails fast.

    Raises:
        SourceFileError: as `check_contact_paths`.
    """
    for path in check_contact_paths(patterns):
        yield from read_vcard(path, account, stats=stats)
