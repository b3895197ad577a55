"""Paper tables from real MLflow runs in a temp sqlite store (no mocks)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import mlflow
import pytest

from analysis import render, report
from analysis.drs import drs_table1, drs_table2, drs_table3, thresholds_table
from analysis.runs import StudyNotFound, load_trials
from study.cli import main

ALL = ("layer1", "layer2", "layer3", "layer4", "layer5", "layer6")


def _trial(parent: str, params: dict, metrics: dict, status: str = "FINISHED") -> None:
    with mlflow.start_run(parent_run_id=parent, tags={"kind": "trial"}) as run:
        params = {"method": "drs", **params}
        mlflow.log_params({k: str(v) for k, v in params.items()})  # as trainables log them
        mlflow.log_metrics(metrics)
    if status != "FINISHED":
        mlflow.MlflowClient().set_terminated(run.info.run_id, status=status)


def _experiment(home: Path, name: str) -> None:
    """As a study creates it: artifacts under the project folder, never ./mlruns."""
    mlflow.create_experiment(name, artifact_location=(home / "mlartifacts" / name).as_uri())
    mlflow.set_experiment(name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """One MLflow store with a small study for every test of the module (built once)."""
    tmp_path = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as mp:
        yield _fill_store(tmp_path, mp)


def _study_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[str, str]:
    """A sqlite store under ``tmp_path`` holding study ``name``: (its URI, the study run)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("WSSS_HOME", str(tmp_path / "home"))
    mlflow.set_tracking_uri(uri)
    _experiment(tmp_path / "home", name)
    with mlflow.start_run(tags={"kind": "study"}) as study:
        mlflow.log_params({"study/objective": "pseudo_labels/miou"})
    return uri, study.info.run_id


def _fill_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri, sid = _study_store(tmp_path, monkeypatch, "s")
    for seed, v in ((0, 0.70), (1, 0.74)):
        _trial(sid, {"classifier/drs": "learnable", "classifier/drs_layers": ALL, "seed": seed,
                     "pseudo_labels/alpha": 0.2, "pseudo_labels/beta": 0.2},
               {"pseudo_labels/miou": v})
    _trial(sid, {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
                 "classifier/drs_layers": ALL, "seed": 0, "pseudo_labels/alpha": 0.3,
                 "pseudo_labels/beta": 0.2}, {"pseudo_labels/miou": 0.77, "evaluate/miou": 0.71})
    _trial(sid, {"classifier/drs": "constant", "classifier/drs_delta": 0.35,
                 "classifier/drs_layers": ALL, "seed": 0}, {"pseudo_labels/miou": 0.60})
    _trial(sid, {"classifier/drs": "none", "classifier/drs_layers": ALL, "seed": 0},
           {"pseudo_labels/miou": 0.59})
    _trial(sid, {"classifier/drs": "learnable", "classifier/drs_layers": ALL[3:], "seed": 0},
           {"pseudo_labels/miou": 0.75})
    _trial(sid, {"classifier/drs": "constant", "classifier/drs_delta": 0.9,
                 "classifier/drs_layers": ALL}, {"pseudo_labels/miou": 0.99}, status="KILLED")
    return uri


def test_params_come_back_typed_and_killed_runs_are_left_out(store: str) -> None:
    df = load_trials("s")
    assert len(df) == 6  # the KILLED orphan is not a trial result
    deltas = df["classifier/drs_delta"].dropna()
    assert all(isinstance(d, float) for d in deltas) and 0.55 in set(deltas)
    assert all(isinstance(v, tuple) for v in df["classifier/drs_layers"])
    assert set(df["seed"].dropna()) == {0, 1} and isinstance(df["seed"].iloc[0], int)


def test_drs_table1_layout_seeds_and_missing_cells(store: str) -> None:
    t = drs_table1(load_trials("s"), "pseudo_labels/miou")
    labels = [row[0][0] for row in t.rows]
    assert labels[:8] == ["learnable", "δ = 0.90", "δ = 0.80", "δ = 0.70", "δ = 0.60",
                          "δ = 0.55", "δ = 0.50", "δ = 0.40"]
    assert labels[8:] == ["δ = 0.35"]  # searched outside the paper's grid: appended
    # the final metric one trial reached gets its own column, before the paper's
    assert t.columns == ["ours (pseudo_labels/miou)", "ours: final mIoU (evaluate/miou)", "paper"]
    assert t.paper_column == 2
    learnable = t.rows[0][1][0]
    assert learnable.n == 2 and learnable.mean == pytest.approx(0.72)
    assert learnable.text(100) == "72.0 ± 2.8 (n=2)"  # sample std of 70 and 74
    assert t.rows[5][1][0].text(100) == "77.0" and t.rows[5][1][2] == 62.8
    assert t.rows[5][1][1].text(100) == "71.0" and t.rows[0][1][1].n == 0
    assert t.rows[1][1][0].n == 0 and t.rows[1][1][2] == 51.9  # 0.90: only a KILLED run
    md = render.markdown(t)
    assert "| δ = 0.90 | – | – | 51.9 |" in md  # missing stays missing
    assert "pseudo_labels/miou" in md
    seg = drs_table1(load_trials("s"), "evaluate/miou")
    assert seg.columns == ["ours (evaluate/miou)", "paper"]  # no column twice
    assert seg.rows[5][1][0].text(100) == "71.0" and seg.rows[0][1][0].n == 0


def test_drs_table2_marks_and_thresholds_grid(store: str) -> None:
    df = load_trials("s")
    t2 = drs_table2(df, "pseudo_labels/miou")
    rows = {tuple(labels): cells for labels, cells in t2.rows}
    assert rows[("-",) * 6][0].text(100) == "59.0" and rows[("-",) * 6][2] == 50.1
    assert rows[("-", "-", "-", "✓", "✓", "✓")][0].text(100) == "75.0"
    assert rows[("✓",) * 6][0].n == 2  # learnable in 1-6
    th = thresholds_table(df, "pseudo_labels/miou")
    assert th.columns == ["0.20"] and [r[0][0] for r in th.rows] == ["0.20", "0.30"]
    assert th.rows[1][1][0].text(100) == "77.0"


def test_formats_and_report_logged_on_the_study_run(store: str, tmp_path: Path) -> None:
    tables = report.build("s", ["drs1", "drs2", "thresholds"])
    tex = render.latex(tables[0])
    assert "\\toprule" in tex and "\\bottomrule" in tex and "$\\delta$ = 0.55" in tex
    rows = list(csv.reader(io.StringIO(render.csv_text(tables[0]))))
    assert rows[0][:4] == ["controller", "ours (pseudo_labels/miou) mean",
                           "ours (pseudo_labels/miou) std",
                           "ours (pseudo_labels/miou) n"]
    assert rows[0][-1] == "paper"
    assert rows[1][:4] == ["learnable", "0.720000", "0.028284", "2"]
    out = report.write("s", tables, tmp_path / "tables")
    assert {p.name for p in out.parent.iterdir()} >= {"report.md", "drs1.png", "drs1.tex",
                                                      "drs2.png", "thresholds.png"}
    study = mlflow.search_runs(experiment_names=["s"], filter_string="tags.kind = 'study'")
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(study.run_id[0], "tables")}
    assert "tables/report.md" in names and "tables/drs1.png" in names


def test_a_method_s_tables_see_only_its_trials(store: str) -> None:
    """Six DRS trials have no SER rate: none of them is an SSENet baseline."""
    sse1, drs1 = report.build("s", ["sse1", "drs1"])
    assert sse1.filled == 0 and drs1.filled > 0
    assert [t.key for t in report.build("s") if t.filled] == ["drs1", "drs2", "drs3",
                                                             "thresholds"]


def test_cells_average_only_trials_that_differ_by_seed(store: str) -> None:
    """A study holding DRS controllers at two α values and an SSENet rate: a cell takes
    trials of one setting (seeds, speed-only keys and the searcher's choice aside)."""
    mlflow.set_experiment("mixed")
    with mlflow.start_run(tags={"kind": "study"}) as study:
        mlflow.log_params({"study/objective": "pseudo_labels/miou"})
    sid = study.info.run_id
    for seed, workers, v in ((0, 1, 0.70), (1, 2, 0.74)):  # one setting, two seeds
        _trial(sid, {"classifier/drs": "learnable", "classifier/drs_layers": ALL, "seed": seed,
                     "pseudo_labels/alpha": 0.2, "pseudo_labels/beta": 0.2, "data/workers": workers,
                     "choice/grid": f"s{seed}"}, {"pseudo_labels/miou": v})
    for alpha, v in ((0.2, 0.77), (0.3, 0.79)):  # one controller, two settings
        _trial(sid, {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
                     "classifier/drs_layers": ALL, "seed": 0, "pseudo_labels/alpha": alpha,
                     "pseudo_labels/beta": 0.2}, {"pseudo_labels/miou": v, "cams/miou": 0.5})
    _trial(sid, {"method": "ssenet", "classifier/ser_rate": 0.3, "seed": 0},
           {"cams/miou": 0.48, "random_walk/miou": 0.6})
    drs1, th, sse1 = report.build("mixed", ["drs1", "thresholds", "sse1"])
    rows = {labels[0]: cells for labels, cells in drs1.rows}
    assert rows["learnable"][0].text(100) == "72.0 ± 2.8 (n=2)"
    # the paper fixes α and β: where several meet in a row, the preset's (0.2, 0.2) is shown
    assert rows["δ = 0.55"][0].text(100) == "77.0"
    cells = {labels[0]: c for labels, c in th.rows}  # α 0.2: learnable and δ 0.55 meet
    assert cells["0.20"][0].settings == 2 and cells["0.30"][0].text(100) == "79.0"
    mlflow.set_experiment("mixed")
    with mlflow.start_run(tags={"kind": "study"}) as other:
        mlflow.log_params({"study/objective": "pseudo_labels/miou"})
    for alpha, v in ((0.3, 0.79), (0.4, 0.81)):  # none at the preset's α: nothing chosen
        _trial(other.info.run_id, {"classifier/drs": "constant", "classifier/drs_delta": 0.6,
                                   "classifier/drs_layers": ALL, "seed": 0,
                                   "pseudo_labels/alpha": alpha, "pseudo_labels/beta": 0.2},
               {"pseudo_labels/miou": v})
    rows = {labels[0]: cells for labels, cells in report.build("mixed", ["drs1"])[0].rows}
    assert rows["δ = 0.60"][0].text(100) == "– (2 settings)"
    assert rows["δ = 0.55"][0].text(100) == "77.0"
    models = {labels[0]: c for labels, c in sse1.rows}
    assert models["Baseline"][0].n == 0  # no DRS trial is an SSENet baseline
    assert models["SSENet (0.3)"][0].text(100) == "48.0"


def test_refinement_trials_fill_table3_and_stay_out_of_tables_1_and_2(store: str) -> None:
    """DRS Tables 1-2 are without refinement (the paper's), Table 3 sets it against none."""
    mlflow.set_experiment("refine")
    with mlflow.start_run(tags={"kind": "study"}) as study:
        mlflow.log_params({"study/objective": "pseudo_labels/miou"})
    sid = study.info.run_id
    for drs, delta, on, v in (("learnable", None, False, 0.70), ("learnable", None, True, 0.73),
                              ("constant", 0.55, False, 0.71), ("constant", 0.55, True, 0.75),
                              ("constant", 0.7, True, 0.66)):
        params = {"classifier/drs": drs, "classifier/drs_layers": ALL, "seed": 0,
                  "refine/enabled": on}
        _trial(sid, {**params, **({"classifier/drs_delta": delta} if delta else {})},
               {"pseudo_labels/miou": v, "evaluate/miou_crf": v - 0.05})
    df = load_trials("refine")
    t1 = {labels[0]: cells for labels, cells in drs_table1(df, "pseudo_labels/miou").rows}
    assert t1["learnable"][0].text(100) == "70.0" and t1["δ = 0.55"][0].text(100) == "71.0"
    assert t1["δ = 0.70"][0].n == 0  # its only trial is refined
    t3 = drs_table3(df, "pseudo_labels/miou")
    assert t3.columns == ["ours (pseudo_labels/miou)",
                          "ours: final mIoU + CRF (evaluate/miou_crf)", "paper"]
    rows = {tuple(labels): cells for labels, cells in t3.rows}
    assert list(rows) == [("learnable", "without"), ("learnable", "with"),
                          ("δ = 0.55", "without"), ("δ = 0.55", "with")]
    assert [rows[k][0].text(100) for k in rows] == ["70.0", "73.0", "71.0", "75.0"]
    assert rows[("δ = 0.55", "with")][1].text(100) == "70.0"
    assert [rows[k][2] for k in rows] == [62.9, 63.5, 62.8, 63.6]


def test_final_columns_report_the_held_out_split(store: str) -> None:
    """With a reporting split scored, the final columns are its numbers (never the selection
    split's), and the caption names both splits."""
    mlflow.set_experiment("held")
    with mlflow.start_run(tags={"kind": "study"}) as study:
        mlflow.log_params({"study/objective": "pseudo_labels/miou"})
    for seed, v in ((0, 0.70), (1, 0.72)):
        _trial(study.info.run_id,
               {"classifier/drs": "learnable", "classifier/drs_layers": ALL, "seed": seed,
                "data/select_split": "val", "data/report_split": "test"},
               {"pseudo_labels/miou": v, "evaluate/miou": 0.9, "evaluate/miou_crf": 0.9,
                "evaluate/report/miou": v - 0.1, "evaluate/report/miou_crf": v - 0.05})
    t = drs_table1(load_trials("held"), "pseudo_labels/miou")
    assert t.columns == ["ours (pseudo_labels/miou)", "ours: final mIoU (evaluate/report/miou)",
                         "ours: final mIoU + CRF (evaluate/report/miou_crf)", "paper"]
    assert "on test (held out); selection reads val" in t.caption
    row = dict((labels[0], cells) for labels, cells in t.rows)["learnable"]
    assert [c.text(100) for c in row[1:3]] == ["61.0 ± 1.4 (n=2)", "66.0 ± 1.4 (n=2)"]


def test_cli_prints_tables_and_refuses_unknown_or_empty(store: str, capsys) -> None:
    assert main(["tables", "s", "--table", "drs1"]) == 0
    assert "| learnable | 72.0 ± 2.8 (n=2) | – | 62.9 |" in capsys.readouterr().out
    assert main(["tables", "nope"]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    assert main(["tables", "s", "--table", "nope"]) == 2
    assert "unknown table 'nope'" in capsys.readouterr().err
    mlflow.set_experiment("empty")
    assert main(["tables", "empty"]) == 2
    assert "no finished trials" in capsys.readouterr().err
    with pytest.raises(StudyNotFound):
        load_trials("empty")


def test_ssenet_tables_from_an_sse1_and_an_sse2_synthetic_study(tmp_path: Path,
                                                                 monkeypatch) -> None:
    from analysis.ssenet import sse_table1, sse_table2

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    _experiment(tmp_path, "sse")
    with mlflow.start_run(tags={"kind": "study"}) as study:
        mlflow.log_params({"study/objective": "random_walk/miou"})
    sid = study.info.run_id
    for rate, cam, rw in ((None, 0.59, 0.655), (0.3, 0.61, 0.67), (0.5, 0.60, 0.66)):
        _trial(sid, {"method": "ssenet", "classifier/ser_rate": rate,
                     "classifier/scale_range": (64, 110), "choice/scale_range": "[448, 768]"},
               {"cams/miou": cam, "random_walk/miou": rw})
    _trial(sid, {"method": "ssenet", "classifier/ser_rate": None,
                 "classifier/scale_range": (32, 110), "choice/scale_range": "[224, 768]"},
           {"cams/miou": 0.57, "random_walk/miou": 0.64})
    df = load_trials("sse")
    t1 = {r[0][0]: r[1] for r in sse_table1(df, "random_walk/miou").rows}
    assert t1["SSENet (0.3)"][0].text(100) == "61.0" and t1["SSENet (0.3)"][1].text(100) == "67.0"
    assert t1["SSENet (0.3)"][2:] == [49.8, 62.1]
    # Table 1 is at the paper's range: the Table 2 baseline at [224, 768] is not its row
    assert t1["Baseline"][0].text(100) == "59.0" and t1["Baseline"][1].text(100) == "65.5"
    assert t1["SSENet (0.4)"][0].n == 0  # not run: stays missing
    t2 = {tuple(r[0]): r[1] for r in sse_table2(df, "cams/miou").rows}
    assert t2[("baseline", "[448, 768]")][0].text(100) == "59.0"
    assert t2[("baseline", "[224, 768]")][0].text(100) == "57.0"
    assert t2[("SSENet (0.5)", "[448, 768]")][0].text(100) == "60.0"
    # once trials reach the final metric, Table 1 adds it (held-out split) before the paper's
    for rate, v in ((None, 0.70), (0.3, 0.72)):
        _trial(sid, {"method": "ssenet", "classifier/ser_rate": rate, "seed": 1,
                     "classifier/scale_range": (64, 110), "choice/scale_range": "[448, 768]",
                     "data/select_split": "val", "data/report_split": "test"},
               {"cams/miou": 0.6, "random_walk/miou": 0.66, "evaluate/report/miou_crf": v,
                "evaluate/miou_crf": 0.9})
    t = sse_table1(load_trials("sse"), "random_walk/miou")
    assert t.columns == ["ours CAM", "ours CAM+rw",
                         "ours: final mIoU + CRF (evaluate/report/miou_crf)", "paper CAM",
                         "paper CAM+rw"] and t.paper_column == 3
    assert "on test (held out); selection reads val" in t.caption
    rows = {r[0][0]: r[1] for r in t.rows}
    assert rows["SSENet (0.3)"][2].text(100) == "72.0"
    assert rows["SSENet (0.3)"][3:] == [49.8, 62.1] and rows["SSENet (0.5)"][2].n == 0
    # a study that also varies the random walk (sse-proxy): Table 1 shows the reference's β 8
    for beta, v in ((8.0, 0.68), (16.0, 0.75)):
        _trial(sid, {"method": "ssenet", "profile": "quick", "classifier/ser_rate": 0.4,
                     "random_walk/beta": beta}, {"cams/miou": 0.6, "random_walk/miou": v})
    _trial(sid, {"method": "ssenet", "profile": "quick", "classifier/ser_rate": 0.2,
                 "random_walk/beta": 4.0}, {"cams/miou": 0.6, "random_walk/miou": 0.61})
    rows = {r[0][0]: r[1] for r in sse_table1(load_trials("sse"), "random_walk/miou").rows}
    assert rows["SSENet (0.4)"][1].text(100) == "68.0"
    assert rows["SSENet (0.2)"][1].text(100) == "61.0"  # no trial at β 8: the only one shown


def test_tables_and_their_artifacts_leave_the_working_tree_alone(store: str, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """Artifacts go under the study's artifact location, not into ./mlruns of the cwd."""
    mlflow.set_tracking_uri(store)
    monkeypatch.chdir(tmp_path)
    report.write("s", report.build("s", ["drs1"]), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    study = mlflow.search_runs(experiment_names=["s"], filter_string="tags.kind = 'study'")
    assert "/home/mlartifacts/s/" in study.artifact_uri[0]


def test_tables_warn_naming_the_commits_when_trials_ran_different_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _, sid = _study_store(tmp_path, monkeypatch, "mixed")
    for commit, delta in (("a" * 40, 0.55), ("b" * 40, 0.4), ("b" * 40, 0.6)):
        with mlflow.start_run(parent_run_id=sid,
                              tags={"kind": "trial", "wsss.git_commit": commit}):
            mlflow.log_params({"method": "drs", "classifier/drs": "constant",
                               "classifier/drs_delta": str(delta), "seed": "0"})
            mlflow.log_metrics({"pseudo_labels/miou": 0.7})
    assert main(["tables", "mixed", "--table", "drs1"]) == 0
    err = capsys.readouterr().err
    assert "2 versions of the code" in err and "aaaaaaaaaaaa (1 trial)" in err
    assert "bbbbbbbbbbbb (2 trials)" in err
