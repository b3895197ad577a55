"""Typed configuration: frozen dataclasses, one per stage, and the `/`-key vocabulary.

A field ``data.root`` is the flat key ``data/root`` everywhere: YAML files, CLI overrides
(``data/root=/datasets/VOC2012``), Optuna parameter names, MLflow params and table columns.

Resolution order (later wins): dataclass defaults -> the preset's overlay -> YAML -> CLI.
Each paper-vs-authors'-code difference (SPEC.md) is an entry of a named preset, ``paper`` or
``reference``; stage issues add their fields and their preset entries here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

SEP = "/"


class ConfigError(ValueError):
    """An unknown key, a wrong type or an out-of-range value; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    root: str = "data/synth-quick"  # VOC2012-layout folder (JPEGImages, SegmentationClass...)
    train_split: str = "train_aug"  # list the classifier trains on (10,582 images on VOC)
    eval_split: str = "train"  # list pseudo labels are scored on (VOC train, 1,464 images)
    val_split: str = "val"  # list the final segmentation is scored on
    labels: Literal["list", "npy", "masks"] = "list"  # image labels: DRS list, psa npy, or masks
    list_dir: str = ""  # folder of split lists; "" = <root>/ImageSets/Segmentation
    cls_labels: str = ""  # psa cls_labels.npy; "" = <root>/cls_labels.npy
    saliency_dir: str = "saliency_map"  # PoolNet-style 0-255 saliency PNGs, relative to root
    workers: int = 2  # data-loading / checking processes

    def __post_init__(self) -> None:
        _check(self.workers >= 0, "workers", "must be >= 0")


@dataclass(frozen=True)
class EvalConfig:
    protocol: Literal["nanmean", "mean"] = "nanmean"  # DRS/DeepLab: gt classes; SSENet: all
    pred_ignore: Literal["ignore", "miss"] = "miss"  # 255 in a prediction: left out, or a miss
    gt_dir: str = "SegmentationClassAug"  # DRS scores on Aug; SSENet on SegmentationClass


@dataclass(frozen=True)
class PipelineConfig:
    method: Literal["drs", "ssenet"] = "drs"  # which paper's pipeline
    preset: Literal["reference", "paper"] = "reference"  # authors' code, or the paper's text
    seed: int = 0  # seeds every stage (torch, numpy, python, data order, augmentations)
    oracle: bool = False  # allow model selection on pixel ground truth (recorded as such)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# Flat-key overlays per preset; stage issues add the SPEC.md differences here.
PRESETS: dict[str, dict[str, Any]] = {
    "reference": {},
    "paper": {},
}


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


# ---------------------------------------------------------------------------------------------
# flat <-> nested


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Frozen dataclass (or nested dict) -> ``{"stage/field": value}``."""
    items = (
        ((f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg))
        if dataclasses.is_dataclass(cfg)
        else cfg.items()
    )
    out: dict[str, Any] = {}
    for name, value in items:
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(value) or isinstance(value, Mapping):
            out.update(flatten(value, key + SEP))
        else:
            out[key] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a/b": 1}`` -> ``{"a": {"b": 1}}``; nested dict values are merged in as they are."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(SEP)
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: '{part}' is a value, not a section")
        if isinstance(value, Mapping):
            node.setdefault(leaf, {}).update(unflatten(value))
        else:
            node[leaf] = value
    return out


# ---------------------------------------------------------------------------------------------
# typed construction


def build(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """Nested dict -> frozen dataclass ``cls``, coercing types; errors name the flat key."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise ConfigError(
                f"unknown config key '{prefix}{key}'; allowed under "
                f"'{prefix or '<top>'}': {', '.join(prefix + n for n in names)}"
            )
    kwargs = {}
    for name in names:
        if name not in values:
            continue
        kind, value, key = hints[name], values[name], prefix + name
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a section of keys, got {value!r}")
            kwargs[name] = build(kind, value, key + SEP)
        else:
            kwargs[name] = coerce(value, kind, key)
    try:
        return cls(**kwargs)
    except ConfigError as err:  # __post_init__ names the field; add the section prefix
        raise ConfigError(f"{prefix}{err}") from None


def coerce(value: Any, kind: Any, key: str) -> Any:
    """Convert ``value`` (possibly a CLI string) to the annotated type ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        for allowed in args:
            if value == allowed or (isinstance(value, str) and str(allowed) == value):
                return allowed
        raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or str(value).lower() in _NONE):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} fits none of {kind}")
    if origin is tuple:
        return _coerce_tuple(value, args, key)
    if kind in _SCALARS:
        return _SCALARS[kind](value, key)
    raise ConfigError(f"{key}: unsupported field type {kind}")


_NONE = ("none", "null", "~")
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _coerce_tuple(value: Any, args: tuple, key: str) -> tuple:
    if isinstance(value, str):
        value = yaml.safe_load(value)  # "[layer1, layer2]" from the command line
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        args = (args[0],) * len(value)
    elif len(args) != len(value):
        raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
    pairs = enumerate(zip(args, value, strict=True))
    return tuple(coerce(v, a, f"{key}[{i}]") for i, (a, v) in pairs)


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise ConfigError(f"{key}: expected true/false, got {value!r}")


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(value) if isinstance(value, str) else _fail(value, key, "an integer")
    except ValueError:
        return _fail(value, key, "an integer")


def _to_float(value: Any, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else _fail(value, key, "a number")
    except ValueError:
        return _fail(value, key, "a number")


def _to_str(value: Any, key: str) -> str:
    return str(value) if isinstance(value, (str, Path)) else _fail(value, key, "a string")


def _fail(value: Any, key: str, expected: str) -> Any:
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


# ---------------------------------------------------------------------------------------------
# loading


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``["data/root=/x", "seed=3"]`` -> ``{"data/root": "/x", "seed": "3"}`` (still strings)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{pair}' is not of the form key=value")
        out[key.strip()] = value.strip()
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config as flat keys; both nested sections and ``a/b:`` keys are accepted."""
    text = Path(path).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a config file must be a mapping of keys")
    return flatten(unflatten(data))


def resolve(
    overrides: Mapping[str, Any] | None = None,
    *,
    yaml_path: str | Path | None = None,
    cls: type = PipelineConfig,
) -> Any:
    """Defaults -> preset overlay -> YAML -> overrides, as a frozen ``cls``."""
    user: dict[str, Any] = {}
    if yaml_path is not None:
        user.update(load_yaml(yaml_path))
    user.update(flatten(unflatten(dict(overrides or {}))))
    values = flatten(cls())
    preset = user.get("preset", values.get("preset"))
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"preset: {preset!r} is not one of {sorted(PRESETS)}")
        values.update(PRESETS[preset])
    unknown = sorted(set(user) - set(values))
    if unknown:
        key = unknown[0]
        section = key.rpartition(SEP)[0]
        allowed = [k for k in values if k.rpartition(SEP)[0] == section] or sorted(values)
        raise ConfigError(f"unknown config key '{key}'; allowed: {', '.join(allowed)}")
    values.update(user)
    return build(cls, unflatten(values))


def replace(cfg: Any, **flat: Any) -> Any:
    """``replace(cfg, **{"data/root": "/x"})``: a copy with flat-key fields changed and checked."""
    values = flatten(cfg)
    for key in flat:
        if key not in values:
            raise ConfigError(f"unknown config key '{key}'")
    values.update(flat)
    return build(type(cfg), unflatten(values))


def dump_yaml(cfg: Any) -> str:
    """The resolved config as nested YAML (written next to every stage output)."""
    return yaml.safe_dump(unflatten(flatten(cfg)), sort_keys=False)
