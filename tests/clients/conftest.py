"""A live stack per test: the state service and a process worker over real TCP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.stack import LiveStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    live = LiveStack(tmp_path).start()
    try:
        yield live
    finally:
        live.stop()
