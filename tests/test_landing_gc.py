"""The collector settings a landing runs under, and that it leaves the process as it was."""

from __future__ import annotations

import gc

import pytest

from assets.ingest import _LANDING_GC_THRESHOLD, _landing_gc


def test_a_landing_freezes_the_heap_and_collects_less_often_then_restores_both():
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with _landing_gc():
        assert gc.get_threshold() == (max(before[0], _LANDING_GC_THRESHOLD), *before[1:])
        assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before


def test_a_failed_landing_restores_the_collector_too():
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with pytest.raises(RuntimeError), _landing_gc():
        raise RuntimeError("the reader failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before
