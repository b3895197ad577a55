"""Stage-aware successive halving and the stage-second budget, without a Ray cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray.tune.schedulers import TrialScheduler

from study.runner import rung_scheduler
from study.scheduler import StageBudget, StageRungScheduler
from study.spec import StudySpec
from trainables.context import COST
from trainables.pipeline import rung_score
from wsss.cache import CacheEntry
from wsss.config import ConfigError
from wsss.pipeline import STAGES

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def _entry(stage: str, value: float) -> CacheEntry:
    return CacheEntry(stage, "k", Path("."), {STAGES[stage].score: value}, hit=False, seconds=1.0)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_rung_score_is_oriented_to_be_maximised(stage: str) -> None:
    """A loss is negated, a quality kept: the better of two results always scores higher."""
    score = STAGES[stage].score
    is_loss = "loss" in score
    assert STAGES[stage].maximize is not is_loss, f"{stage}: {score} maximize flag"
    good, bad = (0.2, 0.9) if is_loss else (0.9, 0.2)
    assert rung_score(_entry(stage, good)) > rung_score(_entry(stage, bad))


def test_a_rung_at_segment_stops_the_higher_loss() -> None:
    sched = StageRungScheduler(["segment"], reduction_factor=2)
    assert sched.decide("low", "segment", rung_score(_entry("segment", 0.2))) == CONTINUE
    assert sched.decide("high", "segment", rung_score(_entry("segment", 0.9))) == STOP


def test_successive_halving_keeps_the_top_half_at_a_rung() -> None:
    sched = StageRungScheduler(["cams"], reduction_factor=2)
    assert sched.decide("a", "cams", 0.5) == CONTINUE  # alone: nothing to rank against
    assert sched.decide("b", "cams", 0.3) == STOP  # below the median of {0.5, 0.3}
    assert sched.decide("c", "cams", 0.6) == CONTINUE
    assert sched.decide("d", "cams", 0.45) == STOP  # median of {.5, .3, .6, .45} is .475
    assert sched.decide("e", "classifier", 0.0) == CONTINUE  # not a rung
    assert sched.decide("f", "cams", float("nan")) == CONTINUE  # no score, no verdict
    assert sched.decide("b", "cams", 0.9) == STOP  # a retried trial keeps its first score
    # Tune's call: the stage by name, so DRS† trials (one stage more) meet the same rung
    trial = type("T", (), {"trial_id": "g"})()
    assert sched.on_trial_result(None, trial, {"stage_name": "cams", "stage": 4,
                                               "score": 0.1}) == STOP


def test_rungs_come_from_the_method_or_the_spec_and_must_be_stages() -> None:
    base = {"method": "drs", "profile": "tiny"}
    spec = StudySpec(name="s", space="drs", overrides=base, asha=True)
    sched = rung_scheduler(spec, final_stage=6)
    assert sched.rungs == ("cams", "pseudo_labels")  # DRS: pretrain classifier cams ...
    assert rung_scheduler(StudySpec(name="s", overrides=base), 6) is None  # no --asha
    only = StudySpec(name="s", overrides=base, asha=True, rungs=["classifier"])
    assert rung_scheduler(only, 6).rungs == ("classifier",)
    # a rung at or after the trial's last stage judges nothing
    assert rung_scheduler(spec, final_stage=4).rungs == ("cams",)
    with pytest.raises(ConfigError, match="'rw'"):
        rung_scheduler(StudySpec(name="s", overrides=base, asha=True, rungs=["rw"]), 6)


def test_the_budget_counts_each_trials_latest_cumulative_cost() -> None:
    budget = StageBudget(10.0)
    budget.record("a", {COST: 4.0})
    budget.record("a", {COST: 6.0})  # cumulative: replaces, not adds
    budget.record("b", {"score": 1.0})  # a report without cost changes nothing
    assert budget.spent == 6.0 and not budget.exhausted
    budget.record("b", {COST: 4.0})
    assert budget.exhausted
    assert not StageBudget(0.0).exhausted  # no budget: never exhausted


def test_every_method_s_rungs_are_stages_before_its_final_one() -> None:
    from wsss import config
    from wsss.methods import METHODS
    from wsss.pipeline import plan

    for name, method in METHODS.items():
        names = [n for n, _ in plan(config.resolve({"method": name, "profile": "tiny"}))]
        assert method.rungs and all(names.index(r) < len(names) - 1 for r in method.rungs)
