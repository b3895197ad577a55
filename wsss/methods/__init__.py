"""The WSSS methods this project reproduces: one module and one frozen ``Method`` each.

A ``Method`` owns everything method-specific (see ``docs/adding-a-method.md``): its config
overlay on the shared defaults, its paper-vs-code presets, its per-profile overlays, its
weak-label stage chain, its classifier training step, its default objective and the grids of
its papers' tables. Its search spaces live in ``search_spaces/<name>.py`` and its tables in
``analysis/<name>.py``; ``tests/wsss/test_methods.py`` fails if a method lacks either.

These modules never import torch at import time (the study driver, ``wsss config`` and
``analysis`` read them without paying for it); training steps import what they need.

A method kept in a package of its own (a lab's, not yet in this repository) joins through
``WSSS_METHODS=package.module[,...]``: each module's ``METHOD`` is added here, in every
process that imports this one (the driver, each trial, each stage task), so the variable must
reach them all (docs/adding-a-method.md).
"""

from __future__ import annotations

import importlib
import os

from wsss.keys import ConfigError
from wsss.methods.base import Method, Step
from wsss.methods.drs import DRS
from wsss.methods.ssenet import SSENET

METHODS: dict[str, Method] = {"drs": DRS, "ssenet": SSENET}
PLUGINS = "WSSS_METHODS"


def _plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS, "").split(","))):
        try:
            method = importlib.import_module(module).METHOD
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"{PLUGINS}: {module}: {err}") from None
        if not isinstance(method, Method) or method.name in METHODS:
            raise ConfigError(f"{PLUGINS}: {module}.METHOD must be a Method with a new name, "
                              f"not {getattr(method, 'name', method)!r}")
        METHODS[method.name] = method


_plugins()


def method_of(name: str) -> Method:
    """The method called ``name``; a config's ``method`` is checked here, where it is used."""
    if name not in METHODS:
        raise ConfigError(f"method: {name!r} is not one of {list(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "PLUGINS", "Method", "Step", "method_of"]
