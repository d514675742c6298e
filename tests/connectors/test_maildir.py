"""The Maildir reader, on Maildirs written by the standard library's `mailbox.Maildir`."""

from __future__ import annotations

import mailbox
import os
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.takeout import ReadStats, SourceFileError, read_mail_paths, read_maildir
from connectors.takeout.maildir import folder_label, unique_name

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mail"
TAKEOUT = FIXTURES / "emailnetwork-takeout-sample.mbox"
HAM_SLICE = FIXTURES / "spamassassin-easy-ham-1-first300.mbox"
MALFORMED = FIXTURES / "malformed"
ACCOUNT = "zzzz@spamassassin.taint.org"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
ANGLE = re.compile(r"<([^<>]*[^<>\s][^<>]*)>")


def msgid(value: str | None) -> str | None:
    found = ANGLE.findall(value or "")
    return found[0] if found else None


def read_all(path: Path, **kwargs):
    messages, quarantine, batches = [], [], list(read_maildir(path, ACCOUNT, now=NOW, **kwargs))
    for batch in batches:
        messages.extend(batch.messages)
        quarantine.extend(batch.quarantine)
    return messages, quarantine, batches


def add(box: mailbox.Maildir, message: mailbox.Message, subdir: str, flags: str = "") -> str:
    copy = mailbox.MaildirMessage(message)
    copy.set_subdir(subdir)
    copy.set_flags(flags)
    return box.add(copy)


@pytest.fixture(scope="module")
def ham_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 300-message SpamAssassin slice as a Maildir: 200 in INBOX, 100 in .Sent,
    every other message unread in new/, the rest read ("S" flag) in cur/."""
    root = tmp_path_factory.mktemp("template") / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    sent = box.add_folder("Sent")
    for i, message in enumerate(mailbox.mbox(str(HAM_SLICE))):
        target = box if i < 200 else sent
        if i % 2:
            add(target, message, "cur", "S")
        else:
            add(target, message, "new")
    return root


@pytest.fixture
def ham_maildir(ham_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template Maildir."""
    return Path(shutil.copytree(ham_template, tmp_path / "Maildir"))


def test_every_message_is_read_with_its_folder_label(ham_maildir: Path) -> None:
    messages, quarantine, batches = read_all(ham_maildir)
    assert quarantine == []
    assert len(messages) == 300
    expected = {msgid(m["Message-ID"]) for m in mailbox.mbox(str(HAM_SLICE))}
    assert {m.message_key for m in messages} == expected
    assert Counter(tuple(m.labels) for m in messages) == {("INBOX",): 200, ("SENT",): 100}
    assert all(m.source == "maildir" for m in messages)
    cursor = batches[-1].cursor
    assert cursor.source == "maildir"
    assert cursor.stream == str(ham_maildir.resolve())
    assert set(cursor.value["folders"]) == {"/cur", "/new", ".Sent/cur", ".Sent/new"}


def test_flags_are_not_labels(ham_maildir: Path) -> None:
    messages, _, _ = read_all(ham_maildir)
    assert not any(label in {"S", "SEEN", "UNREAD"} for m in messages for label in m.labels)


def test_rerun_with_the_cursor_does_no_work(ham_maildir: Path) -> None:
    _, _, batches = read_all(ham_maildir)
    stats = ReadStats()
    again = list(read_maildir(ham_maildir, ACCOUNT, cursor=batches[-1].cursor, stats=stats))
    assert again == []
    assert stats.files == 0
    assert stats.skipped_unchanged == 1


def test_marking_read_moving_new_to_cur_is_not_new_mail(ham_maildir: Path) -> None:
    _, _, batches = read_all(ham_maildir)
    new_dir = ham_maildir / "new"
    first = sorted(os.listdir(new_dir))[0]
    os.rename(new_dir / first, ham_maildir / "cur" / f"{first}:2,S")  # what a client does
    stats = ReadStats()
    again = list(read_maildir(ham_maildir, ACCOUNT, cursor=batches[-1].cursor, stats=stats))
    assert sum(len(b.messages) for b in again) == 0
    assert stats.files == 0
    # the refreshed cursor makes the next run a no-op again
    assert list(read_maildir(ham_maildir, ACCOUNT, cursor=again[-1].cursor)) == []


def test_only_new_deliveries_are_read(ham_maildir: Path) -> None:
    _, _, batches = read_all(ham_maildir)
    box = mailbox.Maildir(str(ham_maildir), create=False)
    new_message = mailbox.mbox(str(TAKEOUT))[0]
    add(box.get_folder("Sent"), new_message, "new")
    again, _, _ = read_all(ham_maildir, cursor=batches[-1].cursor)
    assert [m.rfc_message_id for m in again] == ["576ae6a2.c3c3370a.3ddd5.4d09@mx.google.com"]
    # X-Gmail-Labels in the file and the folder's label both count
    assert again[0].labels == ["INBOX", "IMPORTANT", "SENT"]


def test_deleted_messages_leave_the_cursor(ham_maildir: Path) -> None:
    _, _, batches = read_all(ham_maildir)
    victim = sorted(os.listdir(ham_maildir / "cur"))[0]
    (ham_maildir / "cur" / victim).unlink()
    again = list(read_maildir(ham_maildir, ACCOUNT, cursor=batches[-1].cursor))
    assert sum(len(b.messages) for b in again) == 0
    before = len(batches[-1].cursor.value["folders"]["/cur"]["seen"])
    after = len(again[-1].cursor.value["folders"]["/cur"]["seen"])
    assert after < before


def test_nested_folders_and_sent_detection(tmp_path: Path) -> None:
    # mbsync-style nesting ("Sent Items/cur") next to Maildir++ (".Archive")
    root = tmp_path / "mail"
    messages = list(mailbox.mbox(str(HAM_SLICE)))[:3]
    root.mkdir()
    for folder, message in zip(["Sent Items", ".Archive.2002", "Junk"], messages, strict=True):
        box = mailbox.Maildir(str(root / folder), create=True)
        add(box, message, "cur", "S")
    (root / "tmp").mkdir()  # a root without cur/new of its own is fine
    read, _, _ = read_all(root)
    assert sorted(m.labels[0] for m in read) == ["Archive/2002", "SENT", "SPAM"]


@pytest.mark.parametrize(
    ("folder", "label"),
    [
        ("", "INBOX"),
        (".Sent", "SENT"),
        ("Sent Items", "SENT"),
        ("[Gmail]/Sent Mail", "SENT"),
        (".INBOX.Sent", "SENT"),
        ("Absent", "Absent"),
        (".Drafts", "DRAFT"),
        ("Deleted Items", "TRASH"),
        (".Work.Clients", "Work/Clients"),
    ],
)
def test_folder_labels(folder: str, label: str) -> None:
    assert folder_label(folder) == label


def test_unique_name_ignores_flags() -> None:
    assert unique_name("1700000000.M1P2.host,S=1234:2,RS") == "1700000000.M1P2.host,S=1234"
    assert unique_name("1700000000.M1P2.host") == "1700000000.M1P2.host"


def test_malformed_files_are_quarantined_with_their_path(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for path in sorted(MALFORMED.iterdir()):
        shutil.copyfile(path, root / "cur" / f"{path.name}:2,S")
    messages, quarantine, _ = read_all(root)
    assert len(messages) + len(quarantine) == 14
    assert len(messages) == 12
    reasons = {Path(q.locator.rsplit(":", 1)[0]).name: q.reason for q in quarantine}
    assert set(reasons) == {"flanker-encoded-header.eml:2,S", "mail_outlook_1:2,S"}
    assert all(q.locator.endswith(":0") for q in quarantine)
    # flanker-torture.eml starts with an mbox From_ line: it is used as the envelope
    (torture,) = [m for m in messages if "CMM.0.88.687168092" in (m.rfc_message_id or "")]
    assert torture.sent_at == datetime(1993, 2, 6, 10, 53, 47, tzinfo=UTC)


def test_maildir_and_mbox_together_are_deduplicated(ham_maildir: Path) -> None:
    stats = ReadStats()
    batches = list(read_mail_paths([ham_maildir, HAM_SLICE], ACCOUNT, stats=stats))
    assert sum(len(b.messages) for b in batches) == 300
    assert stats.duplicates == 300
    assert {b.cursor.source for b in batches} == {"maildir", "mbox"}


def test_a_message_in_two_folders_gets_both_labels(tmp_path: Path) -> None:
    # mbsync and offlineimap write a Gmail message with two labels into two folders.
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    message = next(iter(mailbox.mbox(str(HAM_SLICE))))
    add(box, message, "cur", "S")
    add(box.add_folder("Work"), message, "cur", "S")
    stats = ReadStats()
    messages, _, _ = read_all(root, stats=stats)
    # Whichever folder is read first, the last record (the one the warehouse keeps) has
    # both labels, the first folder's first.
    first, last = messages
    assert len(first.labels) == 1
    assert last.labels == [*first.labels, *({"INBOX", "Work"} - set(first.labels))]
    assert first.message_key == last.message_key
    assert (stats.messages, stats.duplicates, stats.relabelled) == (2, 0, 1)


def test_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match="no such folder"):
        list(read_maildir(tmp_path / "missing", ACCOUNT))
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceFileError, match=r"plain: not a Maildir \(no cur/ or new/ folder"):
        list(read_maildir(tmp_path / "plain", ACCOUNT))
    with pytest.raises(SourceFileError, match="not a folder"):
        list(read_maildir(TAKEOUT, ACCOUNT))
