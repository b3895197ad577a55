"""What every trial of a study shares, passed to trainables through ``tune.with_parameters``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wsss.pipeline import stage_of_metric

# in every trial report: the stage-seconds computed for the trial so far (a cache hit adds 0),
# what a study's budget and the search-cost benchmark count
COST = "cost_seconds"


@dataclass(frozen=True)
class StudyContext:
    name: str
    objective: str  # e.g. "pseudo/miou"; the last report's "score" is its value
    base: dict[str, Any]  # flat config keys common to all trials (profile, data/root, ...)
    cache_root: str  # shared storage on a cluster
    tracking_uri: str  # absolute sqlite URI locally, the head's mlflow server on a cluster
    experiment_id: str
    study_run_id: str  # MLflow run of the study: trial runs name it in a tag
    stage_resources: dict[str, dict[str, float]] = field(default_factory=dict)  # {} = in-process
    stop_at: str = ""  # the last stage a trial runs ("" = the objective's)

    @property
    def until(self) -> str:
        return self.stop_at or stage_of_metric(self.objective).name
