"""The stage cache's effect on a study: the same grid run cold, then again with only the
pseudo-label thresholds changed (warm: every classifier and its maps come from the cache).

    python benchmarks/study_cache_effect.py [--profile quick] [--grid drs1] [--home DIR]

Prints both wall times (Ray start included once, before either) and their ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--grid", default="drs1")
    parser.add_argument("--home", help="WSSS_HOME (default: a new temporary folder)")
    args = parser.parse_args()
    home_dir = Path(args.home or tempfile.mkdtemp(prefix="wsss-cache-effect-"))
    os.environ["WSSS_HOME"] = str(home_dir)

    from study.commands import _ensure_data, _init_ray
    from study.runner import launch
    from study.spec import Home, StudySpec
    from wsss import config

    home = Home.default()
    base = {"profile": args.profile}
    base["data/root"] = os.path.abspath(config.resolve(base).data.root)
    _ensure_data(base)
    _init_ray(home)
    times = {}
    for name, extra in (("cold", {}), ("warm", {"pseudo_labels/alpha": 0.3,
                                                "pseudo_labels/beta": 0.1})):
        spec = StudySpec(name=f"cache-{name}-{int(time.time())}", grid=args.grid,
                         overrides={**base, **extra}, concurrency=1,
                         cpus_per_trial=os.cpu_count() or 1)  # one lane, as first measured
        home.save(spec)
        start = time.perf_counter()
        summary = launch(spec, home)
        times[name] = time.perf_counter() - start
        print(f"{name}: {summary['status']}, {summary['trials']} trials, {times[name]:.1f} s",
              flush=True)
    print(f"\ncold {times['cold']:.1f} s / warm {times['warm']:.1f} s = "
          f"{times['cold'] / times['warm']:.1f}x  ({args.grid}, profile {args.profile}, "
          f"WSSS_HOME {home_dir})")


if __name__ == "__main__":
    main()
