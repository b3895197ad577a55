"""`wsss export STUDY [--trial NAME|best] [--stage STAGE] OUT [--register NAME]`: a trial's
trained network out of the stage cache, as a folder that needs neither the study nor its
cache nor MLflow.

The folder (written beside OUT and renamed into place: complete or absent) holds
``weights.pt`` (the state dict and class count, as the stage published it), ``config.yaml``
(the trial's resolved config), ``metrics.json`` (the trial's row: its objective and final
metrics), ``MODEL_CARD.md`` (method, preset, profile, the data's content fingerprint, the
commit that trained it, the paper it reproduces) and ``load.py`` (rebuilds the network with
the `wsss` package and predicts one image). ``--register NAME`` also logs the network with
``mlflow.pytorch.log_model`` in a run of the study's experiment and registers a version of
NAME in MLflow's model registry.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from study.spec import Home

# the stages whose output is a network: (weights file, builder in wsss.artifacts), latest
# first (a study that stopped before `segment` exports the last network it trained)
NETWORKS = {"segment": ("segmenter.pt", "segmenter_from_config"),
            "affinity": ("affinity.pt", "affinity_from_config"),
            "refine": ("refiner.pt", "refiner_from_config"),
            "classifier": ("classifier.pt", "classifier_from_config")}
PAPERS = {"drs": "Kim, Han & Kim, Discriminative Region Suppression for Weakly-Supervised "
                 "Semantic Segmentation, AAAI 2021 (https://arxiv.org/abs/2103.07246)",
          "ssenet": "Wang et al., Self-supervised Scale Equivariant Network for Weakly "
                    "Supervised Semantic Segmentation (https://arxiv.org/abs/1909.03714)"}


def choose_trial(runs: Any, spec: Any, trial: str) -> Any:
    """The trial run named ``trial`` (its MLflow name or grid point), or the best finished
    one by the study's objective (the selection split: never the held-out one)."""
    trials = runs[(runs["tags.kind"] == "trial") & (runs.status == "FINISHED")]
    if not len(trials):
        raise ValueError(f"study {spec.name!r} has no finished trial")
    if trial != "best":
        named = trials[(trials["tags.mlflow.runName"] == trial)
                       | (trials.get("params.choice/grid", trials.run_id) == trial)]
        if not len(named):
            known = ", ".join(sorted(trials["tags.mlflow.runName"]))
            raise ValueError(f"no trial {trial!r} in study {spec.name!r}; known: {known}")
        return named.iloc[0]
    metric = f"metrics.{spec.objective}"
    if metric not in trials or trials[metric].isna().all():
        raise ValueError(f"no finished trial of {spec.name!r} reached its objective "
                         f"{spec.objective}: name one with --trial")
    return trials.sort_values(metric, ascending=False).iloc[0]


def export(study: str, out: Path, *, trial: str = "best", stage: str = "",
           register: str = "") -> tuple[Path, str, str]:
    """Write the folder; returns (folder, the stage exported, the trial's name)."""
    import mlflow

    from wsss.cache import StageCache

    home = Home.default()
    spec = home.load(study)
    mlflow.set_tracking_uri(home.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[study])
    row = choose_trial(runs, spec, trial)
    stages = runs[(runs["tags.kind"] == "stage")
                  & (runs["tags.ray.trial_id"] == row["tags.ray.trial_id"])]
    keys = dict(zip(stages["tags.stage"], stages["tags.cache_key"], strict=True))
    if stage and stage not in NETWORKS:
        raise ValueError(f"--stage {stage!r} holds no network; one of {', '.join(NETWORKS)}")
    chosen = stage or next((s for s in NETWORKS if s in keys), "")
    if chosen not in keys:
        raise ValueError(f"trial {row['tags.mlflow.runName']!r} has no {stage or 'network'} "
                         f"stage (it ran {', '.join(keys)})")
    entry = StageCache(home.cache).get(chosen, keys[chosen])
    if entry is None:
        raise ValueError(f"{home.cache / chosen / keys[chosen]}: the cache entry is gone or "
                         f"bad: rerun the trial (`wsss study resume {study}` recomputes it)")
    weights, builder = NETWORKS[chosen]
    out = Path(out).expanduser().resolve()
    if out.exists():
        raise FileExistsError(f"{out} exists: choose another folder")
    metrics = {k.removeprefix("metrics."): float(v) for k, v in row.items()
               if k.startswith("metrics.") and isinstance(v, float) and math.isfinite(v)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shutil.copy2(entry.path / weights, tmp / "weights.pt")
        shutil.copy2(entry.path / "config.yaml", tmp / "config.yaml")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        (tmp / "MODEL_CARD.md").write_text(_card(spec, row, chosen, entry, metrics))
        (tmp / "load.py").write_text(LOADER.format(builder=builder, stage=chosen))
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if register:
        _register(out, spec, row, chosen, register)
    return out, chosen, str(row["tags.mlflow.runName"])


def _card(spec: Any, row: Any, stage: str, entry: Any, metrics: dict[str, float]) -> str:
    manifest = json.loads((entry.path / "manifest.json").read_text())
    method = str(row.get("params.method", "drs"))
    code = row.get("tags.wsss.git_commit") or row.get("tags.wsss.version") or "unknown"
    final = {k: v for k, v in metrics.items() if k == spec.objective or k.startswith("evaluate/")}
    return "\n".join([
        f"# {row['tags.mlflow.runName']} ({spec.name})", "",
        f"The `{stage}` network of trial `{row['tags.mlflow.runName']}` of study `{spec.name}` "
        f"(selected: {spec.objective} on the selection split).", "",
        f"- method: {method}; preset: {row.get('params.preset')}; profile: "
        f"{row.get('params.profile')}; seed: {row.get('params.seed')}",
        f"- reproduces: {PAPERS.get(method, method)}",
        f"- data: content fingerprint {manifest.get('dataset')}",
        f"- code: {code}; stage version {manifest.get('version')}; cache key {entry.key}",
        f"- MLflow: trial run {row['run_id']}", "",
        "Metrics of its trial (x 100):", "",
        *[f"- {k}: {100 * v:.1f}" for k, v in sorted(final.items())], "",
        "Load it with `python load.py IMAGE` (needs the `wsss-study` package, not the study).",
        ""])


def _register(out: Path, spec: Any, row: Any, stage: str, name: str) -> None:
    """Log the network (MLflow's traced ``pt2`` format, from an input of its training crop)
    and register it as a new version of ``name``."""
    import mlflow
    import mlflow.pytorch
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from wsss import config
    from wsss.artifacts import TensorOutput

    cfg = config.resolve(yaml_path=out / "config.yaml")
    side = cfg.segment.crop if stage == "segment" else cfg.classifier.crop
    model = TensorOutput(load_exported(out))
    images = TensorSpec(np.dtype(np.float32), (-1, 3, -1, -1), "images")  # normalised
    maps = TensorSpec(np.dtype(np.float32), (-1, -1, -1, -1), "scores")
    with mlflow.start_run(experiment_id=row["experiment_id"], run_name=f"export {stage}",
                          tags={"kind": "export", "wsss.trial_run": row["run_id"],
                                "stage": stage}):
        mlflow.log_artifacts(str(out), "export")
        mlflow.pytorch.log_model(model, name="model", registered_model_name=name,
                                 input_example=np.zeros((1, 3, side, side), np.float32),
                                 signature=ModelSignature(Schema([images]), Schema([maps])))


def load_exported(folder: Path) -> Any:
    """The exported network, rebuilt from its config and weights, in eval mode (CPU)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("wsss_exported", Path(folder) / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # our own file, written by export
    return module.load()


LOADER = '''"""Rebuild the exported `{stage}` network and predict one image: needs the `wsss-study`
package (its models), not the study, its cache or MLflow.

    python load.py IMAGE [OUT.png]
"""

from pathlib import Path
import sys

import numpy as np
import torch

from wsss import config
from wsss.artifacts import {builder}
from wsss.data.transforms import to_tensor
from wsss.data.voc import load_image

HERE = Path(__file__).resolve().parent


def load() -> torch.nn.Module:
    cfg = config.resolve(yaml_path=HERE / "config.yaml")
    saved = torch.load(HERE / "weights.pt", map_location="cpu", weights_only=True)
    model = {builder}(cfg, saved["num_classes"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()


@torch.no_grad()
def predict(model: torch.nn.Module, image_path: str) -> np.ndarray:
    """The network's output for one image at its own size: class ids for a segmenter, the
    maps for the other networks."""
    image = load_image(Path(image_path))
    out = model(to_tensor(image)[None])
    if isinstance(out, dict):
        return out["cam"][0].numpy()
    logits = torch.nn.functional.interpolate(out, size=image.shape[:2], mode="bilinear",
                                             align_corners=False)
    return logits.argmax(dim=1)[0].numpy().astype(np.uint8)


if __name__ == "__main__":
    result = predict(load(), sys.argv[1])
    print(result.shape, result.dtype)
    if len(sys.argv) > 2 and result.ndim == 2:
        from PIL import Image

        Image.fromarray(result).save(sys.argv[2])
'''


def command(args: argparse.Namespace) -> int:
    out, stage, name = export(args.study, Path(args.out), trial=args.trial, stage=args.stage,
                              register=args.register)
    if not args.stage and stage != "segment":
        print(f"note: the trial stopped before `segment`: exported its last trained network, "
              f"`{stage}`")
    print(f"exported the `{stage}` network of trial {name!r} to {out}"
          + (f"; registered as {args.register!r}" if args.register else ""))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("export", help="a trial's trained network as a self-contained folder "
                         "(weights, config, metrics, model card, loader)")
    cmd.add_argument("study")
    cmd.add_argument("out", help="the folder to write (must not exist)")
    cmd.add_argument("--trial", default="best",
                     help="a trial's name or grid point (default: the best by the objective)")
    cmd.add_argument("--stage", default="", help=f"one of {', '.join(NETWORKS)} (default: "
                     "segment, or the last network the trial trained)")
    cmd.add_argument("--register", default="", help="also register it in MLflow's model "
                     "registry under this name")
    cmd.set_defaults(func=command)
