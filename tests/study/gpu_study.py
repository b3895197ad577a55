"""Run by test_gpu_cluster.py in its own process: a Ray cluster of logical GPUs (a head with
one CPU and no GPU, two nodes of 3 CPUs and 1 GPU each: 7 CPUs, 2 GPUs), and a 4-point DRS
grid through `evaluate` with no concurrency or GPU flag, as `wsss study run` sizes it. CUDA
stays off, so the stages compute on the CPU, but Ray's scheduling and GPU ids are real."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ray
from ray.cluster_utils import Cluster
from ray.tune import ExperimentAnalysis

from study.commands import sized
from study.runner import launch
from study.spec import Home, StudySpec

POINTS = {  # two alphas over one classifier: the cache shares pretrain, the classifier and
    # its maps, so the second trial waits for them holding no GPU, then reads them (hits)
    "d55-a20": {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
                "pseudo_labels/alpha": 0.2},
    "d55-a30": {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
                "pseudo_labels/alpha": 0.3},
}


def main(data_root: str, home_dir: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    gpu_nodes = [cluster.add_node(num_cpus=3, num_gpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        home = Home(Path(home_dir))
        spec = StudySpec(name="gpus", points=POINTS, sampler="grid", until="evaluate",
                         overrides={"profile": "tiny", "data/root": data_root})
        spec, res = sized(spec)  # what `wsss study run` does: prints the first line
        home.save(spec)
        summary = launch(spec, home, res=res)
        trials = ExperimentAnalysis(str(home.results / "gpus")).trials
        print("RESULT " + json.dumps({
            "status": summary["status"], "trials": res.trials, "stage_cpus": res.stage_cpus,
            "gpu_hours": summary["gpu_hours"],
            "trial_resources": [t.placement_group_factory.required_resources for t in trials],
            "reports": [{k: v for k, v in r.metrics.items() if k.endswith(("/node", "/gpu_ids"))}
                        for r in summary["results"]],
            "gpu_nodes": [n.node_id for n in gpu_nodes], "head": cluster.head_node.node_id}))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
