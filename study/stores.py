"""The Optuna storage a study's searcher, its resume, ``wsss ui`` and the cluster's
optuna-dashboard all open, from one setting (docs/cluster.md, "Where each store lives").

``WSSS_OPTUNA_STORAGE`` names it:

* an RDB URL: ``postgresql://user@host/db`` or ``mysql+pymysql://...`` for a lab's database,
  ``sqlite:////abs/optuna.db`` for one machine (SQLite's locks are not safe on NFS);
* ``journal:PATH``: Optuna's journal file (an append-only log with a symlink lock), the store
  made for a shared file system such as EFS or NFS.

Unset, it is ``sqlite:///$WSSS_HOME/optuna.db`` (``study.spec.Home``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

JOURNAL = "journal:"
ENV = "WSSS_OPTUNA_STORAGE"


def open_optuna(url: str) -> optuna.storages.BaseStorage:
    """The storage ``url`` names (an RDB URL or ``journal:PATH``); a malformed one is an
    error naming ``WSSS_OPTUNA_STORAGE``."""
    import optuna

    if url.startswith(JOURNAL):
        path = Path(url.removeprefix(JOURNAL)).expanduser()
        if not path.is_absolute():
            raise ValueError(f"{ENV}={url!r}: the journal path must be absolute (every node "
                             "and the driver open it from their own working directory)")
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(path)))
    if "://" not in url:
        raise ValueError(f"{ENV}={url!r}: expected an RDB URL (postgresql://, mysql://, "
                         "sqlite:////abs/path.db) or journal:/abs/path")
    # a dashboard reading the same SQLite file can hold its lock for a moment
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite:") else None
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def exists(url: str) -> bool:
    """Whether the storage already holds something (a dashboard has a study to show)."""
    if url.startswith(JOURNAL):
        return Path(url.removeprefix(JOURNAL)).expanduser().exists()
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True  # a database server: always worth showing
