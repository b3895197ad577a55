"""What every trial of a study shares, passed to trainables through ``tune.with_parameters``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# objective -> the last stage a trial needs to run for it
OBJECTIVE_STAGE = {"cam/miou": "cams", "pseudo/miou": "pseudo_labels",
                   "pseudo/miou_miss": "pseudo_labels", "pseudo/miou_ignore": "pseudo_labels",
                   "rw/miou": "random_walk", "crf/precision": "crf_labels",
                   "seg/miou": "evaluate", "seg/miou_crf": "evaluate"}
# the headline metric of each stage: the ASHA rung score ("stage" is the time attribute)
STAGE_SCORE = {"pretrain": "pretrain/val/map", "classify": "cls/val/map", "cams": "cam/miou",
               "refine": "refine/miou", "pseudo_labels": "pseudo/miou",
               "crf_labels": "crf/precision", "affinity": "aff/pair_accuracy",
               "random_walk": "rw/miou", "segment": "seg/final_loss", "evaluate": "seg/miou"}


@dataclass(frozen=True)
class StudyContext:
    name: str
    objective: str  # e.g. "pseudo/miou"; the last report's "score" is its value
    base: dict[str, Any]  # flat config keys common to all trials (profile, data/root, ...)
    cache_root: str  # shared storage on a cluster
    tracking_uri: str  # absolute sqlite URI locally, the head's mlflow server on a cluster
    experiment_id: str
    study_run_id: str  # MLflow run of the study: trial runs are its children
    stage_resources: dict[str, dict[str, float]] = field(default_factory=dict)  # {} = in-process
    stop_at: str = ""  # a per-stage trainable's last stage ("" = the objective's)

    @property
    def until(self) -> str:
        return self.stop_at or OBJECTIVE_STAGE[self.objective]
