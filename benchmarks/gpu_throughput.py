"""Training throughput and peak memory at VOC resolution (for the lent GPU machine).

    python benchmarks/gpu_throughput.py [--iters 20] [--device cuda]

VGG16-D1 + learnable DRS (321 x 321, batch 5), SSENet's ResNet-38 with SER at r = 0.3
(448 x 448, batch 8 = the paper's; both branches), DeepLab-LargeFOV VGG16 (321, batch 30)
and DeepLab-v2 ASPP ResNet-101 with MSC (321, batch 10): forward + backward + SGD step per
iteration, after warm-up. (The random walk at VOC size: ``benchmarks/random_walk.py
--device cuda``.) Prints iterations/s, images/s and peak allocated GPU memory.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from wsss.models.classifier import build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.models.ser import ser_step
from wsss.stages.segment import segmentation_loss

CASES = (("vgg16_d1+drs", 5, 321), ("resnet38+ser", 8, 448), ("largefov", 30, 321),
         ("aspp+msc", 10, 321))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
