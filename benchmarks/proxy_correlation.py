"""Do cheap stages rank configurations as the final mIoU does? The proxy study of a method
(its ``<method>-proxy`` grid: 24 DRS or 16 SSENet configurations, each to the final metric
on the selection split), then every stage metric's rank agreement with the final mIoU.

    python benchmarks/proxy_correlation.py [--method drs|ssenet] [--profile quick] [--seed 0]
                                           [--final evaluate/miou_crf]

Runs the study ``proxy-<method>-<profile>-s<seed>`` under WSSS_HOME through the stage cache
(points the papers' grids hold are cache hits after `wsss reproduce`), resumes it if it was
interrupted and reuses it if finished, then prints Spearman's rho and Kendall's tau-b of each
stage's headline metric against the final mIoU and whether each proxy's top 1 / 3 / 5 holds
the best configuration. The table is the finding of docs/search.md.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import load, run_or_resume


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="drs", choices=["drs", "ssenet"])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0, help="the configurations' seed")
    parser.add_argument("--final", default="evaluate/miou_crf", help="the final metric")
    args = parser.parse_args()

    from analysis.proxies import markdown, proxy_rows
    from analysis.runs import load_trials
    from study.spec import Home

    grid = {"drs": "drs-proxy", "ssenet": "sse-proxy"}[args.method]
    name = f"proxy-{args.method}-{args.profile}-s{args.seed}"
    home = Home.default()
    start = time.perf_counter()
    code = run_or_resume(name, ["--grid", grid, "--profile", args.profile, f"seed={args.seed}"])
    if code:
        print(f"study {name} did not complete (exit {code})", file=sys.stderr)
        return code
    df = load_trials(name, home.tracking_uri)
    print(f"\nproxy study {name}: {len(df)} configurations ({grid}), final metric {args.final} "
          f"on the selection split; {time.perf_counter() - start:.0f} s for this command "
          f"({load()} at the end)\n")
    print(markdown(proxy_rows(df, args.final), args.final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
