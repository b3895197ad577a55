"""What the Ray cluster a study runs on offers: its CPUs, the GPUs it has or may autoscale to,
and the shape of its GPU nodes (``study.spec.Capacity``, which ``StudySpec.resources`` sizes
the study to).

Ray reports the nodes that are up. The node types an autoscaler may still start come from
its config: on a cluster made by ``ray up`` the head holds it as
``~/ray_bootstrap_config.yaml`` (JSON, node resources filled in by the launcher), which is
where ``ray job submit`` runs the study's driver; ``WSSS_AUTOSCALING_CONFIG`` names another
file (the local autoscaling test's).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from study.spec import Capacity

BOOTSTRAP = "~/ray_bootstrap_config.yaml"


def cluster_capacity() -> Capacity:
    """The connected Ray cluster's capacity (``ray.init`` done)."""
    import ray

    alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return capacity_of(alive, autoscaling_config())


def capacity_of(nodes: list[dict[str, float]], config: dict[str, Any] | None) -> Capacity:
    """``nodes``: the resources of each node up; ``config``: an autoscaler's cluster config
    (its ``available_node_types`` and ``max_workers``), or None."""
    cpus = sum(n.get("CPU", 0.0) for n in nodes)
    shapes = [(n.get("CPU", 0.0), n["GPU"]) for n in nodes if n.get("GPU", 0.0) > 0]
    gpus = sum(g for _, g in shapes)
    if config:
        most = config.get("max_workers")
        possible = 0.0
        for name, node in config.get("available_node_types", {}).items():
            res = node.get("resources") or {}
            if res.get("GPU", 0) <= 0:
                continue
            shapes.append((float(res.get("CPU", 0)), float(res["GPU"])))
            count = node.get("max_workers", most or 0)
            if name == config.get("head_node_type"):
                count = 1
            possible += min(count, most if most is not None else count) * float(res["GPU"])
        gpus = max(gpus, possible)
    if not shapes:
        return Capacity(cpus)
    node_cpus, node_gpus = min(shapes, key=lambda s: s[0] / s[1])
    return Capacity(cpus, gpus, node_cpus, node_gpus)


def autoscaling_config() -> dict[str, Any] | None:
    """The autoscaler's cluster config where this machine has it, else None."""
    path = Path(os.environ.get("WSSS_AUTOSCALING_CONFIG") or BOOTSTRAP).expanduser()
    if not path.is_file():
        return None
    import yaml  # JSON is YAML too

    try:
        return yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a readable autoscaler config ({err})") from None


def describe(res: Any, cap: Capacity, auto: bool) -> str:
    """The study's first line: where and how its trials run."""
    if not res.uses_gpus:
        return (f"no GPUs{' used' if cap.gpus else ''}: {res.trials} trial(s) at once, "
                f"{res.trial_cpus:g} CPU(s) each, stages on the CPU")
    how = "--gpus-per-stage auto; 0 keeps the CPU" if auto else "--gpus-per-stage"
    return (f"{cap.gpus:g} GPU(s) on the Ray cluster (now or by autoscaling): "
            f"{res.trials} trial(s) at once; each network stage gets {res.gpus_per_stage:g} "
            f"GPU(s) and {res.stage_cpus:g} CPU(s), the others {res.stage_cpus:g} CPU(s) "
            f"({how})")


