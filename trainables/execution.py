"""Where a trial's stages run, and the record of where each one ran.

Without GPUs a trial runs its stages in its own process. With GPUs each stage is a Ray task
that asks for its own resources when it starts and frees them when it ends (a network stage
``{GPU: g, CPU: c}``, the others ``{CPU: c}``), outside the trial's placement group: Tune
places a trial's child tasks in its group unless told otherwise, and the trial holds no GPU
(docs/architecture.md, "Resources on a cluster").
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import ray
import torch
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from wsss.cache import CacheEntry
from wsss.runtime import GpuMonitor, available_cpus, loader_workers, pick_device
from wsss.stages import Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where and how a stage ran (its MLflow run's ``wsss.*`` tags and GPU metrics)."""

    node: str  # host name
    node_id: str  # Ray's node id ("" in-process outside Ray)
    gpu_ids: str  # Ray's GPU ids, comma-separated ("" without)
    gpus: float  # the GPU share it held
    cpus: float  # its CPU grant
    loader_workers: int
    device: str  # "cuda:0", "cpu"
    held: float  # seconds the task held its resources (from the stage run's start to end)
    gpu_metrics: dict[str, float]  # on CUDA: peak memory, busy share (runtime.GpuMonitor)
    # seconds from asking Ray for the task to its result (held, plus waiting for resources
    # and a worker, and the transfers); equal to ``held`` in-process
    round_trip: float = 0.0
    cuda_device: str = ""  # the GPU's name on CUDA


Monitor = tuple[str, str, float]  # (tracking URI, stage run id, sampling seconds)


def _place(fn: Callable[[], CacheEntry], device: str, workers: int, cpus: float, gpus: float,
           monitor: Monitor | None = None) -> tuple[CacheEntry, Placement]:
    start = time.perf_counter()
    ctx = ray.get_runtime_context() if ray.is_initialized() else None
    dev = pick_device(device)
    with GpuMonitor(dev) as gpu, _system_metrics(monitor):
        entry = fn()
    return entry, Placement(
        node=socket.gethostname(), node_id=ctx.get_node_id() if ctx else "",
        gpu_ids=",".join(str(i) for i in ray.get_gpu_ids()) if ctx else "", gpus=gpus,
        cpus=cpus, loader_workers=loader_workers(workers), device=str(dev),
        held=time.perf_counter() - start, gpu_metrics=gpu.metrics(),
        round_trip=time.perf_counter() - start,
        cuda_device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else "")


@contextlib.contextmanager
def _system_metrics(monitor: Monitor | None) -> Iterator[None]:
    """MLflow's CPU, memory, disk, network (and, with nvidia-ml-py, GPU) samples of this
    process's machine into the stage's run while the stage computes."""
    if monitor is None:
        yield
        return
    uri, run_id, every = monitor
    sampler = None
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        # its start/stop INFO lines, four a stage, would drown the study's own
        logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
        sampler = SystemMetricsMonitor(run_id, sampling_interval=every, tracking_uri=uri,
                                       resume_logging=True)
        sampler.start()
    except Exception as err:  # noqa: BLE001 - telemetry must never cost the stage
        log.warning("no system metrics for run %s: %s", run_id, err)
    try:
        yield
    finally:
        if sampler is not None:
            sampler.finish()
            _at_least_one_sample(sampler)


def _at_least_one_sample(sampler: Any) -> None:
    """MLflow's monitor publishes once per interval: a stage shorter than that gets one
    sample now (pinned MLflow 3.17's monitor: its ``_logging_step`` counts what it sent)."""
    try:
        if getattr(sampler, "_logging_step", 1) == 0:
            sampler.collect_metrics()
            sampler.publish_metrics(sampler.aggregate_metrics())
            sampler.mlflow_logger.flush()
    except Exception as err:  # noqa: BLE001 - telemetry must never cost the stage
        log.warning("no system metrics sample: %s", err)


@ray.remote(max_retries=0)  # a failed stage fails its trial, which Tune retries
def _stage_task(fn: Callable[[], CacheEntry], device: str, workers: int, cpus: float,
                gpus: float, monitor: Monitor | None) -> tuple[CacheEntry, dict[str, Any]]:
    # a reused worker process keeps the last task's setting: the grant decides threads and
    # loader workers (wsss.runtime.available_cpus); a fraction of a CPU is one thread
    os.environ["OMP_NUM_THREADS"] = str(max(1, int(cpus)))
    entry, placement = _place(fn, device, workers, cpus, gpus, monitor)
    return entry, asdict(placement)


def stage_executor(resources: dict[str, dict[str, float]], placements: dict[str, Placement],
                   *, device: str, workers: int,
                   monitor: Callable[[Stage], Monitor | None] = lambda stage: None
                   ) -> Callable[[Stage, Callable[[], CacheEntry]], CacheEntry]:
    """``resources``: {"gpu": task options of network stages, "cpu": of the others}; empty:
    the stages run in this process. ``device`` and ``workers`` are the config's
    (``device``, ``data/workers``); ``monitor(stage)`` names the run that receives the
    stage's system metrics (called as it starts). Records each stage's ``Placement`` in
    ``placements``."""

    def execute(stage: Stage, fn: Callable[[], CacheEntry]) -> CacheEntry:
        if not resources:
            entry, placements[stage.name] = _place(fn, device, workers, available_cpus(), 0.0,
                                                   monitor(stage))
            return entry
        options = resources["gpu" if stage.gpu else "cpu"]
        task = _stage_task.options(
            **options, scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=None))
        asked = time.perf_counter()
        entry, placement = ray.get(task.remote(fn, device, workers, float(options["num_cpus"]),
                                               float(options.get("num_gpus", 0.0)),
                                               monitor(stage)))
        placements[stage.name] = Placement(**{**placement,
                                              "round_trip": time.perf_counter() - asked})
        return entry

    return execute
