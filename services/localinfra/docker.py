"""A private Docker engine (dockerd + its own containerd) as child processes, for tests and dev.

It never touches a daemon a person runs: everything it owns lives under one run dir —
its API socket, its containerd (started here and handed to dockerd with `--containerd`,
because dockerd 20.10 would otherwise attach to a system containerd on
/run/containerd/containerd.sock), data root, exec root, pid file, trust key and an empty
daemon config (so /etc/docker/daemon.json is not read). No iptables, no bridge, vfs storage:
it runs as root on a plain Debian machine with `docker.io` installed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from services.localinfra.processes import (
    InfraStartError,
    LocalServer,
    log_tail,
    stop_process_group,
)

log = logging.getLogger(__name__)

_BINARIES = ("dockerd", "containerd", "runc")

_CONTAINERD_CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]
[grpc]
  address = "{address}"
[ttrpc]
  address = ""
[debug]
  address = ""
[metrics]
  address = ""
"""


class DockerEngine(LocalServer):
    """dockerd on `unix://<run_dir>/docker.sock`; `start()`/`stop()`/`close()` like KafkaBroker.

    A temporary run dir (the default) is short, so the socket paths stay under the 108-byte
    limit, and is removed by `close()`. `stop()` removes every container first, so no
    container process or shim outlives the engine.
    """

    def __init__(self, *, run_dir: Path | None = None, startup_timeout: float = 60.0) -> None:
        self._run_dir = run_dir
        self._owns_run_dir = run_dir is None
        self._startup_timeout = startup_timeout
        self._containerd: subprocess.Popen[bytes] | None = None
        self._dockerd: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def run_dir(self) -> Path:
        if self._run_dir is None:
            raise RuntimeError("the engine has no run dir before its first start()")
        return self._run_dir

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def url(self) -> str:
        """The Docker API URL, as DOCKER_HOST takes it."""
        return f"unix://{self.socket_path}"

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "exec" / "containerd" / "containerd.sock"

    @property
    def running(self) -> bool:
        return self._dockerd is not None and self._dockerd.poll() is None

    def start(self) -> None:
        """Start containerd and dockerd; return once the API answers `/_ping`."""
        if self.running:
            return
        missing = [name for name in _BINARIES if shutil.which(name) is None]
        if missing:
            raise InfraStartError(
                f"{', '.join(missing)} not found: install Debian's docker.io "
                "(scripts/ensure-system-deps.sh does, as root)"
            )
        self._prepare_dirs()
        if not self._atexit_registered:
            atexit.register(self.close)
            self._atexit_registered = True
        started = time.monotonic()
        try:
            self._containerd = self._spawn("containerd", self._containerd_command())
            self._wait(self._containerd, "containerd", lambda: _accepts(self.containerd_socket))
            self._dockerd = self._spawn("dockerd", self._dockerd_command())
            self._wait(self._dockerd, "dockerd", lambda: _pings(self.socket_path))
        except BaseException:
            self.stop()
            raise
        log.info("docker engine ready on %s in %.1fs", self.url, time.monotonic() - started)

    def stop(self) -> None:
        """Remove all containers, then stop dockerd and containerd (SIGTERM, bounded, SIGKILL)."""
        dockerd, self._dockerd = self._dockerd, None
        containerd, self._containerd = self._containerd, None
        if dockerd is not None:
            if dockerd.poll() is None:
                self._remove_all_containers()
            stop_process_group(dockerd, grace_seconds=20.0, name="dockerd")
        if containerd is not None:
            stop_process_group(containerd, grace_seconds=10.0, name="containerd")
            self._kill_leftover_shims()

    def close(self) -> None:
        """Stop the engine and remove its run dir if it was a temporary one."""
        self.stop()
        atexit.unregister(self.close)
        self._atexit_registered = False
        if self._owns_run_dir and self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    def _prepare_dirs(self) -> None:
        if self._run_dir is None:
            self._run_dir = Path(tempfile.mkdtemp(prefix="cbdocker-"))
        for sub in ("data", "exec/containerd", "logs"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.run_dir / "containerd.toml").write_text(
            _CONTAINERD_CONFIG.format(
                root=self.run_dir / "data" / "containerd",
                state=self.run_dir / "exec" / "containerd",
                address=self.containerd_socket,
            )
        )
        # dockerd 20.10 keeps its trust key (which the engine ID derives from) in
        # /etc/docker/key.json unless told otherwise: keep it in the run dir.
        daemon_config = {"deprecated-key-path": str(self.run_dir / "key.json")}
        (self.run_dir / "daemon.json").write_text(json.dumps(daemon_config))

    def _containerd_command(self) -> list[str]:
        return ["containerd", "--config", str(self.run_dir / "containerd.toml")]

    def _dockerd_command(self) -> list[str]:
        run = self.run_dir
        return [
            "dockerd",
            f"--config-file={run / 'daemon.json'}",
            f"--containerd={self.containerd_socket}",
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge=none",
            f"--data-root={run / 'data'}",
            f"--exec-root={run / 'exec'}",
            f"--pidfile={run / 'docker.pid'}",
            f"--host={self.url}",
        ]

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with (self.run_dir / "logs" / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                start_new_session=True,
            )
        log.info("%s starting (pid %s) in %s", name, proc.pid, self.run_dir)
        return proc

    def _wait(self, proc: subprocess.Popen[bytes], name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while not ready():
            logfile = self.run_dir / "logs" / f"{name}.log"
            if proc.poll() is not None:
                raise InfraStartError(
                    f"{name} exited with code {proc.returncode} while starting; "
                    f"last lines of {logfile}:\n{log_tail(logfile)}"
                )
            if time.monotonic() >= deadline:
                raise InfraStartError(
                    f"{name} not ready within {self._startup_timeout:.0f}s; "
                    f"last lines of {logfile}:\n{log_tail(logfile)}"
                )
            time.sleep(0.05)

    def _remove_all_containers(self) -> None:
        import docker  # imported here: no client library work at import

        try:
            with contextlib.closing(docker.DockerClient(base_url=self.url, timeout=30)) as client:
                for container in client.containers.list(all=True):
                    container.remove(force=True)
        except Exception as exc:  # dockerd's own shutdown still stops what is left
            log.warning("removing containers before stopping dockerd failed: %r", exc)

    def _kill_leftover_shims(self) -> None:
        """Kill any containerd shim still serving this engine's containerd (normally none)."""
        import psutil

        address = str(self.containerd_socket)
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if any(address in part for part in cmdline):
                log.warning("killing leftover shim %s: %s", proc.pid, " ".join(cmdline))
                with contextlib.suppress(psutil.Error):
                    proc.kill()


def _accepts(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            return True
    except OSError:
        return False


def _pings(path: Path) -> bool:
    """True once the Docker API on `path` answers `GET /_ping` with OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n", 1)[0]
