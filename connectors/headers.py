"""Header-block parsing shared by every mail connector (mbox, Maildir, the Gmail API).

Only the header block of a message is ever looked at. The functions here turn its raw
bytes into the pieces a `MessageRecord` needs: unfolded header values, text decoded from
RFC 2047 encoded-words or from raw 8-bit bytes, address lists, Message-IDs and Gmail
labels. Date handling lives in `dates.py`.

Decoding rules, in the order they are tried for a raw header value:

* pure ASCII is taken as is (the common case, and the fast one);
* valid UTF-8 is UTF-8 (RFC 6532 allows it in headers);
* bytes that are *mostly* UTF-8 (at most one broken sequence per four non-ASCII bytes)
  are UTF-8 with U+FFFD for the broken parts: a truncated Cyrillic name stays Cyrillic;
* anything else is Windows-1252, falling back to Latin-1, which never fails: this is what
  1990s mail with a stray ISO-8859-1 byte in a name needs.

Encoded-words (`=?charset?B|Q?...?=`) are decoded after the address list has been split,
so an encoded comma inside a display name cannot split an address. Adjacent words in the
same charset are joined before decoding, so a multi-byte character split across two words
survives. An unknown charset decodes like raw bytes (rules above), and so does a codec
that is not a text encoding (`base64`, `hex`, `zlib`, `rot13`, ...: Python knows them by
name, but they turn bytes into bytes, and decoding with one raises) or `undefined` (a
codec that fails on every input).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import email.utils
import re
from collections.abc import Iterable
from functools import lru_cache

from connectors.records import Address

# Header names the readers need, lower-cased. Everything else in the block is skipped.
WANTED = frozenset(
    {
        b"from",
        b"sender",
        b"to",
        b"cc",
        b"bcc",
        b"date",
        b"message-id",
        b"in-reply-to",
        b"references",
        b"subject",
        b"list-id",
        b"list-unsubscribe",
        b"precedence",
        b"auto-submitted",
        b"x-gm-thrid",
        b"x-gmail-labels",
        b"received",
    }
)


def _any_case(name: bytes) -> bytes:
    return b"".join(
        b"[" + bytes([c]).upper() + bytes([c]) + b"]" if chr(c).isalpha() else re.escape(bytes([c]))
        for c in name
    )


# Only the wanted headers, at a line start, with their folded continuation lines. Spelling
# the names as F[Rr][Oo][Mm] is several times faster than re.IGNORECASE, and one findall
# over the block beats any per-line Python loop: this is the reader's hottest line.
# Received is left out: it repeats, it is long, and it is only needed when the Date header
# and the envelope both fail (see `received_header`).
# Why a message with no address at all is quarantined rather than stored: it connects
# nobody. One sentence for every reader, so the counts by reason add up across sources.
NO_USABLE_ADDRESS = "no usable address: From, Sender, To, Cc and Bcc are all missing or empty"

_NAMES = sorted(WANTED - {b"received"}, key=len, reverse=True)


def _wanted_line(names: list[bytes], any_lower: bool = False) -> bytes:
    # Each name as its first letter, then the rest of the names starting with it, in any
    # case. Every branch starts with a literal byte, which sre tests before entering it:
    # most header lines (Received, X-..., continuation lines) are rejected by a run of
    # one-byte compares, which measured about 10% faster than a class per letter or a
    # lookahead for lower case. (sre_parse factors out shared prefixes, like "List-".)
    # `any_lower` replaces the lower-case branches with one that takes any header whose
    # name starts with a lower-case first letter of a wanted name: one class test per
    # line instead of a dozen compares. It matches the wanted names in every spelling the
    # exact branches match, and other names besides, which callers must ignore.
    by_first_letter: dict[int, list[bytes]] = {}
    for name in names:
        by_first_letter.setdefault(name[0], []).append(name[1:])
    branches = [
        bytes([first]) + b"(?:" + b"|".join(_any_case(rest) for rest in rests) + b")"
        for letter, rests in by_first_letter.items()
        for first in ((letter - 32,) if any_lower else (letter - 32, letter))
    ]
    if any_lower:
        branches.append(b"[" + bytes(sorted(by_first_letter)) + rb"][-A-Za-z]*")
    return (
        rb"("
        + b"|".join(branches)
        # ".*" (not "[^\r\n]*") is sre's fastest loop; a CRLF line's "\r" is stripped
        # below. The first line and its continuation lines are captured apart, so the
        # (rare) folded values can be told from the rest without another pass.
        + rb")[ \t]*:[ \t]*(.*)((?:\n[ \t].*)*)"
    )


_WANTED_LINE = _wanted_line(_NAMES)
_WANTED_HEADER = re.compile(rb"\n" + _WANTED_LINE)
_find_wanted = _WANTED_HEADER.findall
# The same, over a whole message in the read buffer: a blank line ends the header block,
# and matching it with everything after it (a DOTALL ".*" jumps to the end of the range
# without looking at the bytes) ends the findall there, so neither the body nor a
# separate search for the blank line costs anything. That match comes last, with an
# empty name. Both its alternatives start with a literal, which sre rejects at once on
# every other line.
_WANTED_OR_END = re.compile(
    rb"\n(?:\n(?s:.*)|\r\n(?s:.*)|" + _wanted_line(_NAMES, any_lower=True) + rb")"
)
_find_wanted_or_end = _WANTED_OR_END.findall
# Without Subject, for readers not keeping subjects: one value less to copy per message.
_find_wanted_or_end_no_subject = re.compile(
    rb"\n(?:\n(?s:.*)|\r\n(?s:.*)|"
    + _wanted_line([n for n in _NAMES if n != b"subject"], any_lower=True)
    + rb")"
).findall
_RECEIVED = re.compile(
    rb"\n[Rr][Ee][Cc][Ee][Ii][Vv][Ee][Dd][ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)"
)
_ANY_HEADER = re.compile(rb"^[^\s:]+[ \t]*:", re.M)
_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def split_header_block(block: bytes) -> dict[bytes, bytes]:
    """Pick the wanted headers (all but Received) out of a raw header block.

    Args:
        block: the bytes from the first header line up to (not including) the blank line.

    Returns:
        A dict from lower-cased header name to its raw value, unfolded, without leading
        whitespace or the line end (trailing blanks may remain). The first occurrence wins.
        A lone CR inside a value (malformed) is kept as is.
    """
    return _by_name(_find_wanted(b"\n" + block))


def split_header_span(
    buf: bytes, newline: int, end: int, subject: bool = True
) -> dict[bytes, bytes]:
    """`split_header_block` for a header block still inside a larger buffer, uncopied.

    Args:
        buf: the buffer (an mbox read window).
        newline: index of the b"\\n" ending the line before the headers (the From_ line).
        end: where the message ends (the b"\\n" before the next From_ line, or the end of
            the data). The header block is `buf[newline + 1 :]` up to its first blank line,
            or up to `end` when there is none.
        subject: False leaves Subject out of the result (or may: see below).

    Returns:
        What `split_header_block` returns for that block, plus, possibly, other headers
        whose names start with a lower-case letter (a wanted name's first letter);
        callers look up the wanted names only. With `subject` False, a Subject whose
        name starts in lower case may be among those, not necessarily the first one.
    """
    found = (_find_wanted_or_end if subject else _find_wanted_or_end_no_subject)(buf, newline, end)
    if found and not found[-1][0]:
        found.pop()  # the blank line
    if buf.find(b"\r", newline, end) < 0:
        # No CR at all (an LF mbox): what the general case below gives, without the
        # rstrip and replace calls that would change nothing.
        return {
            name.lower(): first + rest.replace(b"\n", b"") if rest else first
            for name, first, rest in reversed(found)
        }
    # `_by_name(found)`, inlined: this runs once per message.
    return {
        name.lower(): (
            (first.rstrip(b"\r") + rest.replace(b"\r\n", b"").replace(b"\n", b"")).rstrip(b"\r")
            if rest
            else first.rstrip(b"\r")
        )
        for name, first, rest in reversed(found)
    }


def _by_name(found: list[tuple[bytes, bytes, bytes]]) -> dict[bytes, bytes]:
    # reversed(): later duplicates are overwritten by earlier ones, so the first wins.
    # Every "\n" in `rest` starts a continuation line, so unfolding it is removing each
    # "\r\n", then each remaining "\n": what `_FOLD.sub` does, at a third of the cost.
    return {
        name.lower(): (
            (first.rstrip(b"\r") + rest.replace(b"\r\n", b"").replace(b"\n", b"")).rstrip(b"\r")
            if rest
            else first.rstrip(b"\r")
        )
        for name, first, rest in reversed(found)
    }


def received_header(block: bytes) -> bytes | None:
    """The first (most recent) Received header's value, unfolded, or None."""
    match = _RECEIVED.search(b"\n" + block)
    if match is None:
        return None
    return _FOLD.sub(b"", match.group(1))


def has_header_lines(block: bytes) -> bool:
    """Whether the block holds at least one `Name: value` line."""
    return _ANY_HEADER.search(block) is not None


def bytes_to_text(raw: bytes) -> str:
    """Decode raw header bytes by the rules in the module docstring."""
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    as_utf8 = raw.decode("utf-8", "replace")
    non_ascii = sum(1 for b in raw if b > 0x7F)
    if as_utf8.count("\ufffd") * 4 <= non_ascii:
        return as_utf8
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_ONLY_SPACE = re.compile(r"[ \t\r\n]*")


def _charset(name: str) -> str | None:
    name = name.split("*", 1)[0].strip().lower()  # RFC 2231 language suffix: utf-8*en
    try:
        codec = codecs.lookup(name)
    except LookupError:
        return None
    # Bytes-to-bytes codecs (base64, hex, zlib, uu, quopri, rot13, bz2) are not charsets,
    # and "undefined" raises on any input: a header naming one is read as raw bytes.
    if not codec._is_text_encoding or codec.name == "undefined":
        return None
    return codec.name


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            payload = payload + "=" * (-len(payload) % 4)
            return base64.b64decode(payload.encode("ascii"), validate=False)
        return binascii.a2b_qp(payload.encode("ascii"), header=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    if charset is not None:
        try:
            return data.decode(charset)
        except (UnicodeError, LookupError):
            pass
        if charset != "utf-8":
            try:
                return data.decode(charset, "replace")
            except (UnicodeError, LookupError, ValueError):
                # Some text codecs (idna, punycode) raise whatever the error handler.
                pass
    return bytes_to_text(data)


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words in `text`; text without them is returned unchanged."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pos = 0
    pending: bytearray | None = None
    pending_charset: str | None = None

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending is not None:
            out.append(_decode_bytes(bytes(pending), pending_charset))
            pending = None
            pending_charset = None

    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:  # not really an encoded-word: keep it verbatim
            flush()
            out.append(between)
            out.append(match.group(0))
            pos = match.end()
            continue
        charset = _charset(match.group(1))
        adjacent = pending is not None and _ONLY_SPACE.fullmatch(between) is not None
        if adjacent and charset == pending_charset:
            pending += data
        else:
            flush()
            if not adjacent:
                out.append(between)
            pending = bytearray(data)
            pending_charset = charset
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def header_text(raw: bytes | None) -> str | None:
    """A raw header value as display text: bytes decoded, encoded-words decoded."""
    if raw is None:
        return None
    return decode_words(bytes_to_text(raw)).strip()


@lru_cache(maxsize=4096)
def lowered_text(raw: bytes | None) -> str | None:
    """`header_text` lower-cased with runs of blanks (folding) collapsed, None when empty:
    for List-Id, Precedence and the like."""
    text = header_text(raw)
    return " ".join(text.lower().split()) if text else None


# The shapes nearly every address header takes: `a@b`, `Name <a@b>`, `"Name, X" <a@b>`,
# comma-separated. Anything else (comments, groups, route addresses, stray quotes) goes to
# the standard library's parser, which is slower but knows the whole grammar.
_ADDRESS_ITEM = re.compile(
    r"""[ \t]*(?:
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<plain>[^",<>()\\;:@]*?))
        [ \t]*<(?P<angle>[^<>()\s,;:"\\]*)>
      | (?P<bare>[^\s",<>()\\;:]+)
    )[ \t]*(?:,|$)""",
    re.X,
)
_QUOTED_PAIR = re.compile(r"\\(.)")


def _fast_addresses(value: str) -> list[tuple[str, str]] | None:
    pairs: list[tuple[str, str]] = []
    pos = 0
    end = len(value)
    while pos < end:
        match = _ADDRESS_ITEM.match(value, pos)
        if match is None or match.end() == pos:
            if not value[pos:].strip(" \t,"):
                break
            return None
        angle = match.group("angle")
        if angle is not None:
            quoted = match.group("quoted")
            name = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else match.group("plain")
            pairs.append((name, angle))
        else:
            pairs.append(("", match.group("bare")))
        pos = match.end()
    return pairs


def parse_addresses(raw: bytes | None) -> list[Address]:
    """Parse an address header (From, To, Cc, Bcc) into `Address` records.

    Addresses are lower-cased; display names are decoded and stripped of quotes, None when
    empty. Empty entries (`undisclosed-recipients:;`, `<>`) are dropped.
    """
    if not raw:
        return []
    return list(cached_addresses(raw))


# A mailbox repeats itself: the owner's address is in most To headers, a few senders
# write most mail. Caching parsed values by their raw bytes saves most of the parsing.
# Spam-shy spellings of an address, restored before parsing: `user at domain.tld` (mailing
# list archives; pipermail writes `From: user at domain.tld (Name)`) and `user @ domain`.
# The domain must have a dot and the words must be address-shaped, so "meet at home" in a
# display name is left alone.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
_OBFUSCATED = re.compile(
    rf"(?<![^\s<,(])({_LOCAL})(?:[ \t]+at[ \t]+|[ \t]*@[ \t]*)({_DOMAIN})(?![A-Za-z0-9.-])",
    re.IGNORECASE,
)


def restore_obfuscated(value: str) -> str:
    """`user at domain.tld` and `user @ domain.tld` (anywhere in an address header) as
    `user@domain.tld`; anything else unchanged."""
    if " at " not in value.lower() and " @" not in value and "@ " not in value:
        return value
    return _OBFUSCATED.sub(r"\1@\2", value)


def usable_address(address: str) -> bool:
    """An address mail can be sent to: a local part and a domain (`jjl` alone is not:
    unrelated people sharing a local part would merge into one person)."""
    local, at, domain = address.rpartition("@")
    return bool(at and local.strip('"') and domain.strip(".[]"))


@lru_cache(maxsize=16384)
def cached_addresses(raw: bytes) -> tuple[Address, ...]:
    """`parse_addresses` for a non-empty value, as a tuple, cached (bounded) by the bytes.
    Obfuscated addresses are restored (`restore_obfuscated`); addresses without a domain
    are dropped (`usable_address`)."""
    value = restore_obfuscated(bytes_to_text(raw))
    pairs = _fast_addresses(value)
    if pairs is None:
        pairs = email.utils.getaddresses([value])
    result = []
    for name, address in pairs:
        address = address.strip().lower()
        if not address or not usable_address(address):
            continue
        if name:
            name = decode_words(name).strip().strip('"').strip() or None
        result.append(Address(address, name or None))
    return tuple(result)


_MSG_ID = re.compile(r"<([^<>]*[^<>\s][^<>]*)>")
_BARE_ID = re.compile(r"[^\s<>\"'(),;]+@[^\s<>\"'(),;]+")


def message_ids(raw: bytes | None) -> list[str]:
    """Message-IDs in a Message-ID / In-Reply-To / References value, without brackets.

    Values without angle brackets (seen from some old clients) count only when every
    whitespace-separated token looks like an id: Emacs' `In-Reply-To: bob@example.org's
    message of "Wed, 4 Sep 2002 ..."` names no message and gives nothing.
    """
    if not raw:
        return []
    text = bytes_to_text(raw)
    ids = _MSG_ID.findall(text)
    if ids:
        return ids
    tokens = text.split()
    if tokens and all(_BARE_ID.fullmatch(token) for token in tokens):
        return tokens
    return []


def first_message_id(raw: bytes | None) -> str | None:
    """The first Message-ID in a header value, without brackets, or None."""
    if raw is None:
        return None
    # Fast path for the usual "<id@host>" (possibly followed by blanks or a CR).
    value = raw.rstrip()
    if value[:1] == b"<" and value[-1:] == b">" and value.count(b"<") == 1:
        try:
            inner = value[1:-1].decode("ascii")
        except UnicodeDecodeError:
            pass
        else:
            if inner.strip():
                return inner
    ids = message_ids(raw)
    return ids[0] if ids else None


# Takeout writes Gmail's system labels by their display names; the Gmail API uses ids.
_SYSTEM_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "spam": "SPAM",
    "trash": "TRASH",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "starred": "STARRED",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "chat": "CHAT",
}


def normalise_label(label: str) -> str | None:
    """One Takeout label as Gmail's API would name it; user labels stay as they are.

    "Sent" -> "SENT", "Inbox" -> "INBOX", "Category Promotions" -> "CATEGORY_PROMOTIONS";
    "Opened" and "Archived" (Takeout-only pseudo labels) and user labels are kept verbatim.
    """
    label = decode_words(label.strip())
    if not label:
        return None
    system = _SYSTEM_LABELS.get(label.lower())
    if system is not None:
        return system
    if label.lower().startswith("category "):
        return "CATEGORY_" + "_".join(label[9:].upper().split())
    return label


def parse_labels(raw: bytes | None) -> list[str]:
    """Split an X-Gmail-Labels value on commas (labels with commas come quoted)."""
    if not raw:
        return []
    return list(_cached_labels(raw))


@lru_cache(maxsize=4096)
def _cached_labels(raw: bytes) -> tuple[str, ...]:
    text = bytes_to_text(raw)
    if '"' in text:
        try:
            items: Iterable[str] = next(csv.reader([text], skipinitialspace=True), [])
        except csv.Error:
            # A CR or LF outside quotes (a malformed header): read as blanks.
            text = text.replace("\r", " ").replace("\n", " ")
            items = next(csv.reader([text], skipinitialspace=True), [])
    else:
        items = text.split(",")
    labels: list[str] = []
    for item in items:
        label = normalise_label(item)
        if label is not None and label not in labels:
            labels.append(label)
    return tuple(labels)


def gmail_hex_id(decimal: str | bytes | None) -> str | None:
    """Gmail's decimal X-GM-THRID / X-GM-MSGID as the hex id the Gmail API uses.

    The API's `threadId` and message `id` are the same 64-bit numbers written in hex, so
    converting here lets Takeout rows and API rows for one mailbox share keys.
    """
    if decimal is None:
        return None
    text = decimal.decode("ascii", "replace") if isinstance(decimal, bytes) else decimal
    text = text.strip()
    if not text.isdigit():
        return None
    number = int(text)
    if number <= 0 or number >= 1 << 64:
        return None
    return format(number, "x")


def clear_caches() -> None:
    """Empty the parsed-value caches, as in a fresh process (benchmarks time cold reads)."""
    for cached in (cached_addresses, lowered_text, _cached_labels):
        cached.cache_clear()
