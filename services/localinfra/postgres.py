"""A real throw-away PostgreSQL server as a child process (trust auth, fsync off)."""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from services.localinfra.postgres_install import (
    Identity,
    clean_env,
    find_bindir,
    server_identity,
)
from services.localinfra.processes import (
    InfraStartError,
    LocalServer,
    free_port,
    log_tail,
    stop_process_group,
)

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
SUPERUSER = "postgres"
# Durability is worth nothing for a throw-away test server; speed is.
_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class PostgresServer(LocalServer):
    """A local server on 127.0.0.1 in a temporary data dir, removed again by `stop()`.

    PostgreSQL refuses to run as root, so when we are root the server runs as the
    `postgres` OS user, which owns the data dir.
    """

    def __init__(self, *, port: int | None = None, startup_timeout: float = 60.0) -> None:
        self._port = port
        self._startup_timeout = startup_timeout
        self._base: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._bindir: Path | None = None
        self._run_as = Identity()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server has no port before start()")
        return self._port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def start(self) -> None:
        """Create a fresh cluster, start the server and return once it accepts connections."""
        if self.running:
            return
        self._bindir = find_bindir()
        self._run_as = server_identity()
        self._base = Path(tempfile.mkdtemp(prefix="cancelbus-postgres-"))
        atexit.register(self.stop)
        try:
            self._init_cluster(self._base)
            self._spawn(self._bindir, self._base)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def create_database(self, name: str) -> str:
        """Create an empty database and return its async SQLAlchemy URL."""
        self._client("createdb", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._client("dropdb", "--force", "--if-exists", name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT, up to 15 s, then SIGKILL) and remove the data dir."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is not None:
            stop_process_group(proc, first_signal=signal.SIGINT, name="postgres")
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def close(self) -> None:
        self.stop()

    def _init_cluster(self, base: Path) -> None:
        for sub in ("data", "sock"):
            (base / sub).mkdir(mode=0o700)
        user, group = self._run_as.user, self._run_as.group
        if user is not None and group is not None:
            for path in (base, base / "data", base / "sock"):
                os.chown(path, user, group)
        self._run(
            "initdb",
            "-D",
            str(base / "data"),
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )

    def _spawn(self, bindir: Path, base: Path) -> None:
        if self._port is None:
            self._port = free_port(HOST)
        command = [
            str(bindir / "postgres"),
            "-D",
            str(base / "data"),
            "-p",
            str(self._port),
            "-k",
            str(base / "sock"),
            "-h",
            HOST,
        ]
        command += [arg for name, value in _SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        with (base / "postgres.log").open("ab") as out:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=base,
                start_new_session=True,
                user=self._run_as.user,
                group=self._run_as.group,
                extra_groups=self._run_as.extra_groups,
            )
        log.info("postgres starting (pid %s) on %s:%s", self._proc.pid, HOST, self._port)

    def _client(self, program: str, *args: str) -> None:
        if not self.running or self._bindir is None:
            raise RuntimeError("the PostgreSQL server is not running")
        for name in args:
            if not name.startswith("-") and not _DB_NAME.fullmatch(name):
                raise ValueError(f"not a plain database name: {name!r}")
        self._run(program, "-h", HOST, "-p", str(self.port), "-U", SUPERUSER, *args)

    def _run(self, program: str, *args: str) -> None:
        """Run one of the server's tools as the server's OS user."""
        bindir, base, run_as = self._bindir, self._base, self._run_as
        assert bindir is not None
        assert base is not None
        done = subprocess.run(
            [str(bindir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=base,
            env=clean_env(),
            timeout=120,
            user=run_as.user,
            group=run_as.group,
            extra_groups=run_as.extra_groups,
        )
        if done.returncode != 0:
            raise InfraStartError(
                f"{program} failed (exit {done.returncode}):\n{(done.stdout + done.stderr).strip()}"
            )

    def _wait_ready(self) -> None:
        proc, base, bindir = self._proc, self._base, self._bindir
        assert proc is not None
        assert base is not None
        assert bindir is not None
        deadline = time.monotonic() + self._startup_timeout
        ready = [str(bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port)]
        while True:
            if proc.poll() is not None:
                raise InfraStartError(
                    f"postgres exited with code {proc.returncode}:\n"
                    f"{log_tail(base / 'postgres.log')}"
                )
            if subprocess.run(ready, check=False, env=clean_env()).returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise InfraStartError(
                    f"postgres not ready within {self._startup_timeout:.0f}s:\n"
                    f"{log_tail(base / 'postgres.log')}"
                )
            time.sleep(0.1)
