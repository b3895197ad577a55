"""A search's best point, and its confirmation beside the paper's point on more seeds."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
import pytest

from search_spaces import SPACES
from study.confirm import best_point, confirm, spent
from study.spec import Home, StudySpec
from wsss.config import LAYERS


def _joint_params(delta: float, layers: tuple[str, ...]) -> dict:
    return {"classifier/drs": "constant", "classifier/drs_delta": delta,
            **{f"choice/drs_{g}": g in layers for g in LAYERS},
            "pseudo_labels/alpha": 0.2, "pseudo_labels/beta": 0.2, "refine/enabled": False}


def test_the_best_point_replays_the_space_on_the_best_trials_parameters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    space = SPACES["drs-joint"]
    probe = optuna.create_study()  # the space's own distributions, from one sampled trial
    trial = probe.ask()
    space(trial)
    dists = dict(trial.distributions)
    dists["classifier/drs_delta"] = optuna.distributions.FloatDistribution(0.3, 0.95, step=0.05)
    study = optuna.create_study(study_name="t", storage=url, direction="maximize")
    study.add_trial(optuna.trial.create_trial(  # pruned: never reached the objective
        params=_joint_params(0.40, LAYERS), distributions={k: dists[k] for k in
                                                            _joint_params(0.4, ())},
        state=optuna.trial.TrialState.PRUNED, intermediate_values={1: 0.99}))
    for delta, layers, value in ((0.55, ("layer5", "layer6"), 0.70), (0.60, (), 0.72),
                                 (0.70, LAYERS, 0.65)):
        params = _joint_params(delta, layers)
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: dists[k] for k in params}, value=value))
    point, value = best_point("t", url, space)
    # no layer chosen: the space turns DRS off, and the point says so
    assert value == 0.72 and point["classifier/drs"] == "none"
    assert point["pseudo_labels/alpha"] == 0.2 and not any(k.startswith("choice/") for k in point)
    study.add_trial(optuna.trial.create_trial(
        params=_joint_params(0.55, ("layer5", "layer6")),
        distributions={k: dists[k] for k in _joint_params(0.55, ())}, value=0.8))
    point, _ = best_point("t", url, space)
    assert point["classifier/drs_layers"] == ("layer5", "layer6")
    assert point["classifier/drs"] == "constant" and point["classifier/drs_delta"] == 0.55


def test_points_are_a_grid_kept_in_the_spec(tmp_path: Path) -> None:
    home = Home(tmp_path)
    spec = StudySpec(name="p", space="drs-joint", points={
        "search": {"classifier/drs_layers": ("layer6",)}, "paper": {"classifier/drs": "learnable"}})
    assert spec.num_samples == 2 and list(spec.grid_points) == ["search", "paper"]
    home.save(spec)
    again = home.load("p")
    assert again.grid_points["search"]["classifier/drs_layers"] == ["layer6"]  # JSON: a list
    assert StudySpec(name="g", grid="drs1").num_samples == 8  # a named grid as before


@pytest.mark.ray
@pytest.mark.slow(seconds=25)
def test_confirm_runs_both_points_per_seed_then_reuses_them(ray_session, tiny_root, tmp_path,
                                                            capsys) -> None:
    home = Home(tmp_path / "home")
    base = {"profile": "tiny", "data/root": str(tiny_root), "data/workers": 0,
            "pseudo_labels/workers": 1}
    template = StudySpec(name="", space="drs-joint", objective="pseudo_labels/miou",
                         until="pseudo_labels", overrides=base, cpus_per_trial=1)
    points = {"search": {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
                         "pseudo_labels/alpha": 0.3},
              "paper": {"classifier/drs": "learnable"}}
    names = confirm("c", points, [0], template, home)
    assert names == ["c-s0"] and home.load("c-s0").status == "complete"
    mlflow.set_tracking_uri(home.tracking_uri)
    trials = mlflow.search_runs(experiment_names=["c-s0"], filter_string="tags.kind = 'trial'")
    assert sorted(trials["params.choice/grid"]) == ["paper", "search"]
    row = trials.set_index("params.choice/grid")
    assert row.loc["search", "params.pseudo_labels/alpha"] == "0.3"
    assert row.loc["paper", "params.classifier/drs"] == "learnable"
    assert set(trials["params.seed"]) == {"0"}
    assert spent(home, "c-s0") > 0
    capsys.readouterr()
    assert confirm("c", points, [0], template, home) == ["c-s0"]
    assert "complete: reused" in capsys.readouterr().out
    with pytest.raises(FileExistsError, match="other points"):
        confirm("c", {**points, "search": {"classifier/drs": "none"}}, [0], template, home)
