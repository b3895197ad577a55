"""Helpers for tests (optuna/testing's pattern): not used by the method itself."""

from __future__ import annotations


class Interrupt(Exception):
    """Raised by ``interrupt_at`` to stop a stage mid-way, as a killed worker would."""


def interrupt_at(stage: str, key: str, value: float):
    """A ``report`` callback that raises once ``stage`` reports ``key == value``."""

    def report(name: str, metrics) -> None:
        if name == stage and metrics.get(key) == value:
            raise Interrupt

    return report
