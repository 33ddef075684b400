"""Who may call the server: a login for people (``HDF_AUTH``, HTTP Basic) and
keys for programs (``HDF_API_KEYS``, ``Authorization: Bearer``).

- With ``HDF_AUTH``, every route needs a valid login (the chat, its Gradio
  API, ``/doc``, the REST and OpenAI-compatible APIs).
- With ``HDF_API_KEYS``, the APIs (``/api/v1/...``, ``/v1/...``) need a valid
  key (or, when ``HDF_AUTH`` is set too, a valid login).
- The user a request acts for (whose saved conversations it sees, whose rights
  it has: access/policy.py) is the login name, ``key:<name>`` for a key, or,
  without a login, ``anon:<id>`` for a browser (a signed visitor cookie set by
  the chat page): one visitor never sees another's conversations.
- With ``HDF_API_KEYS`` and no ``HDF_AUTH``, Gradio's own API (``/gradio_api/...``)
  needs a key too; the page opens it with its visitor cookie.

Keys and passwords are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hdf_assistant.access.identities import load_api_keys, load_users

#: paths under these prefixes are the programmatic APIs (and the metrics)
API_PREFIXES = ("/api/v1/", "/v1/", "/metrics")
#: the user of a request when nobody logs in
ANONYMOUS = ""

__all__ = ["ANONYMOUS", "AccessMiddleware", "Visitors", "basic_user", "key_user", "load_api_keys", "load_users",
           "request_user"]


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


#: the cookie that gives each browser its own anonymous identity when nobody logs in
VISITOR_COOKIE = "hdf_visitor"
#: Gradio's routes that run the page's functions (its API): closed to programs without a key once keys
#: are set; the page itself opens them with its visitor cookie
GRADIO_CALLS = ("/gradio_api/queue/join", "/gradio_api/call/", "/gradio_api/run/", "/gradio_api/api/",
                "/gradio_api/upload")


class Visitors:
    """Anonymous identities: a random id signed with the server's secret, in an ``HttpOnly``,
    ``SameSite=Lax`` cookie set when the chat page is loaded; the user is ``anon:<id>``."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def with_secret_in(cls, folder: Path) -> Visitors:
        """The secret kept in ``folder`` (made once, mode 600), so that identities survive a restart."""
        path = folder / "visitor-secret"
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
        return cls(path.read_bytes())

    def _sign(self, ident: str) -> str:
        return hmac.new(self._secret, ident.encode(), hashlib.sha256).hexdigest()[:32]

    def new_cookie(self) -> str:
        ident = secrets.token_hex(16)
        return f"{ident}.{self._sign(ident)}"

    def user_of(self, cookie_header: str) -> str | None:
        """``anon:<id>`` for a valid visitor cookie among ``cookie_header``'s, else None."""
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == VISITOR_COOKIE:
                ident, _, signature = value.partition(".")
                if ident and hmac.compare_digest(signature, self._sign(ident)):
                    return f"anon:{ident}"
        return None


def request_user(headers: Mapping[str, str], users: Mapping[str, str], keys: Mapping[str, str],
                 visitors: Visitors | None = None) -> str:
    """Whose request this is: a login, ``key:<name>``, ``anon:<id>`` for a browser's visitor cookie, or
    :data:`ANONYMOUS` (a program without login or key: it sees no saved conversation)."""
    header = headers.get("authorization", "")
    found = basic_user(header, users) or key_user(header, keys)
    if found is None and visitors is not None:
        found = visitors.user_of(headers.get("cookie", ""))
    return found or ANONYMOUS


class AccessMiddleware:
    """Checks the login and the API keys before any route runs; the request's
    user is put in ``scope["state"]["user"]``. Without a login, the chat page gives each browser a
    visitor cookie (its own conversations); with keys, Gradio's API needs a key, a login, or that cookie."""

    def __init__(self, app: Any, users: dict[str, str], keys: dict[str, str], visitors: Visitors) -> None:
        self.app = app
        self.users = users
        self.keys = keys
        self.visitors = visitors

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        header = headers.get("authorization", "")
        path = str(scope.get("path", ""))
        is_api = path.startswith(API_PREFIXES)
        user = basic_user(header, self.users) if self.users else None
        if self.keys and user is None:
            user = key_user(header, self.keys)
        if is_api and self.keys:
            allowed = user is not None
        elif self.users:
            allowed = user is not None and not user.startswith("key:")
        else:
            visitor = self.visitors.user_of(headers.get("cookie", ""))
            user = user or visitor
            allowed = not (self.keys and path.startswith(GRADIO_CALLS) and user is None)
        if allowed:
            scope.setdefault("state", {})["user"] = user or ANONYMOUS
            if not self.users and user is None and path == "/" and scope["type"] == "http":
                send = self._with_cookie(send, scope)
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if is_api or self.keys and not self.users:
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

    def _with_cookie(self, send: Any, scope: dict[str, Any]) -> Any:
        """``send`` adding a new visitor cookie to the page's response (and its user to the request)."""
        value = self.visitors.new_cookie()
        scope["state"]["user"] = self.visitors.user_of(f"{VISITOR_COOKIE}={value}") or ANONYMOUS
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{VISITOR_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}"

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        return sending
