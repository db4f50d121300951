"""Where this machine's PostgreSQL server binaries are, and which OS user runs them."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

from services.localinfra.processes import InfraStartError

_NEEDED = ("initdb", "postgres", "pg_isready", "createdb", "dropdb")


class PostgresNotFoundError(InfraStartError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The folder with initdb/postgres: `pg_config --bindir`, /usr/lib/postgresql/*/bin, PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    by_version = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parent.name) or 0),
        reverse=True,
    )
    candidates += [Path(p) for p in by_version]
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in _NEEDED):
            return bindir
    raise PostgresNotFoundError(
        "PostgreSQL server binaries (initdb, postgres) not found: run "
        "scripts/ensure-system-deps.sh or `apt-get install postgresql`"
    )


class Identity(NamedTuple):
    """Who the server and its tools run as; all None means "as ourselves"."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None


def server_identity() -> Identity:
    """The `postgres` OS user when we are root (PostgreSQL refuses root), else ourselves."""
    if os.geteuid() != 0:
        return Identity()
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise InfraStartError(
            "running as root, but there is no `postgres` OS user to run PostgreSQL as: "
            "`apt-get install postgresql` creates it"
        ) from None
    return Identity(entry.pw_uid, entry.pw_gid, [])


def clean_env() -> dict[str, str]:
    """Our environment without libpq settings that would point the tools elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
