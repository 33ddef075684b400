"""HTTP Basic login for exposed deployments (``HDF_AUTH``)."""

from __future__ import annotations

import base64
import hmac
from pathlib import Path
from typing import Any

from hdf_assistant.errors import HdfError


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


class BasicAuthMiddleware:
    """HTTP Basic authentication on every route (the chat, its API, /doc)."""

    def __init__(self, app: Any, users: dict[str, str]) -> None:
        self.app = app
        self.users = users

    def _allowed(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self._allowed(headers.get("authorization", "")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"www-authenticate", b'Basic realm="hdf-assistant"'),
                                (b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"Authentification requise."})
