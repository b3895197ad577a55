"""Run a stage as a Ray task with its own resources (GPU for the stages that train)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray

from wsss.cache import CacheEntry
from wsss.stages import Stage


@ray.remote
def _run_stage(fn: Callable[[], CacheEntry]) -> tuple[CacheEntry, str]:
    return fn(), ray.get_runtime_context().get_node_id()


def stage_executor(resources: dict[str, dict[str, float]], nodes: dict[str, str]
                   ) -> Callable[[Stage, Callable[[], CacheEntry]], CacheEntry]:
    """``resources``: {"train": {...}, "other": {...}} Ray task options; empty runs in-process.

    Records the node each stage ran on in ``nodes`` (reported, and checked by the tests).
    """

    def execute(stage: Stage, fn: Callable[[], CacheEntry]) -> CacheEntry:
        if not resources:
            return fn()
        options: dict[str, Any] = resources["train" if stage.gpu else "other"]
        entry, node = ray.get(_run_stage.options(**options).remote(fn))
        nodes[stage.name] = node
        return entry

    return execute
