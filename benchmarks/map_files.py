"""Reading and writing per-image maps: the project's ``.wmap`` files against NumPy's
``.npz`` (``savez_compressed``, what the cams stage wrote before), on the same maps.

    python benchmarks/map_files.py [--images 1000] [--rounds 5]

A warm study that only re-thresholds cached maps (pseudo labels with a new α/β) reads every
map of the training and scored splits once per trial, so the read time is paid per trial.
Two sizes: the synthetic ``quick`` benchmark's (1-2 present classes, 64 x 64) and VOC's
(1-3 classes at 375 x 500). Maps are stride-8 random fields upsampled bilinearly, stored
as uint8 (as ``cams`` stores them). Each round times every variant in turn; a variant's
time is its median round.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import load

from wsss.artifacts import load_maps, maps_path, save_maps


def _maps(rng: np.random.Generator, size: tuple[int, int]) -> tuple[list[int], np.ndarray]:
    k = int(rng.integers(1, 4 if size[0] > 100 else 3))
    coarse = torch.from_numpy(rng.random((1, k, size[0] // 8 + 1, size[1] // 8 + 1)))
    # as a CAM: a stride-8 map upsampled bilinearly, then normalised to a peak of 1
    maps = F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)[0].numpy()
    maps = maps / maps.max(axis=(1, 2), keepdims=True)
    return sorted(rng.choice(20, k, replace=False).tolist()), maps


def _write_npz(folder: Path, i: int, classes: list[int], maps: np.ndarray) -> None:
    """What ``save_maps`` wrote before: ``savez_compressed`` of the uint8 maps."""
    data = np.floor(np.clip(maps, 0.0, 1.0) * 255.0).astype(np.uint8)
    np.savez_compressed(folder / f"{i}.npz", classes=np.asarray(classes, dtype=np.int16),
                        maps=data)


def _read_npz(folder: Path, i: int) -> np.ndarray:
    with np.load(folder / f"{i}.npz") as f:
        classes, data = f["classes"], f["maps"]
    full = np.zeros((20, *data.shape[1:]), dtype=np.float32)
    full[classes] = data.astype(np.float32) / 255.0
    return full


# format -> (write(folder, i, classes, maps), read(folder, i) -> 20 x H x W float32)
FORMATS = {"npz": (_write_npz, _read_npz),
           "wmap": (lambda folder, i, c, m: save_maps(maps_path(folder, str(i)), m, c),
                    lambda folder, i: load_maps(maps_path(folder, str(i)), 20))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"map files: {args.images} images, median of {args.rounds} rounds ({load()})")
    print("| size | format | write (ms/image) | read (ms/image) | bytes/image | read vs npz |")
    print("|---|---|---|---|---|---|")
    for label, size, n in (("quick 64x64", (64, 64), args.images),
                           ("VOC 375x500", (375, 500), max(1, args.images // 10))):
        rng = np.random.default_rng(0)
        items = [_maps(rng, size) for _ in range(n)]
        with tempfile.TemporaryDirectory() as tmp:
            folders = {k: Path(tmp, k) for k in FORMATS}
            for folder in folders.values():
                folder.mkdir()
            times = {(k, op): [] for k in FORMATS for op in ("write", "read")}
            for _ in range(args.rounds):
                for k, (write, read) in FORMATS.items():
                    start = time.perf_counter()
                    for i, (classes, maps) in enumerate(items):
                        write(folders[k], i, classes, maps)
                    times[k, "write"].append((time.perf_counter() - start) / n)
                    start = time.perf_counter()
                    for i in range(n):
                        read(folders[k], i)
                    times[k, "read"].append((time.perf_counter() - start) / n)
            for i in range(n):  # the same values either way
                np.testing.assert_array_equal(FORMATS["npz"][1](folders["npz"], i),
                                              FORMATS["wmap"][1](folders["wmap"], i))
            base = statistics.median(times["npz", "read"])
            for k, folder in folders.items():
                size_b = sum(p.stat().st_size for p in folder.iterdir()) / n
                w, r = (statistics.median(times[k, op]) for op in ("write", "read"))
                print(f"| {label} | {k} | {1000 * w:.3f} | {1000 * r:.3f} | {size_b:,.0f} | "
                      f"{base / r:.2f}x |")


if __name__ == "__main__":
    main()
