"""Pytest fixtures for the Gmail, Calendar and People emulators.

Test modules name this plugin (`pytest_plugins = ["tests.emulators.plugin"]`); the whole
suite can instead register it once in the root conftest.py. Helpers that tests import
live in tests/emulators/helpers.py, so that this module is first imported by pytest
(which rewrites its asserts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.emulators.calendar import CalendarEmulator
from tests.emulators.gmail import GmailEmulator
from tests.emulators.http import GoogleApiEmulator
from tests.emulators.people import PeopleEmulator

Emulator = TypeVar("Emulator", bound=GoogleApiEmulator)


def _started(kind: type[Emulator]) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        emulator = kind(**kwargs)
        emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def gmail_emulator_factory() -> Iterator[Callable[..., GmailEmulator]]:
    """Start Gmail emulators with any settings; all are stopped after the test."""
    yield from _started(GmailEmulator)


@pytest.fixture
def gmail_emulator(gmail_emulator_factory: Callable[..., GmailEmulator]) -> GmailEmulator:
    """A started emulator with no quota ceiling and no faults."""
    return gmail_emulator_factory()


@pytest.fixture
def calendar_emulator_factory() -> Iterator[Callable[..., CalendarEmulator]]:
    """Start Calendar emulators with any settings; all are stopped after the test."""
    yield from _started(CalendarEmulator)


@pytest.fixture
def calendar_emulator(
    calendar_emulator_factory: Callable[..., CalendarEmulator],
) -> CalendarEmulator:
    """A started Calendar emulator with no quota ceiling and no faults."""
    return calendar_emulator_factory()


@pytest.fixture
def people_emulator_factory() -> Iterator[Callable[..., PeopleEmulator]]:
    """Start People emulators with any settings; all are stopped after the test."""
    yield from _started(PeopleEmulator)
