"""The REST API: a compatible subset of Prefect 3's flow-run API, plus cancellation extras."""

from services.state.api.app import create_app

__all__ = ["create_app"]
