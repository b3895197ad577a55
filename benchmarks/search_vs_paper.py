"""Does search beat the papers' hand-tuned settings? A joint space searched under a fixed
budget of stage-seconds on the selection split, then its best setting and the paper's re-run
on several seeds and compared on the held-out reporting split.

    python benchmarks/search_vs_paper.py [--method drs|ssenet] [--profile quick]
                                         [--budget 3600] [--seeds 0 1 2] [--no-rungs]
                                         [--name NAME]

1. Study ``NAME`` (default ``search-<method>-<profile>-b<budget>``) over the method's
   joint space (DRS ``drs-joint``: controller, δ, DRS in each of layer1..6, α, β, refinement;
   SSENet ``sse-joint``: SER on/off, r, η, la/ha CRF powers, random-walk β and t) with TPE
   and the stage-aware scheduler at the method's rungs, seed 0, objective ``evaluate/miou_crf``
   on the selection split (val), stopped by ``--budget`` stage-seconds (cache hits free).
2. Studies ``NAME-confirm-s<seed>``: the best trial's setting (``search``) and the
   paper's (``paper``: DRS learnable in layer1-6, the preset's α/β, no refinement; SSENet
   r = 0.3, β 8, t 256) with every seed, through the shared cache.
3. Prints both on the reporting split (test) and the selection split, paired by seed.
Each step reuses a finished study and resumes an interrupted one.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import load, run_or_resume

PAPER = {"drs": {"classifier/drs": "learnable", "refine/enabled": False},
         "ssenet": {"classifier/ser_rate": 0.3, "random_walk/beta": 8.0,
                    "random_walk/steps": 256}}
SPACE = {"drs": "drs-joint", "ssenet": "sse-joint"}
FINAL = "evaluate/miou_crf"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="drs", choices=sorted(PAPER))
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--budget", type=float, default=3600.0,
                        help="stage-seconds the search may compute (cache hits are free)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-rungs", action="store_true", help="plain TPE, no halving")
    parser.add_argument("--name", help="the search study (default search-METHOD-PROFILE-bBUDGET)")
    args = parser.parse_args()

    import pandas as pd

    from analysis.confirm import compare, markdown, verdict
    from analysis.runs import load_trials
    from search_spaces import SPACES
    from study.confirm import best_point, confirm, spent
    from study.spec import Home, StudySpec

    home = Home.default()
    start = time.perf_counter()
    name = args.name or f"search-{args.method}-{args.profile}-b{args.budget:.0f}"
    space = SPACE[args.method]
    code = run_or_resume(name, [space, "--sampler", "tpe", "--samples", "1000", "--budget",
                                str(args.budget), "--objective", FINAL, "--until", "evaluate",
                                "--profile", args.profile, "seed=0",
                                *([] if args.no_rungs else ["--asha"])],
                         finished=("complete", "budget"))
    if code:
        print(f"study {name} did not finish (exit {code})", file=sys.stderr)
        return code
    search = home.load(name)
    best, value = best_point(name, home.optuna_url, SPACES[space])
    print(f"\nsearch {name}: best {FINAL} on the selection split {100 * value:.1f} with {best}")
    template = StudySpec(name="", space=space, objective=FINAL, until="evaluate",
                         overrides={k: v for k, v in search.overrides.items() if k != "seed"},
                         cpus_per_trial=search.cpus_per_trial,
                         gpus_per_stage=search.gpus_per_stage)
    studies = confirm(f"{name}-confirm",
                      {"search": best, "paper": PAPER[args.method]}, args.seeds, template, home)
    df = pd.concat([load_trials(s, home.tracking_uri) for s in studies], ignore_index=True)
    rows = [compare(df, m) for m in (f"evaluate/report/{FINAL.split('/')[1]}",
                                     "evaluate/report/miou", FINAL)]
    cost = spent(home, name)
    print(f"\n{args.method}: search ({space}, TPE{'' if args.no_rungs else ' + rungs'}, "
          f"budget {args.budget:.0f} stage-s, {cost:.0f} spent) vs the paper's setting, seeds "
          f"{' '.join(map(str, args.seeds))}; {time.perf_counter() - start:.0f} s for this "
          f"command ({load()} at the end)\n")
    print(markdown(rows))
    print(f"\non the reporting split: {verdict(rows[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
