"""How many trials a study runs at once, and with how many CPUs each, when not told."""

from __future__ import annotations

from study.spec import StudySpec


def test_a_grid_without_gpus_runs_one_trial_per_cpu() -> None:
    grid = StudySpec(name="g", grid="drs1")  # 8 points
    assert grid.parallelism(cpus=2, cuda=False) == (2, 1.0)
    assert grid.parallelism(cpus=16, cuda=False) == (8, 2.0)  # no more trials than points
    assert grid.parallelism(cpus=3, cuda=False) == (3, 1.0)


def test_searches_and_gpu_studies_run_one_trial_with_every_cpu() -> None:
    assert StudySpec(name="s", space="drs").parallelism(cpus=2, cuda=False) == (1, 2.0)
    assert StudySpec(name="g", grid="drs1").parallelism(cpus=8, cuda=True) == (1, 8.0)
    # a sampler over a grid's points is a search: it reads each result before the next
    assert StudySpec(name="t", grid="drs1", sampler="tpe").parallelism(2, False) == (1, 2.0)


def test_what_the_user_gives_is_kept() -> None:
    spec = StudySpec(name="g", grid="drs1", concurrency=3)
    assert spec.parallelism(cpus=12, cuda=False) == (3, 4.0)
    assert StudySpec(name="g", grid="drs1", concurrency=1, cpus_per_trial=0.5
                     ).parallelism(cpus=2, cuda=False) == (1, 0.5)
    assert StudySpec(name="s", space="drs", cpus_per_trial=1).parallelism(4, False) == (1, 1)
