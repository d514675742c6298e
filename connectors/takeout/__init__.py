"""Offline sources: Google Takeout / mbox files, Maildirs and .ics calendars.

Pure Python, no Dagster, no DuckDB: every entry point yields `connectors.records.Batch`
objects (metadata only, never bodies) with a `Cursor` that makes the next run cheap.

    from connectors.takeout import read_mbox
    for batch in read_mbox("~/Takeout/Mail/All mail.mbox", "me@example.com"):
        ...  # load batch.messages, batch.quarantine, save batch.cursor

Entry points:

* `read_mbox`: one mbox file (Takeout, mboxo, mboxrd; also a single .eml).
* `read_maildir`: a Maildir root and its sub-folders.
* `read_mail_paths`: several files/folders/globs, de-duplicated across them.
* `read_ics`: one .ics file, recurring events expanded within a window.
* `read_vcard_paths`: .vcf address books (connectors/takeout/vcard.py).
* `check_mail_paths`, `check_calendar_paths`, `check_contact_paths`: check configured
  paths before a run reads them.

Rules for dates, keys, labels and what gets quarantined are in the docstrings of
`dates`, `message`, `headers`, `maildir` and `ics`.
"""

from connectors.takeout.files import SourceFileError
from connectors.takeout.ics import read_ics
from connectors.takeout.maildir import read_maildir
from connectors.takeout.mbox import read_mbox
from connectors.takeout.message import ReadStats
from connectors.takeout.paths import check_calendar_paths, check_mail_paths, read_mail_paths
from connectors.takeout.vcard import check_contact_paths, read_vcard_paths

__all__ = [
    "ReadStats",
    "SourceFileError",
    "check_calendar_paths",
    "check_contact_paths",
    "check_mail_paths",
    "read_ics",
    "read_mail_paths",
    "read_maildir",
    "read_mbox",
    "read_vcard_paths",
]
