"""How many trials a study runs at once, and with what, when not told (``StudySpec.resources``
on a constructed ``Capacity``), and the flags that cannot apply."""

from __future__ import annotations

import pytest

from study.resources import capacity_of
from study.spec import COORDINATOR_CPUS, Capacity, Resources, StudySpec

CPU_ONLY = Capacity(cpus=2)


def test_a_grid_without_gpus_runs_one_trial_per_cpu() -> None:
    grid = StudySpec(name="g", grid="drs1")  # 8 points
    assert grid.resources(CPU_ONLY) == Resources(2, 1.0, 0.0)
    assert grid.resources(Capacity(cpus=16)) == Resources(8, 2.0, 0.0)  # <= points
    assert grid.resources(Capacity(cpus=3)) == Resources(3, 1.0, 0.0)


def test_searches_without_gpus_run_one_trial_with_every_cpu() -> None:
    assert StudySpec(name="s", space="drs").resources(CPU_ONLY) == Resources(1, 2.0, 0.0)
    # a sampler over a grid's points is a search: it reads each result before the next
    tpe = StudySpec(name="t", grid="drs1", sampler="tpe")
    assert tpe.resources(CPU_ONLY) == Resources(1, 2.0, 0.0)


def test_with_gpus_as_many_trials_as_gpus_and_the_node_cpus_per_gpu() -> None:
    # 8 GPU nodes of 4 CPUs and 1 GPU (g5.xlarge): 3 CPUs per stage, one kept for the trials
    cap = Capacity(cpus=32, gpus=8, node_cpus=4, node_gpus=1)
    grid = StudySpec(name="g", grid="drs1")  # 8 points, gpus auto
    assert grid.resources(cap) == Resources(8, COORDINATOR_CPUS, 1.0, 3)
    search = StudySpec(name="s", space="drs", samples=20)  # a search too (constant liar)
    assert search.resources(cap).trials == 8
    half = StudySpec(name="h", grid="drs1", gpus_per_stage=0.5)  # two stages per GPU
    assert half.resources(cap) == Resources(8, COORDINATOR_CPUS, 0.5, 1)  # <= 8 points
    # one node of 6 CPUs and 2 GPUs: (6 - 1) / 2 -> 2 CPUs per stage, 2 trials at once
    assert grid.resources(Capacity(cpus=6, gpus=2, node_cpus=6, node_gpus=2)) == \
        Resources(2, COORDINATOR_CPUS, 1.0, 2)
    # 0 keeps the CPU on a GPU cluster
    cpu = StudySpec(name="c", grid="drs1", gpus_per_stage=0)
    assert not cpu.resources(cap).uses_gpus


def test_what_the_user_gives_is_kept() -> None:
    spec = StudySpec(name="g", grid="drs1", concurrency=3)
    assert spec.resources(Capacity(cpus=12)) == Resources(3, 4.0, 0.0)
    assert StudySpec(name="g", grid="drs1", concurrency=1, cpus_per_trial=0.5
                     ).resources(CPU_ONLY) == Resources(1, 0.5, 0.0)
    cap = Capacity(cpus=32, gpus=8, node_cpus=8, node_gpus=1)
    given = StudySpec(name="g", grid="drs1", concurrency=2, cpus_per_stage=5)
    assert given.resources(cap) == Resources(2, COORDINATOR_CPUS, 1.0, 5)


@pytest.mark.parametrize(("fields", "cap", "message"), [
    ({"cpus_per_trial": 2}, Capacity(8, 2, 4, 1), "--cpus-per-trial 2 applies to studies "
                                                  "without GPUs"),
    ({"cpus_per_stage": 2}, CPU_ONLY, "--cpus-per-stage 2 applies to studies with GPUs"),
    ({"cpus_per_stage": 2, "gpus_per_stage": 0}, Capacity(8, 2, 4, 1), "--cpus-per-stage"),
    ({"cpus_per_stage": 1.5}, Capacity(8, 2, 4, 1), "--cpus-per-stage 1.5: a whole number"),
    ({"cpus_per_stage": 9}, Capacity(8, 2, 4, 1), "--cpus-per-stage 9"),
    ({"gpus_per_stage": 1}, CPU_ONLY, "--gpus-per-stage 1: the Ray cluster has no GPUs"),
    ({"gpus_per_stage": 2}, Capacity(8, 2, 4, 1), "--gpus-per-stage 2: no GPU node"),
    ({"gpus_per_stage": -3}, CPU_ONLY, "--gpus-per-stage -3"),
])
def test_a_flag_that_cannot_apply_is_an_error_naming_it(fields, cap, message) -> None:
    with pytest.raises(ValueError, match=message):
        StudySpec(name="g", grid="drs1", **fields).resources(cap)


def test_capacity_counts_the_gpu_nodes_an_autoscaler_may_start() -> None:
    head = {"CPU": 0.0}  # cluster.yaml's head: no CPU for trials, no GPU
    config = {"max_workers": 8, "head_node_type": "head", "available_node_types": {
        "head": {"resources": {"CPU": 0}, "max_workers": 0},
        "gpu_worker": {"resources": {"CPU": 4, "GPU": 1}, "min_workers": 0, "max_workers": 8}}}
    assert capacity_of([head], config) == Capacity(0.0, 8.0, 4.0, 1.0)  # none up yet
    up = [head, {"CPU": 4.0, "GPU": 1.0}]
    assert capacity_of(up, config).gpus == 8.0  # the ones up count toward the same 8
    assert capacity_of(up, None) == Capacity(4.0, 1.0, 4.0, 1.0)  # no autoscaler
    mixed = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 6.0, "GPU": 2.0}]  # the tightest node decides
    assert capacity_of(mixed, None) == Capacity(22.0, 4.0, 6.0, 2.0)
    assert capacity_of([{"CPU": 2.0}], None) == Capacity(2.0)
