"""Run by test_multinode.py in its own process: a head without GPUs and two workers that
declare one logical GPU each; one trial whose training stages ask for half a GPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from study.runner import launch
from study.spec import Home, StudySpec


def main(data_root: str, home_dir: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    gpu_nodes = [cluster.add_node(num_cpus=2, num_gpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    home = Home(Path(home_dir))
    spec = StudySpec(name="multinode", space="drs-controller", samples=1, cpus_per_trial=1,
                     gpus_per_stage=0.5, overrides={"profile": "tiny", "data/root": data_root,
                                                    "data/workers": 0, "pseudo/workers": 1})
    home.save(spec)
    summary = launch(spec, home)
    nodes = [{k: v for k, v in r.metrics.items() if k.endswith("/node")}
             for r in summary["results"]]
    print("RESULT " + json.dumps({"status": summary["status"], "nodes": nodes,
                                  "gpu_nodes": [n.node_id for n in gpu_nodes],
                                  "head": cluster.head_node.node_id}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
