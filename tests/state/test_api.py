"""The REST API as a Prefect 3 client and an operator use it."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import httpx

from services.state.bootstrap import build_state
from services.transport.memory import InMemoryBus
from tests.state.conftest import StateHarness, fast_settings


async def test_prefect_style_create_read_patch_filter(state: StateHarness) -> None:
    flow_id = uuid4()
    created = await state.api.post(
        "/api/flow_runs/",
        json={
            "flow_id": str(flow_id),
            "name": "crimson-owl",
            "tags": ["nightly", "etl"],
            "parameters": {"n": 1},
            "state": {"type": "SCHEDULED", "name": "Scheduled", "state_details": {}},
            "context": {},
            "empirical_policy": {},
        },
    )
    assert created.status_code == 201
    run = created.json()
    assert (run["flow_id"], run["name"], run["state"]["type"]) == (
        str(flow_id),
        "crimson-owl",
        "SCHEDULED",
    )

    patched = await state.api.patch(
        f"/api/flow_runs/{run['id']}", json={"infrastructure_pid": "worker-7:31337"}
    )
    assert patched.status_code == 204
    read = (await state.api.get(f"/api/flow_runs/{run['id']}")).json()
    assert read["infrastructure_pid"] == "worker-7:31337"
    assert read["infrastructure"] == {
        "kind": "process",
        "scope": "worker-7",
        "id": "31337",
        "fingerprint": None,
    }
    for field in ("id", "name", "state", "infrastructure_pid", "start_time", "tags"):
        assert field in read

    found = await state.api.post(
        "/api/flow_runs/filter",
        json={
            "flow_runs": {
                "state": {"type": {"any_": ["SCHEDULED"]}},
                "tags": {"all_": ["nightly"]},
                "id": {"any_": [run["id"], str(uuid4())]},
            },
            "limit": 10,
            "offset": 0,
            "sort": "ID_DESC",
        },
    )
    assert [r["id"] for r in found.json()] == [run["id"]]
    none = await state.api.post(
        "/api/flow_runs/filter", json={"flow_runs": {"tags": {"all_": ["nightly", "weekly"]}}}
    )
    assert none.json() == []


async def test_health_version_metrics_and_docs(state: StateHarness) -> None:
    run = await state.running_run()
    await state.api.post(
        f"/api/flow_runs/{run.id}/set_state", json={"state": {"type": "CANCELLING"}}
    )

    assert (await state.api.get("/api/health")).json() is True
    assert (await state.api.get("/api/admin/version")).json().startswith("3.")
    assert (await state.api.get("/api/csrf-token", params={"client": "x"})).status_code == 404
    metrics = (await state.api.get("/metrics")).text
    assert 'cancelbus_orchestrations_total{proposed="CANCELLING",status="ACCEPT"} 1.0' in metrics
    assert "cancelbus_outbox_pending" in metrics
    openapi = (await state.api.get("/openapi.json")).json()
    assert "/api/flow_runs/{flow_run_id}/set_state" in openapi["paths"]
    docs = (await state.api.get("/docs")).text
    assert "/docs-assets/swagger-ui-bundle.js" in docs
    assert "cdn" not in docs.lower()  # works on a machine without internet access
    assert (await state.api.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200
    assert "/docs-assets/redoc.standalone.js" in (await state.api.get("/redoc")).text


async def test_api_token_guards_everything_but_health(tmp_path: Path) -> None:
    settings = fast_settings(f"sqlite:///{tmp_path / 'a.db'}", api_token="s3cret")
    runtime = build_state(settings, InMemoryBus())
    async with runtime.running():
        transport = httpx.ASGITransport(app=runtime.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://cancelbus") as api:
            assert (await api.get("/api/health")).status_code == 200
            missing = await api.post("/api/flow_runs/filter", json={})
            wrong = await api.post(
                "/api/flow_runs/filter", json={}, headers={"Authorization": "Bearer nope"}
            )
            right = await api.post(
                "/api/flow_runs/filter", json={}, headers={"Authorization": "Bearer s3cret"}
            )
            assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
            assert "missing bearer token" in missing.json()["detail"]
            assert (await api.get("/metrics")).status_code == 401
