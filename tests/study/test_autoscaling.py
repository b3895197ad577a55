"""GPU workers of cluster.yaml's node types start from zero for a study and go when it ends:
a local autoscaling cluster (Ray's fake multi-node provider), in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=75)]
SCRIPT = Path(__file__).with_name("autoscaling_study.py")


def test_a_study_brings_gpu_workers_up_from_zero_and_they_go_after(tiny_root: Path,
                                                                    tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, str(SCRIPT), str(tiny_root), str(tmp_path / "home")],
                         capture_output=True, text=True, timeout=600, env=env,
                         cwd=Path(__file__).resolve().parents[2])
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(line.removeprefix("RESULT "))
    print("GPU workers over time (s, count):", result["timeline"])  # for the closing note
    assert result["status"] == "complete"
    counts = [n for _, n in result["timeline"]]
    assert counts[0] == 0 and max(counts) >= 1  # from zero, because of the study
    assert counts[-1] == 0  # released after the idle timeout
    up = next(t for t, n in result["timeline"] if n >= 1)
    down = next(t for t, n in result["timeline"] if t > up and n == 0)
    assert down >= result["study_done_at"]  # not before the study finished
    # every training stage ran on a GPU-typed node, never on the head
    nodes = result["nodes"][0]
    for stage in ("pretrain", "classify"):
        assert nodes[f"{stage}/node"] in result["gpu_node_ids"], nodes
        assert nodes[f"{stage}/node"] != result["head"]
