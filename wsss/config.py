"""Resolution: a run's option values from defaults, method, preset, recipe, profile and user.

Resolution order (later wins): defaults -> method -> preset -> segmenter recipe -> profile ->
YAML -> CLI. The options themselves (what can be set, and what each value may be) are declared
in ``wsss.options``; this module re-exports them so callers need one import.

* Defaults are the DRS authors' reference code at VOC scale; a method (``wsss.methods``:
  ``method=ssenet``) overlays its own reference code.
* A **preset** (``reference``, ``paper``, per method) holds every paper-vs-code difference
  listed in docs/method.md ("Paper vs reference code").
* A **segmenter recipe** (by ``segment/arch``) holds DeepLab-LargeFOV's or DeepLab-v2's solver.
* A **profile** (``voc``, ``voc-smoke``, ``quick``, ``tiny``, ``full``) fits sizes, widths and
  budgets to a dataset: the synthetic benchmark cannot use 320-px crops or 15 VGG16 epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wsss.keys import (  # noqa: F401  (the vocabulary is part of this module's surface)
    SEP,
    ConfigError,
    build,
    check,
    current_name,
    dump_yaml,
    flatten,
    load_yaml,
    parse_overrides,
    replace,
    unflatten,
)
from wsss.options import (  # noqa: F401  (one import for callers)
    LAYERS,
    OUTSIDE_KEY,
    AffinityConfig,
    CamConfig,
    ClassifierConfig,
    CrfLabelConfig,
    DataConfig,
    EvaluateConfig,
    PipelineConfig,
    PretrainConfig,
    PseudoLabelConfig,
    RandomWalkConfig,
    RefineConfig,
    ScoringConfig,
    SegmentConfig,
    outside_key_fields,
    positive,
    unit,
)

# The segmentation network's own recipe (docs/method.md, "Segmentation networks"), chosen by
# segment/arch.
_LARGEFOV = {"segment/lr": 1e-3, "segment/schedule": "step", "segment/steps": (4000, 5000),
             "segment/iterations": 6000, "segment/batch_size": 30, "segment/lr_every": 1,
             "segment/scale_range": (1.0, 1.0), "segment/msc": False,
             "evaluate/crf_recipe": "largefov", "evaluate/align_corners": True}
_ASPP = {"segment/lr": 2.5e-4, "segment/schedule": "poly", "segment/iterations": 20000,
         "segment/batch_size": 10, "segment/lr_every": 10, "segment/scale_range": (0.5, 1.5),
         "segment/msc": True, "evaluate/crf_recipe": "aspp", "evaluate/align_corners": False}
SEGMENTERS: dict[str, dict[str, Any]] = {
    "largefov": _LARGEFOV, "largefov_narrow": _LARGEFOV, "aspp": _ASPP, "aspp_narrow": _ASPP}

# Dataset scale: sizes, architecture width and budgets. Applied after the preset, so these
# fields mean "what fits this dataset", whichever preset is chosen.
_SYNTHETIC = {
    "data/report_split": "test",  # held out: generated with its own seed stream
    "pretrain/source": "synthetic",
    "classifier/arch": "narrow",
    "classifier/optimizer": "adam",
    "classifier/lr": 1e-3,
    "classifier/epochs": 3,
    "classifier/decay_epochs": (3,),
    "classifier/batch_size": 64,
    "classifier/resize": 64,
    "classifier/crop": 64,
    "classifier/jitter": (0.0, 0.0, 0.0, 0.0),  # hue is the synthetic class cue
    "cams/input_size": 64,
    "cams/batch_size": 128,
    "refine/epochs": 6,
    "refine/decay_epochs": (4,),
    "refine/lr": 1e-3,
    "refine/batch_size": 64,
    "refine/jitter": (0.0, 0.0, 0.0, 0.0),
    "segment/arch": "largefov_narrow",
    "segment/optimizer": "adam",  # docs/synthetic.md: Adam 2e-3, poly, batch 64, 6 ep.
    "segment/lr": 2e-3,
    "segment/schedule": "poly",
    "segment/lr_every": 1,
    # 2 epochs of 3,000 images (docs/synthetic.md: 6 in the feasibility study): the final
    # metric runs in every quick DRS trial, and δ 0.55 still beats no DRS on two seeds
    "segment/iterations": 94,
    "segment/batch_size": 64,
    "segment/crop": 64,
    "segment/aspp_rates": (1, 2, 3, 4),
    "segment/msc": False,
    "segment/checkpoint_every": 50,
}
PROFILES: dict[str, dict[str, Any]] = {
    # selection on VOC train (1,464 images with SegmentationClass masks), reporting on val
    "voc": {"data/select_split": "train", "data/report_split": "val"},
    "quick": {**_SYNTHETIC, "data/root": "data/synth-quick"},
    # tiny: batches of 16 so a one-epoch stage still takes several steps (a training curve)
    "tiny": {**_SYNTHETIC, "data/root": "data/synth-tiny", "pretrain/epochs": 1,
             "pretrain/batch_size": 16, "refine/batch_size": 16,
             "classifier/epochs": 1, "refine/epochs": 1, "classifier/batch_size": 16,
             "cams/scales": (1.0,), "segment/iterations": 6, "segment/batch_size": 8,
             "segment/checkpoint_every": 2},
    # the voc recipe at VOC's sizes (networks, inputs and crops, scales, CRF and random walk)
    # on a few images, one or two steps per training stage, random initial weights: proves
    # that shapes, memory and every stage work at real size, nothing about accuracy
    "voc-smoke": {"data/select_split": "train", "data/report_split": "val", "data/limit": 4,
                  "pretrain/source": "random", "classifier/epochs": 1,
                  "classifier/batch_size": 2, "classifier/decay_epochs": (1,),
                  "refine/epochs": 1, "refine/batch_size": 2, "refine/decay_epochs": (1,),
                  "affinity/epochs": 1, "affinity/batch_size": 2, "cams/batch_size": 2,
                  "segment/iterations": 2, "segment/batch_size": 2, "segment/steps": (1,),
                  "segment/checkpoint_every": 1, "evaluate/batch_size": 2},
    "full": {**_SYNTHETIC, "data/root": "data/synth-full", "classifier/arch": "narrow_os8",
             "classifier/resize": 128, "classifier/crop": 128, "cams/input_size": 128,
             "segment/crop": 128, "segment/iterations": 1000},
}


def resolve(
    overrides: Mapping[str, Any] | None = None,
    *,
    yaml_path: str | Path | None = None,
    cls: type = PipelineConfig,
) -> Any:
    """Defaults -> method -> preset -> segmenter -> profile -> YAML -> overrides, frozen."""
    user: dict[str, Any] = {}
    if yaml_path is not None:
        user.update(load_yaml(yaml_path))
    user.update(flatten(unflatten(dict(overrides or {}))))
    values = flatten(cls())

    def choice(name: str, table: Mapping[str, Any]) -> Any:
        # a table may itself choose a later one (a profile picks the arch): read as overlaid
        value = user.get(name, values[name])
        if value not in table:
            raise ConfigError(f"{name}: {value!r} is not one of {sorted(table)}")
        return value

    if "method" in values:  # another config class has no method, preset or profile
        from wsss.methods import METHODS  # methods import wsss.options, never this module

        method = METHODS[choice("method", METHODS)]
        values.update(method.overlay)
        values.update(method.presets[choice("preset", method.presets)])
        profile = choice("profile", PROFILES)
        scale = {**PROFILES[profile], **method.profiles.get(profile, {})}
        arch = user.get("segment/arch", scale.get("segment/arch", values["segment/arch"]))
        if arch not in SEGMENTERS:
            raise ConfigError(f"segment/arch: {arch!r} is not one of {sorted(SEGMENTERS)}")
        values.update(SEGMENTERS[arch])  # the recipe of the arch that will run
        values.update(scale)
    unknown = sorted(set(user) - set(values))
    if unknown:
        key = unknown[0]
        section = key.rpartition(SEP)[0]
        allowed = [k for k in values if k.rpartition(SEP)[0] == section] or sorted(values)
        if current_name(key) != key:
            raise ConfigError(f"config key '{key}' is now '{current_name(key)}' "
                              "(docs/usage.md, \"Names\")")
        raise ConfigError(f"unknown config key '{key}'; allowed: {', '.join(allowed)}")
    values.update(user)
    return build(cls, unflatten(values))
