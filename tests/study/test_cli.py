"""The `wsss` console script as a user calls it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from study.cli import main


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
    assert main(["config", "show", "seed=4", "data/root=/voc", "eval/protocol=mean"]) == 0
    out = capsys.readouterr().out
    assert "seed: 4" in out and "root: /voc" in out and "protocol: mean" in out
    assert main(["config", "show", "data/rot=/voc"]) == 2
    err = capsys.readouterr().err
    assert "data/rot" in err and "data/root" in err
    assert main(["config", "show", "eval/protocol=median"]) == 2
    assert "eval/protocol" in capsys.readouterr().err


def test_ssenet_grids_and_spaces_pick_their_pipeline_and_objective() -> None:
    from study.commands import with_method_defaults

    assert with_method_defaults("sse1", {"profile": "quick"}, None) == (
        {"method": "ssenet", "profile": "quick"}, "rw/miou")
    assert with_method_defaults("sse", {}, "cam/miou") == ({"method": "ssenet"}, "cam/miou")
    assert with_method_defaults("drs1", {}, None) == ({"method": "drs"}, "pseudo/miou")
    # the user's own method wins
    assert with_method_defaults("sse-rw", {"method": "drs"}, None)[0]["method"] == "drs"
