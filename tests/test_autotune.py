"""The annex's autotuner (convnet/tuned/autotune.py): it keeps the fastest way, writes the
choice beside Numba's cache, reads it back instead of measuring, and can be told not to
measure."""

import json
import time

import pytest

from convnet.jit import JIT_ENABLED, cpu_name
from convnet.tuned import autotune


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An autotuner with no choices yet, keeping them in ``tmp_path``."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CONVNET_AUTOTUNE", raising=False)
    monkeypatch.setattr(autotune, "_CHOICES", {})
    monkeypatch.setattr(autotune, "_loaded", False)
    monkeypatch.setattr(autotune, "SETTLE_SECONDS", 0.0)
    return tmp_path


def _ways(calls):
    """Three ways, the second the fastest; ``calls`` counts the runs of each."""
    def way(name, seconds):
        def run():
            calls[name] = calls.get(name, 0) + 1
            time.sleep(seconds)
        return run
    return {"slow": way("slow", 0.02), "quick": way("quick", 0.001), "slower": way("slower", 0.03)}


@pytest.mark.skipif(not JIT_ENABLED, reason="without the JIT nothing is measured")
def test_the_fastest_way_is_chosen_kept_on_disk_and_read_back_without_measuring(fresh):
    calls = {}
    ways = _ways(calls)
    assert autotune.choose("work", (1, 2), ways, lambda f: f()) == "quick"
    # every way ran: a warm-up, then at least one timed round each
    assert all(calls[name] >= 2 for name in ways)
    saved = json.loads((fresh / "autotune.json").read_text())
    [(key, choice)] = saved.items()
    assert choice == "quick" and autotune.machine() in key and "(1, 2)" in key
    # another process: reads the file, runs nothing
    autotune._CHOICES.clear()
    autotune._loaded = False
    calls.clear()
    assert autotune.choose("work", (1, 2), ways, lambda f: f()) == "quick"
    assert calls == {}
    assert autotune.last_choice["work"] == "quick"


@pytest.mark.skipif(not JIT_ENABLED, reason="without the JIT nothing is measured")
def test_a_kept_choice_that_is_no_longer_a_candidate_is_measured_again(fresh):
    calls = {}
    ways = _ways(calls)
    autotune._CHOICES[f"{autotune.machine()}|threads={autotune.get_num_threads()}|work|(3,)"] = \
        "gone"  # fmt: skip
    autotune._loaded = True
    assert autotune.choose("work", (3,), ways, lambda f: f()) == "quick"


def test_measuring_can_be_turned_off(fresh, monkeypatch):
    monkeypatch.setenv("CONVNET_AUTOTUNE", "0")
    calls = {}
    assert autotune.choose("work", (4,), _ways(calls), lambda f: f()) == "slow"  # the first
    assert calls == {}


def test_cpus_of_one_name_but_another_kind_keep_their_own_choices():
    zen3 = {"model name": "AMD EPYC", "cpu family": "25", "model": "1"}
    zen5 = {**zen3, "cpu family": "26", "model": "2"}
    assert cpu_name(zen3) != cpu_name(zen5)
    assert cpu_name(zen3).startswith("AMD EPYC") and cpu_name(zen5).startswith("AMD EPYC")
    assert autotune.machine().startswith(cpu_name())  # the key holds this machine's numbers
