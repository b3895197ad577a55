"""Every method is complete: its parts exist and fit the shared pipeline."""

from __future__ import annotations

import importlib

import pytest

from wsss import config
from wsss.methods import METHODS, Method
from wsss.pipeline import STAGES, plan, stage_of_metric


def test_both_papers_are_methods() -> None:
    assert sorted(METHODS) == ["drs", "ssenet"]
    assert all(isinstance(m, Method) and m.name == key for key, m in METHODS.items())


@pytest.mark.parametrize("name", list(METHODS))
def test_a_method_has_every_part(name: str) -> None:
    method = METHODS[name]
    cfg = config.resolve({"method": name, "profile": "tiny"})
    chain, labels = method.weak_labels(cfg)
    steps = [s for s, _ in plan(cfg)]
    assert steps[0] == "pretrain" and steps[-2:] == ["segment", "evaluate"]
    assert all(s in STAGES for s in steps) and labels in steps
    assert stage_of_metric(method.objective).name in steps  # its objective is reachable
    spaces = importlib.import_module(method.space_module).SPACES
    tables = importlib.import_module(method.table_module).TABLES
    assert spaces and tables and method.grids
    assert all(key in tables for key in method.tables)  # `wsss reproduce` builds each
    for points in method.grids.values():  # every grid point is a valid config
        for point in points.values():
            config.resolve({"method": name, "profile": "tiny", **{k: v for k, v in point.items()
                                               if not k.startswith("choice/")}})


def test_an_unknown_method_fails_instead_of_running_drs() -> None:
    with pytest.raises(config.ConfigError, match="method"):
        config.resolve({"method": "seam"})
    from wsss import pipeline

    renamed = config.replace(config.resolve({}), method="seam")  # options alone know no methods
    with pytest.raises(config.ConfigError, match="method: 'seam' is not one of"):
        pipeline.plan(renamed)


def test_a_method_without_a_paper_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="preset"):
        Method(name="x", paper="", overlay={}, presets={"reference": {}}, profiles={},
               weak_labels=lambda cfg: ([], ""), classifier_step=lambda m, d, c: None,
               objective="cams/miou", grids={})


def test_one_name_per_stage_section_and_metric_prefix() -> None:
    """A stage's name is its config section, its cache folder (``StageCache.path``) and the
    prefix of its metrics (every metric each stage returns: tests/wsss/test_stage_reads.py)."""
    sections = {k.split("/")[0] for k in config.flatten(config.resolve({})) if "/" in k}
    for stage in STAGES.values():
        assert stage.name in sections, stage.name
        assert stage.score.startswith(stage.name + "/"), stage.name
        assert stage_of_metric(stage.score) is stage
