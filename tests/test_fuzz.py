"""The readers under a small fuzz budget (tests/fuzz.py; bench/fuzz_readers.py runs a
larger one): every mutant of a Takeout mbox, a Maildir, an .ics and a folder tree read
through a `**` glob is read or quarantined, each in its own process within a time and
memory bound."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests import fuzz

SEED = 17
PER_READER = 100  # 5-20 s for the four readers on a 2-core machine, by its load


def test_every_mutant_is_read_or_quarantined(tmp_path: Path) -> None:
    outcomes = fuzz.fuzz(fuzz.READERS, SEED, PER_READER, tmp_path)
    found = [f"{o.reader} #{o.index} (seed {SEED}): {o.status} {o.detail}"
             for o in fuzz.failures(outcomes)]
    assert found == []
    assert len(outcomes) == len(fuzz.READERS) * PER_READER
    kinds = {name: Counter(o.kind for o in outcomes if o.reader == name) for name in fuzz.READERS}
    # The mutator reaches both ends: mutants read cleanly and mutants quarantined.
    for name in ("mbox", "maildir", "tree"):
        assert kinds[name]["read"] > 0 and kinds[name]["quarantined"] > 0, kinds
    assert kinds["ics"]["quarantined"] > 0, kinds
    # The glob over the tree always skips the folder with no Maildir in it, with a count.
    assert all(o.counts["skipped"] >= 1 for o in outcomes if o.reader == "tree")


def test_mutants_are_the_same_for_the_same_seed() -> None:
    reader = fuzz.READERS["ics"]
    first = list(fuzz.mutants(reader, SEED, 5))
    assert first == list(fuzz.mutants(reader, SEED, 5))
    assert first != list(fuzz.mutants(reader, SEED + 1, 5))
    assert all(len(data) <= fuzz.MAX_SIZE for _, data in first)


def _forever(folder: Path, data: bytes) -> Counter:
    while True:
        pass


def _hog(folder: Path, data: bytes) -> Counter:
    return Counter(size=len(bytearray(4 * 1024**3)))


def _raise(folder: Path, data: bytes) -> Counter:
    raise LookupError("'base64' is not a text encoding")


@pytest.mark.parametrize(("read", "status"), [(_forever, "timeout"), (_hog, "memory"),
                                               (_raise, "raised")])
def test_the_bounds_catch_a_reader_that_runs_away(tmp_path: Path, monkeypatch, read,
                                                  status: str) -> None:
    bad = fuzz.Reader("bad", lambda: b"x", [b"y"], read)
    monkeypatch.setitem(fuzz.READERS, "bad", bad)
    outcome = fuzz.run_one("bad", 0, b"x", tmp_path, timeout_s=1.0, memory_mb=256)
    assert outcome.status == status
    if status == "raised":
        assert "LookupError: 'base64' is not a text encoding" in outcome.detail
