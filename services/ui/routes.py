"""Pages of the web UI and its login form; the data comes from the REST API and live events.

Nothing is fetched from the network at run time: pages and assets ship in this package.
The UI knows nothing of how the API checks tokens: the app that installs it hands it a
`LoginSessions` (or none, when the API is open).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, quote
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
MAX_LOGIN_BODY = 16 * 1024


@cache
def _page(name: str) -> str:
    return files("services.ui").joinpath("pages", name).read_text(encoding="utf-8")


def _html(name: str) -> HTMLResponse:
    return HTMLResponse(_page(name), headers={"cache-control": "no-store"})


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never `//host` or a full URL (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/runs"
    return value


class LoginSessions(Protocol):
    """What the login form needs from the API's token check."""

    @property
    def cookie_name(self) -> str: ...

    def session_for(self, token: str) -> str | None:
        """The session cookie's value when `token` is the API's token, else None."""
        ...


def _router(sessions: LoginSessions | None) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/runs", status_code=303)

    @router.get("/runs")
    async def runs_page() -> HTMLResponse:
        return _html("runs.html")

    @router.get("/runs/flow-run/{flow_run_id}")
    async def run_page(flow_run_id: UUID) -> HTMLResponse:
        return _html("run.html")

    @router.get("/automations")
    async def automations_page() -> HTMLResponse:
        return _html("automations.html")

    @router.get("/automations/{automation_id}")
    async def automation_page(automation_id: UUID) -> HTMLResponse:
        return _html("automation.html")

    @router.get("/login", response_model=None)
    async def login_page() -> Response:
        if sessions is None:
            return RedirectResponse("/runs", status_code=303)
        return _html("login.html")

    @router.post("/login")
    async def login(request: Request) -> RedirectResponse:
        body = (await request.body())[:MAX_LOGIN_BODY].decode("utf-8", errors="replace")
        form = parse_qs(body)
        given = form.get("token", [""])[0]
        target = _safe_next(form.get("next", [None])[0])
        session = sessions.session_for(given) if sessions is not None else None
        if sessions is None or session is None:
            return RedirectResponse(f"/login?error=1&next={quote(target)}", status_code=303)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            sessions.cookie_name,
            session,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @router.post("/logout")
    async def logout() -> RedirectResponse:
        response = RedirectResponse("/login", status_code=303)
        if sessions is not None:
            response.delete_cookie(sessions.cookie_name, path="/")
        return response

    return router


def install_ui(app: FastAPI, sessions: LoginSessions | None) -> None:
    """Serve the UI on `app`; `sessions` is None when the API needs no token."""
    app.include_router(_router(sessions))
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
