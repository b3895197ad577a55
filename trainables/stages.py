"""Per-stage trainables: run the pipeline up to one stage (upstream comes from the cache)
and report it; e.g. tune alpha/beta over fixed CAMs with ``stage_trainable("pseudo_labels")``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from trainables.context import StudyContext
from trainables.pipeline import pipeline_trainable
from wsss.pipeline import STAGES


def stage_trainable(stage: str) -> Callable[[dict[str, Any], StudyContext], None]:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; allowed {sorted(STAGES)}")

    def trainable(trial_config: dict[str, Any], study: StudyContext) -> None:
        pipeline_trainable(trial_config, dataclasses.replace(study, stop_at=stage))

    trainable.__name__ = f"{stage}_trainable"
    return trainable
