"""What every trial of a study shares, passed to trainables through ``tune.with_parameters``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wsss.pipeline import stage_of_metric

# in every trial report: the stage-seconds computed for the trial so far (a cache hit adds 0),
# what a study's budget and the search-cost benchmark count
COST = "cost_seconds"
# and the GPU-seconds its network stages held (GPU share x time), and of those the seconds a
# CUDA device was busy (where measured): the study summary's GPU-hours and busy share
GPU_SECONDS = "gpu_seconds"
GPU_BUSY_SECONDS = "gpu_busy_seconds"
GPU_MEASURED_SECONDS = "gpu_measured_seconds"  # the held GPU-seconds whose busy share is known


@dataclass(frozen=True)
class StudyContext:
    name: str
    objective: str  # e.g. "pseudo_labels/miou"; the last report's "score" is its value
    base: dict[str, Any]  # flat config keys common to all trials (profile, data/root, ...)
    cache_root: str  # shared storage on a cluster
    tracking_uri: str  # absolute sqlite URI locally, the head's mlflow server on a cluster
    experiment_id: str
    study_run_id: str  # MLflow run of the study: trial runs name it in a tag
    # Ray task options of the stages: {"gpu": network stages', "cpu": the others'}; {}: the
    # stages run in the trial's process (a study without GPUs)
    stage_resources: dict[str, dict[str, float]] = field(default_factory=dict)
    stop_at: str = ""  # the last stage a trial runs ("" = the objective's)
    # study.provenance: the code's commit and the libraries' versions, tagged on every run
    provenance: dict[str, str] = field(default_factory=dict)
    # seconds between two samples of a stage's CPU, memory and GPU use (MLflow's system
    # metrics, in the process that runs it); 0: none (WSSS_SYSTEM_METRICS=0)
    system_metrics: float = 0.0

    @property
    def until(self) -> str:
        return self.stop_at or stage_of_metric(self.objective).name
