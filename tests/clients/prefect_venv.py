"""The real `prefect` package in a virtual environment of its own, cached outside the repo.

Keyed by the pinned version, so a new pin builds a new environment. Built once per machine
(`python -m tests.clients.prefect_venv` warms the cache); a half-built environment,
one without the completion marker, is thrown away and built again.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

PREFECT_VERSION = "3.9.1"
CACHE = Path.home() / ".cache" / "cancelbus"


def prefect_venv(version: str = PREFECT_VERSION) -> Path:
    """The environment's directory, built if missing; `<dir>/bin/prefect` is the CLI."""
    venv = CACHE / f"prefect-venv-{version}"
    marker = venv / ".complete"
    if marker.exists():
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"prefect-venv-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be building it
        if marker.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"prefect=={version}"],
            check=True,
            timeout=900,
        )
        marker.write_text(version + "\n")
    return venv


if __name__ == "__main__":
    print(prefect_venv())
