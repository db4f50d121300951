"""The fault every infrastructure adapter raises."""

from __future__ import annotations


class InfrastructureError(Exception):
    """An unexpected fault talking to the infrastructure (a worker retries, then reports failed)."""
