"""Throughput of every stage, per device type: the table `wsss study plan` reads
(study/throughput.json, study/costs.py).

    python benchmarks/gpu_throughput.py stages [--profile quick] [--device cpu] [--threads 1]
                                               [--methods drs ssenet] [--write]
    python benchmarks/gpu_throughput.py estimate [--write]
    python benchmarks/gpu_throughput.py steps [--iters 20] [--device cuda]

``stages``: every stage of both methods run once on the profile's data (a fresh cache), each
stage's units (study.costs.units) over its seconds: measured rows for the device ("cpu" rows
are per CPU: run at ``--threads 1``, as a study's trials run side by side). The study
overhead rows come from the same runs: per computed stage, what the pipeline spent beyond
the stage functions.

``estimate``: rows at the `voc` profile's networks and sizes for GPU types this project has
not run, from FLOPs (counted by torch's FlopCounterMode on the meta device) and published
peak rates, with the efficiency the lent H100 reached on the same network family
(docs/performance.md, "On a GPU"; V100 has no TF32: 60 % of its FP32 peak assumed); and the
CPU-side work at VOC size (dense CRF, pseudo labels, la/ha CRF) measured per process here.

``steps``: forward + backward + SGD step of the four VOC-size training networks after
warm-up (the H100 rows' source; run where a GPU is lent).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import load

from wsss.models.classifier import build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.models.ser import ser_step
from wsss.stages.segment import segmentation_loss

TABLE = Path(__file__).resolve().parents[1] / "study" / "throughput.json"
CASES = (("vgg16_d1+drs", 5, 321), ("resnet38+ser", 8, 448), ("largefov", 30, 321),
         ("aspp+msc", 10, 321))
TODAY = time.strftime("%Y-%m-%d")


# --- steps: the VOC-size training networks -----------------------------------------------------

def _model(name: str) -> torch.nn.Module:
    if name == "vgg16_d1+drs":
        return build_classifier("vgg16_d1", 20, drs="learnable")
    if name == "resnet38+ser":
        return build_classifier("resnet38", 20)
    return build_segmenter(name.split("+")[0], 21, msc=name.endswith("msc"))


def _loss(name: str, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if name == "vgg16_d1+drs":
        logits = model(x)["logits"]
        return F.multilabel_soft_margin_loss(logits, torch.ones_like(logits))
    if name == "resnet38+ser":
        labels = torch.ones(x.shape[0], 20, device=x.device)
        return ser_step(lambda y: model(y)["cam"], x, labels, rate=0.3).loss
    masks = torch.randint(0, 21, (x.shape[0], 321, 321), device=x.device)
    labels = torch.ones(x.shape[0], 21, device=x.device)
    return segmentation_loss(model(x), masks, labels, self_training=False)


def steps(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    print(f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda"
                                else ""))
    for name, batch, size in CASES:
        model = _model(name).to(device).train()
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                              momentum=0.9)
        x = torch.randn(batch, 3, size, size, device=device)
        for step in range(args.iters + 3):  # 3 warm-up iterations
            if step == 3:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            _loss(name, model, x).backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        its = args.iters / (time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
        print(f"{name:<14} batch {batch:>2}: {its:6.2f} it/s, {its * batch:7.1f} img/s, "
              f"peak {peak:5.1f} GiB")
        del model, opt, x


# --- stages: every stage measured on a profile's data ------------------------------------------

def stages(args: argparse.Namespace) -> list[dict]:
    from study.costs import CPU, CPU_STAGES, network, split_sizes, units
    from wsss import config
    from wsss.cache import StageCache
    from wsss.data.splits import ensure_data
    from wsss.pipeline import run_pipeline

    torch.set_num_threads(args.threads)
    device = "cpu" if args.device == "cpu" else args.device
    kind = CPU if device == "cpu" else args.gpu_type
    rows, overhead = [], []
    with tempfile.TemporaryDirectory(prefix="wsss-throughput-") as tmp:
        cache = StageCache(tmp)
        for method in args.methods:
            base = {"method": method, "profile": args.profile, "device": device,
                    "data/workers": 0 if args.threads == 1 else -1}
            cfg = config.resolve(base)
            ensure_data(cfg)
            n = split_sizes(cfg)
            for crf in (False, True):  # evaluate without, then with its CRF: the CRF's share
                cfg = config.resolve({**base, "evaluate/crf": crf})
                start = time.perf_counter()
                done = run_pipeline(cfg, cache)
                wall = time.perf_counter() - start
                computed = [e for e in done.values() if not e.hit]
                overhead.append((wall - sum(e.seconds for e in computed), len(computed)))
                for name, entry in done.items():
                    if entry.hit or (name == "evaluate" and crf):
                        continue
                    work = units(name, cfg, n)[""]
                    if not work:
                        continue
                    per = args.threads if name in CPU_STAGES or kind == CPU else 1
                    rows.append(_row(name, network(name, cfg), kind, work / entry.seconds / per,
                                     f"measured: gpu_throughput.py stages --profile "
                                     f"{args.profile} --threads {args.threads}, {TODAY}, "
                                     f"{_machine()}, {load()}"))
                    print(f"{method:<7}{name:<14}{entry.seconds:8.1f} s {rows[-1]['rate']:9.2f} "
                          f"units/s ({network(name, cfg)})", flush=True)
                if crf:
                    net = next(r for r in rows if r["stage"] == "evaluate"
                               and r["network"] == network("evaluate", cfg))
                    scored = units("evaluate", cfg, n)
                    crf_seconds = done["evaluate"].seconds - scored[""] / net["rate"]
                    rows.append(_row("evaluate/crf", network("evaluate/crf", cfg), CPU,
                                     scored["crf"] / crf_seconds / args.threads,
                                     rows[-1]["source"]))
                    print(f"{method:<7}evaluate/crf  {crf_seconds:8.1f} s", flush=True)
    spent = sum(o for o, _ in overhead)
    stages_run = sum(k for _, k in overhead)
    rows.append(_row("overhead", "stage", CPU if kind == CPU else "gpu", spent / stages_run,
                     f"measured: seconds per computed stage beyond its function "
                     f"(cache lookups, checks, manifests), {TODAY}, {_machine()}"))
    return rows


def _row(stage: str, net: str, device: str, rate: float, source: str) -> dict:
    return {"stage": stage, "network": net, "device": device, "rate": round(rate, 4),
            "source": source}


def _machine() -> str:
    return f"{os.cpu_count()}-core {os.uname().machine} CPU"


# --- estimate: VOC-size rows for GPUs not run here ---------------------------------------------

# dense peaks (NVIDIA datasheets): TF32 tensor cores where PyTorch's convolutions use them
# (cuDNN allows TF32 by default), FP32 cores on Volta
PEAK_TFLOPS = {"H100": 494.7, "A100": 156.0, "A10G": 62.5, "V100": 15.7}
TENSOR_CORES = {"H100", "A100", "A10G"}
FP32_EFFICIENCY = 0.6  # assumed for V100 (no TF32): cuDNN convolutions in FP32
# training images/s the lent H100 measured (docs/performance.md, 2026-11-22, `steps`)
H100_MEASURED = {"vgg16_d1": ("vgg16_d1+drs", 277.0), "resnet38+ser": ("resnet38+ser", 70.0),
                 "largefov": ("largefov", 393.0), "aspp": ("aspp+msc", 79.0)}


def _flops(build, size: tuple[int, int]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = build()
        x = torch.empty(1, 3, *size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return float(counter.get_total_flops())


def estimate(args: argparse.Namespace) -> list[dict]:
    """FLOPs per unit of each VOC network stage; rates from the H100's efficiency."""
    from study.costs import network
    from wsss import config
    from wsss.models.affinity import AffinityNet
    from wsss.models.refine import build_refiner

    voc = (375, 500)  # a typical VOC image (H x W)
    drs = config.resolve({"profile": "voc"})
    sse = config.resolve({"profile": "voc", "method": "ssenet",
                          "pretrain/weights_file": "ilsvrc-resnet38.params"})  # not read
    vgg = lambda: build_classifier("vgg16_d1", 20, drs="learnable")  # noqa: E731
    r38 = lambda: build_classifier("resnet38", 20)  # noqa: E731
    c, s = drs.classifier.crop, sse.classifier.crop
    scaled = lambda size, k: (int(size[0] * k), int(size[1] * k))  # noqa: E731
    # (stage, network, FLOPs per unit, family whose H100 efficiency applies)
    cams_drs, cams_sse = network("cams", drs), network("cams", sse)
    work = [
        ("classifier", "vgg16_d1", 3 * _flops(vgg, (c, c)), "vgg16_d1"),
        ("classifier", "resnet38+ser", 3 * (_flops(r38, (s, s)) + _flops(
            r38, scaled((s, s), sse.classifier.ser_rate or 0.3))), "resnet38+ser"),
        ("classifier", "resnet38", 3 * _flops(r38, (s, s)), "resnet38+ser"),  # no SER branch
        ("cams", cams_drs, np.mean([_flops(vgg, (int(320 * k),) * 2)
                                    for k in drs.cams.scales]), "vgg16_d1"),
        ("cams", cams_sse, np.mean([_flops(r38, scaled(voc, k)) for k in sse.cams.scales]),
         "resnet38+ser"),
        ("refine", "vgg16_d1", 3 * _flops(lambda: build_refiner("vgg16_d1", 20), (c, c)),
         "vgg16_d1"),
        ("affinity", "resnet38", 3 * _flops(lambda: AffinityNet(r38(), sse.affinity.dims),
                                            (sse.affinity.crop,) * 2), "resnet38+ser"),
        ("random_walk", "resnet38", _flops(lambda: _Affinities(AffinityNet(
            r38(), sse.affinity.dims)), voc), "resnet38+ser"),
        ("segment", "largefov", 3 * _flops(lambda: build_segmenter("largefov", 21),
                                           (321, 321)), "largefov"),
        ("segment", "aspp", 3 * _flops(lambda: build_segmenter("aspp", 21, msc=True),
                                       (321, 321)), "aspp"),
        ("evaluate", "largefov", _flops(lambda: build_segmenter("largefov", 21), voc),
         "largefov"),
        ("evaluate", "aspp", _flops(lambda: build_segmenter("aspp", 21, msc=True), voc),
         "aspp"),
    ]
    efficiency = {}  # of the H100's TF32 peak, per network family
    for family, (_, rate) in H100_MEASURED.items():
        flops = next(f for st, net, f, fam in work if fam == family and st in
                     ("classifier", "segment"))
        efficiency[family] = rate * flops / (PEAK_TFLOPS["H100"] * 1e12)
        print(f"H100 {family:<13} {rate:6.0f} img/s = {rate * flops / 1e12:6.1f} TFLOP/s, "
              f"{100 * efficiency[family]:.0f} % of TF32 peak")
    rows = []
    for stage, net, flops, family in work:
        for gpu, peak in PEAK_TFLOPS.items():
            e = efficiency[family] if gpu in TENSOR_CORES else FP32_EFFICIENCY
            rate = peak * 1e12 * e / flops
            measured = gpu == "H100" and stage in ("classifier", "segment")
            why = (f"the H100 efficiency of {family}" if gpu in TENSOR_CORES
                   else "assumed, FP32")
            source = ("measured: gpu_throughput.py steps on the lent H100, 2026-11-22 "
                      "(training step, data loading not included)" if measured else
                      f"estimate: {flops / 1e9:.0f} GFLOP per unit at {peak:g} TFLOP/s x "
                      f"{100 * e:.0f} % ({why})")
            rows.append(_row(stage, net, gpu, rate, source))
            print(f"{gpu:<5}{stage:<12}{net:<14}{rate:9.2f} units/s  {source[:40]}")
    rows += _cpu_side_at_voc_size()
    return rows


class _Affinities(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.affinities(x)


def _cpu_side_at_voc_size(rounds: int = 5) -> list[dict]:
    """Dense CRF (LargeFOV and ASPP recipes, 21 classes), DRS pseudo labels (written as a
    PNG) and psa's la/ha CRF pair on a 500 x 375 stand-in image (smooth regions), one
    process, median of ``rounds``."""
    from PIL import Image

    from wsss.artifacts import save_label_png
    from wsss.ops.crf import RECIPES, confident_marginals, dense_crf
    from wsss.ops.pseudo_labels import pseudo_label

    tmp = tempfile.mkdtemp(prefix="wsss-cpu-side-")
    rng = np.random.default_rng(0)
    # smooth regions, as photographs have: per-pixel noise would fill the CRF's lattice
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((500, 375), Image.BICUBIC))
    probs = rng.dirichlet(np.ones(21), (375, 500)).transpose(2, 0, 1).astype(np.float32)
    maps = rng.random((2, 375, 500), dtype=np.float32)
    sal = rng.random((375, 500), dtype=np.float32)
    cases = {("evaluate/crf", "largefov/voc"): lambda: dense_crf(image, probs,
                                                                 RECIPES["largefov"]),
             ("evaluate/crf", "aspp/voc"): lambda: dense_crf(image, probs, RECIPES["aspp"]),
             ("pseudo_labels", "-/voc"): lambda: save_label_png(pseudo_label(maps, sal),
                                                                Path(tmp) / "labels.png"),
             ("crf_labels", "-/voc"): lambda: (confident_marginals(image, maps, 4.0),
                                               confident_marginals(image, maps, 24.0))}
    rows = []
    for (stage, what), fn in cases.items():
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        rows.append(_row(stage, what, "cpu", 1.0 / seconds,
                         f"measured: gpu_throughput.py estimate (500 x 375 stand-in, one "
                         f"process), "
                         f"{TODAY}, {_machine()}, {load()}"))
        print(f"cpu  {stage:<14}{what:<13}{seconds:7.3f} s per image")
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


def write(rows: list[dict], path: Path = TABLE) -> None:
    """Merge ``rows`` into the table (a row replaces the one with its stage, network and
    device)."""
    table = json.loads(path.read_text()) if path.exists() else {"rows": []}
    key = lambda r: (r["stage"], r["network"], r["device"])  # noqa: E731
    merged = {key(r): r for r in table["rows"]}
    merged.update({key(r): r for r in rows})
    table["rows"] = sorted(merged.values(), key=key)
    path.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows into {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    st = sub.add_parser("stages")
    st.add_argument("--profile", default="quick")
    st.add_argument("--device", default="cpu")
    st.add_argument("--gpu-type", default="", help="the table's name of the GPU (--device cuda)")
    st.add_argument("--threads", type=int, default=1)
    st.add_argument("--methods", nargs="+", default=["drs", "ssenet"])
    st.add_argument("--write", action="store_true")
    es = sub.add_parser("estimate")
    es.add_argument("--write", action="store_true")
    sp = sub.add_parser("steps")
    sp.add_argument("--iters", type=int, default=20)
    sp.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.mode == "steps":
        steps(args)
        return 0
    if args.mode == "stages" and args.device != "cpu" and not args.gpu_type:
        print("error: --device cuda needs --gpu-type (H100, ...)", file=sys.stderr)
        return 2
    rows = stages(args) if args.mode == "stages" else estimate(args)
    if args.write:
        write(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
