"""Helpers for tests (optuna/testing's pattern): not used by the method itself."""

from __future__ import annotations

import dataclasses
from typing import Any


class Interrupt(Exception):
    """Raised by ``interrupt_at`` to stop a stage mid-way, as a killed worker would."""


def interrupt_at(stage: str, key: str, value: float):
    """A ``report`` callback that raises once ``stage`` reports ``key == value``."""

    def report(name: str, metrics) -> None:
        if name == stage and metrics.get(key) == value:
            raise Interrupt

    return report


class ReadRecorder:
    """A read-only stand-in for a config dataclass that records every leaf field read.

    ``cfg.classifier.arch`` adds ``classifier/arch`` to ``log``; reading a section alone
    records nothing until one of its fields is read. Used to prove that a stage reads
    nothing outside its cache key.
    """

    def __init__(self, obj: Any, log: set[str], prefix: str = "") -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        key = f"{self._prefix}{name}"
        if dataclasses.is_dataclass(value):
            return ReadRecorder(value, self._log, key + "/")
        if not callable(value):
            self._log.add(key)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("configs are frozen")
