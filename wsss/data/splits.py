"""The dataset and split records a configuration names (shared by every stage)."""

from __future__ import annotations

import sys
from pathlib import Path

from wsss.data.voc import Record, VocLayout, load_records
from wsss.options import PipelineConfig

SYNTHETIC_PROFILES = ("quick", "tiny", "full")  # profiles whose data/root is generated


def open_layout(cfg: PipelineConfig) -> VocLayout:
    d = cfg.data
    return VocLayout.open(d.root, list_dir=d.list_dir, cls_labels=d.cls_labels,
                          saliency_dir=d.saliency_dir)


def records(cfg: PipelineConfig, layout: VocLayout, split: str) -> list[Record]:
    """The split's records; with ``data/limit`` only its first images (a rehearsal)."""
    recs = load_records(layout, split, cfg.data.labels)
    return recs[: cfg.data.limit] if cfg.data.limit else recs


def map_records(cfg: PipelineConfig, layout: VocLayout) -> list[Record]:
    """Images that need maps and pseudo labels: the training split plus the scored split."""
    out = {r.name: r for r in records(cfg, layout, cfg.data.train_split)}
    for r in records(cfg, layout, cfg.data.score_split):
        out.setdefault(r.name, r)
    return list(out.values())


def ensure_data(cfg: PipelineConfig) -> bool:
    """The synthetic profiles generate their benchmark (preset = profile name) into an absent
    or empty ``data/root`` on first use; returns True when it was generated now. A folder
    with contents is a dataset to check and read, never one to overwrite, unless it is this
    benchmark written by an older format version (then it is regenerated, same seed and
    parameters)."""
    from wsss.data.synthetic import generate, is_outdated, params_of, read_meta

    root = Path(cfg.data.root).expanduser()
    if cfg.profile not in SYNTHETIC_PROFILES:
        return False
    if root.is_dir() and any(root.iterdir()):
        meta = read_meta(root)
        if meta is None or not is_outdated(meta):
            return False
        # our own benchmark in an older format (before the `test` split): the same images again
        print(f"wsss: {root}: synthetic benchmark format {meta.get('version')}, regenerating",
              file=sys.stderr)
        return not generate(root, meta.get("preset", cfg.profile), seed=meta.get("seed", 0),
                            params=params_of(meta)).get("reused")
    return not generate(root, cfg.profile, seed=0).get("reused")
