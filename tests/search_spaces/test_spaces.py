"""Every space and grid point resolves to a valid config of its pipeline."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import GRIDS, SPACES, method_of
from wsss import config


def _resolve(method: str, point: dict) -> config.PipelineConfig:
    keys = {k: v for k, v in point.items() if not k.startswith("choice/")}
    return config.resolve({"method": method, "profile": "quick", **keys})


@pytest.mark.parametrize("name", sorted(SPACES))
def test_each_space_samples_valid_configs(name: str) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        constants = SPACES[name](trial)
        _resolve(method_of(name).name, {**trial.params, **constants})
        study.tell(trial, 0.0)


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_each_grid_point_is_a_valid_config(name: str) -> None:
    for point in GRIDS[name].values():
        _resolve(method_of(name).name, point)
    assert method_of(name).objective in ("pseudo_labels/miou", "random_walk/miou")


def test_an_unknown_space_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="spaces: drs, drs-controller"):
        method_of("data/root=X")


def test_ssenet_table_grids_cover_the_papers_rows() -> None:
    rates = [p["classifier/ser_rate"] for p in GRIDS["sse1"].values()]
    assert rates == [None, 0.6, 0.5, 0.4, 0.3, 0.2]
    synthetic = _resolve("ssenet", GRIDS["sse2-synthetic"]["baseline [224, 768]"])
    assert synthetic.classifier.scale_range == (32, 110)
    ser_on = _resolve("ssenet", {"classifier/ser_rate": 0.4})
    assert ser_on.classifier.ser_rate == 0.4


def test_a_searched_step_value_is_the_grids_value() -> None:
    """Optuna's stepped float hands 0.2 + 1 x 0.1 = 0.30000000000000004 over; a trial reads
    it as the 0.3 of SSENet's grid, so both share one cache key (and one row in the tables)."""
    from trainables.context import StudyContext
    from trainables.pipeline import decode

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = set()
    for _ in range(40):
        trial = study.ask()
        values.add(trial.suggest_float("classifier/ser_rate", 0.2, 0.6, step=0.1))
        study.tell(trial, 0.0)
    searched = next(v for v in values if abs(v - 0.3) < 1e-9)
    assert searched != 0.3  # what makes the test worth having
    ctx = StudyContext(name="s", objective="random_walk/miou", cache_root="", tracking_uri="",
                       base={"method": "ssenet", "profile": "quick"}, experiment_id="",
                       study_run_id="")
    cfg = decode({"classifier": {"ser_rate": searched}}, ctx)
    assert cfg.classifier.ser_rate == 0.3
    assert decode({"classifier": {"ser_rate": 0.3}}, ctx) == cfg
