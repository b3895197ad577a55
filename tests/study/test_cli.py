"""The `wsss` console script as a user calls it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from study.cli import error_line, main
from wsss.data.voc import DataError


def test_synth_then_check_from_the_shell(tmp_path: Path) -> None:
    out = tmp_path / "s"
    run = [sys.executable, "-m", "study.cli"]
    synth = subprocess.run([*run, "data", "synth", str(out), "--preset", "tiny"],
                           capture_output=True, text=True)
    assert synth.returncode == 0, synth.stderr
    assert "train_aug 48" in synth.stdout
    again = subprocess.run([*run, "data", "synth", str(out), "--preset", "tiny"],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "kept (same parameters)" in again.stdout
    check = subprocess.run([*run, "data", "check", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    clash = subprocess.run([*run, "data", "synth", str(out), "--preset", "tiny", "--seed", "2"],
                           capture_output=True, text=True)
    assert clash.returncode == 2 and "different dataset" in clash.stderr


def test_config_show_resolves_and_rejects(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "show", "seed=4", "data/root=/voc", "scoring/protocol=mean"]) == 0
    out = capsys.readouterr().out
    assert "seed: 4" in out and "root: /voc" in out and "protocol: mean" in out
    assert main(["config", "show", "data/rot=/voc"]) == 2
    err = capsys.readouterr().err
    assert "data/rot" in err and "data/root" in err
    assert main(["config", "show", "scoring/protocol=median"]) == 2
    assert "scoring/protocol" in capsys.readouterr().err


def test_grids_and_spaces_pick_their_method_and_objective() -> None:
    from search_spaces import method_of

    assert (method_of("sse1").name, method_of("sse1").objective) == ("ssenet", "random_walk/miou")
    assert method_of("sse-rw").name == "ssenet" and method_of("thresholds").name == "drs"
    assert (method_of("drs1").name, method_of("drs1").objective) == ("drs", "pseudo_labels/miou")


def test_a_missing_image_stops_the_run_before_training(tiny_copy: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    missing = next((tiny_copy / "JPEGImages").glob("2026_*.jpg"))  # a train image
    missing.unlink()
    code = main(["run", "--cache", str(tmp_path / "cache"), "--until", "pretrain",
                 "profile=tiny", f"data/root={tiny_copy}", "data/workers=0"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and f"{missing}: listed image not found" in err
    assert not (tmp_path / "cache" / "pretrain").exists()  # nothing trained


class _Broken(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int):
        raise DataError(f"/data/JPEGImages/img{index}.jpg: image not found")


def test_an_error_from_a_loader_worker_comes_back_as_its_own_line() -> None:
    with pytest.raises(DataError) as caught:
        next(iter(torch.utils.data.DataLoader(_Broken(), num_workers=1)))
    assert "Original Traceback" in str(caught.value)  # what torch hands back: wrapped
    assert error_line(caught.value) == "/data/JPEGImages/img0.jpg: image not found"


def test_yaml_and_override_problems_name_the_file_or_key(tmp_path: Path, capsys) -> None:
    twice = tmp_path / "twice.yaml"
    twice.write_text("seed: 1\ndata:\n  root: /a\nseed: 2\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [1,\n")
    for args, named in ((["--config", str(twice)], f"{twice}:4: key 'seed' is given twice"),
                        (["--config", str(broken)], f"{broken}:"),
                        (["--config", str(tmp_path)], f"{tmp_path}: is a folder"),
                        (["pseudo_labels/alpha=1.5"], "pseudo_labels/alpha: must be in [0, 1]"),
                        (["classifier/batch_size=0"], "classifier/batch_size: must be > 0"),
                        (["device=tpu9"], "device: 'tpu9'")):
        assert main(["config", "show", *args]) == 2
        err = capsys.readouterr().err
        assert named in err and "Traceback" not in err, err


def test_an_override_is_never_taken_for_a_space(monkeypatch, capsys, tmp_path: Path) -> None:
    """`study run key=value --samples 4` has no SPACE: the pair stays an override."""
    seen = {}
    monkeypatch.setattr("study.commands.study_run", lambda args: seen.update(vars(args)) or 0)
    from study.cli import build_parser  # noqa: F401  (the parser binds study_run at build)

    assert main(["study", "run", "data/root=/x", "--samples", "4", "--profile", "tiny"]) == 0
    assert seen["space"] == "drs" and seen["overrides"] == ["data/root=/x"]
    monkeypatch.undo()
    monkeypatch.setenv("WSSS_HOME", str(tmp_path))
    assert main(["study", "run", "no-such-space"]) == 2
    assert "unknown search space or grid 'no-such-space'" in capsys.readouterr().err


def test_until_defaults_to_the_papers_stage_and_is_checked(monkeypatch, capsys,
                                                           tmp_path: Path) -> None:
    """The papers' grids run to the final metric (DRS's tables are DeepLab's val mIoU,
    SSENet's add it as a column); a space runs
    to its objective's stage; an --until that is not a stage, or comes before the
    objective's, fails before anything is written."""
    from search_spaces import method_of

    assert method_of("drs1").grid_until == method_of("sse1").grid_until == "evaluate"
    launched = []
    monkeypatch.setattr("study.runner.launch", lambda spec, home, **kw: launched.append(spec)
                        or {"status": "stub"})
    monkeypatch.setattr("study.commands.sized", lambda spec: (spec, None))
    monkeypatch.setattr("study.commands._ensure_data", lambda overrides: None)
    monkeypatch.setattr("study.commands._finish", lambda summary, spec, home: 0)
    monkeypatch.setattr("study.commands._init_ray", lambda home: None)  # launch is a stub
    monkeypatch.setenv("WSSS_HOME", str(tmp_path))
    assert main(["study", "run", "--grid", "drs1", "--profile", "tiny", "--name", "g"]) == 0
    assert main(["study", "run", "drs", "--profile", "tiny", "--name", "s"]) == 0
    assert main(["study", "run", "--grid", "drs1", "--until", "cams", "--objective",
                 "cams/miou", "--profile", "tiny", "--name", "c"]) == 0
    assert [s.until for s in launched] == ["evaluate", "", "cams"]
    for args, named in ((["--until", "nope"], "--until 'nope' is not a stage"),
                        (["--until", "cams"], "measured by stage 'pseudo_labels', after "
                                              "--until 'cams'")):
        assert main(["study", "run", "--grid", "drs1", "--profile", "tiny", *args]) == 2
        assert named in capsys.readouterr().err
    # selection never reads the held-out reporting split, unless the run says it peeks
    assert main(["study", "run", "--grid", "drs1", "--profile", "tiny", "--objective",
                 "evaluate/report/miou_crf", "--name", "peek"]) == 2
    err = capsys.readouterr().err
    assert "held-out reporting split data/report_split='test'" in err and "evaluate/miou_crf" in err
    assert len(launched) == 3  # the refused ones saved no spec either
    assert {p.stem for p in (tmp_path / "studies").iterdir()} == {"g", "s", "c"}
    assert main(["study", "run", "--grid", "drs1", "--profile", "tiny", "--objective",
                 "evaluate/report/miou", "--name", "o", "oracle=true"]) == 0
    assert launched[-1].objective == "evaluate/report/miou"
    # search options reach the spec: rungs by stage name, a sampler over a grid's points,
    # a budget in stage-seconds; a grid sampled by TPE runs --samples trials
    assert main(["study", "run", "--grid", "drs1", "--profile", "tiny", "--name", "a",
                 "--asha", "--rungs", "cams, pseudo_labels", "--sampler", "tpe",
                 "--samples", "5", "--budget", "600"]) == 0
    spec = launched[-1]
    assert spec.asha and spec.rungs == ["cams", "pseudo_labels"] and spec.sampler == "tpe"
    assert spec.budget == 600.0 and spec.num_samples == 5
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["study", "run", "--grid", "drs1", "--sampler", "bogus"])
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_the_trial_table_ranks_only_final_values_and_shows_where_trials_stopped() -> None:
    import math

    import pandas as pd

    from study.commands import trial_table
    from study.spec import StudySpec

    df = pd.DataFrame({"config/pseudo_labels/alpha": [0.35000000000000003, 0.2, 0.3],
                       "score": [0.80, 0.70, 0.72],  # the first: a pseudo_labels/miou rung score
                       "evaluate/miou_crf": [math.nan, 0.70, 0.72],
                       "stage_name": ["pseudo_labels", "evaluate", "evaluate"]})
    table = trial_table(df, StudySpec(name="s", objective="evaluate/miou_crf"))
    rows = table.splitlines()[2:]
    assert rows[0] == "| 0.3 | 0.7200 | evaluate | 0.7200 |"
    assert rows[1] == "| 0.2 | 0.7000 | evaluate | 0.7000 |"
    assert rows[2] == "| 0.35 | – | pseudo_labels | 0.8000 |"  # stopped at a rung: last
