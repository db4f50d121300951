"""What crosses a service boundary goes through schemas/: the client and the launcher import
no other service, only the contract, their own modules and the shared library packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import services

SERVICES = Path(services.__file__).parent
# packages and helpers that are no deployable service
SHARED = ("services.infrastructure", "services.runtime")


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Each module of `package` (relative path) -> every module it imports, absolute."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(SERVICES.parent))] = names
    return found


def _allowed(module: str, own: str) -> bool:
    if not module.startswith("services"):
        return True  # the standard library, third-party packages and schemas
    return any(module == p or module.startswith(p + ".") for p in (own, *SHARED))


@pytest.mark.parametrize("package", ["client", "launcher"])
def test_a_package_imports_no_other_service(package: str) -> None:
    own = f"services.{package}"
    foreign = {
        module: sorted(m for m in names if not _allowed(m, own))
        for module, names in imported_modules(SERVICES / package).items()
    }

    assert {module: names for module, names in foreign.items() if names} == {}


@pytest.mark.parametrize("package", ["infrastructure", "runtime"])
def test_a_shared_library_imports_no_service(package: str) -> None:
    foreign = {
        module: sorted(m for m in names if not _allowed(m, f"services.{package}"))
        for module, names in imported_modules(SERVICES / package).items()
    }

    assert {module: names for module, names in foreign.items() if names} == {}
