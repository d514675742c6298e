"""Input that used to stop the nightly run (issue 17 §1): each reproducer is rebuilt here
from its description and must be read or quarantined, never raise."""

from __future__ import annotations

import base64
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
