"""How much of the GPU time a study reserves its networks use: held versus used GPU-seconds.

    python benchmarks/gpu_held_vs_used.py [--profile quick] [--gpus 2] [--cpus 2]
                                          [--points 2] [--until evaluate]

A local Ray with logical GPUs (``ray.init(num_gpus=N)``: Ray schedules them and hands out
their ids, CUDA stays off, so the networks compute on the CPU), and a DRS grid of
``--points`` points of Table 1 run as `wsss study run` sizes it. From the study's MLflow
stage runs, for every network stage it computed:

* used: the seconds inside the stage function (``stage_seconds``) x its GPU share;
* held: the seconds its task held its resources, from the stage run's start to its end
  (``stage_held_seconds``) x its GPU share; and, as an upper bound, from asking Ray for the
  task to its result (``stage_round_trip_seconds``: waiting for a free GPU and a worker
  process included, when Ray reserved nothing yet).

Trials coordinate and hold no GPU (checked: their placement groups have none). Target:
used / held >= 90 %.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--points", type=int, default=2)
    parser.add_argument("--until", default="evaluate")
    args = parser.parse_args()

    import mlflow
    import ray
    from ray.tune import ExperimentAnalysis

    from search_spaces import GRIDS
    from study.commands import _ensure_data, sized, trial_overrides
    from study.runner import launch
    from study.spec import Home, StudySpec
    from wsss.pipeline import STAGES

    points = dict(list(GRIDS["drs1"].items())[1: 1 + args.points])  # constant deltas
    with tempfile.TemporaryDirectory(prefix="wsss-held-") as tmp:
        home = Home(Path(tmp))
        os.environ["WSSS_HOME"] = tmp
        overrides = trial_overrides("drs", args.profile, "reference", {})
        _ensure_data(overrides)
        print(f"{load()}; Ray with {args.cpus} CPUs and {args.gpus} logical GPUs", flush=True)
        ray.init(address="local", num_cpus=args.cpus, num_gpus=args.gpus,
                 include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0", "WSSS_HOME": tmp}})
        try:
            spec = StudySpec(name="held", points=points, sampler="grid", until=args.until,
                             overrides=overrides)
            spec, res = sized(spec)
            home.save(spec)
            start = time.perf_counter()
            summary = launch(spec, home, res=res)
            wall = time.perf_counter() - start
            trials = ExperimentAnalysis(str(home.results / "held")).trials
            trial_gpus = sum(t.placement_group_factory.required_resources.get("GPU", 0)
                             for t in trials)
        finally:
            ray.shutdown()
        mlflow.set_tracking_uri(home.tracking_uri)
        runs = mlflow.search_runs(experiment_names=["held"], filter_string="tags.kind = 'stage'")
        computed = runs[(runs["tags.cache_hit"] == "false")
                        & runs["tags.stage"].map(lambda s: STAGES[s].gpu)]
        g = res.gpus_per_stage
        used = float(computed["metrics.stage_seconds"].sum()) * g
        held = float(computed["metrics.stage_held_seconds"].sum()) * g
        trip = float(computed["metrics.stage_round_trip_seconds"].sum()) * g
        print(f"\nstudy {summary['status']}: {len(points)} trials, {res.trials} at once, "
              f"{wall:.0f} s; trials' placement groups hold {trial_gpus:g} GPUs")
        print(f"{'stage':<12}{'runs':>5}{'used s':>9}{'held s':>9}{'round trip s':>14}")
        for stage, rows in computed.groupby("tags.stage"):
            print(f"{stage:<12}{len(rows):>5}{rows['metrics.stage_seconds'].sum() * g:9.1f}"
                  f"{rows['metrics.stage_held_seconds'].sum() * g:9.1f}"
                  f"{rows['metrics.stage_round_trip_seconds'].sum() * g:14.1f}")
        print(f"GPU-seconds used {used:.1f}, held {held:.1f} ({100 * used / held:.1f} % used); "
              f"asked-to-returned {trip:.1f} ({100 * used / trip:.1f} %); {load()}")
    return 0 if summary["status"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
