"""Device choice, seeding, atomic writes and resumable checkpoints, shared by the stages."""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

Report = Callable[[Mapping[str, float]], None]


def no_report(metrics: Mapping[str, float]) -> None:
    """The default ``report``: stages run without a tracker."""


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; stages move tensors with ``.to(device)``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def place(model: torch.nn.Module, device: torch.device, channels_last: bool) -> Any:
    """``model`` on ``device``, its 4-D weights channels-last if asked: convolutions then
    run (and hand on) NHWC activations whatever the input's layout."""
    if channels_last:
        # torch's stub lacks this overload of Module.to
        return model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model.to(device)


# ``precision``: the dtype autocast runs a network's forward pass in (None: float32 throughout)
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                             "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> Any:
    """The mixed-precision region of a forward pass (and its loss): off for ``fp32``."""
    dtype = PRECISIONS[precision]
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for ``fp16`` (its gradients underflow without it); a no-op otherwise."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def mixed(fn: Callable[..., Any], device: torch.device, precision: str) -> Callable[..., Any]:
    """``fn`` (a network's forward) run under ``autocast``, its tensors handed back in float32
    so what follows (fusion, CRF, storage) is computed as in full precision."""
    if PRECISIONS[precision] is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> Any:
        with autocast(device, precision):
            out = fn(*args, **kwargs)
        if isinstance(out, Mapping):
            return {k: v.float() if torch.is_tensor(v) else v for k, v in out.items()}
        return out.float() if torch.is_tensor(out) else out

    return run


class GpuMonitor:
    """Peak allocated memory and the share of time the GPU was busy over a block, on CUDA
    (utilisation sampled every ``every`` seconds through NVML: ``pip install nvidia-ml-py``);
    nothing elsewhere. ``metrics()`` after the block."""

    def __init__(self, device: torch.device, every: float = 0.25) -> None:
        self.device, self.every = device, every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuMonitor:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.samples.append(float(torch.cuda.utilization(self.device)))
            except Exception:  # noqa: BLE001 - no NVML: memory alone is still reported
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def metrics(self) -> dict[str, float]:
        if self.device.type != "cuda":
            return {}
        out = {"gpu_peak_memory_gib": torch.cuda.max_memory_allocated(self.device) / 2**30}
        if self.samples:
            out["gpu_busy_share"] = sum(self.samples) / len(self.samples) / 100.0
        return out


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by ``OMP_NUM_THREADS`` where set
    (Ray sets it to a trial's or a task's CPU grant)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    granted = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(n, int(granted))) if granted.isdigit() and int(granted) > 0 else n


AUTO = -1  # a `workers` field's default: sized from available_cpus()


def loader_workers(requested: int) -> int:
    """DataLoader processes: as requested, or (AUTO) one per CPU up to 4 (none on one CPU).
    Two workers beside two compute threads were as fast as none on a quiet 2-core machine
    and faster with a core busy (docs/performance.md)."""
    if requested != AUTO:
        return requested
    cpus = available_cpus()
    return 0 if cpus <= 1 else min(4, cpus)


def pool_processes(requested: int) -> int:
    """Single-threaded worker processes (dense CRF, label writing): one per CPU (AUTO)."""
    return available_cpus() if requested == AUTO else requested


def fit_threads() -> int:
    """Torch's compute threads = the CPUs this stage may use, so a trial given 2 of 16 cores
    does not start 16 threads; returns the count."""
    cpus = available_cpus()
    if torch.get_num_threads() != cpus:
        torch.set_num_threads(cpus)
    return cpus


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Data order of one epoch depends only on (seed, epoch): a resumed run sees the same."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def shareable(path: str | Path) -> None:
    """Give a temp file the mode a plain ``open`` would (mkstemp makes it 0600), so a cache
    on shared storage is readable by the lab's group."""
    os.chmod(path, 0o666 & ~_UMASK)


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        shareable(tmp)
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_torch(obj: Any, path: Path) -> None:
    _atomic(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: Path, device: torch.device | str = "cpu") -> Any:
    """Checkpoints are data, not code: ``weights_only=True``."""
    return torch.load(path, map_location=device, weights_only=True)


def write_json(obj: Any, path: Path) -> None:
    """Strict JSON, written atomically: NaN and infinities (an m_FN on a split where a class
    is never found) are written as null, which ``read_metrics`` turns back into NaN."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, allow_nan=False)
    _atomic(path, lambda tmp: tmp.write_text(text + "\n"))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def read_metrics(path: Path) -> dict[str, float]:
    """A ``metrics.json`` as floats (null -> NaN)."""
    return {k: float("nan") if v is None else float(v)
            for k, v in json.loads(path.read_text()).items()}


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(_tuplify(state["python"])))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x: Any) -> Any:
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x
