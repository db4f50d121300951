"""A server starts only for a test marked with it: a test that needs one and is not marked
fails at once, instead of slipping into the quick subset (`-m "not kafka and ..."`)."""

from __future__ import annotations

import pytest

RUNNING = pytest.StashKey[pytest.Item]()


def note_running(item: pytest.Item) -> None:
    """Called as each test is set up: the server fixtures check the test that needs them."""
    item.config.stash[RUNNING] = item


def require_marker(request: pytest.FixtureRequest, marker: str) -> None:
    item = request.config.stash.get(RUNNING, None)
    if item is not None and item.get_closest_marker(marker) is None:
        pytest.fail(f"{item.nodeid} needs a server but is not marked {marker!r}", pytrace=False)
