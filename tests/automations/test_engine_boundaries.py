"""The trigger engine is pure: the standard library, pydantic and the contract, nothing that
does I/O (no Kafka, database or HTTP client), so its rules are tested without servers."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.test_boundaries import imported_modules

ENGINE = Path(__file__).resolve().parents[2] / "services" / "automations" / "engine"
OWN = "services.automations.engine"


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in ("pydantic", "schemas"):
        return True
    return module == OWN or module.startswith(OWN + ".")


def test_the_engine_imports_only_the_standard_library_pydantic_and_schemas() -> None:
    found = imported_modules(ENGINE)

    assert found
    assert {path: sorted(m for m in names if not _allowed(m)) for path, names in found.items()} == {
        path: [] for path in found
    }
