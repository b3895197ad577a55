"""What each search strategy pays to come within a tolerance of the best final mIoU, replayed
on a proxy study's records (study/replay.py: measured stage seconds, the cache shared within
a search, the study's own samplers and stage-aware scheduler).

    python benchmarks/search_cost.py [--method drs|ssenet] [--profile quick] [--seed 0]
                                     [--searches 10] [--tolerance 0.005] [--rungs a,b]
                                     [--at-once 1 2 4]

Space: DRS Tables 1-2 (the proxy study's t1: and t2: points) or SSENet Table 1 (t1:).
Strategies: the full grid (every point, seeded order), random search, TPE, and TPE with
successive halving at the method's rung stages (or --rungs). Prints, over --searches search
seeds: how many reached max - tolerance, the mean stage-seconds to get there, and that cost
over the full grid's. With ``--at-once``, each strategy also runs that many trials side by side
(proposed before the running ones end; TPE's constant liar sees them): what the parallel
proposals cost in stage-seconds, and the wall time (replayed: recorded stage seconds on
that many lanes) to reach the target. Needs `python benchmarks/proxy_correlation.py
--method M` first.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys

from common import load

SPACES = {"drs": ("t1:", "t2:"), "ssenet": ("t1:",)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="drs", choices=["drs", "ssenet"])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0, help="the proxy study's config seed")
    parser.add_argument("--searches", type=int, default=10, help="search seeds (>= 3)")
    parser.add_argument("--tolerance", type=float, default=0.005, help="0.005 = 0.5 mIoU")
    parser.add_argument("--final", default="evaluate/miou_crf")
    parser.add_argument("--rungs", help="comma-separated rung stages (default: the method's)")
    parser.add_argument("--trials", type=int, help="trials per random/TPE search "
                        "(default: 3 x the space's points)")
    parser.add_argument("--at-once", type=int, nargs="+", default=[1],
                        help="trials side by side (one table row per value)")
    args = parser.parse_args()

    from study.replay import load_points, replay
    from study.spec import Home
    from wsss.methods import METHODS

    home = Home.default()
    study = f"proxy-{args.method}-{args.profile}-s{args.seed}"
    points = {k: v for k, v in load_points(study, home.cache, args.final,
                                           home.tracking_uri).items()
              if k.startswith(SPACES[args.method])}
    if not points:
        print(f"no finished trials of the space in {study}: run benchmarks/proxy_correlation.py "
              f"--method {args.method} first", file=sys.stderr)
        return 2
    rungs = [r for r in (args.rungs or "").split(",") if r] or list(METHODS[args.method].rungs)
    best = max(p.final for p in points.values())
    target = best - args.tolerance
    trials = args.trials or 3 * len(points)
    grid_cost = replay(points, "grid", 0, trials=len(points)).costs[-1]
    strategies = {"grid (seeded order)": ("grid", (), len(points)),
                  "random": ("random", (), trials), "TPE": ("tpe", (), trials),
                  f"TPE + rungs at {', '.join(rungs)}": ("tpe", rungs, trials)}
    print(f"{study}: {len(points)} points ({' + '.join(SPACES[args.method])}), best {args.final} "
          f"{best:.4f}, target >= {target:.4f}; full grid {grid_cost:.0f} stage-seconds; "
          f"{args.searches} search seeds, {trials} trials per random/TPE search ({load()})\n")
    print("| strategy | at once | reached | stage-seconds to reach (mean ± sd) | / full grid | "
          "trials to reach (mean) | wall s to reach (mean) |")
    print("|---|---|---|---|---|---|---|")
    for label, (kind, rung, n) in strategies.items():
        for at_once in args.at_once:
            costs, counts, walls = [], [], []
            for seed in range(args.searches):
                trace = replay(points, kind, seed, trials=n, rungs=rung, at_once=at_once)
                cost = trace.cost_to_reach(target)
                if math.isfinite(cost):
                    costs.append(cost)
                    walls.append(trace.wall_to_reach(target))
                    counts.append(next(i + 1 for i, b in enumerate(trace.best) if b >= target))
            if costs:
                sd = statistics.stdev(costs) if len(costs) > 1 else 0.0
                mean = statistics.mean(costs)
                print(f"| {label} | {at_once} | {len(costs)}/{args.searches} | {mean:.0f} ± "
                      f"{sd:.0f} | {mean / grid_cost:.2f} | {statistics.mean(counts):.1f} | "
                      f"{statistics.mean(walls):.0f} |")
            else:
                print(f"| {label} | {at_once} | 0/{args.searches} | - | - | - | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
