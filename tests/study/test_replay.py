"""Search strategies replayed on constructed stage records: costs are sums of recorded stage
seconds, shared keys are paid once, stopped trials pay nothing after their rung."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pytest

from study.replay import PointRecord, StageRecord, load_points, replay


def _point(name: str, classifier: str, cam: float, final: float) -> PointRecord:
    """pretrain (10 s, shared by all) -> classifier (5 s, shared per classifier) -> cams (1 s)
    -> segment (20 s) -> evaluate (2 s)."""
    return PointRecord(name, (
        StageRecord("pretrain", "p", 10.0, 0.5),
        StageRecord("classifier", f"c-{classifier}", 5.0, 0.8),
        StageRecord("cams", f"m-{name}", 1.0, cam),
        StageRecord("segment", f"s-{name}", 20.0, -0.3),
        StageRecord("evaluate", f"e-{name}", 2.0, final)), final)


POINTS = {p.name: p for p in (_point("a", "x", 0.50, 0.60), _point("b", "x", 0.40, 0.55),
                              _point("c", "y", 0.70, 0.70), _point("d", "y", 0.30, 0.50))}


def test_the_grid_pays_every_stage_once_and_shared_ones_once() -> None:
    trace = replay(POINTS, "grid", seed=0, trials=4)
    # pretrain once, two classifiers, and cams + segment + evaluate per point
    assert trace.costs[-1] == pytest.approx(10 + 2 * 5 + 4 * (1 + 20 + 2))
    assert trace.best[-1] == 0.70
    assert list(trace.costs) == sorted(trace.costs)  # cumulative: never decreasing
    first = trace.costs[0]
    assert first == pytest.approx(10 + 5 + 23)


def test_a_repeated_point_is_a_cache_hit_and_costs_nothing() -> None:
    trace = replay(POINTS, "random", seed=3, trials=30)
    assert trace.costs[-1] <= 10 + 2 * 5 + 4 * 23  # 30 trials, at most the whole grid's cost
    assert trace.best[-1] == 0.70


def test_stage_aware_rungs_stop_weak_trials_before_their_costly_stages() -> None:
    full = replay(POINTS, "grid", seed=0, trials=4)
    pruned = replay(POINTS, "grid", seed=0, trials=4, rungs=["cams"])
    assert pruned.costs[-1] < full.costs[-1]
    # every trial stopped at cams saved its segment and evaluate (22 s)
    saved = full.costs[-1] - pruned.costs[-1]
    assert saved > 0 and saved % 22 == 0
    assert pruned.best[-1] <= full.best[-1]


def test_cost_to_reach() -> None:
    trace = replay(POINTS, "grid", seed=0, trials=4)
    target = trace.best[-1]
    at = trace.cost_to_reach(target)
    assert at == trace.costs[trace.best.index(target)]
    assert math.isinf(trace.cost_to_reach(0.99))


def test_replays_are_seeded() -> None:
    for kind in ("random", "tpe"):
        for at_once in (1, 3):
            assert replay(POINTS, kind, seed=1, trials=8, at_once=at_once) == \
                replay(POINTS, kind, seed=1, trials=8, at_once=at_once)


def test_trials_side_by_side_pay_the_same_stages_and_end_sooner() -> None:
    one = replay(POINTS, "grid", seed=0, trials=4)
    two = replay(POINTS, "grid", seed=0, trials=4, at_once=2)
    assert two.costs[-1] == one.costs[-1] == pytest.approx(112)  # shared stages still once
    assert one.walls[-1] == pytest.approx(112)  # one lane: the wall is the stage-seconds
    # two lanes: both wait for the one pre-training (10 s); the order's first two points
    # share a classifier or not, so 10 + 5 + 23 + (5 +) 23 at most on the busier lane
    assert two.walls[-1] < one.walls[-1] and two.walls[-1] <= 10 + 5 + 23 + 5 + 23
    assert sorted(two.walls) == list(two.walls)  # in the order they ended


def test_records_come_from_mlflow_and_the_cache_manifests(tmp_path: Path,
                                                          monkeypatch) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("s", artifact_location=(tmp_path / "art").as_uri())
    mlflow.set_experiment("s")
    (tmp_path / "cache" / "cams" / "k2").mkdir(parents=True)
    (tmp_path / "cache" / "cams" / "k2" / "manifest.json").write_text('{"seconds": 7.5}')
    with mlflow.start_run(tags={"kind": "trial", "ray.trial_id": "t1"}):
        mlflow.log_params({"choice/grid": "a"})
        mlflow.log_metric("evaluate/miou_crf", 0.61)
        for stage, key, metrics in (("segment", "k1", {"segment/final_loss": 0.4,
                                                        "stage_seconds": 3.0}),
                                    ("cams", "k2", {"cams/miou": 0.5, "stage_seconds": 0.0})):
            with mlflow.start_run(nested=True, tags={"kind": "stage", "stage": stage,
                                                     "cache_key": key, "ray.trial_id": "t1"}):
                mlflow.log_metrics(metrics)
    points = load_points("s", tmp_path / "cache", "evaluate/miou_crf", uri)
    (a,) = points.values()
    assert a.name == "a" and a.final == pytest.approx(0.61)
    by_stage = {r.stage: r for r in a.stages}
    assert by_stage["segment"].score == pytest.approx(-0.4)  # a loss, negated
    assert by_stage["segment"].seconds == 3.0  # no manifest (collected): MLflow's seconds
    assert by_stage["cams"].seconds == 7.5  # a hit in this study: the manifest's seconds
    assert [r.stage for r in a.stages] == ["segment", "cams"]  # the order they ran
