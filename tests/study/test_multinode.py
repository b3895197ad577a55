"""Training stages land only on GPU-declaring nodes of a multi-node cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=40)]  # whole studies: multi-stage
SCRIPT = Path(__file__).with_name("multinode_study.py")


def test_training_stages_run_on_gpu_nodes_only(tiny_root: Path, tmp_path: Path) -> None:
    # its own process: the session's shared Ray instance cannot also be a Cluster
    out = subprocess.run([sys.executable, str(SCRIPT), str(tiny_root), str(tmp_path / "home")],
                         capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parents[2])
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["status"] == "complete"
    nodes = result["nodes"][0]
    for stage in ("pretrain", "classify"):  # training stages asked for a GPU share
        assert nodes[f"{stage}/node"] in result["gpu_nodes"], nodes
    assert result["head"] not in {nodes["pretrain/node"], nodes["classify/node"]}
