"""The real `prefect` 3.9.1 commands against a live `cancelbus state` process (the
`state_process` and `prefect_bin` fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def prefect(
    bin_dir: Path, api_url: str, home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `args[0]` of the prefect environment (`prefect`, `python`) against `api_url`."""
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(home),
        "COLUMNS": "250",
    }
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
