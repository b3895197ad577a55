"""Stage progress: who listens, what a terminal and a log see, and training's step counts."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from wsss import engine, progress
from wsss.progress import Printer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_updates_reach_only_a_listener() -> None:
    seen: list[tuple[int, int, str]] = []
    progress.update(1, 2, "images")  # nobody listens: nothing happens
    with progress.listening(lambda *a: seen.append(a)):
        assert list(progress.counted("abc", 3, "images")) == ["a", "b", "c"]
    progress.update(9, 9, "images")
    assert seen == [(1, 3, "images"), (2, 3, "images"), (3, 3, "images")]


def test_a_log_gets_a_line_per_tenth_with_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    printer = Printer(out, tty=False, clock=clock)
    for done in range(1, 101):
        clock.now = done * 0.2  # 0.2 s a step
        printer("segment", done, 100, "steps")
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("[segment] 100/100 steps (100%)")
    assert lines[5] == "[segment] 50/100 steps (50%)  10 s elapsed, ~10 s left"
    printer("evaluate", 1, 4, "images")  # a new stage starts its own clock and tenths
    assert out.getvalue().splitlines()[-1].startswith("[evaluate] 1/4 images (25%)  0 s")


def test_a_terminal_redraws_one_line_and_ends_it() -> None:
    out, clock = io.StringIO(), Clock()
    printer = Printer(out, tty=True, interval=1.0, clock=clock)
    for done in range(1, 11):
        clock.now = done * 0.3
        printer("cams", done, 10, "images")
    text = out.getvalue()
    # drawn at 0.3 s, then at least 1 s apart (1.5, 2.7), and when done
    assert text.count("\r") == 4 and text.endswith("\x1b[K\n")
    printer("classifier", 3, 10, "steps")
    printer.end()  # a stage that stops short of its total still ends its line
    assert out.getvalue().endswith("\x1b[K\n")


def test_training_reports_steps_of_the_whole_stage(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    data = [torch.ones(1, 2)] * 3
    seen = []
    with progress.listening(lambda *a: seen.append(a)):
        engine.fit(model, opt, sched, epochs=2, batches=lambda epoch: data,
                   step=lambda b: (model(b).sum(), {}), checkpoint=tmp_path / "ck.pt",
                   report=lambda m: None)
    assert seen == [(i, 6, "steps") for i in range(1, 7)]
