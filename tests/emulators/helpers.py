"""Helpers for tests that use the Gmail emulator: corpus files, mailboxes, clients."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from connectors.google.gmail_api import build_gmail_service
from tests.emulators.gmail import GmailEmulator, GmailMailbox

_TESTS = Path(__file__).resolve().parents[1]
# The shared real-world corpora (../shared/data from the project), else the small copies
# kept under tests/fixtures/ (with their attribution beside them).
MAIL_DIRS = (
    _TESTS.parent.parent / "shared" / "data" / "mail",
    _TESTS / "fixtures" / "mail",
    _TESTS / "fixtures" / "gmail",
)
TAKEOUT_MBOX = "emailnetwork-takeout-sample.mbox"
HAM_MBOX = "spamassassin-easy-ham-1.mbox"
ACCOUNT = "samuelchan@gmail.com"


def mail_path(name: str) -> Path:
    """The first copy of a corpus file found; skips the test when there is none.

    The full SpamAssassin corpus lives only in ../shared (a fresh clone has a 300-message
    slice, too small for the threading and resume tests written for it), so those tests
    skip there and run in CI and the dev workspace.
    """
    for directory in MAIL_DIRS:
        candidate = directory / name
        if candidate.exists():
            return candidate
    pytest.skip(f"{name} is not available under {[str(d) for d in MAIL_DIRS]}")
    raise AssertionError  # unreachable


@functools.lru_cache(maxsize=8)
def _loaded(path: str, address: str) -> GmailMailbox:
    return GmailMailbox.from_mbox(path, address)


def mbox_mailbox(name: str, address: str = ACCOUNT) -> GmailMailbox:
    """A fresh mailbox loaded from a corpus mbox (parsed once per session, then copied)."""
    return _loaded(str(mail_path(name)), address).copy()


def gmail_service(emulator: GmailEmulator, token: str = "test-token") -> Any:
    """A real googleapiclient Gmail client pointed at the emulator."""
    return build_gmail_service(Credentials(token=token), emulator.endpoint)
