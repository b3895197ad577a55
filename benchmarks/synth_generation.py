"""Generation time of each synthetic preset, and the speed-up of the process pool.

    python benchmarks/synth_generation.py [--presets tiny quick full] [--workers 2]

Prints seconds per preset with all workers and with one, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from wsss.data.synthetic import PRESETS, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "quick", "full"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    header = ("preset", "images", "px", f"s ({args.workers} workers)", "s (1 worker)", "ratio")
    print("".join(f"{h:>16}" if i else f"{h:<8}" for i, h in enumerate(header)))
    for name in args.presets:
        p = PRESETS[name]
        times = []
        for workers in (args.workers, 1):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                generate(f"{tmp}/{name}", name, workers=workers)
                times.append(time.perf_counter() - start)
        row = (p.n_train + p.n_val, p.size, f"{times[0]:.2f}", f"{times[1]:.2f}",
               f"{times[1] / times[0]:.2f}")
        print(f"{name:<8}" + "".join(f"{v:>16}" for v in row))


if __name__ == "__main__":
    main()
