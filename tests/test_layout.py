"""README's Layout section names every subpackage of services/, so a newcomer finds each."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1]
    return section.split("\n## ", 1)[0]


def test_the_readme_layout_lists_every_subpackage_of_services() -> None:
    listed = set(re.findall(r"^ +(\w+)/(?: |$)", _layout_section(), flags=re.MULTILINE))
    subpackages = {p.parent.name for p in (ROOT / "services").glob("*/__init__.py")}
    assert subpackages - listed == set()


def test_no_module_of_the_package_is_over_250_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("services", "schemas")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {path: lines for path, lines in sizes.items() if lines > 250} == {}
