"""Run by test_autoscaling.py in its own process: a local autoscaling cluster built from the
node types of cluster.yaml (on spot_provider.py, where a lost node is gone as on EC2); a
two-point study that asks for GPUs brings GPU workers up from zero; the worker running the
first trial's classifier is killed mid-stage (a lost spot node); the autoscaler replaces it,
the trial is retried and its classifier resumes from the checkpoint on the shared cache; the
study completes and the workers go after the idle timeout. Prints the GPU nodes over time
and the events.

Ray's own harness (``ray.cluster_utils.AutoscalingCluster``) reads a template the wheel does
not ship and runs ``ray stop --force``, which would kill every Ray on the machine (the test
session's, a study's). This one starts its head with its own temp folder and token (the
fake provider needs the GCS address in its config, so the port is chosen first), and at the
end kills only the processes of that cluster (local_ray.Head). The provider starts worker
nodes in-process with the resources their node type declares: cluster.yaml's ``gpu_worker``
(auto-detected on AWS) is given 2 CPUs and 1 GPU here, the GPU being logical.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from local_ray import Head, descendants, processes, token_env

# Ray reads its token mode once, at import: this cluster's token, for us and every node
os.environ.update(token_env())

import ray  # noqa: E402
import yaml  # noqa: E402

from study.runner import launch  # noqa: E402
from study.spec import Home, StudySpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAKE_HEAD = "ray.head.default"  # the fake provider's name for the head's node type
IDLE_MINUTES = 0.25  # 15 s: gone soon after the study (at 6 s a new node went before its trial)
POINTS = {"d55": {"classifier/drs": "constant", "classifier/drs_delta": 0.55},
          "learnable": {"classifier/drs": "learnable"}}
# faster than Ray's defaults, so a lost node is noticed in seconds: the GCS's health checks
# and the autoscaler's heartbeat timeout
FAST = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
        "AUTOSCALER_HEARTBEAT_TIMEOUT_S": "5", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_config(gcs_address: str) -> dict:
    """cluster.yaml's node types and limits, on the fake provider."""
    real = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    types = {}
    for name, node in real["available_node_types"].items():
        if name == real["head_node_type"]:
            types[FAKE_HEAD] = {"resources": node["resources"], "node_config": {},
                                "max_workers": 0}
        else:  # what the instance would report: here, declared (the GPU is logical)
            types[name] = {"resources": {"CPU": 2, "GPU": 1, **node["resources"]},
                           "node_config": {}, "min_workers": node["min_workers"],
                           "max_workers": node["max_workers"]}
    return {"cluster_name": "wsss-autoscaling-test", "max_workers": real["max_workers"],
            "upscaling_speed": real["upscaling_speed"], "idle_timeout_minutes": IDLE_MINUTES,
            # the fake provider's nodes are up when created: no SSH updater, no launch check
            "provider": {"type": "external", "module": "spot_provider.SpotProvider",
                         "gcs_address": gcs_address,
                         "use_node_id_as_ip": True, "disable_node_updaters": True,
                         "disable_launch_config_check": True},
            "auth": {"ssh_user": "ubuntu"}, "available_node_types": types,
            "head_node_type": FAKE_HEAD, "file_mounts": {}, "cluster_synced_files": [],
            "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
            "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
            "worker_setup_commands": [], "head_start_ray_commands": [],
            "worker_start_ray_commands": []}


def _gpu_nodes() -> list[str]:
    return [n["NodeID"] for n in ray.nodes()
            if n["Alive"] and n["Resources"].get("GPU", 0) > 0]


def lose_the_node_of(task: str) -> int | None:
    """SIGKILL the raylet whose worker runs ``task`` (``ray::<task>``), and everything that
    raylet started: a node lost without warning. Returns the raylet's pid."""
    procs = processes()
    worker = next((pid for pid, (_, cmd) in procs.items()
                   if cmd.startswith(f"ray::{task}")), None)
    if worker is None:
        return None
    raylet = procs[worker][0]
    doomed = descendants(procs, {raylet})  # the raylet, its workers and agents
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return raylet


def main(data_root: str, home_dir: str) -> None:
    port = _free_port()
    gcs = f"{ray.util.get_node_ip_address()}:{port}"  # where `ray start` binds it
    temp = tempfile.mkdtemp(prefix="/tmp/wsss-as-")  # short: socket paths have a limit
    config = Path(temp) / "autoscaling.json"
    config.write_text(json.dumps(cluster_config(gcs)))
    here = str(Path(__file__).parent)  # the autoscaler imports spot_provider from here
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1", **FAST,
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    cluster = Head(gcs, temp, env)
    head = cluster_config(gcs)["available_node_types"][FAKE_HEAD]["resources"]
    ray_cli = str(Path(sys.executable).with_name("ray"))
    subprocess.check_call([ray_cli, "start", "--head", f"--port={port}",
                           f"--temp-dir={temp}",
                           f"--autoscaling-config={config}", f"--num-cpus={head['CPU']}",
                           "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                           "--dashboard-agent-listen-port=0"],
                          env=env, stdout=subprocess.DEVNULL)
    timeline: list[tuple[float, int]] = []
    events: dict[str, float] = {}
    seen: set[str] = set()  # every GPU-typed node that was alive at some point
    stop = threading.Event()
    start = time.monotonic()
    home = Home(Path(home_dir))
    now = lambda: round(time.monotonic() - start, 1)  # noqa: E731
    try:
        ray.init(address=gcs, log_to_driver=False)
        head_id = ray.get_runtime_context().get_node_id()
        lost: list[str] = []

        def watch() -> None:  # GPU-typed nodes alive, twice a second; the node loss
            while not stop.is_set():
                alive = _gpu_nodes()
                seen.update(alive)
                timeline.append((now(), len(alive)))
                checkpoints = list((home.cache / "classifier").glob("*.partial/checkpoint.pt")) \
                    if (home.cache / "classifier").exists() else []
                if "node lost" not in events and checkpoints:  # a round done: lose the node
                    before = set(alive)
                    if lose_the_node_of("_stage_task"):
                        events["node lost"] = now()
                        lost.extend(before)
                if "node lost" in events and "replaced" not in events and \
                        set(alive) - set(lost):
                    events["replaced"] = now()  # a GPU node that was not up before the loss
                stop.wait(0.5)

        threading.Thread(target=watch, daemon=True).start()
        # what the head of a `ray up` cluster reads from ~/ray_bootstrap_config.yaml: the
        # GPU workers the autoscaler may start (study.resources)
        os.environ["WSSS_AUTOSCALING_CONFIG"] = str(config)
        spec = StudySpec(name="autoscaling", points=POINTS, sampler="grid", concurrency=1,
                         gpus_per_stage=1, until="classifier",
                         overrides={"profile": "tiny", "data/root": data_root,
                                    "data/workers": 0, "classifier/epochs": 4})
        home.save(spec)
        summary = launch(spec, home)
        events["study complete"] = now()
        nodes = [{k: v for k, v in r.metrics.items() if k.endswith("/node")}
                 for r in summary["results"]]
        deadline = time.monotonic() + 120  # the idle timeout, then the autoscaler's pass
        while _gpu_nodes() and time.monotonic() < deadline:
            time.sleep(1.0)
        time.sleep(1.5)
        stop.set()
        print("RESULT " + json.dumps({"status": summary["status"], "nodes": nodes,
                                      "head": head_id, "gpu_node_ids": sorted(seen),
                                      "timeline": timeline, "events": events,
                                      "lost": lost}))
    finally:
        stop.set()
        ray.shutdown()
        cluster.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    sys.exit(0)
