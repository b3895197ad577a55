"""The `/`-key vocabulary: flatten/unflatten, typed construction, YAML and CLI overrides.

Kept apart from the dataclasses in ``options.py`` so that file reads as the list of options.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

SEP = "/"


class ConfigError(ValueError):
    """An unknown key, a wrong type or an out-of-range value; the message names the key."""


# Names before a stage's name, config section and metric prefix became one word
# (docs/usage.md, "Names"): an older study's MLflow records and specs are read under the new
# names; a config that still uses an old key is told the new one.
RENAMED = {"cls/": "classifier/", "cam/": "cams/", "pseudo/": "pseudo_labels/",
           "crf/": "crf_labels/", "aff/": "affinity/", "rw/": "random_walk/",
           "seg/": "evaluate/", "data/eval_split": "data/score_split",
           "data/val_split": "data/select_split"}
RENAMED_STAGES = {"classify": "classifier"}


def current_name(key: str) -> str:
    """``key`` (a config key or a metric name) under today's names; unchanged if current."""
    for old, new in RENAMED.items():
        if key == old or (old.endswith(SEP) and key.startswith(old)):
            return new + key[len(old):]
    return key


def check(ok: bool, key: str, message: str) -> None:
    """For ``__post_init__``: raise a ConfigError naming ``key`` unless ``ok``."""
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
            kwargs[name] = build(typing.cast(type, kind), value, key + SEP)
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


def _number(kind: type, expected: str) -> Callable[[Any, str], Any]:
    """int or float from a number or a string; bools and 1.5-as-int are errors."""

    def convert(value: Any, key: str) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if kind is float or isinstance(value, int) or value.is_integer():
                return kind(value)
        elif isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                pass
        return _fail(value, key, expected)

    return convert


def _to_str(value: Any, key: str) -> str:
    return str(value) if isinstance(value, (str, Path)) else _fail(value, key, "a string")


def _fail(value: Any, key: str, expected: str) -> Any:
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


_SCALARS = {bool: _to_bool, int: _number(int, "an integer"), float: _number(float, "a number"),
            str: _to_str}


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise ConfigError(f"{self.name}:{line}: key '{key}' is given twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config as flat keys; both nested sections and ``a/b:`` keys are accepted.

    Every problem names the file (and the line where YAML knows it): a folder, a binary
    file, a syntax error, a key given twice, a document that is not a mapping.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a YAML config file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) YAML file") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text YAML file (binary data)")
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data() or {}
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML error: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: YAML error: {err}") from None
    finally:
        loader.dispose()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a config file must be a mapping of keys")
    return flatten(unflatten(data))


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
