"""Who the server knows: logins (``HDF_AUTH``) and API keys (``HDF_API_KEYS``), read from the settings'
values. The web layer checks requests against them (web/auth.py); the access file names them
(policy.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hdf_assistant.errors import HdfError


def _lines(value: str) -> list[str]:
    path = Path(value).expanduser()
    if "," not in value and ":" not in value and path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        lines = value.split(",") if "," in value else [value]
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def load_users(auth: str) -> dict[str, str]:
    """Users from ``HDF_AUTH``: "user:password", or a file of such lines."""
    if not auth:
        return {}
    path = Path(auth).expanduser()
    lines = path.read_text(encoding="utf-8").splitlines() if ":" not in auth and path.is_file() else [auth]
    users = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise HdfError("HDF_AUTH must be 'user:password' or a file of 'user:password' lines")
        users[user] = password
    if not users:
        raise HdfError(f"HDF_AUTH names no user: {auth}")
    return users


def load_api_keys(value: str) -> dict[str, str]:
    """Key -> name from ``HDF_API_KEYS``: keys separated by commas, or a file of
    keys, one per line, each "key" or "name:key" (a bare key is named by its digest)."""
    if not value:
        return {}
    keys = {}
    for line in _lines(value):
        name, sep, key = line.rpartition(":")
        if not sep:
            key, name = line, hashlib.sha256(line.encode()).hexdigest()[:8]
        if len(key) < 8:
            raise HdfError("HDF_API_KEYS: a key must have at least 8 characters")
        keys[key] = name
    if not keys:
        raise HdfError("HDF_API_KEYS names no key")
    return keys
