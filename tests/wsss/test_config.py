from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from wsss import config
from wsss.config import ConfigError, PipelineConfig


@dataclass(frozen=True)
class _Inner:
    delta: float = 0.55
    layers: tuple[str, ...] = ("layer5", "layer6")
    rate: float | None = None
    mode: Literal["a", "b"] = "a"
    scales: tuple[int, float] = (448, 0.5)

    def __post_init__(self) -> None:
        if not 0.0 < self.delta <= 1.0:
            raise ConfigError(f"delta: must be in (0, 1], got {self.delta}")


@dataclass(frozen=True)
class _Outer:
    seed: int = 0
    flag: bool = False
    inner: _Inner = field(default_factory=_Inner)


def test_flatten_unflatten_round_trip() -> None:
    flat = config.flatten(PipelineConfig())
    assert flat["data/root"] == "data/VOC2012"
    assert flat["classifier/drs_layers"] == tuple(f"layer{i}" for i in range(1, 7))
    assert flat["scoring/protocol"] == "nanmean"
    assert config.build(PipelineConfig, config.unflatten(flat)) == PipelineConfig()


def test_cli_strings_are_coerced_to_field_types() -> None:
    cfg = config.resolve(
        {"inner/delta": "0.4", "inner/layers": "[layer1, layer2]", "inner/rate": "0.3",
         "seed": "7", "flag": "true", "inner/mode": "b", "inner/scales": "[224, 1]"}, cls=_Outer)
    assert cfg == _Outer(seed=7, flag=True, inner=_Inner(
        delta=0.4, layers=("layer1", "layer2"), rate=0.3, mode="b", scales=(224, 1.0)))
    assert config.resolve({"inner/rate": "none"}, cls=_Outer).inner.rate is None


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"inner/detla": "0.4"}, "inner/detla"),  # unknown key
        ({"inner/delta": "abc"}, "inner/delta"),  # wrong type
        ({"seed": "1.5"}, "seed"),
        ({"flag": "maybe"}, "flag"),
        ({"inner/mode": "c"}, "inner/mode"),  # not one of the Literal's values
        ({"inner/delta": "1.5"}, "inner/delta"),  # out of range (__post_init__)
        ({"inner": "x"}, "inner"),  # a value where a section belongs
        ({"inner/scales": "[1, 2, 3]"}, "inner/scales"),  # wrong length
        ({"inner/scales": "[x, 2]"}, r"inner/scales\[0\]"),
    ],
)
def test_bad_keys_and_values_name_the_key(overrides: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config.resolve(overrides, cls=_Outer)


def test_selection_and_reporting_splits_are_apart() -> None:
    """docs/method.md, "Selection vs reporting": the profiles keep the two roles on different
    splits."""
    quick, voc = config.resolve({"profile": "quick"}), config.resolve({})
    assert (quick.data.select_split, quick.data.report_split) == ("val", "test")
    assert (voc.data.select_split, voc.data.report_split) == ("train", "val")
    with pytest.raises(ConfigError, match="data/report_split: equals data/select_split"):
        config.resolve({"profile": "quick", "data/report_split": "val"})
    assert config.resolve({"data/report_split": ""}).data.report_split == ""


def test_unknown_key_error_lists_the_allowed_keys() -> None:
    with pytest.raises(ConfigError) as err:
        config.resolve({"data/rooot": "/x"})
    assert "data/rooot" in str(err.value) and "data/root" in str(err.value)


def test_yaml_nested_and_flat_keys_then_cli_wins(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ndata:\n  root: /voc\nscoring/protocol: mean\n")
    cfg = config.resolve({"seed": "5"}, yaml_path=path)
    assert (cfg.seed, cfg.data.root, cfg.scoring.protocol) == (5, "/voc", "mean")


def test_unknown_key_in_yaml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  labls: npy\n")
    with pytest.raises(ConfigError, match="data/labls"):
        config.resolve(yaml_path=path)


def test_preset_overlay_applies_before_user_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsss.methods import METHODS

    monkeypatch.setitem(METHODS["drs"].presets, "paper",
                        {"scoring/pred_ignore": "ignore", "seed": 9})
    cfg = config.resolve({"preset": "paper", "seed": "1"})
    assert (cfg.preset, cfg.scoring.pred_ignore, cfg.seed) == ("paper", "ignore", 1)
    with pytest.raises(ConfigError, match="preset"):
        config.resolve({"preset": "fast"})


def test_replace_and_parse_overrides() -> None:
    cfg = config.replace(PipelineConfig(), **{"data/workers": 4})
    assert cfg.data.workers == 4
    assert config.parse_overrides(["a/b=1", "c = x=y"]) == {"a/b": "1", "c": "x=y"}
    with pytest.raises(ConfigError, match="key=value"):
        config.parse_overrides(["novalue"])
    with pytest.raises(ConfigError, match="data/nope"):
        config.replace(PipelineConfig(), **{"data/nope": 1})


def test_dump_yaml_round_trips(tmp_path: Path) -> None:
    cfg = config.resolve({"seed": "4", "data/root": "/v"})
    path = tmp_path / "resolved.yaml"
    path.write_text(config.dump_yaml(cfg))
    assert config.resolve(yaml_path=path) == cfg


def test_presets_and_profiles_layer_in_order() -> None:
    ref = config.resolve({})
    paper = config.resolve({"preset": "paper"})
    assert (ref.pseudo_labels.beta, paper.pseudo_labels.beta) == (0.2, 0.06)
    assert (ref.classifier.crop, paper.classifier.crop) == (320, 321)
    assert (ref.refine.epochs, paper.refine.epochs) == (30, 15)
    quick = config.resolve({"preset": "paper", "profile": "quick"})
    assert quick.classifier.crop == 64 and quick.pseudo_labels.beta == 0.06  # profile: scale only
    assert config.resolve({"profile": "quick", "classifier/crop": "56"}).classifier.crop == 56


def test_delta_out_of_range_and_oracle_guard() -> None:
    with pytest.raises(ConfigError, match="classifier/drs_delta"):
        config.resolve({"classifier/drs_delta": "1.2"})
    with pytest.raises(ConfigError, match="classifier/drs_layers"):
        config.resolve({"classifier/drs_layers": "[layer7]"})
    with pytest.raises(ConfigError, match="oracle"):
        config.resolve({"classifier/select": "oracle"})
    assert config.resolve({"classifier/select": "oracle", "oracle": "true"}).oracle


def test_options_module_imports_no_method() -> None:
    """Options are declared apart from resolution: methods import them, never the reverse."""
    import subprocess
    import sys

    code = ("import sys, wsss.options; print(sorted(m for m in sys.modules "
            "if m.startswith(('wsss.methods', 'wsss.config'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_unknown_method_is_refused_by_resolution() -> None:
    with pytest.raises(ConfigError, match="method: 'nope' is not one of"):
        config.resolve({"method": "nope"})
