"""A study's progress as plain lines, instead of Ray's full trial table every 30 seconds.

Each trial already prints one line per finished stage (``trainables.pipeline``); this Tune
callback adds one summary line whenever a trial reports or ends:

    [study drs1] 3/8 done, 1 running, 4 pending, 0 failed; best pseudo_labels/miou 0.774
        (drs=learnable)
"""

from __future__ import annotations

from typing import Any

from ray import tune

DONE, FAILED = "TERMINATED", "ERROR"


class StudyProgress(tune.Callback):
    def __init__(self, study: str, objective: str, samples: int, out: Any = None) -> None:
        self.study, self.objective, self.samples = study, objective, samples
        self.out = out or _say  # module-level: Tune pickles the callback with the study
        self.best: dict[str, tuple[float, str]] = {}  # trial id -> (objective, its name)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if self.objective in result:
            self.best[trial.trial_id] = (float(result[self.objective]), _name(trial))
        self.out(self.line(trials))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.out(self.line(trials))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.out(self.line(trials))

    def line(self, trials: list) -> str:
        """Counts by state (trials the searcher has not asked for yet are pending) and the
        best objective so far."""
        states = [t.status for t in trials]
        done, failed = states.count(DONE), states.count(FAILED)
        running = states.count("RUNNING")
        pending = max(0, self.samples - done - failed - running)
        text = (f"[study {self.study}] {done}/{self.samples} done, {running} running, "
                f"{pending} pending, {failed} failed")
        if self.best:
            value, name = max(self.best.values())
            text += f"; best {self.objective} {value:.3f} ({name})"
        return text


def _name(trial: Any) -> str:
    """What the trial varies (its MLflow run name), else Tune's name for it."""
    from trainables.tracking import run_name

    return run_name(getattr(trial, "config", {}) or {}) or str(trial)


def _say(text: str) -> None:
    print(text, flush=True)
