"""`wsss study plan` on constructed throughput tables, with the answers worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.cli import main
from study.costs import CPU, Rate, load_table, plan_study, units
from study.spec import Capacity, StudySpec
from wsss import config

# tiny: train_aug 48 images (its first 16 are `train`), 1 pre-training and 1 classifier
# epoch, one CAM scale: pretrain, classifier, cams and pseudo_labels each do 48 units
POINTS = {"a": {"pseudo_labels/alpha": 0.2},
          "b": {"pseudo_labels/alpha": 0.3}}  # share everything upstream


def _spec(**kw) -> StudySpec:
    return StudySpec(name="p", points=POINTS, sampler="grid", until="pseudo_labels",
                     overrides={"profile": "tiny", "data/root": "/nonexistent"}, **kw)


def _table(device: str = CPU) -> dict:
    rows = [Rate("pretrain", "narrow", device, 4.8, "t"),  # 48 units: 10 s
            Rate("classifier", "narrow", device, 2.4, "t"),  # 20 s
            Rate("cams", "narrow scales 1", device, 9.6, "t"),  # 5 s
            Rate("pseudo_labels", "-/64px", CPU, 48.0, "t")]  # 1 s on one CPU
    return {(r.stage, r.network, r.device): r for r in rows}


def test_units_count_the_work_a_stage_does() -> None:
    cfg = config.resolve({"profile": "quick", "cams/flip": True})
    n = {"train_aug": 3000, "train": 500, "val": 500, "test": 500}
    assert units("pretrain", cfg, n) == {"": 8 * 3000}
    assert units("cams", cfg, n) == {"": 3000 * 3 * 2}  # three scales, flipped
    assert units("segment", cfg, n) == {"": 94 * 64}
    assert units("evaluate", cfg, n) == {"": 1000, "crf": 1000}  # val + the held-out test
    voc = config.resolve({"profile": "voc"})
    assert units("pretrain", voc, n) == {"": 0}  # ImageNet weights: nothing trained


def test_two_trials_share_the_upstream_stages_and_wait_for_them() -> None:
    plan = plan_study(_spec(), Capacity(cpus=2), CPU, _table(), overhead=(0.0, 0.0))
    # trial a: pretrain 0-10, classifier 10-30, cams 30-35, its labels 35-36; trial b (the other
    # CPU) waits for each shared stage, then computes its own labels 35-36
    assert plan.at_once == 2 and plan.trials == 2
    assert plan.wall == pytest.approx(36.0)
    assert plan.stage_seconds == pytest.approx({"pretrain": 10, "classifier": 20, "cams": 5,
                                                "pseudo_labels": 2})
    assert plan.runs == {"pretrain": 1, "classifier": 1, "cams": 1, "pseudo_labels": 2}
    assert plan.gpu_hours == 0
    # start-up 2 s per trial and 1 s per computed stage: 2 + 11 + 21 + 6 + 2 = 42
    assert plan_study(_spec(), Capacity(cpus=2), CPU, _table(),
                      overhead=(2.0, 1.0)).wall == pytest.approx(42.0)
    # one trial at a time with both CPUs: networks sqrt(2) x faster, the label pool 2 x:
    # 35 / sqrt(2) for the shared stages, then 0.5 s of labels for each trial
    one = plan_study(_spec(concurrency=1), Capacity(cpus=2), CPU, _table(), (0.0, 0.0))
    assert one.wall == pytest.approx(35.0 / 2 ** 0.5 + 1.0)


def test_on_gpus_network_stages_hold_the_gpu_and_labels_use_the_stage_cpus() -> None:
    cap = Capacity(cpus=8, gpus=2, node_cpus=4, node_gpus=1)  # 2 x (4 CPUs, 1 GPU)
    plan = plan_study(_spec(), cap, "T4", _table("T4"), overhead=(0.0, 0.0))
    # network stages as on the CPU table (10 + 20 + 5 s, once); labels on 3 CPUs: 1/3 s each
    assert plan.wall == pytest.approx(35.0 + 1.0 / 3)
    assert plan.gpu_hours == pytest.approx(35.0 / 3600)  # one GPU per stage, shared ones once
    with pytest.raises(KeyError, match="no rate for pretrain .narrow. on V100"):
        plan_study(_spec(), cap, "V100", _table("T4"), overhead=(0.0, 0.0))


def test_a_search_is_planned_on_sampled_points() -> None:
    spec = StudySpec(name="s", space="drs-controller", samples=3, until="pseudo_labels",
                     overrides={"profile": "tiny", "data/root": "/nonexistent"})
    table = {**_table(), ("classifier", "narrow", CPU): Rate("classifier", "narrow", CPU, 2.4, "t")}
    plan = plan_study(spec, Capacity(cpus=2), CPU, table, overhead=(0.0, 0.0))
    assert plan.trials == 3 and plan.at_once == 1  # a search: one trial at a time
    assert plan.runs["pretrain"] == 1 and 1 <= plan.runs["classifier"] <= 3


def test_the_plan_command_prints_a_plan_and_runs_nothing(tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    monkeypatch.setenv("WSSS_HOME", str(tmp_path))
    table = tmp_path / "throughput.json"
    table.write_text(json.dumps({"rows": [r.__dict__ for r in _table("A10G").values()]}))
    monkeypatch.setattr("study.costs.TABLE", table)
    assert main(["study", "plan", "--profile", "tiny", "--until", "pseudo_labels", "--gpus",
                 "2", "--gpu-type", "A10G", "data/root=/nonexistent"]) == 0
    out = capsys.readouterr().out
    assert "on 2 x A10G" in out and "GPU-hours" in out and "classifier" in out
    assert not (tmp_path / "studies").exists()  # nothing was launched or saved
    assert main(["study", "plan", "--gpu-type", "A10G"]) == 2  # needs --gpus: one line


def test_the_repository_table_has_a_row_for_every_stage_of_both_methods() -> None:
    """The rows `wsss study plan` needs for the README's quick study and for VOC on the
    GPU types docs/cluster.md plans with."""
    table = load_table()
    for method in ("drs", "ssenet"):
        for profile, device in (("quick", CPU), ("voc", "A10G")):
            overrides = {"method": method, "profile": profile, "data/root": "/nonexistent",
                         **({"pretrain/weights_file": "psa.params"} if method == "ssenet"
                            else {})}
            spec = StudySpec(name="t", grid="drs1" if method == "drs" else "sse1",
                             until="evaluate", overrides=overrides)
            cap = Capacity(cpus=8, gpus=8, node_cpus=4, node_gpus=1) if device != CPU \
                else Capacity(cpus=2)
            plan = plan_study(spec, cap, device, table)
            assert plan.wall > 0 and plan.stage_seconds["evaluate"] > 0, (method, profile)
