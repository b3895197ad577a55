"""Run by test_autoscaling.py in its own process: a local autoscaling cluster built from the
node types of cluster.yaml, a tiny study that asks for GPUs, and the node counts over time.

Ray's own harness (``ray.cluster_utils.AutoscalingCluster``) reads a template the wheel does
not ship and runs ``ray stop --force``, which would kill every Ray on the machine (the test
session's, a study's). This one starts its head on a free port with its own temp folder,
points the fake multi-node provider at that GCS, and at the end kills only the processes of
that cluster. The provider starts worker nodes in-process with the resources their node type
declares: cluster.yaml's ``gpu_worker`` (auto-detected on AWS) is given 2 CPUs and 1 GPU
here, the GPU being logical, which is what the scheduler sees.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Ray 2.60 heads use token authentication; Ray reads the mode once, at import. This cluster
# gets a token of its own in the environment (inherited by `ray start` and its nodes): a fresh
# machine has no ~/.ray/auth_token, and `ray start` makes none (it refused to start without)
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
os.environ.pop("RAY_AUTH_TOKEN_PATH", None)

import ray  # noqa: E402
import yaml  # noqa: E402

from study.runner import launch  # noqa: E402
from study.spec import Home, StudySpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAKE_HEAD = "ray.head.default"  # the fake provider's name for the head's node type
IDLE_MINUTES = 0.5  # 30 s: gone soon after the study (at 6 s a new node went before its trial)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
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
            "provider": {"type": "fake_multinode", "gcs_address": gcs_address,
                         "use_node_id_as_ip": True, "disable_node_updaters": True,
                         "disable_launch_config_check": True},
            "auth": {"ssh_user": "ubuntu"}, "available_node_types": types,
            "head_node_type": FAKE_HEAD, "file_mounts": {}, "cluster_synced_files": [],
            "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
            "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
            "worker_setup_commands": [], "head_start_ray_commands": [],
            "worker_start_ray_commands": []}


def _ours(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (Linux /proc; no psutil dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def _gpu_nodes() -> list[str]:
    return [n["NodeID"] for n in ray.nodes()
            if n["Alive"] and n["Resources"].get("GPU", 0) > 0]


def main(data_root: str, home_dir: str) -> None:
    port = _free_port()
    gcs = f"{ray.util.get_node_ip_address()}:{port}"  # where `ray start` binds it
    temp = tempfile.mkdtemp(prefix="/tmp/wsss-as-")  # short: socket paths have a limit
    config = Path(temp) / "autoscaling.json"
    config.write_text(json.dumps(cluster_config(gcs)))
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    head = cluster_config(gcs)["available_node_types"][FAKE_HEAD]["resources"]
    ray_cli = str(Path(sys.executable).with_name("ray"))
    subprocess.check_call([ray_cli, "start", "--head", f"--port={port}",
                           f"--temp-dir={temp}",
                           f"--autoscaling-config={config}", f"--num-cpus={head['CPU']}",
                           "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats"],
                          env=env, stdout=subprocess.DEVNULL)
    timeline: list[tuple[float, int]] = []
    seen: set[str] = set()  # every GPU-typed node that was alive at some point
    stop = threading.Event()
    start = time.monotonic()
    try:
        ray.init(address=gcs, log_to_driver=False)
        head_id = ray.get_runtime_context().get_node_id()

        def watch() -> None:  # GPU-typed nodes alive, once a second
            while not stop.is_set():
                alive = _gpu_nodes()
                seen.update(alive)
                timeline.append((round(time.monotonic() - start, 1), len(alive)))
                stop.wait(1.0)

        threading.Thread(target=watch, daemon=True).start()
        home = Home(Path(home_dir))
        # what the head of a `ray up` cluster reads from ~/ray_bootstrap_config.yaml: the
        # GPU workers the autoscaler may start (study.resources)
        os.environ["WSSS_AUTOSCALING_CONFIG"] = str(config)
        spec = StudySpec(name="autoscaling", space="drs-controller", samples=1,
                         gpus_per_stage=1, until="classify",
                         overrides={"profile": "tiny", "data/root": data_root,
                                    "data/workers": 0, "pseudo/workers": 1})
        home.save(spec)
        summary = launch(spec, home)
        finished = round(time.monotonic() - start, 1)
        nodes = [{k: v for k, v in r.metrics.items() if k.endswith("/node")}
                 for r in summary["results"]]
        deadline = time.monotonic() + 120  # the idle timeout, then the autoscaler's pass
        while _gpu_nodes() and time.monotonic() < deadline:
            time.sleep(1.0)
        time.sleep(1.5)
        stop.set()
        print("RESULT " + json.dumps({"status": summary["status"], "nodes": nodes,
                                      "head": head_id, "gpu_node_ids": sorted(seen),
                                      "timeline": timeline, "study_done_at": finished}))
    finally:
        stop.set()
        ray.shutdown()
        for pid in set(_ours(gcs) + _ours(temp)):  # this cluster's processes only
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not os.environ.get("WSSS_KEEP_RAY_TEMP"):  # for a post-mortem
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    sys.exit(0)
