"""The stage cache on its own: keys, atomic publish, single-flight, housekeeping."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from study.cli import main
from wsss.cache import StageCache, stage_key


def test_keys_are_stable_and_sensitive() -> None:
    a = stage_key("cams", {"cams/scales": (1.0, 0.5)}, {"classifier": "k1"}, "fp", "1")
    assert a == stage_key("cams", {"cams/scales": [1.0, 0.5]}, {"classifier": "k1"}, "fp", "1")
    assert a != stage_key("cams", {"cams/scales": (1.0,)}, {"classifier": "k1"}, "fp", "1")
    assert a != stage_key("cams", {"cams/scales": (1.0, 0.5)}, {"classifier": "k2"}, "fp", "1")
    assert a != stage_key("cams", {"cams/scales": (1.0, 0.5)}, {"classifier": "k1"}, "fp", "2")


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


def test_gc_stale_removes_what_no_key_reaches(tmp_path: Path) -> None:
    from wsss.pipeline import STAGES

    cache = StageCache(tmp_path)
    version = STAGES["cams"].version
    for stage, key, v in (("cams", "now", version), ("cams", "old", "0"),
                          ("classify", "renamed", "3")):
        cache.get_or_compute(stage, key, lambda out: {}, {"version": v})
    assert main(["cache", "gc", "--cache", str(tmp_path)]) == 0  # not asked: all kept
    assert cache.get("cams", "old") and cache.get("classify", "renamed")
    assert main(["cache", "gc", "--cache", str(tmp_path), "--stale"]) == 0
    assert cache.get("cams", "now") and cache.get("cams", "old") is None
    assert cache.get("classify", "renamed") is None


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different contents
    path.write_bytes(bytes(data))


def _entry(cache: StageCache, key: str = "a"):
    def compute(out: Path) -> dict:
        (out / "maps").mkdir()
        (out / "maps" / "x.npz").write_bytes(b"payload-" * 64)
        (out / "weights.pt").write_bytes(b"w" * 100)
        return {"cams/miou": 0.5, "cams/m_fn": float("inf")}

    return cache.get_or_compute("cams", key, compute)


@pytest.mark.parametrize("damaged", ["maps/x.npz", "weights.pt", "metrics.json"])
def test_a_flipped_byte_is_never_served(tmp_path: Path, damaged: str, capsys, caplog) -> None:
    cache = StageCache(tmp_path)
    entry = _entry(cache)
    assert "null" in (entry.path / "metrics.json").read_text()  # strict JSON, not Infinity
    m_fn = entry.metrics["cams/m_fn"]  # NaN, whether just computed or served from the cache
    assert m_fn != m_fn and cache.get("cams", "a").hit
    assert cache.get("cams", "a").metrics["cams/m_fn"] != cache.get("cams", "a").metrics[
        "cams/m_fn"]
    _flip_a_byte(entry.path / damaged)
    assert main(["cache", "verify", "--cache", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"bad: {entry.path}" in out and damaged in out and "1 bad" in out
    assert cache.get("cams", "a") is None  # not served: moved aside, with a warning
    assert "is bad" in caplog.text and str(entry.path) in caplog.text
    assert len(list((tmp_path / "cams").glob("a.bad-*"))) == 1
    again = _entry(cache)  # computed again, and good
    assert not again.hit and cache.get("cams", "a").hit
    assert main(["cache", "verify", "--cache", str(tmp_path)]) == 0
    assert main(["cache", "gc", "--cache", str(tmp_path)]) == 0
    assert not list((tmp_path / "cams").glob("a.bad-*"))


def test_a_truncated_manifest_or_missing_file_is_bad(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    entry = _entry(cache, "m")
    (entry.path / "maps" / "x.npz").unlink()
    assert "missing" in cache.verify_all()[0][1]
    entry = _entry(cache, "t")
    (entry.path / "manifest.json").write_text('{"stage": "cams", "fil')
    assert any("unreadable manifest" in p for _, p in cache.verify_all())
    assert cache.get("cams", "t") is None


def test_cache_files_are_group_readable(tmp_path: Path) -> None:
    import stat

    from wsss.artifacts import save_maps
    from wsss.runtime import write_json

    write_json({"a": 1}, tmp_path / "m.json")
    save_maps(tmp_path / "x.wmap", __import__("numpy").zeros((1, 2, 2)), [0])
    for name in ("m.json", "x.wmap"):
        assert (tmp_path / name).stat().st_mode & stat.S_IRGRP


def test_a_same_size_image_edit_changes_the_fingerprint(tiny_copy: Path, tmp_path: Path) -> None:
    from wsss.data.voc import VocLayout, dataset_fingerprint

    layout, index = VocLayout.open(tiny_copy), tmp_path / "index.json"
    first = dataset_fingerprint(layout, index)
    assert index.exists() and dataset_fingerprint(layout, index) == first  # from the index
    image = next((tiny_copy / "JPEGImages").glob("*.jpg"))
    _flip_a_byte(image)
    assert dataset_fingerprint(layout, index) != first
    assert dataset_fingerprint(layout) == dataset_fingerprint(layout, index)  # index = truth


def _age(path: Path, seconds: float = 60.0) -> None:
    """Set every file's mtime into the past: as an entry written minutes before its hit."""
    import os

    old = time.time() - seconds
    for file in path.rglob("*"):
        if file.is_file():
            os.utime(file, (old, old))


def test_a_hit_hashes_an_entry_once_per_node_then_only_stats_it(tmp_path: Path,
                                                                 monkeypatch) -> None:
    import wsss.cache as cache_mod

    cache = StageCache(tmp_path)
    entry = _entry(cache)
    _age(entry.path)
    hashed: list[Path] = []
    digest = cache_mod.file_digest
    monkeypatch.setattr(cache_mod, "file_digest", lambda p: (hashed.append(p), digest(p))[1])
    assert cache.get("cams", "a").hit and len(hashed) == 3  # maps, weights, metrics: hashed
    hashed.clear()
    assert cache.get("cams", "a").hit and hashed == []  # stat only: marked as verified
    # a rewrite changes the file's mtime: hashed again, and refused
    _flip_a_byte(entry.path / "weights.pt")
    assert cache.get("cams", "a") is None and hashed


def test_a_change_that_keeps_size_and_mtime_is_found_by_verify(tmp_path: Path, capsys) -> None:
    import os

    cache = StageCache(tmp_path)
    entry = _entry(cache)
    _age(entry.path)
    assert cache.get("cams", "a").hit  # hashed, marked
    target = entry.path / "weights.pt"
    st = target.stat()
    with open(target, "r+b") as fh:  # in place: same inode, size; mtime put back
        fh.write(b"X")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.get("cams", "a").hit  # a hit trusts this node's marker (by design)
    assert main(["cache", "verify", "--cache", str(tmp_path)]) == 1  # verify hashes all
    assert "weights.pt" in capsys.readouterr().out


def test_a_file_modified_near_its_verification_is_hashed_every_time(tmp_path: Path,
                                                                     monkeypatch) -> None:
    import wsss.cache as cache_mod

    cache = StageCache(tmp_path)
    _entry(cache)  # just written: inside the racy window of any marker made now
    hashed: list[Path] = []
    digest = cache_mod.file_digest
    monkeypatch.setattr(cache_mod, "file_digest", lambda p: (hashed.append(p), digest(p))[1])
    for _ in range(2):
        hashed.clear()
        assert cache.get("cams", "a").hit and len(hashed) == 3
