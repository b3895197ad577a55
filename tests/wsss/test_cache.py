"""The stage cache on its own: keys, atomic publish, single-flight, housekeeping."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from study.cli import main
from wsss.cache import StageCache, stage_key


def test_keys_are_stable_and_sensitive() -> None:
    a = stage_key("cams", {"cams/scales": (1.0, 0.5)}, {"classify": "k1"}, "fp", "1")
    assert a == stage_key("cams", {"cams/scales": [1.0, 0.5]}, {"classify": "k1"}, "fp", "1")
    assert a != stage_key("cams", {"cams/scales": (1.0,)}, {"classify": "k1"}, "fp", "1")
    assert a != stage_key("cams", {"cams/scales": (1.0, 0.5)}, {"classify": "k2"}, "fp", "1")
    assert a != stage_key("cams", {"cams/scales": (1.0, 0.5)}, {"classify": "k1"}, "fp", "2")


def test_a_failed_computation_is_never_served(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)

    def boom(out: Path) -> dict:
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("s", "k", boom)
    assert cache.get("s", "k") is None and (tmp_path / "s" / "k.partial" / "half.bin").exists()
    entry = cache.get_or_compute("s", "k", lambda out: {"m": 1.0})  # resumes in .partial
    assert entry.metrics == {"m": 1.0} and (entry.path / "half.bin").exists()
    assert cache.get("s", "k").hit


def _slow(root: str, results: mp.Queue) -> None:
    def compute(out: Path) -> dict:
        time.sleep(1.0)
        return {"pid": 1.0}

    results.put(StageCache(root).get_or_compute("s", "k", compute).hit)


def test_single_flight_across_processes(tmp_path: Path) -> None:
    results: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_slow, args=(str(tmp_path), results)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert sorted(results.get() for _ in procs) == [False, True]  # one computed, one waited


def test_ls_du_gc(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cache = StageCache(tmp_path)
    cache.get_or_compute("cams", "a", lambda out: (out / "m.npz").write_bytes(b"0" * 10) and {})
    (tmp_path / "cams" / "b.partial").mkdir()
    assert main(["cache", "ls", "--cache", str(tmp_path)]) == 0
    assert "cams" in capsys.readouterr().out
    assert main(["cache", "du", "--cache", str(tmp_path)]) == 0
    assert "1 entries" in capsys.readouterr().out
    assert main(["cache", "gc", "--cache", str(tmp_path)]) == 0
    assert not (tmp_path / "cams" / "b.partial").exists() and cache.get("cams", "a")
    assert main(["cache", "gc", "--cache", str(tmp_path), "--stage", "cams"]) == 0
    assert cache.get("cams", "a") is None
