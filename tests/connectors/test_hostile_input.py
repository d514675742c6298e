"""Input that used to stop the nightly run (issue 17 §1): each reproducer is rebuilt here
from its description and must be read or quarantined, never raise."""

from __future__ import annotations

import base64
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.headers import decode_words
from connectors.takeout import read_mbox

ACCOUNT = "me@example.org"
NOW = datetime(2024, 6, 1, tzinfo=UTC)

# Codecs Python knows by name that are not text encodings (bytes to bytes), and
# "undefined", which fails on every input.
NOT_TEXT = ["base64", "rot13", "hex", "zlib", "uu", "quopri", "bz2", "undefined"]
NAME_UTF8 = "Zoë Ång".encode()


@pytest.mark.parametrize("charset", NOT_TEXT)
def test_encoded_word_in_a_codec_that_is_no_charset_decodes_as_raw_bytes(charset: str) -> None:
    b_word = f"=?{charset}?B?{base64.b64encode(NAME_UTF8).decode()}?="
    q_word = f"=?{charset}?Q?Zo=C3=AB_=C3=85ng?="
    # Raw-byte rules: valid UTF-8 is UTF-8.
    assert decode_words(b_word) == "Zoë Ång"
    assert decode_words(q_word) == "Zoë Ång"


def _mbox(path: Path, charset: str) -> Path:
    word = f"=?{charset}?B?{base64.b64encode(NAME_UTF8).decode()}?="
    text = (
        "From alice@example.com Mon Jan  1 09:00:00 2024\n"
        f"From: {word} <alice@example.com>\n"
        f"To: =?{charset}?Q?Me?= <me@example.org>\n"
        f"Subject: =?{charset}?B?aGVsbG8=?=\n"
        "Date: Mon, 1 Jan 2024 09:00:00 +0000\n"
        f"Message-ID: <{charset}@example.com>\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset={charset}\n"
        "\n"
        "body\n"
        "\n"
        "From bob@example.com Mon Jan  1 10:00:00 2024\n"
        "From: Bob <bob@example.com>\n"
        "To: me@example.org\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
        "Message-ID: <normal@example.com>\n"
        "\n"
        "hi\n"
    )
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("charset", NOT_TEXT)
def test_mbox_with_a_codec_that_is_no_charset_is_read(tmp_path: Path, charset: str) -> None:
    path = _mbox(tmp_path / "bad.mbox", charset)
    batches = list(read_mbox(path, ACCOUNT, include_subject=True, now=NOW))
    messages = [m for b in batches for m in b.messages]
    quarantine = [q for b in batches for q in b.quarantine]
    assert quarantine == []
    by_id = {m.rfc_message_id: m for m in messages}
    assert set(by_id) == {f"{charset}@example.com", "normal@example.com"}
    odd = by_id[f"{charset}@example.com"]
    assert [(a.address, a.name) for a in odd.from_addrs] == [("alice@example.com", "Zoë Ång")]
    assert [(a.address, a.name) for a in odd.to_addrs] == [("me@example.org", "Me")]
    assert odd.subject == "hello"


def test_a_message_that_cannot_be_read_is_quarantined_with_its_locator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever a header-parsing helper raises, the message is quarantined where it lies
    # and the next one is read.
    import connectors.takeout.message as message

    real = message.cached_addresses

    def explode(raw: bytes):
        if b"alice" in raw:
            raise LookupError("'base64' is not a text encoding")
        return real(raw)

    monkeypatch.setattr(message, "cached_addresses", explode)
    path = _mbox(tmp_path / "bad.mbox", "utf-8")
    batches = list(read_mbox(path, ACCOUNT, now=NOW))
    messages = [m for b in batches for m in b.messages]
    quarantine = [q for b in batches for q in b.quarantine]
    assert [m.rfc_message_id for m in messages] == ["normal@example.com"]
    assert len(quarantine) == 1
    assert quarantine[0].locator == f"{path.resolve()}:0"
    assert "LookupError" in quarantine[0].reason


# --- .ics ----------------------------------------------------------------------------

WINDOW = {"window_start": datetime(2024, 1, 1, tzinfo=UTC),
          "window_end": datetime(2025, 1, 1, tzinfo=UTC)}


def _calendar(path: Path, *events: str) -> Path:
    body = "".join(f"BEGIN:VEVENT\r\n{event.strip()}\r\nEND:VEVENT\r\n" for event in events)
    path.write_text(f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}"
                    "END:VCALENDAR\r\n", encoding="utf-8")
    return path


NORMAL = """UID:normal
DTSTART:20240301T100000Z
DTEND:20240301T110000Z
ATTENDEE:mailto:bob@example.com"""


def _series(uid: str, rule: str, start: str = "20240101T090000Z",
            end: str = "20240101T091500Z") -> str:
    return f"UID:{uid}\r\nDTSTART:{start}\r\nDTEND:{end}\r\nRRULE:{rule}"


def _read(path: Path, **kwargs):
    from connectors.takeout import ReadStats
    from connectors.takeout.ics import read_ics

    stats = ReadStats()
    batches = list(read_ics(path, ACCOUNT, stats=stats, **WINDOW, **kwargs))
    events = [e for b in batches for e in b.events]
    quarantine = {q.locator.rsplit(":", 1)[1]: q.reason for b in batches for q in b.quarantine}
    return events, quarantine, stats


def test_runaway_recurring_series_are_quarantined_and_the_rest_is_read(tmp_path: Path) -> None:
    path = _calendar(
        tmp_path / "cal.ics",
        NORMAL,
        _series("secondly", "FREQ=SECONDLY"),
        _series("minutely", "FREQ=MINUTELY"),
        # Sub-daily but started long before the window: the library would list every
        # instance since 2020 before reaching the window.
        _series("old-hourly", "FREQ=HOURLY;UNTIL=20240102T000000Z", start="20200101T000000Z",
                end="20200101T000100Z"),
        _series("interval-0", "FREQ=DAILY;INTERVAL=0"),
        _series("secondly-interval-0", "FREQ=SECONDLY;INTERVAL=0"),
        # Daily is not checked from DTSTART; 366 instances in the window > 100.
        _series("daily-all-year", "FREQ=DAILY"),
        # Within the bound: land.
        _series("weekly", "FREQ=WEEKLY;COUNT=10"),
        _series("hourly-50", "FREQ=HOURLY;COUNT=50"),
        # 20 instances in 2023 (before the window), 10 in it.
        _series("daily-across", "FREQ=DAILY;COUNT=30", start="20231212T090000Z",
                end="20231212T093000Z"),
    )
    events, quarantine, stats = _read(path, max_instances_per_series=100)
    by_series = Counter(e.recurring_event_id or e.event_key for e in events)
    assert by_series == {"normal": 1, "weekly": 10, "hourly-50": 50, "daily-across": 10}
    assert stats.outside_window == 20
    assert set(quarantine) == {"secondly", "minutely", "old-hourly", "interval-0",
                               "secondly-interval-0", "daily-all-year"}
    assert quarantine["secondly"] == (
        "recurring series repeats more than 100 times between its start and the window's "
        "end (max_instances_per_series): FREQ=SECONDLY"
    )
    assert quarantine["old-hourly"].startswith("recurring series repeats more than 100 times")
    assert quarantine["interval-0"] == (
        "recurrence rule has INTERVAL=0, which never moves on: FREQ=DAILY;INTERVAL=0"
    )
    assert quarantine["daily-all-year"] == (
        "recurring series expands past 100 instances in the window "
        "(max_instances_per_series): FREQ=DAILY"
    )


def test_the_default_bound_reads_a_daily_series_and_stops_a_secondly_one(tmp_path: Path) -> None:
    path = _calendar(tmp_path / "cal.ics", NORMAL, _series("daily", "FREQ=DAILY"),
                     _series("secondly", "FREQ=SECONDLY"))
    events, quarantine, _ = _read(path)
    assert Counter(e.recurring_event_id or e.event_key for e in events) == {
        "normal": 1, "daily": 366}  # 2024 is a leap year
    assert list(quarantine) == ["secondly"]
    assert "more than 5,000 times" in quarantine["secondly"]


def test_the_time_bound_quarantines_a_series_and_keeps_the_rest(tmp_path: Path) -> None:
    # A bound far below what any expansion takes (reading one slice of the window costs
    # microseconds): the series is stopped after its first slice, whatever the machine.
    path = _calendar(tmp_path / "cal.ics", NORMAL, _series("daily", "FREQ=DAILY;COUNT=3"))
    events, quarantine, _ = _read(path, max_seconds_per_series=1e-9)
    assert [e.event_key for e in events] == ["normal"]
    assert quarantine == {"daily": "recurring series takes more than 1e-09 s to expand in "
                                   "the window (max_seconds_per_series): FREQ=DAILY;COUNT=3"}


@pytest.mark.parametrize("bad", [{"max_instances_per_series": 0},
                                 {"max_seconds_per_series": 0}])
def test_a_bound_that_is_not_positive_is_refused(tmp_path: Path, bad: dict) -> None:
    path = _calendar(tmp_path / "cal.ics", NORMAL)
    with pytest.raises(ValueError, match="max_"):
        _read(path, **bad)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("DTSTART;TZID=Mars/Olympus:20240301T100000", "DTEND;TZID=Mars/Olympus:20230412T090000"),
        ("DTSTART;TZID=Mars/Olympus:20240301T100000", "DTEND:20230412T090000Z"),
        ("DTSTART:20240301T100000Z", "DTEND;TZID=Mars/Olympus:20230412T090000"),
        ("DTSTART;TZID=Europe/Paris:20240301T100000", "DTEND;TZID=Mars/Olympus:20230412T090000"),
        ("DTSTART:20240301T100000Z", "DTEND:20230412T090000Z"),
    ],
)
def test_an_end_before_the_start_is_quarantined_whatever_the_zone(
    tmp_path: Path, start: str, end: str
) -> None:
    path = _calendar(tmp_path / "cal.ics", NORMAL, f"UID:backwards\r\n{start}\r\n{end}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # icalendar may warn about the unknown TZID
        events, quarantine, _ = _read(path)
    assert [e.event_key for e in events] == ["normal"]
    assert quarantine == {"backwards": "event ends (DTEND) before it starts (DTSTART)"}


# --- obfuscated and domain-less addresses ---------------------------------------------


def _pipermail(path: Path) -> Path:
    # A list archive as pipermail writes it: the From_ line and the From header spell the
    # address "user at domain" and the name follows in parentheses.
    text = (
        "From jjl at pobox.com  Mon Jan  1 09:00:00 2024\n"
        "From: jjl at pobox.com (John J. Lee)\n"
        "Date: Mon, 1 Jan 2024 09:00:00 +0000\n"
        "Subject: [list] one\n"
        "Message-ID: <one@pobox.com>\n"
        "\n"
        "body\n"
        "\n"
        "From jjl at example.org  Mon Jan  1 10:00:00 2024\n"
        "From: jjl at example.org (Jane J. Lin)\n"
        "To: list @ lists.example.net\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
        "Message-ID: <two@example.org>\n"
        "\n"
        "body\n"
        "\n"
        "From jjl  Mon Jan  1 11:00:00 2024\n"
        "From: jjl\n"
        "To: list\n"
        "Date: Mon, 1 Jan 2024 11:00:00 +0000\n"
        "Message-ID: <three@nowhere>\n"
        "\n"
        "no domain anywhere\n"
        "\n"
        "From jjl  Mon Jan  1 12:00:00 2024\n"
        "From: jjl\n"
        "To: Me <me@example.org>\n"
        "Date: Mon, 1 Jan 2024 12:00:00 +0000\n"
        "Message-ID: <four@nowhere>\n"
        "\n"
        "a sender without a domain\n"
    )
    path.write_text(text, encoding="utf-8")
    return path


def test_pipermail_addresses_are_restored_and_domain_less_ones_are_unusable(
    tmp_path: Path,
) -> None:
    path = _pipermail(tmp_path / "list.mbox")
    batches = list(read_mbox(path, ACCOUNT, now=NOW))
    by_id = {m.rfc_message_id: m for b in batches for m in b.messages}
    quarantine = [q for b in batches for q in b.quarantine]
    assert set(by_id) == {"one@pobox.com", "two@example.org", "four@nowhere"}
    # Two people sharing the local part "jjl" stay two addresses.
    assert [(a.address, a.name) for a in by_id["one@pobox.com"].from_addrs] == [
        ("jjl@pobox.com", "John J. Lee")]
    assert [(a.address, a.name) for a in by_id["two@example.org"].from_addrs] == [
        ("jjl@example.org", "Jane J. Lin")]
    assert [a.address for a in by_id["two@example.org"].to_addrs] == ["list@lists.example.net"]
    # A domain-less sender is no address; the message still has a usable recipient.
    assert by_id["four@nowhere"].from_addrs == []
    assert [a.address for a in by_id["four@nowhere"].to_addrs] == ["me@example.org"]
    # No usable address at all: quarantined with the reason.
    assert len(quarantine) == 1
    assert quarantine[0].reason.startswith("no usable address")
    assert quarantine[0].locator.startswith(f"{path.resolve()}:")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"jjl at pobox.com (John Lee)", [("jjl@pobox.com", "John Lee")]),
        (b"Ann <ann AT example.co.uk>", [("ann@example.co.uk", "Ann")]),
        (b"bob @ example.com, carol@example.com",
         [("bob@example.com", None), ("carol@example.com", None)]),
        # A display name that says "at" is not an address.
        (b'"Bob at work" <bob@example.com>', [("bob@example.com", "Bob at work")]),
        (b'"Meet at home.com" <x@example.org>', [("x@example.org", "Meet at home.com")]),
        (b"jjl", []),
        (b"MAILER-DAEMON, x@", []),
    ],
)
def test_address_spellings(raw: bytes, expected: list) -> None:
    from connectors.headers import parse_addresses

    assert [(a.address, a.name) for a in parse_addresses(raw)] == expected


# --- Maildir strays and globs over a folder tree ----------------------------------------


def _message(to: str = "me@example.org", mid: str = "m1@example.com") -> bytes:
    return (f"From: Bob <bob@example.com>\nTo: {to}\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
            f"Message-ID: <{mid}>\n\nhi\n").encode()


def _tree(root: Path) -> Path:
    """A folder tree: two Maildirs (one with strays outside cur/ and new/), an mbox, and
    things that are not mail."""
    inbox = root / "Mail" / "Inbox"
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True)
    (inbox / "cur" / "1.host:2,S").write_bytes(_message(mid="a@example.com"))
    (inbox / "new" / "2.host").write_bytes(_message(mid="b@example.com"))
    (inbox / "tmp" / "3.host").write_bytes(b"half-delivered")
    (inbox / "dovecot-uidlist").write_bytes(b"3 V1 N3\n")
    (inbox / "stray copy.eml").write_bytes(_message(mid="stray@example.com"))
    work = root / "Mail" / "Work"
    (work / "cur").mkdir(parents=True)
    (work / "cur" / "4.host:2,").write_bytes(_message(mid="c@example.com"))
    (root / "Mail" / "archive.mbox").write_bytes(
        b"From bob@example.com Mon Jan  1 09:00:00 2024\n" + _message(mid="d@example.com"))
    (root / "Mail" / "photos").mkdir()
    (root / "Mail" / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff\xe0JFIF\x00" * 10)
    (root / "Mail" / "notes.txt").write_text("meet at noon\n")
    (root / "Mail" / "cal.ics").write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    return root / "Mail"


def test_maildir_files_outside_cur_and_new_are_counted(tmp_path: Path) -> None:
    from connectors.takeout import ReadStats
    from connectors.takeout.maildir import OUTSIDE_CUR_NEW, read_maildir

    inbox = _tree(tmp_path) / "Inbox"
    stats = ReadStats()
    batches = list(read_maildir(inbox, ACCOUNT, stats=stats, now=NOW))
    assert sorted(m.rfc_message_id for b in batches for m in b.messages) == [
        "a@example.com", "b@example.com"]
    # dovecot-uidlist and the stray copy; tmp/ (deliveries in progress) is not counted.
    assert stats.skipped == {OUTSIDE_CUR_NEW: 2}


def test_a_glob_over_a_folder_tree_reads_the_mail_and_counts_the_rest(tmp_path: Path) -> None:
    from connectors.takeout import ReadStats, read_mail_paths
    from connectors.takeout.maildir import OUTSIDE_CUR_NEW
    from connectors.takeout.paths import NOT_A_MAILDIR, NOT_MAIL

    mail = _tree(tmp_path)
    stats = ReadStats()
    batches = list(read_mail_paths(str(mail / "**"), ACCOUNT, stats=stats))
    ids = sorted(m.rfc_message_id for b in batches for m in b.messages)
    # Mail/ is a folder above two Maildirs: read once, as their root. The mbox beside
    # them and the stray .eml (mail, though outside cur/ and new/) are read as files.
    assert ids == ["a@example.com", "b@example.com", "c@example.com", "d@example.com",
                   "stray@example.com"]
    assert [q for b in batches for q in b.quarantine] == []
    # notes.txt, cal.ics, cat.jpg and dovecot-uidlist: matched by the glob, not mail, and
    # counted once (not again as files in a Maildir outside cur/ and new/).
    assert stats.skipped == {NOT_MAIL: 4}
    assert OUTSIDE_CUR_NEW not in stats.skipped
    assert NOT_A_MAILDIR not in stats.skipped


def test_a_glob_over_folders_without_maildirs_skips_them(tmp_path: Path) -> None:
    from connectors.takeout import ReadStats, read_mail_paths
    from connectors.takeout.paths import NOT_A_MAILDIR, NOT_MAIL

    (tmp_path / "a" / "empty").mkdir(parents=True)
    (tmp_path / "a" / "x.mbox").write_bytes(
        b"From bob@example.com Mon Jan  1 09:00:00 2024\n" + _message())
    (tmp_path / "a" / "x.pdf").write_bytes(b"%PDF-1.4\n")
    stats = ReadStats()
    batches = list(read_mail_paths(str(tmp_path / "a" / "*"), ACCOUNT, stats=stats))
    assert [m.rfc_message_id for b in batches for m in b.messages] == ["m1@example.com"]
    assert stats.skipped == {NOT_A_MAILDIR: 1, NOT_MAIL: 1}


def test_a_glob_that_matches_no_mail_is_one_clear_error(tmp_path: Path) -> None:
    from connectors.takeout import SourceFileError
    from connectors.takeout.paths import check_mail_paths

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(SourceFileError, match="the pattern matches no mail"):
        check_mail_paths(str(tmp_path / "**"))


def test_calendar_addresses_follow_the_same_rules(tmp_path: Path) -> None:
    path = _calendar(
        tmp_path / "cal.ics",
        NORMAL + "\r\nORGANIZER:mailto:jjl at pobox.com\r\nATTENDEE:mailto:jjl\r\n"
        "ATTENDEE;CN=Ann:mailto:ann @ example.org",
    )
    events, quarantine, _ = _read(path)
    assert quarantine == {}
    [event] = events
    assert event.organizer == "jjl@pobox.com"
    assert [a.address for a in event.attendees] == ["bob@example.com", "ann@example.org"]
