"""When was a message sent: parsing Date, mbox envelope and Received dates, and choosing.

The rule (`choose_sent_at`), applied to every mbox and Maildir message:

1. A *reference* time bounds the Date header: the mbox envelope date (the `From ` line;
   for Takeout this is Gmail's internal date), else the newest Received header's date.
   A reference is only used when it is itself sane: on or after 1990-01-01 and not after
   now + 1 day.
2. The Date header wins when it parses and lies within [1990-01-01, reference + 2 days],
   or, with no reference, within [1990-01-01, now + 1 day]. `date_source="date_header"`.
   (Two days absorb clock skew and slow relays; a Date years after the envelope is a
   broken clock, not a delay.)
3. Otherwise the envelope date is used (`"envelope"`), else the newest Received date
   (`"received"`).
4. If none of them gives a sane date the message is quarantined, and the reason names
   what was tried.

All results are timezone-aware UTC. A Date without a zone, with "-0000", or with an
unknown zone name is read as UTC; two-digit years follow RFC 5322 (00-49 -> 20xx,
50-99 -> 19xx).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from connectors.headers import bytes_to_text

FLOOR = datetime(1990, 1, 1, tzinfo=UTC)
SKEW = timedelta(days=2)
FUTURE = timedelta(days=1)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# RFC 5322 zone names, plus the few others common in real mail. Unknown names read as UTC.
_ZONES = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10,
    "BST": 1, "CET": 1, "MET": 1, "WEST": 1, "CEST": 2, "MEST": 2, "EET": 2, "EEST": 3,
    "MSK": 3, "IST": 5.5, "SGT": 8, "HKT": 8, "JST": 9, "KST": 9,
    "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}  # fmt: skip
_OFFSETS: dict[str | None, timedelta] = {}

_DATE = re.compile(
    r"""\s*(?:[A-Za-z]+\.?,?\s*)?                       # optional day name
    (\d{1,2})[\s-]+([A-Za-z]{3})[A-Za-z]*\.?[\s-]+(\d{2,4})[\s,]+   # 22 Jun 2016
    (\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?\s*     # 12:27:30
    ([+-]\d{2}:?\d{2}|[A-Za-z]{1,5})?                   # -0700 / PDT / nothing
    """,
    re.X,
)
# Envelope: "From sender Thu Aug 22 12:36:23 2002" or Takeout's "... 19:27:30 +0000 2016".
_ENVELOPE = re.compile(
    r"""\s*([A-Za-z]{3})\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?
    (?:\s+([+-]\d{4}|[A-Za-z]{1,5}))?\s+(\d{4})(?:\s+([+-]\d{4}))?""",
    re.X,
)
# The layout nearly every Date header has ("Thu, 22 Aug 2002 07:46:38 -0400 (EDT)"): where
# it matches, `_DATE` would capture the very same day, month, year, clock and zone, so the
# fast path below gives exactly what the general one gives, only cheaper.
_COMMON_DATE = re.compile(
    r"(?:[A-Za-z]{3}, )?(\d{1,2} [A-Za-z]{3} \d{4}) (\d\d:\d\d):(\d\d) ([+-]\d{4}|[A-Za-z]{1,5})"
)
# `_COMMON_DATE` for the raw header bytes. Where it matches, the matched bytes are ASCII, and
# `_COMMON_DATE` matches the decoded text with the same groups: every group ends at a
# literal or at the end of the pattern, so the str pattern's Unicode digits cannot stretch
# one. Where it does not match, the decoded text takes the general path.
_COMMON_DATE_BYTES = re.compile(
    rb"(?:[A-Za-z]{3}, )?([0-9]{1,2} [A-Za-z]{3} [0-9]{4}) ([0-9][0-9]:[0-9][0-9]):([0-9][0-9])"
    rb" ([+-][0-9]{4}|[A-Za-z]{1,5})"
)
# `_day_start` could not say; use the general code path.
_SLOW = object()


def _day_start(
    year_text: str, month_text: str, day_text: str, zone: str | None
) -> datetime | object | None:
    """Midnight of a date in a zone, as aware UTC: the part of a date-time that repeats.

    Returns None for an impossible date (the whole date-time is then None), or `_SLOW`
    when the caller must use its general path (unknown month, or a year at the edge of
    what `datetime` holds, where adding the clock could overflow differently).
    """
    month = _MONTHS.get(month_text.lower())
    if month is None:
        return _SLOW
    try:
        year, day = int(year_text), int(day_text)
    except ValueError:
        return None
    if not 1 < year < 9999:
        return _SLOW
    try:
        offset = _offset(zone)
    except ValueError:  # a From_ line's "+²²²²" passes str.isdigit(), not int()
        return _SLOW
    return _build(year, month, day, 0, 0, 0, offset)


# `_day_start` results by the text they were computed from: a mailbox's dates fall on a
# few thousand days, and the lookup is cheaper than even a cached call. Emptied when
# full, so it stays bounded whatever the file size.
_DAY_STARTS: dict[tuple[str | bytes | None, ...], datetime | object | None] = {}
_DAY_STARTS_MAX = 4096
# The wall clock as two lookups: building a timedelta costs more than the rest of a date
# (its constructor normalises any mix of units), so the 1440 "HH:MM" and the 61 seconds
# values are built once. Only valid values are keys; anything else takes `_at_clock`.
_HOUR_MINUTE = {
    f"{h:02d}:{m:02d}": timedelta(hours=h, minutes=m) for h in range(24) for m in range(60)
}
_SECONDS = {f"{s:02d}": timedelta(seconds=min(s, 59)) for s in range(61)}  # 60: leap second
# The same, keyed by the raw bytes, for the readers' fast paths (no decoding).
_HOUR_MINUTE_BYTES = {key.encode(): value for key, value in _HOUR_MINUTE.items()}
_SECONDS_BYTES = {key.encode(): value for key, value in _SECONDS.items()}


def _cached_day_start(
    key: tuple[str | bytes | None, ...],
    year_text: str,
    month_text: str,
    day_text: str,
    zone: str | None,
) -> datetime | object | None:
    start = _DAY_STARTS.get(key, _SLOW)
    if start is _SLOW:
        start = _day_start(year_text, month_text, day_text, zone)
        if len(_DAY_STARTS) >= _DAY_STARTS_MAX:
            _DAY_STARTS.clear()
        _DAY_STARTS[key] = start
    return start


def _at_clock(start: datetime | None, hour: int, minute: int, second: int) -> datetime | None:
    """`start` (from `_day_start`) plus a wall-clock time; None where `_build` gives None."""
    if second == 60:  # leap second
        second = 59
    if start is None or not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59):
        return None
    return start + timedelta(0, hour * 3600 + minute * 60 + second)


def _offset(zone: str | None) -> timedelta:
    """A zone ("-0700", "+05:30", "PDT", None) as its offset from UTC; cached."""
    offset = _OFFSETS.get(zone)
    if offset is None:
        offset = timedelta(minutes=_offset_minutes(zone))
        if len(_OFFSETS) < 4096:
            _OFFSETS[zone] = offset
    return offset


def _offset_minutes(zone: str | None) -> int:
    if not zone:
        return 0
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4])
        if hours > 23 or minutes > 59:
            return 0
        total = hours * 60 + minutes
        return -total if zone[0] == "-" else total
    return int(_ZONES.get(zone.upper(), 0) * 60)


def _full_year(year: int, digits: int) -> int:
    if digits == 2:
        return year + (2000 if year < 50 else 1900)
    if digits == 3:
        return year + 1900
    return year


def _build(
    year: int, month: int, day: int, hour: int, minute: int, second: int, offset: timedelta
) -> datetime | None:
    if second == 60:  # leap second
        second = 59
    try:
        # Local wall time minus its offset is UTC; cheaper than astimezone().
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC) - offset
    except (ValueError, OverflowError):
        return None


def parse_date(value: str | None) -> datetime | None:
    """Parse a Date (or Received) date-time into aware UTC, or None if it does not parse."""
    if not value:
        return None
    match = _COMMON_DATE.match(value)
    if match is not None:
        day_part, hour_minute, second, zone = match.groups()
        start = _DAY_STARTS.get((day_part, zone), _SLOW)
        if start is _SLOW:
            day, month_name, year_text = day_part.split(" ")
            start = _cached_day_start((day_part, zone), year_text, month_name, day, zone)
        if start is not _SLOW:
            clock = _HOUR_MINUTE.get(hour_minute)
            seconds = _SECONDS.get(second)
            if start is not None and clock is not None and seconds is not None:
                return start + clock + seconds  # type: ignore[operator]
            return _at_clock(
                start,  # type: ignore[arg-type]
                int(hour_minute[:2]),
                int(hour_minute[3:]),
                int(second),
            )
    match = _DATE.match(value)
    if match is not None:
        day, month_name, year_text, hour, minute, second, zone = match.groups()
        month = _MONTHS.get(month_name.lower())
        if month is not None:
            year = int(year_text)
            if len(year_text) < 4:
                year = _full_year(year, len(year_text))
            return _build(
                year, month, int(day), int(hour), int(minute), int(second or 0), _offset(zone)
            )
    try:  # other orders ("Jun 22 2016 ...", asctime); stdlib is slower but lenient
        parts = email.utils.parsedate_tz(value)
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    if not -86400 < offset < 86400:
        offset = 0
    return _build(year, month, day, hour, minute, second, timedelta(seconds=offset))


def parse_date_bytes(raw: bytes) -> datetime | None:
    """`parse_date` of a raw header value, decoded as `headers.bytes_to_text` decodes it;
    the usual layout is read from the bytes without decoding them."""
    match = _COMMON_DATE_BYTES.match(raw)
    if match is not None:
        day_part, hour_minute, second, zone = match.groups()
        start = _DAY_STARTS.get((day_part, zone), _SLOW)
        if start is _SLOW:
            day, month_name, year_text = day_part.decode().split(" ")
            start = _cached_day_start((day_part, zone), year_text, month_name, day, zone.decode())
        clock = _HOUR_MINUTE_BYTES.get(hour_minute)
        seconds = _SECONDS_BYTES.get(second)
        if start is not _SLOW and start is not None and clock is not None and seconds is not None:
            return start + clock + seconds  # type: ignore[operator]
    return parse_date(bytes_to_text(raw))


def parse_envelope_bytes(line: bytes) -> datetime | None:
    """`parse_envelope_date` of a raw From_ line (read as Latin-1), with the two usual
    layouts read from the bytes: `_fixed_envelope_date` step for step, where the tail
    is ASCII (so bytes and Latin-1 text agree on every test it makes)."""
    if len(line) >= 30 and line[-26:].isascii() and line[-5] == 32 and line[-4:].isdigit():
        if line[-11] == 32 and line[-10] in b"+-" and line[-9:-5].isdigit():
            stamp, zone = line[-26:-11], line[-10:-5]
        else:
            stamp, zone = line[-20:-5], None
        if stamp[9] == 58 and stamp[12] == 58:  # ":"
            year_text = line[-4:]
            start = _DAY_STARTS.get((stamp[:6], year_text, zone), _SLOW)
            if start is _SLOW:
                start = _cached_day_start(
                    (stamp[:6], year_text, zone),
                    year_text.decode(),
                    stamp[:3].decode(),
                    stamp[4:6].decode(),
                    zone.decode() if zone is not None else None,
                )
            clock = _HOUR_MINUTE_BYTES.get(stamp[7:12])
            seconds = _SECONDS_BYTES.get(stamp[13:])
            if (
                start is not _SLOW
                and start is not None
                and clock is not None
                and seconds is not None
            ):
                return start + clock + seconds  # type: ignore[operator]
    return parse_envelope_date(line.decode("latin-1"))


def parse_envelope_date(from_line: str | None) -> datetime | None:
    """The date on an mbox `From ` line, or None.

    Accepts the classic asctime form (read as UTC) and Takeout's form with a numeric
    zone before the year.
    """
    if not from_line:
        return None
    fixed = _fixed_envelope_date(from_line.rstrip())
    if fixed is not None:
        return fixed
    # Skip "From " and the sender (no spaces in practice) and match there: much faster
    # than searching; search is the fallback for a quoted sender with spaces.
    rest = from_line[5:] if from_line.startswith("From ") else from_line
    space = rest.find(" ")
    match = _ENVELOPE.match(rest, space + 1) if space >= 0 else None
    if match is None:
        match = _ENVELOPE.search(from_line)
        if match is None:
            return None
    month = _MONTHS.get(match.group(2).lower())
    if month is None:
        return None
    return _build(
        int(match.group(8)),
        month,
        int(match.group(3)),
        int(match.group(4)),
        int(match.group(5)),
        int(match.group(6) or 0),
        _offset(match.group(7) or match.group(9)),
    )


def _fixed_envelope_date(line: str) -> datetime | None:
    """The two envelope layouts nearly every mbox uses, read by position (fast path):
    "... Thu Aug 22 12:36:23 2002" and Takeout's "... Wed Jun 22 19:27:30 +0000 2016"."""
    if len(line) < 30 or line[-5] != " " or not line[-4:].isdigit():
        return None
    if line[-11] == " " and line[-10] in "+-" and line[-9:-5].isdigit():
        stamp, zone = line[-26:-11], line[-10:-5]
    else:
        stamp, zone = line[-20:-5], None
    # stamp is "Aug 22 12:36:23": month [0:3], day [4:6], clock [7:15].
    if stamp[9] != ":" or stamp[12] != ":":
        return None
    year_text, month, day = line[-4:], stamp[:3], stamp[4:6]
    start = _cached_day_start((stamp[:6], year_text, zone), year_text, month, day, zone)
    if start is not None and start is not _SLOW:
        clock = _HOUR_MINUTE.get(stamp[7:12])
        seconds = _SECONDS.get(stamp[13:])
        if clock is not None and seconds is not None:
            return start + clock + seconds  # type: ignore[operator]
    try:
        hour, minute, second = int(stamp[7:9]), int(stamp[10:12]), int(stamp[13:])
        if start is not _SLOW:
            return _at_clock(start, hour, minute, second)  # type: ignore[arg-type]
        number = _MONTHS.get(month.lower())
        if number is None:
            return None
        return _build(int(year_text), number, int(day), hour, minute, second, _offset(zone))
    except ValueError:
        return None


def parse_received_date(value: str | None) -> datetime | None:
    """The date stamped by a Received header: the part after its last ';'."""
    if not value or ";" not in value:
        return None
    return parse_date(value.rsplit(";", 1)[1])


def sane(moment: datetime | None, now: datetime) -> bool:
    """Whether a date is plausible at all: on or after 1990 and not in the future."""
    return moment is not None and FLOOR <= moment <= now + FUTURE


def choose_sent_at(
    date_header: str | None,
    envelope: datetime | None,
    received_header: str | Callable[[], str | None] | None,
    now: datetime,
) -> tuple[datetime, str] | tuple[None, str]:
    """Apply the rule in the module docstring.

    Args:
        date_header: the Date header's text, or None.
        envelope: the mbox envelope date, or None.
        received_header: the newest Received header's text, or None, or a function
            returning it. Only looked at when the envelope date is not usable, which
            keeps the common path fast.
        now: the current time (aware UTC), passed in so tests can pin it.

    Returns:
        `(sent_at, date_source)` on success, `(None, reason)` when no sane date exists.
    """
    latest = now + FUTURE
    envelope_ok = envelope is not None and FLOOR <= envelope <= latest
    received = None
    if envelope_ok:
        ceiling = envelope + SKEW  # type: ignore[operator]
    else:
        if callable(received_header):
            received_header = received_header()
        received = parse_received_date(received_header)
        if received is not None and FLOOR <= received <= latest:
            ceiling = received + SKEW
        else:
            ceiling = latest
    header = parse_date(date_header)
    if header is not None and FLOOR <= header <= ceiling:
        return header, "date_header"
    if envelope_ok:
        return envelope, "envelope"  # type: ignore[return-value]
    if received is not None and FLOOR <= received <= latest:
        return received, "received"
    if date_header is None:
        said = "no Date header"
    elif header is None:
        said = f"Date header {date_header[:60]!r} does not parse"
    else:
        said = f"Date header {date_header[:60]!r} is out of range"
    if envelope is None:
        envelope_said = "no envelope date"
    else:
        envelope_said = f"envelope date {envelope:%Y-%m-%d} is out of range"
    if received is None:
        received_said = "no dated Received header"
    else:
        received_said = f"Received date {received:%Y-%m-%d} is out of range"
    return None, f"no usable date: {said}; {envelope_said}; {received_said}"


def clear_caches() -> None:
    """Empty the zone and day caches, as in a fresh process (benchmarks time cold reads)."""
    _OFFSETS.clear()
    _DAY_STARTS.clear()
