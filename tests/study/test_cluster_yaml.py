"""cluster.yaml and cluster.onprem.yaml against Ray's own schema, offline (what `ray up`
checks before any cloud call or SSH connection), what they upload (rsync's rules), and where
they keep the records that must outlive `ray down`."""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster.yaml"
ONPREM = CLUSTER.with_name("cluster.onprem.yaml")
FILES = (CLUSTER, ONPREM)
PACKAGES = ("wsss", "study", "trainables", "search_spaces", "analysis")


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
    assert "aws_secret_access_key" not in text.lower()
    assert not re.search(r"://[^/@\s:]+:[^/@\s]+@", text)  # no password in a URL
    assert "PGPASSWORD" not in text and "mlflow server" in text and "pip install -q -e" in text


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
    assert "0.0.0.0" not in text and not re.search(r"://[^/@\s:]+:[^/@\s]+@", text)
    assert any("/mnt/wsss" in c and "mount" in c for c in cfg["setup_commands"])
    bad = copy.deepcopy(cfg)
    del bad["provider"]["worker_ips"]
    with pytest.raises(BaseException, match="worker_ips"):
        _validate(bad)


# --- what `ray up` uploads: rsync's own matching of rsync_exclude ------------------------------

def _wildmatch(pattern: str, path: str) -> bool:
    """rsync's wildcards: ``**`` crosses slashes, ``*`` and ``?`` do not."""
    regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else "[^/]"
                    if part == "?" else re.escape(part)
                    for part in re.split(r"(\*\*|\*|\?)", pattern))
    return re.fullmatch(regex, path) is not None


def _excluded(parts: tuple[str, ...], is_dir: bool, patterns: list[str]) -> bool:
    """rsync's exclude rules (man rsync, "INCLUDE/EXCLUDE PATTERN RULES"): a trailing ``/``
    matches directories only; a leading ``/`` anchors at the transfer root; a pattern with a
    ``/`` or ``**`` matches the end of the path at a component boundary; any other only the
    last component."""
    for pattern in patterns:
        if pattern.endswith("/") and not is_dir:
            continue
        body = pattern.rstrip("/")
        if body.startswith("/"):
            hit = _wildmatch(body[1:], "/".join(parts))
        elif "/" in body or "**" in body:
            hit = any(_wildmatch(body, "/".join(parts[i:])) for i in range(len(parts)))
        else:
            hit = _wildmatch(body, parts[-1])
        if hit:
            return True
    return False


def _uploaded(root: Path, patterns: list[str]) -> set[str]:
    """The files rsync sends from ``root``: an excluded directory is not descended into."""
    sent = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in folder.iterdir():
            parts = entry.relative_to(root).parts
            if _excluded(parts, entry.is_dir(), patterns):
                continue
            if entry.is_dir():
                stack.append(entry)
            else:
                sent.add("/".join(parts))
    return sent


def test_rsync_rules_as_rsync_reads_them() -> None:
    assert _excluded(("data",), True, ["/data"]) and not _excluded(("wsss", "data"), True,
                                                                     ["/data"])
    assert _excluded(("wsss", "data"), True, ["**/data"])  # the old pattern: the package too
    assert _excluded(("a", "__pycache__"), True, ["__pycache__"])
    assert _excluded(("x.egg-info",), True, ["*.egg-info"]) and not _excluded(
        ("a", "b.py"), False, ["*.egg-info"])
    assert not _excluded(("data",), False, ["data/"])  # a file named data: not a directory


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_cluster_files_upload_the_whole_package_and_nothing_generated(
        path: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load(path.read_text())
    assert not cfg.get("rsync_filter")  # the rules are all in rsync_exclude
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    generated = [".wsss/cache/x", "data/VOC2012/JPEGImages/a.jpg", ".venv/bin/python",
                 ".git/HEAD", "wsss/__pycache__/cache.cpython-311.pyc",
                 "wsss_study.egg-info/PKG-INFO", "mlruns/0/meta.yaml", "build/lib/x.py"]
    for name in tracked + generated:  # the project as a laptop holds it (empty files)
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    sent = _uploaded(tmp_path, cfg["rsync_exclude"])
    package = [f for f in tracked if f.split("/")[0] in PACKAGES or f == "pyproject.toml"]
    assert any(f.startswith("wsss/data/") for f in package)
    assert set(package) <= sent, sorted(set(package) - sent)
    assert not [f for f in generated if f in sent]


# --- the records: never on a disk `ray down` deletes ------------------------------------------

def _env(cfg: dict) -> dict[str, str]:
    """The variables the head's setup writes to ~/wsss.env (``export K=V`` lines)."""
    script = " ".join(cfg["head_setup_commands"])
    return {k: v for k, v in re.findall(r"export (\w+)=([^'\"\s]+)", script)}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_mlflow_and_optuna_keep_their_records_off_the_head(path: Path) -> None:
    cfg = yaml.safe_load(path.read_text())
    env = _env(cfg)
    mounts = [m for m in re.findall(r"mount [^|&]* (/mnt/\w+)", " ".join(cfg["setup_commands"]))]
    assert mounts == ["/mnt/wsss"]  # the persistent mount every node makes
    start = " ".join(cfg["head_start_ray_commands"])
    server = shlex.split(start[start.index("mlflow server"):].split(">")[0])
    backend = server[server.index("--backend-store-uri") + 1]
    backend = env.get(backend.strip("${}"), backend)
    assert re.match(r"(postgresql|mysql)(\+\w+)?://", backend), backend  # a database server
    optuna = env["WSSS_OPTUNA_STORAGE"]
    assert optuna.startswith(("journal:/mnt/wsss/", "postgresql", "mysql")), optuna
    assert env["WSSS_HOME"].startswith("/mnt/wsss")
    artifacts = env["WSSS_MLFLOW_ARTIFACTS"]
    assert artifacts.startswith(("s3://", "/mnt/wsss/")), artifacts
    for value in (backend, optuna, artifacts, env["WSSS_HOME"]):
        assert "~" not in value and "/home/" not in value and "sqlite" not in value
    # optuna-dashboard reads the same setting (study.dashboard, as `wsss ui` starts it)
    assert 'python -m study.dashboard "$WSSS_OPTUNA_STORAGE"' in start
