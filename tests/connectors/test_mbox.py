"""The mbox reader against real mail, checked with the standard library as the reference.

Expected values come from somewhere other than the reader: `mailbox.mbox` for message
counts and boundaries, `email` + `email.utils` for headers, addresses and dates, and
values looked up by hand in the Takeout sample (quoted in the tests).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import mailbox
import re
import shutil
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.headers import decode_words, parse_addresses, parse_labels
from connectors.records import MessageRecord, QuarantineRecord, messages_frame, quarantine_frame
from connectors.takeout import ReadStats, SourceFileError, read_mail_paths, read_mbox
from connectors.takeout.dates import choose_sent_at, parse_date, parse_envelope_date

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mail"
SHARED = Path(__file__).parents[2] / ".." / "shared" / "data" / "mail"
TAKEOUT = FIXTURES / "emailnetwork-takeout-sample.mbox"
HAM_SLICE = FIXTURES / "spamassassin-easy-ham-1-first300.mbox"
MALFORMED = FIXTURES / "malformed"
ACCOUNT = "samuelchan@gmail.com"
# Fixed "now" so the date sanity rule does not depend on when the tests run.
NOW = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def shared_mail() -> Path:
    """The full shared corpus (../shared/data/mail), or skip: a fresh clone lacks it."""
    if not (SHARED / "spamassassin-easy-ham-1.mbox").is_file():
        pytest.skip(f"full corpus not present at {SHARED.resolve()} (only in the dev workspace)")
    return SHARED.resolve()


def read_all(path: Path, **kwargs) -> tuple[list[MessageRecord], list[QuarantineRecord]]:
    messages: list[MessageRecord] = []
    quarantine: list[QuarantineRecord] = []
    for batch in read_mbox(path, ACCOUNT, now=NOW, **kwargs):
        messages.extend(batch.messages)
        quarantine.extend(batch.quarantine)
    return messages, quarantine


def stdlib_messages(path: Path) -> list[email.message.Message]:
    """Each message as the standard library sees it (compat32 parser, whole message)."""
    return list(mailbox.mbox(str(path)))


def decoded(name: str) -> str | None:
    # decode_header's parts joined as they stand: make_header() would add a space inside
    # "David H=?ISO-8859-1?B?9g==?=hn".
    parts = email.header.decode_header(name)
    text = "".join(
        part.decode(charset or "ascii", "replace") if isinstance(part, bytes) else part
        for part, charset in parts
    )
    return text.strip() or None


def addresses(message: email.message.Message, name: str) -> list[tuple[str, str | None]]:
    """An address header as the standard library parses it (getaddresses + decode_header)."""
    values = [str(v) for v in message.get_all(name, [])]
    return [(a.lower(), decoded(n)) for n, a in email.utils.getaddresses(values) if a]


# RFC 5322 msg-id: whatever is inside the angle brackets (X.400 gateways put quoted
# strings with spaces there).
ANGLE = re.compile(r"<([^<>]*[^<>\s][^<>]*)>")


def msgid(value: str | None) -> str | None:
    found = ANGLE.findall(value or "")
    return found[0] if found else None


# --- counts: every message accounted for ----------------------------------------------


@pytest.mark.parametrize("path", [TAKEOUT, HAM_SLICE], ids=lambda p: p.name)
def test_every_message_is_read_or_quarantined(path: Path) -> None:
    stats = ReadStats()
    messages, quarantine = read_all(path, stats=stats)
    assert len(messages) + len(quarantine) + stats.duplicates == len(stdlib_messages(path))
    assert stats.messages == len(messages)
    assert stats.quarantined == len(quarantine)


def test_full_corpora_counts_match_stdlib(shared_mail: Path) -> None:
    for name in ("spamassassin-easy-ham-1.mbox", "emailnetwork-takeout-sample.mbox"):
        path = shared_mail / name
        stats = ReadStats()
        messages, quarantine = read_all(path, stats=stats)
        assert len(messages) + len(quarantine) + stats.duplicates == len(mailbox.mbox(str(path)))
    assert stats.bytes == path.stat().st_size


def test_full_spamassassin_broken_clock_falls_back_to_envelope(shared_mail: Path) -> None:
    # Message 883 (index 882) says "Date: Wed, 04 Oct 2028 12:05:01 -0400" but its
    # envelope is "From fork-admin@xent.com  Fri Oct  4 18:19:18 2002".
    messages, quarantine = read_all(shared_mail / "spamassassin-easy-ham-1.mbox")
    assert quarantine == []
    assert len(messages) == 2500
    sources = Counter(m.date_source for m in messages)
    assert sources == {"date_header": 2499, "envelope": 1}
    (odd,) = [m for m in messages if m.date_source == "envelope"]
    assert odd.sent_at == datetime(2002, 10, 4, 18, 19, 18, tzinfo=UTC)
    # The README counts 1,019 In-Reply-To headers; 15 of them are Emacs' "X's message of
    # <date>" form, which names no Message-ID.
    reference = mailbox.mbox(str(shared_mail / "spamassassin-easy-ham-1.mbox"))
    headers = [m["In-Reply-To"] for m in reference if m["In-Reply-To"] is not None]
    assert len(headers) == 1019
    assert len([h for h in headers if msgid(h)]) == 1004
    assert sum(1 for m in messages if m.in_reply_to) == 1004
    for record, message in zip(messages, reference, strict=True):
        assert [(a.address, a.name) for a in record.from_addrs] == addresses(message, "From")
        assert [(a.address, a.name) for a in record.to_addrs] == addresses(message, "To")
        assert [(a.address, a.name) for a in record.cc_addrs] == addresses(message, "Cc")
        assert record.rfc_message_id == msgid(message["Message-ID"])


# --- the Takeout sample: values looked up by hand ---------------------------------------


def test_takeout_first_message_by_hand() -> None:
    # From 1537866361256992303@xxx Wed Jun 22 19:27:30 +0000 2016
    # X-GM-THRID: 1537866361256992303 / X-Gmail-Labels: Inbox,Important
    # Message-ID: <576ae6a2.c3c3370a.3ddd5.4d09@mx.google.com>
    # Date: Wed, 22 Jun 2016 12:27:30 -0700 (PDT) / From: sendi@algorit.ma
    messages, _ = read_all(TAKEOUT)
    first = messages[0]
    assert first.message_key == "1557994ebebede2f" == format(1537866361256992303, "x")
    assert first.thread_key == "1557994ebebede2f"
    assert first.rfc_message_id == "576ae6a2.c3c3370a.3ddd5.4d09@mx.google.com"
    assert first.labels == ["INBOX", "IMPORTANT"]
    assert first.sent_at == datetime(2016, 6, 22, 19, 27, 30, tzinfo=UTC)
    assert first.date_source == "date_header"
    assert [a.address for a in first.from_addrs] == ["sendi@algorit.ma"]
    assert [a.address for a in first.to_addrs] == ["samuelchan@gmail.com"]
    assert first.source == "mbox"
    assert first.account == ACCOUNT


def test_takeout_labels_and_names_by_hand() -> None:
    # grep '^X-Gmail-Labels' | sort | uniq -c:  76 Inbox,Important / 50 Sent /
    # 8 Inbox,Important,Unread / 3 Important / 3 Trash,Unread
    messages, quarantine = read_all(TAKEOUT)
    assert quarantine == []
    assert len(messages) == 140
    labels = Counter(tuple(m.labels) for m in messages)
    assert labels == {
        ("INBOX", "IMPORTANT"): 76,
        ("SENT",): 50,
        ("INBOX", "IMPORTANT", "UNREAD"): 8,
        ("IMPORTANT",): 3,
        ("TRASH", "UNREAD"): 3,
    }
    sent = [m for m in messages if "SENT" in m.labels]
    assert {a.address for m in sent for a in m.from_addrs} == {"samuelchan@gmail.com"}
    names = Counter((a.address, a.name) for m in messages for a in m.from_addrs + m.to_addrs)
    assert names[("mail-noreply@google.com", "Gmail Team")] == 3
    assert names[("samuelchan@gmail.com", "Samuel Wentzel")] == 3
    assert names[("donotreply@wordpress.com", "WordPress.com")] == 1  # quoted in the file
    assert names[("noreply@google.com", "Google Download Your Data")] == 1
    assert names[("samuelchan@gmail.com", None)] == 50 + 87  # From of Sent + bare To


def test_takeout_a_sent_message_by_hand() -> None:
    # From 1537866326225347827@xxx Wed Jun 22 19:26:57 +0000 2016 / X-Gmail-Labels: Sent
    # Date: Wed, 22 Jun 2016 12:26:57 -0700 (PDT) / To: sendi@algorit.ma
    messages, _ = read_all(TAKEOUT)
    (sent,) = [m for m in messages if m.message_key == format(1537866326225347827, "x")]
    assert sent.labels == ["SENT"]
    assert sent.sent_at == datetime(2016, 6, 22, 19, 26, 57, tzinfo=UTC)
    assert [a.address for a in sent.to_addrs] == ["sendi@algorit.ma"]
    assert sent.rfc_message_id == "576ae681.fb29c80a.d8cb6.49a1@mx.google.com"


def test_takeout_agrees_with_stdlib_on_every_message() -> None:
    messages, _ = read_all(TAKEOUT)
    reference = stdlib_messages(TAKEOUT)
    assert len(messages) == len(reference)
    for record, message in zip(messages, reference, strict=True):
        gm_id = int(message.get_from().split("@", 1)[0])
        assert record.message_key == format(gm_id, "x")
        assert record.thread_key == format(int(message["X-GM-THRID"]), "x")
        assert record.rfc_message_id == msgid(message["Message-ID"])
        assert [(a.address, a.name) for a in record.from_addrs] == addresses(message, "From")
        assert [(a.address, a.name) for a in record.to_addrs] == addresses(message, "To")
        assert record.sent_at == email.utils.parsedate_to_datetime(message["Date"])


# --- the SpamAssassin slice: mailing-list mail, checked against the stdlib ------------


def test_ham_slice_agrees_with_stdlib() -> None:
    messages, quarantine = read_all(HAM_SLICE, include_subject=True)
    reference = stdlib_messages(HAM_SLICE)
    assert quarantine == []
    assert len(messages) == len(reference) == 300
    for record, message in zip(messages, reference, strict=True):
        assert record.rfc_message_id == msgid(message["Message-ID"])
        assert record.message_key == record.rfc_message_id
        assert [(a.address, a.name) for a in record.from_addrs] == addresses(message, "From")
        assert [(a.address, a.name) for a in record.to_addrs] == addresses(message, "To")
        assert [(a.address, a.name) for a in record.cc_addrs] == addresses(message, "Cc")
        assert record.in_reply_to == msgid(message["In-Reply-To"])
        assert record.references == ANGLE.findall(message["References"] or "")
        assert record.has_list_unsubscribe == ("List-Unsubscribe" in message)
        expected_list = " ".join(message["List-Id"].split()).lower() if message["List-Id"] else None
        assert record.list_id == expected_list
        expected_precedence = (
            message["Precedence"].strip().lower() if message["Precedence"] else None
        )
        assert record.precedence == expected_precedence
        assert record.date_source == "date_header"
        assert record.sent_at == email.utils.parsedate_to_datetime(message["Date"]).astimezone(UTC)
        subject = message["Subject"]
        expected = str(email.header.make_header(email.header.decode_header(subject)))
        assert " ".join(record.subject.split()) == " ".join(expected.split())


def test_thread_key_is_the_root_of_references() -> None:
    messages, _ = read_all(HAM_SLICE)
    for m in messages:
        if m.references:
            assert m.thread_key == m.references[0]
        elif m.in_reply_to:
            assert m.thread_key == m.in_reply_to
        else:
            assert m.thread_key == (m.rfc_message_id or m.message_key)


def test_no_subject_unless_opted_in() -> None:
    messages, _ = read_all(HAM_SLICE)
    assert all(m.subject is None for m in messages)


def test_records_fit_the_frame_schema() -> None:
    messages, quarantine = read_all(TAKEOUT)
    frame = messages_frame(messages)
    assert frame.height == 140
    assert frame["sent_at"].dtype.time_zone == "UTC"
    assert quarantine_frame(quarantine).height == 0


# --- malformed mail ---------------------------------------------------------------------


def test_every_malformed_file_parses_or_is_quarantined() -> None:
    outcome = {}
    for path in sorted(MALFORMED.iterdir()):
        messages, quarantine = read_all(path)
        assert len(messages) + len(quarantine) == 1, path.name
        outcome[path.name] = "parsed" if messages else quarantine[0].reason
    parsed = [name for name, result in outcome.items() if result == "parsed"]
    assert len(parsed) == 12
    # No Date, no envelope, no Received: nothing to date it by.
    assert outcome["flanker-encoded-header.eml"].startswith("no usable date: no Date header")
    # An Outlook .msg (OLE2 binary), not an RFC 5322 message.
    assert "NUL bytes" in outcome["mail_outlook_1"]


def test_quarantine_record_has_locator_and_redacted_excerpt() -> None:
    _, quarantine = read_all(MALFORMED / "flanker-encoded-header.eml")
    (record,) = quarantine
    assert record.locator == f"{(MALFORMED / 'flanker-encoded-header.eml').resolve()}:0"
    assert record.kind == "message"
    assert record.excerpt.startswith("From: =?UTF-8?B?Rm9vLCBCYXI=?= <foo.bar@example.com>")
    assert "Subject: [omitted]" in record.excerpt
    assert "hello" not in record.excerpt  # the subject is "hello"
    assert len(record.excerpt) <= 300


def test_encoded_words_and_raw_8bit_names_are_decoded() -> None:
    # flanker-encoded-header.eml: From: =?UTF-8?B?Rm9vLCBCYXI=?= <foo.bar@example.com>
    # (its record is quarantined for having no date, so check the header parser directly)
    raw = (MALFORMED / "flanker-encoded-header.eml").read_bytes()
    from_line = re.search(rb"^From: (.*)$", raw, re.M).group(1).strip()
    assert [(a.address, a.name) for a in parse_addresses(from_line)] == [
        ("foo.bar@example.com", "Foo, Bar")
    ]
    # flanker-from-encoding.eml: From: "Ingo L\xfctkebohle" (raw ISO-8859-1 byte)
    messages, _ = read_all(MALFORMED / "flanker-from-encoding.eml")
    assert [(a.address, a.name) for a in messages[0].from_addrs] == [
        ("ingo@blank.pages.de", "Ingo Lütkebohle")
    ]
    # flanker-mailformed-headers.eml: raw UTF-8 Cyrillic name, last character truncated
    messages, _ = read_all(MALFORMED / "flanker-mailformed-headers.eml")
    assert messages[0].from_addrs[0].name.startswith("Юникод запрещен")
    # flanker-bilingual-simple.eml: base64 UTF-8 subject
    messages, _ = read_all(MALFORMED / "flanker-bilingual-simple.eml", include_subject=True)
    assert messages[0].subject == "Simple text. How are you? Как ты поживаешь?"
    # flanker-long-header.eml: Q-encoded subject folded over several encoded-words
    messages, _ = read_all(MALFORMED / "flanker-long-header.eml", include_subject=True)
    assert messages[0].subject.startswith("Die heiße Zypernsonne quälte Max und Victoria")
    assert messages[0].message_key.startswith("h:")  # it has no Message-ID


def test_date_later_than_received_uses_received() -> None:
    # flanker-outlook-express.eml: Date: Tue, 14 Jul 2015 12:19:08 +0800, newest
    # Received: Mon, 14 Jul 2014 04:01:18 -0000 -> the Date is a broken clock.
    messages, _ = read_all(MALFORMED / "flanker-outlook-express.eml")
    assert messages[0].date_source == "received"
    assert messages[0].sent_at == datetime(2014, 7, 14, 4, 1, 18, tzinfo=UTC)


def cpython_email_data() -> Path:
    base = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return base / "test" / "test_email" / "data"


def test_cpython_odd_messages_parse_or_quarantine() -> None:
    data = cpython_email_data()
    if not data.is_dir():
        pytest.skip(f"CPython's test_email data is not installed at {data}")
    files = sorted(data.glob("msg_*.txt"))
    assert len(files) == 48
    parsed = quarantined = 0
    for path in files:
        messages, quarantine = read_all(path)
        assert len(messages) + len(quarantine) == 1, path.name
        parsed += len(messages)
        quarantined += len(quarantine)
        for record in quarantine:
            assert record.reason
    assert parsed + quarantined == 48
    assert quarantined >= 1  # some have neither a Date nor a Received header


# --- mbox format edge cases -------------------------------------------------------------


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode())
    return path


ONE = """From a@example.com Mon Jan  1 10:00:00 2024
From: A <a@example.com>
To: b@example.com
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <one@example.com>

Body line
>From someone escaped (mboxrd)

"""
TWO = """From b@example.com Tue Jan  2 10:00:00 2024
From: b@example.com
To: a@example.com
Date: Tue, 2 Jan 2024 10:00:00 +0000
Message-ID: <two@example.com>
In-Reply-To: <one@example.com>

Reply
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_line_ends_and_escaped_from_lines(tmp_path: Path, newline: str) -> None:
    path = write(tmp_path / "box.mbox", ONE + TWO, newline)
    messages, quarantine = read_all(path)
    assert quarantine == []
    assert [m.message_key for m in messages] == ["one@example.com", "two@example.com"]
    assert messages[1].thread_key == "one@example.com"
    assert len(mailbox.mbox(str(path))) == 2


def test_message_without_blank_line_or_body(tmp_path: Path) -> None:
    headers_only = "\n".join(line for line in ONE.splitlines()[:5]) + "\n"
    path = write(tmp_path / "box.mbox", headers_only + TWO)
    messages, _ = read_all(path)
    assert [m.message_key for m in messages] == ["one@example.com", "two@example.com"]
    assert len(mailbox.mbox(str(path))) == 2


def test_empty_message_and_leading_text_are_quarantined_not_dropped(tmp_path: Path) -> None:
    text = "garbage before any From_ line\n\n" + ONE + "From x Mon Jan  1 10:00:00 2024\n\n" + TWO
    path = write(tmp_path / "box.mbox", text)
    messages, quarantine = read_all(path)
    assert [m.message_key for m in messages] == ["one@example.com", "two@example.com"]
    reasons = sorted(q.reason for q in quarantine)
    assert len(reasons) == 2
    assert reasons[0].startswith("empty message")
    assert reasons[1].startswith("no 'Name: value' header lines")
    assert quarantine[0].locator.endswith(":0")


def test_message_bigger_than_a_read_chunk(tmp_path: Path) -> None:
    attachment = ("QUJD" * 19 + "\n") * 80_000  # ~6 MB of base64, several read chunks
    text = ONE.replace("Body line\n", attachment) + TWO.replace("Reply\n", attachment)
    # An unescaped "From " body line splits a message, for mailbox.mbox as for us.
    unescaped = "From this line on, a new message\n"
    path = write(tmp_path / "big.mbox", text + TWO.replace("two@", "three@") + unescaped)
    messages, quarantine = read_all(path)
    assert [m.message_key for m in messages] == [
        "one@example.com",
        "two@example.com",
        "three@example.com",
    ]
    assert [q.reason[:13] for q in quarantine] == ["empty message"]
    assert quarantine[0].locator == f"{path.resolve()}:{path.stat().st_size - len(unescaped)}"
    assert len(mailbox.mbox(str(path))) == 4


def test_duplicates_are_emitted_once(tmp_path: Path) -> None:
    path = write(tmp_path / "box.mbox", ONE + TWO + ONE)
    stats = ReadStats()
    messages, _ = read_all(path, stats=stats)
    assert [m.message_key for m in messages] == ["one@example.com", "two@example.com"]
    assert stats.duplicates == 1


def labelled(message: str, labels: str) -> str:
    return message.replace("Message-ID:", f"X-Gmail-Labels: {labels}\nMessage-ID:")


def test_a_duplicate_in_another_file_adds_its_labels(tmp_path: Path) -> None:
    # The same message exported twice (two Takeout exports): the later copy has a label
    # the first lacked. It is emitted again with the union; the warehouse keeps the last.
    first = write(tmp_path / "a.mbox", labelled(ONE, "Inbox,Work") + TWO)
    second = write(tmp_path / "b.mbox", labelled(ONE, "Important,Work,Inbox") + TWO)
    stats = ReadStats()
    batches = list(read_mail_paths([first, second], ACCOUNT, stats=stats))
    ones = [m for b in batches for m in b.messages if m.message_key == "one@example.com"]
    assert [m.labels for m in ones] == [["INBOX", "Work"], ["INBOX", "Work", "IMPORTANT"]]
    assert (stats.messages, stats.duplicates, stats.relabelled) == (3, 1, 1)
    # Read again from scratch in the other order: the union is the same set.
    batches = list(read_mail_paths([second, first], ACCOUNT))
    ones = [m for b in batches for m in b.messages if m.message_key == "one@example.com"]
    assert [m.labels for m in ones] == [["IMPORTANT", "Work", "INBOX"]]


def test_duplicate_labels_accumulate_within_and_across_batches(tmp_path: Path) -> None:
    copies = [labelled(ONE, "Inbox"), TWO, labelled(ONE, "Sent"), labelled(ONE, "Inbox")]
    copies.append(labelled(ONE, "Work,Sent"))
    path = write(tmp_path / "box.mbox", "".join(copies))
    for batch_size in (5000, 1):
        stats = ReadStats()
        batches = list(read_mbox(path, ACCOUNT, batch_size=batch_size, stats=stats, now=NOW))
        ones = [m for b in batches for m in b.messages if m.message_key == "one@example.com"]
        assert [m.labels for m in ones] == [["INBOX"], ["INBOX", "SENT"], ["INBOX", "SENT", "Work"]]
        assert (stats.duplicates, stats.relabelled) == (1, 2)


def test_no_message_id_gets_a_stable_hash_key(tmp_path: Path) -> None:
    path = write(tmp_path / "box.mbox", ONE.replace("Message-ID: <one@example.com>\n", ""))
    first, _ = read_all(path)
    again, _ = read_all(path)
    assert first[0].message_key.startswith("h:")
    assert first[0].message_key == again[0].message_key
    assert first[0].thread_key == first[0].message_key


def test_batches_respect_batch_size() -> None:
    batches = list(read_mbox(HAM_SLICE, ACCOUNT, batch_size=64, now=NOW))
    sizes = [len(b.messages) + len(b.quarantine) for b in batches]
    assert sizes == [64, 64, 64, 64, 44]
    offsets = [b.cursor.value["offset"] for b in batches]
    assert offsets == sorted(offsets)
    assert offsets[-1] == HAM_SLICE.stat().st_size


# --- cursors ----------------------------------------------------------------------------


def test_rereading_with_the_cursor_yields_nothing() -> None:
    batches = list(read_mbox(TAKEOUT, ACCOUNT, now=NOW))
    cursor = batches[-1].cursor
    assert cursor.source == "mbox"
    assert cursor.stream == str(TAKEOUT.resolve())
    stats = ReadStats()
    assert list(read_mbox(TAKEOUT, ACCOUNT, cursor=cursor, stats=stats)) == []
    assert stats.skipped_unchanged == 1


def test_appended_messages_are_the_only_ones_read(tmp_path: Path) -> None:
    copy = tmp_path / "takeout.mbox"
    shutil.copyfile(TAKEOUT, copy)
    cursor = list(read_mbox(copy, ACCOUNT, now=NOW))[-1].cursor
    ham = HAM_SLICE.read_bytes()
    third = [m.start() + 1 for m in re.finditer(rb"\nFrom ", ham)][2]
    with copy.open("ab") as f:
        f.write(ham[:third])  # the first three SpamAssassin messages
    batches = list(read_mbox(copy, ACCOUNT, cursor=cursor, now=NOW))
    keys = [m.message_key for b in batches for m in b.messages]
    expected = [msgid(m["Message-ID"]) for m in stdlib_messages(HAM_SLICE)[:3]]
    assert keys == expected
    assert batches[-1].cursor.value["offset"] == copy.stat().st_size
    assert list(read_mbox(copy, ACCOUNT, cursor=batches[-1].cursor)) == []


def test_an_interrupted_run_resumes_after_the_last_saved_batch(tmp_path: Path) -> None:
    batches = list(read_mbox(HAM_SLICE, ACCOUNT, batch_size=100, now=NOW))
    after_two = batches[1].cursor
    resumed = list(read_mbox(HAM_SLICE, ACCOUNT, cursor=after_two, now=NOW))
    keys = [m.message_key for b in resumed for m in b.messages]
    assert keys == [m.message_key for b in batches[2:] for m in b.messages]


def test_a_rewritten_file_is_read_from_the_start(tmp_path: Path) -> None:
    path = write(tmp_path / "box.mbox", ONE + TWO)
    cursor = list(read_mbox(path, ACCOUNT, now=NOW))[-1].cursor
    write(path, TWO.replace("two@", "other@") + ONE + TWO)  # same head? no: rewritten
    keys = [
        m.message_key for b in read_mbox(path, ACCOUNT, cursor=cursor, now=NOW) for m in b.messages
    ]
    assert keys == ["other@example.com", "one@example.com", "two@example.com"]


def test_a_truncated_file_with_the_same_head_is_read_from_the_start(tmp_path: Path) -> None:
    path = write(tmp_path / "box.mbox", ONE + TWO + TWO.replace("two@", "three@"))
    cursor = list(read_mbox(path, ACCOUNT, now=NOW))[-1].cursor
    write(path, ONE + TWO.replace("two@", "four@") + TWO.replace("two@", "fivefive@"))
    keys = [
        m.message_key for b in read_mbox(path, ACCOUNT, cursor=cursor, now=NOW) for m in b.messages
    ]
    assert keys == ["one@example.com", "four@example.com", "fivefive@example.com"]


def test_touching_a_file_rechecks_but_reads_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "box.mbox", ONE + TWO)
    cursor = list(read_mbox(path, ACCOUNT, now=NOW))[-1].cursor
    path.touch()
    path.write_bytes(path.read_bytes())  # same bytes, new mtime
    batches = list(read_mbox(path, ACCOUNT, cursor=cursor, now=NOW))
    assert [len(b.messages) for b in batches] == [0]
    assert batches[0].cursor.value["mtime_ns"] == path.stat().st_mtime_ns


# --- several paths, errors ----------------------------------------------------------------


def test_read_mail_paths_expands_globs_and_deduplicates(tmp_path: Path) -> None:
    for name in ("a.mbox", "b.mbox"):
        shutil.copyfile(TAKEOUT, tmp_path / name)
    stats = ReadStats()
    batches = list(read_mail_paths([str(tmp_path / "*.mbox")], ACCOUNT, stats=stats))
    streams = {b.cursor.stream for b in batches}
    assert streams == {str((tmp_path / n).resolve()) for n in ("a.mbox", "b.mbox")}
    assert sum(len(b.messages) for b in batches) == 140
    assert stats.duplicates == 140
    cursors = [b.cursor for b in batches]
    assert list(read_mail_paths([str(tmp_path / "*.mbox")], ACCOUNT, cursors)) == []


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mbox"
    with pytest.raises(SourceFileError, match=re.escape(str(missing))):
        list(read_mbox(missing, ACCOUNT))
    with pytest.raises(SourceFileError, match=r"nope\.mbox"):
        list(read_mail_paths([TAKEOUT, missing], ACCOUNT))
    with pytest.raises(SourceFileError, match="matches no file"):
        list(read_mail_paths([str(tmp_path / "*.mbox")], ACCOUNT))
    with pytest.raises(OSError):  # SourceFileError is an OSError
        list(read_mbox(tmp_path, ACCOUNT))


# --- header and date rules in isolation --------------------------------------------------


def test_date_rule() -> None:
    envelope = datetime(2016, 6, 22, 19, 27, 30, tzinfo=UTC)
    ok = choose_sent_at("Wed, 22 Jun 2016 12:27:30 -0700", envelope, None, NOW)
    assert ok == (envelope, "date_header")
    late = choose_sent_at(
        "Wed, 22 Jun 2016 12:27:30 -0700", datetime(2016, 6, 1, tzinfo=UTC), None, NOW
    )
    assert late == (datetime(2016, 6, 1, tzinfo=UTC), "envelope")
    old = choose_sent_at("Thu, 1 Jan 1970 00:00:00 +0000", None, None, NOW)
    assert old[0] is None and "out of range" in old[1]
    future = choose_sent_at("Mon, 1 Jan 2035 00:00:00 +0000", None, None, NOW)
    assert future[0] is None
    received = choose_sent_at("garbage", None, "from x by y; Sat, 1 Jun 2024 08:00:00 +0000", NOW)
    assert received == (datetime(2024, 6, 1, 8, tzinfo=UTC), "received")
    assert choose_sent_at(None, None, None, NOW)[1].startswith("no usable date: no Date header")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed, 22 Jun 2016 12:27:30 -0700 (PDT)", datetime(2016, 6, 22, 19, 27, 30, tzinfo=UTC)),
        ("22 Jun 16 12:27 GMT", datetime(2016, 6, 22, 12, 27, tzinfo=UTC)),
        ("Thu, 22 Aug 2002 10:00:00 CEST", datetime(2002, 8, 22, 8, 0, tzinfo=UTC)),
        ("Mon, 31 Feb 2002 10:00:00 +0000", None),
        ("not a date", None),
    ],
)
def test_parse_date(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected
    if expected is not None and "CEST" not in text:
        assert email.utils.parsedate_to_datetime(text) == expected


def test_envelope_dates() -> None:
    takeout = "From 1537866361256992303@xxx Wed Jun 22 19:27:30 +0000 2016"
    assert parse_envelope_date(takeout) == datetime(2016, 6, 22, 19, 27, 30, tzinfo=UTC)
    classic = "From exmh-workers-admin@redhat.com  Thu Aug 22 12:36:23 2002"
    assert parse_envelope_date(classic) == datetime(2002, 8, 22, 12, 36, 23, tzinfo=UTC)
    zoned = "From mrc@CAC.Washington.EDU Mon Feb  8 02:53:47 PST 1993"
    assert parse_envelope_date(zoned) == datetime(1993, 2, 8, 10, 53, 47, tzinfo=UTC)
    # "²" passes str.isdigit() but not int(): this used to stop the whole read.
    assert parse_envelope_date("From x Wed Jun 22 19:27:30 +\u00b2\u00b2\u00b2\u00b2 2016") is None


def test_envelope_with_a_zone_of_superscript_digits_is_not_fatal(tmp_path: Path) -> None:
    envelope = "From x Wed Jun 22 19:27:30 +\u00b2\u00b2\u00b2\u00b2 2016\n"
    path = tmp_path / "box.mbox"
    path.write_bytes(envelope.encode("latin-1") + ONE.split("\n", 1)[1].encode())
    messages, quarantine = read_all(path)
    assert [(m.message_key, m.date_source) for m in messages] == [
        ("one@example.com", "date_header")
    ]
    assert quarantine == []


def test_labels_normalised_to_gmail_ids() -> None:
    raw = b'Inbox,Sent,Spam,Trash,Important,Starred,Category Promotions,"Work, Clients",Opened'
    assert parse_labels(raw) == [
        "INBOX",
        "SENT",
        "SPAM",
        "TRASH",
        "IMPORTANT",
        "STARRED",
        "CATEGORY_PROMOTIONS",
        "Work, Clients",
        "Opened",
    ]
    assert parse_labels(b"=?UTF-8?Q?Fr=C3=BChst=C3=BCck?=,Inbox") == ["Frühstück", "INBOX"]
    # A lone CR outside quotes used to stop the whole read with csv.Error.
    assert parse_labels(b'"Work, Clients",Inbox\rx') == ["Work, Clients", "Inbox x"]


def test_encoded_word_split_across_words_keeps_multibyte_characters() -> None:
    # "Кот" in UTF-8 split inside the second character across two encoded-words
    assert decode_words("=?utf-8?B?0JrQ?= =?utf-8?B?vtGC?=") == "Кот"
    assert decode_words("=?iso-8859-1?q?J=F6rg?= Schmidt") == "Jörg Schmidt"
    assert decode_words("=?x-unknown?q?abc?=") == "abc"


# --- every field against an independent parse ------------------------------------------

# Takeout's display names for Gmail's system labels, as the Gmail API spells them.
SYSTEM_LABELS = {
    "inbox": "INBOX", "sent": "SENT", "important": "IMPORTANT", "unread": "UNREAD",
    "trash": "TRASH", "spam": "SPAM", "starred": "STARRED", "draft": "DRAFT",
}  # fmt: skip


def expected_record(message: mailbox.mboxMessage) -> dict:
    """Every MessageRecord field of one message, derived with the standard library only:
    `mailbox` for the envelope, `email` for headers, `email.utils` for addresses and dates."""
    envelope = message.get_from()
    gmail = re.match(r"(\d+)@xxx\b", envelope)
    rfc_id = msgid(message["Message-ID"])
    references = ANGLE.findall(message["References"] or "")
    in_reply_to = msgid(message["In-Reply-To"])
    thread = message["X-GM-THRID"]
    labels = [
        SYSTEM_LABELS.get(label.strip().lower(), label.strip())
        for label in (message["X-Gmail-Labels"] or "").split(",")
        if label.strip()
    ]

    def lowered(name: str) -> str | None:
        value = message[name]
        return " ".join(decoded(str(value)).lower().split()) if value else None

    return {
        "message_key": format(int(gmail.group(1)), "x") if gmail else rfc_id,
        "sent_at": email.utils.parsedate_to_datetime(message["Date"]).astimezone(UTC),
        "date_source": "date_header",
        "rfc_message_id": rfc_id,
        "thread_key": format(int(thread), "x") if thread
        else (references[0] if references else in_reply_to or rfc_id),
        "from_addrs": addresses(message, "From"),
        "to_addrs": addresses(message, "To"),
        "cc_addrs": addresses(message, "Cc"),
        "bcc_addrs": addresses(message, "Bcc"),
        "in_reply_to": in_reply_to,
        "references": references,
        "labels": labels,
        "list_id": lowered("List-Id"),
        "precedence": lowered("Precedence"),
        "auto_submitted": lowered("Auto-Submitted"),
        "has_list_unsubscribe": "List-Unsubscribe" in message,
        "subject": " ".join(decoded(str(message["Subject"])).split()) if message["Subject"]
        else None,
    }  # fmt: skip


@pytest.mark.parametrize("path", [TAKEOUT, HAM_SLICE], ids=lambda p: p.name)
def test_every_field_of_every_record_matches_the_standard_library(path: Path) -> None:
    messages, quarantine = read_all(path, include_subject=True)
    reference = stdlib_messages(path)
    assert quarantine == []
    assert len(messages) == len(reference)
    differences = []
    for index, (record, message) in enumerate(zip(messages, reference, strict=True)):
        got = {name: getattr(record, name) for name in expected_record(message)}
        for name in ("from_addrs", "to_addrs", "cc_addrs", "bcc_addrs"):
            got[name] = [(a.address, a.name) for a in got[name]]
        if got["subject"] is not None:
            got["subject"] = " ".join(got["subject"].split())
        want = expected_record(message)
        differences += [(index, k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert differences == []
    assert {r.account for r in messages} == {ACCOUNT} and {r.source for r in messages} == {"mbox"}
