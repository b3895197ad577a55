"""What a dead driver or a trial Tune gave up on leaves in Optuna is settled from Tune's
records: never recorded -> closed before a resume, its grid point queued again; ended in Tune
but never told (or told FAIL and re-run) -> its result recorded after ``fit``."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from study.runner import _requeue_orphans
from study.spec import Home, StudySpec

POINTS = {f"p{i}": {"classifier/delta": 0.1 * (i + 1)} for i in range(5)}


def test_before_a_resume_trials_tune_never_recorded_are_closed_and_requeued(
        tmp_path: Path) -> None:
    home = Home(tmp_path)
    spec = StudySpec(name="s", points=POINTS, objective="pseudo_labels/miou")
    study = optuna.create_study(study_name="s", storage=home.optuna_url, direction="maximize")
    asked = {}
    for name, tune_id in [("p0", "never"), ("p1", "done"), ("p2", "running")]:
        study.enqueue_trial({"choice/grid": name})
        trial = study.ask()
        trial.suggest_categorical("choice/grid", list(POINTS))
        trial.set_user_attr("ray_trial_id", tune_id)
        asked[name] = trial.number

    assert _requeue_orphans(home, spec, {"done", "running"}) == 1

    trials = {t.number: t for t in optuna.load_study(study_name="s",
                                                     storage=home.optuna_url).trials}
    assert trials[asked["p0"]].state == TrialState.FAIL
    assert trials[asked["p0"]].system_attrs["wsss:orphan"]
    # Tune knows these two: left for the restored run (and _record_finished after it)
    assert trials[asked["p1"]].state == trials[asked["p2"]].state == TrialState.RUNNING
    # the closed point is queued again: a new WAITING trial for p0
    waiting = [t for t in trials.values() if t.state == TrialState.WAITING]
    assert [t.system_attrs["fixed_params"]["choice/grid"] for t in waiting] == ["p0"]


def test_after_fit_each_finished_tune_trial_has_its_result_in_optuna(tmp_path: Path) -> None:
    """A trial Tune gave up on was told FAIL; resumed (``resume_errored``) it finishes, and
    its result is added as a new trial with its parameters (Optuna cannot reopen one)."""
    from study.runner import _record_finished

    home = Home(tmp_path)
    spec = StudySpec(name="s", points=POINTS, objective="pseudo_labels/miou")
    study = optuna.create_study(study_name="s", storage=home.optuna_url, direction="maximize")
    for name, tune_id, state in [("p0", "failed", TrialState.FAIL),
                                 ("p1", "told", TrialState.COMPLETE),
                                 ("p2", "open", None), ("p3", "halted", TrialState.FAIL)]:
        study.enqueue_trial({"choice/grid": name})
        trial = study.ask()
        trial.suggest_categorical("choice/grid", list(POINTS))
        trial.set_user_attr("ray_trial_id", tune_id)
        if state == TrialState.COMPLETE:
            study.tell(trial, 0.5)
        elif state is not None:
            study.tell(trial, state=state)
    finals = [{"trial_id": "failed", "score": 0.7, "stage": 4},
              {"trial_id": "told", "score": 0.9, "stage": 4},  # already told: left as is
              {"trial_id": "open", "score": 0.6, "stage": 4},
              {"trial_id": "halted", "score": 0.2, "stage": 2}]

    assert _record_finished(home, spec, finals, final_stage=4) == 3

    trials = optuna.load_study(study_name="s", storage=home.optuna_url).trials
    done = {(t.params["choice/grid"], t.state, t.value) for t in trials
            if t.state != TrialState.FAIL}
    assert done == {("p0", TrialState.COMPLETE, 0.7), ("p1", TrialState.COMPLETE, 0.5),
                    ("p2", TrialState.COMPLETE, 0.6), ("p3", TrialState.PRUNED, None)}
    added = [t for t in trials if "wsss:resumed_after_error" in t.system_attrs]
    assert sorted(t.user_attrs["ray_trial_id"] for t in added) == ["failed", "halted"]
    assert [t.intermediate_values for t in added if t.state == TrialState.PRUNED] == [{2: 0.2}]
    # a second call adds nothing
    assert _record_finished(home, spec, finals, final_stage=4) == 0
