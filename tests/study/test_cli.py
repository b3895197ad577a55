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

    assert (method_of("sse1").name, method_of("sse1").objective) == ("ssenet", "rw/miou")
    assert method_of("sse-rw").name == "ssenet" and method_of("thresholds").name == "drs"
    assert (method_of("drs1").name, method_of("drs1").objective) == ("drs", "pseudo/miou")
