"""How far a stage is: stages call ``update(done, total, unit)`` (training steps, images) and
whoever listens (``wsss run``'s ``Printer``) shows it; with no listener, an update costs a
context-variable read. Studies do not listen: they print one line per finished stage."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import IO, TypeVar

Listener = Callable[[int, int, str], None]  # (done, total, unit)
_listener: ContextVar[Listener | None] = ContextVar("wsss_progress", default=None)
T = TypeVar("T")


def update(done: int, total: int, unit: str) -> None:
    listener = _listener.get()
    if listener is not None:
        listener(done, total, unit)


@contextlib.contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def counted(items: Iterable[T], total: int, unit: str) -> Iterator[T]:
    """``items``, reporting each one done (``total`` of them)."""
    for done, item in enumerate(items, 1):
        yield item
        update(done, total, unit)


class Printer:
    """``[stage] done/total unit (pct)  elapsed, ~remaining`` for each stage: redrawn in
    place on a terminal (at most every ``interval`` s), plain lines elsewhere (at each tenth
    of the stage, so a log stays short)."""

    def __init__(self, stream: IO[str] | None = None, *, tty: bool | None = None,
                 interval: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval, self.clock = interval, clock
        self._stage, self._start, self._last, self._tenth, self._done = "", 0.0, -1e9, -1, 0
        self._open = False  # a terminal line drawn without its newline yet

    def for_stage(self, stage: str) -> Listener:
        return lambda done, total, unit: self(stage, done, total, unit)

    def __call__(self, stage: str, done: int, total: int, unit: str) -> None:
        now = self.clock()
        if stage != self._stage or done < self._done:  # a new stage or pass: a new clock
            self.end()
            self._stage, self._start, self._last, self._tenth = stage, now, -1e9, -1
        self._done = done
        finished = done >= total > 0
        if self.tty:
            if finished or now - self._last >= self.interval:
                self._last = now
                self.stream.write(f"\r{self.line(stage, done, total, unit, now)}\x1b[K")
                self._open = True
                if finished:
                    self.end()
                self.stream.flush()
            return
        tenth = 10 * done // total if total > 0 else 0
        if tenth > self._tenth:
            self._tenth = tenth
            self.stream.write(self.line(stage, done, total, unit, now) + "\n")
            self.stream.flush()

    def end(self) -> None:
        """Close a terminal line left open (a stage that ended short of its total)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def line(self, stage: str, done: int, total: int, unit: str, now: float) -> str:
        elapsed = now - self._start
        text = f"[{stage}] {done}/{total} {unit}"
        if total > 0:
            text += f" ({100 * done / total:.0f}%)"
        text += f"  {_duration(elapsed)} elapsed"
        if 0 < done < total:
            text += f", ~{_duration(elapsed * (total - done) / done)} left"
        return text


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds} s"
