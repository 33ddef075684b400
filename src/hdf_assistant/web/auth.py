"""Who may call the server: a login for people (``HDF_AUTH``, HTTP Basic) and
keys for programs (``HDF_API_KEYS``, ``Authorization: Bearer``).

- With ``HDF_AUTH``, every route needs a valid login (the chat, its Gradio
  API, ``/doc``, the REST and OpenAI-compatible APIs).
- With ``HDF_API_KEYS``, the APIs (``/api/v1/...``, ``/v1/...``) need a valid
  key (or, when ``HDF_AUTH`` is set too, a valid login).
- The user a request acts for (whose saved conversations it sees) is the login
  name, or ``key:<name>`` for a key.

Keys and passwords are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hdf_assistant.errors import HdfError

#: paths under these prefixes are the programmatic APIs
API_PREFIXES = ("/api/v1/", "/v1/")
#: the user of a request when nobody logs in
ANONYMOUS = ""


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


def basic_user(header: str, users: Mapping[str, str]) -> str | None:
    """The user of a valid ``Authorization: Basic`` header, else None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    expected = users.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        return None
    return user


def key_user(header: str, keys: Mapping[str, str]) -> str | None:
    """``key:<name>`` for a valid ``Authorization: Bearer`` header, else None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        return None
    found = None
    for key, name in keys.items():  # every key compared, in constant time
        if hmac.compare_digest(key.encode(), value.strip().encode()):
            found = name
    return None if found is None else f"key:{found}"


def request_user(headers: Mapping[str, str], users: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """Whose request this is (for saved conversations); :data:`ANONYMOUS` without login or key."""
    header = headers.get("authorization", "")
    return basic_user(header, users) or key_user(header, keys) or ANONYMOUS


class AccessMiddleware:
    """Checks the login and the API keys before any route runs; the request's
    user is put in ``scope["state"]["user"]``."""

    def __init__(self, app: Any, users: dict[str, str], keys: dict[str, str]) -> None:
        self.app = app
        self.users = users
        self.keys = keys

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        header = headers.get("authorization", "")
        is_api = str(scope.get("path", "")).startswith(API_PREFIXES)
        user = basic_user(header, self.users) if self.users else None
        if is_api and self.keys and user is None:
            user = key_user(header, self.keys)
            allowed = user is not None
        else:
            allowed = not self.users or user is not None
        if allowed:
            scope.setdefault("state", {})["user"] = user or request_user(headers, {}, self.keys)
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if is_api:
            scheme = b"Bearer" if self.keys else b'Basic realm="hdf-assistant"'
            body = json.dumps({"detail": "a valid API key is required: send the header 'Authorization: Bearer <key>' "
                                         "(keys are set with HDF_API_KEYS)" if self.keys else
                               "a login is required (HTTP Basic, HDF_AUTH)"}).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"www-authenticate", scheme), (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"www-authenticate", b'Basic realm="hdf-assistant"'),
                                (b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"Authentification requise."})
