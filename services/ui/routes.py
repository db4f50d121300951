"""Pages of the web UI and its login form; the data comes from the REST API and live events.

Nothing is fetched from the network at run time: pages and assets ship in this package.
"""

from __future__ import annotations

import hmac
from functools import cache
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, quote
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.state.api.auth import SESSION_COOKIE, session_value

router = APIRouter(include_in_schema=False)

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


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
async def runs_page() -> HTMLResponse:
    return _html("runs.html")


@router.get("/runs/flow-run/{flow_run_id}")
async def run_page(flow_run_id: UUID) -> HTMLResponse:
    return _html("run.html")


@router.get("/login", response_model=None)
async def login_page(request: Request) -> Response:
    if not request.app.state.api_token:
        return RedirectResponse("/runs", status_code=303)
    return _html("login.html")


@router.post("/login")
async def login(request: Request) -> RedirectResponse:
    token: str | None = request.app.state.api_token
    body = (await request.body())[:MAX_LOGIN_BODY].decode("utf-8", errors="replace")
    form = parse_qs(body)
    given = form.get("token", [""])[0]
    target = _safe_next(form.get("next", [None])[0])
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        return RedirectResponse(f"/login?error=1&next={quote(target)}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def install_ui(app: FastAPI, api_token: str | None) -> None:
    app.state.api_token = api_token
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
