"""Bearer-token protection of everything but the health check (pure ASGI, no buffering).

Browsers authenticate once through the web UI's login form, which sets a session cookie
derived from the token (never the token itself); a page requested without either is
redirected to the login form, anything else gets 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import quote

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/api/health", "/login"})
SESSION_COOKIE = "cancelbus_session"


def session_value(token: str) -> str:
    """The login cookie's value for `token`: proves the token was given, cannot replay it."""
    return hmac.new(token.encode(), b"cancelbus-ui-session", hashlib.sha256).hexdigest()


class TokenSessions:
    """The web UI's login check for the API's bearer token (a `LoginSessions` of the UI)."""

    cookie_name = SESSION_COOKIE

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._session = session_value(token)

    def session_for(self, token: str) -> str | None:
        return self._session if hmac.compare_digest(token.encode(), self._token) else None


def _is_page(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope.get("method") == "GET" and not path.startswith("/api/") and path != "/metrics"


class BearerTokenMiddleware:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()
        self._session = session_value(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"authorization", b"")
        cookie = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(SESSION_COOKIE)
        if hmac.compare_digest(given, self._expected) or (
            cookie is not None and hmac.compare_digest(cookie, self._session)
        ):
            await self._app(scope, receive, send)
            return
        if _is_page(scope):
            location = "/login?next=" + quote(scope["path"], safe="/")
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        reason = "missing bearer token" if not given else "invalid bearer token"
        body = json.dumps({"detail": f"Unauthorized: {reason}"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="cancelbus"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
