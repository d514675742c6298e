"""Pytest fixtures for the Gmail emulator.

Test modules name this plugin (`pytest_plugins = ["tests.emulators.plugin"]`); the whole
suite can instead register it once in the root conftest.py. Helpers that tests import
live in tests/emulators/helpers.py, so that this module is first imported by pytest
(which rewrites its asserts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.emulators.gmail import GmailEmulator


@pytest.fixture
def gmail_emulator_factory() -> Iterator[Callable[..., GmailEmulator]]:
    """Start emulators with any settings; all are stopped after the test."""
    started: list[GmailEmulator] = []

    def make(**kwargs: Any) -> GmailEmulator:
        emulator = GmailEmulator(**kwargs).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def gmail_emulator(gmail_emulator_factory: Callable[..., GmailEmulator]) -> GmailEmulator:
    """A started emulator with no quota ceiling and no faults."""
    return gmail_emulator_factory()
