"""cluster.yaml and cluster.onprem.yaml against Ray's own schema, offline (what `ray up`
checks before any cloud call or SSH connection)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster.yaml"
ONPREM = CLUSTER.with_name("cluster.onprem.yaml")


def _validate(cfg: dict) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(cfg)))


def test_cluster_yaml_is_valid_and_shaped_as_documented() -> None:
    cfg = yaml.safe_load(CLUSTER.read_text())
    _validate(cfg)
    assert cfg["available_node_types"]["head"]["resources"] == {"CPU": 0}  # no trials on head
    worker = cfg["available_node_types"]["gpu_worker"]
    assert worker["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    text = CLUSTER.read_text()
    assert "aws_secret_access_key" not in text.lower() and "password" not in text.lower()
    assert "mlflow server" in text and "pip install -q -e" in text


def test_the_validator_catches_mistakes() -> None:
    cfg = yaml.safe_load(CLUSTER.read_text())
    bad = copy.deepcopy(cfg)
    bad["available_node_types"]["gpu_worker"]["resources"] = {"GPU": 0.5}  # must be integers
    with pytest.raises(Exception, match="integer"):
        _validate(bad)
    bad = copy.deepcopy(cfg)
    bad["no_such_key"] = 1
    with pytest.raises(Exception, match="Additional properties"):
        _validate(bad)


def test_nothing_listens_on_a_public_interface() -> None:
    """MLflow on the head's private address, the dashboards on localhost; never 0.0.0.0."""
    text = CLUSTER.read_text()
    assert "0.0.0.0" not in text and "::" not in text.replace("::1", "")
    assert "--host \"$(hostname -I" in text  # mlflow server: the private address
    assert "optuna-dashboard" in text and "--host 127.0.0.1" in text
    assert "--dashboard-host=127.0.0.1" in text


def test_onprem_cluster_is_valid_and_keeps_trials_off_the_head() -> None:
    """Ray's local provider: a head and GPU servers over SSH, shared storage mounted on every
    machine, the head offering no CPU or GPU to trials, nothing on a public interface."""
    from ray.autoscaler._private.util import prepare_config

    cfg = yaml.safe_load(ONPREM.read_text())
    _validate(cfg)
    prepared = prepare_config(copy.deepcopy(cfg))
    (node_type,) = prepared["available_node_types"].values()
    servers = len(cfg["provider"]["worker_ips"])
    assert node_type["min_workers"] == node_type["max_workers"] == servers
    assert cfg["provider"]["type"] == "local" and cfg["auth"]["ssh_private_key"]
    text = ONPREM.read_text()
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--num-cpus=0 --num-gpus=0" in head and "--dashboard-host=127.0.0.1" in head
    assert f"--host {cfg['provider']['head_ip']} " in head  # mlflow: the lab address only
    assert "0.0.0.0" not in text and "password" not in text.lower()
    assert any("/mnt/wsss" in c and "mount" in c for c in cfg["setup_commands"])
    bad = copy.deepcopy(cfg)
    del bad["provider"]["worker_ips"]
    with pytest.raises(BaseException, match="worker_ips"):
        _validate(bad)
