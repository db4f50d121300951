"""Every module of the package imports on its own, first thing in a fresh interpreter.

An import cycle only shows when the import starts at the wrong end of it, so each module
gets its own `python` process (a few at a time), never one shared by the others.
"""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("services", "schemas")
# An Alembic script, executed by Alembic inside a migration, never imported.
NOT_IMPORTABLE = frozenset({"services.state.migrations.env"})
IMPORT = "import importlib, sys; importlib.import_module(sys.argv[1])"


def _modules(directory: Path, prefix: str) -> Iterator[str]:
    """Found on disk, without importing anything (importing a package could hide its cycle)."""
    for module in pkgutil.iter_modules([str(directory)]):
        name = prefix + module.name
        yield name
        if module.ispkg:
            yield from _modules(directory / module.name, name + ".")


def package_modules() -> list[str]:
    found = [name for package in PACKAGES for name in _modules(ROOT / package, package + ".")]
    return [*PACKAGES, *(name for name in found if name not in NOT_IMPORTABLE)]


def _import_alone(module: str) -> tuple[str, str | None]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        return module, None
    return module, (done.stderr.strip().splitlines() or ["(no output)"])[-1]


def test_the_walk_finds_every_module() -> None:
    modules = package_modules()
    assert {"services.ui", "services.ui.routes", "services.state.api.app", "schemas.ids"} <= set(
        modules
    )
    on_disk = sum(1 for package in PACKAGES for _ in (ROOT / package).rglob("*.py"))
    assert len(modules) == on_disk - len(NOT_IMPORTABLE)


# a few hundred interpreters, each importing its dependencies anew: longer than one test's usual
@pytest.mark.timeout(600)
def test_every_module_imports_on_its_own_in_a_fresh_interpreter() -> None:
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        failures = {
            module: error for module, error in pool.map(_import_alone, package_modules()) if error
        }
    assert failures == {}


def test_the_ui_is_given_its_login_check_and_imports_no_service() -> None:
    probe = (
        "import sys, services.ui; "
        "print(sorted(m for m in sys.modules if m.startswith(('services.state', 'services.cli'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def _private_imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"


def test_no_module_imports_another_modules_private_names() -> None:
    """A name shared between modules is public, in a module named for it."""
    found = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in _private_imports(path)
    ]
    assert found == []
