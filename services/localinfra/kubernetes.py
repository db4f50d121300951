"""A real Kubernetes API server (kube-apiserver + etcd) as child processes, for tests and benches.

The binaries are built once from the Go module proxy by `scripts/build-kube.sh` into
`~/.cache/cancelbus/kube/<version>/bin`. There is no kubelet and no controller-manager: Jobs
never get pods and Foreground deletion never completes, but everything the API server itself
decides is real (labels, deletion, preconditions, RBAC, status codes).

Authentication is by static tokens (kube_credentials.py).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from services.localinfra.kube_credentials import (
    ADMIN,
    new_tokens,
    write_kubeconfigs,
    write_token_file,
)
from services.localinfra.processes import (
    InfraStartError,
    LocalServer,
    free_port,
    log_tail,
    port_accepts,
    stop_process_group,
)
from services.localinfra.settings import LocalInfraSettings

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
DEFAULT_KUBE_VERSION = "v1.36.3"
DEFAULT_USERS = ("cancelbus-worker", "cancelbus-no-delete", "nobody")


def kube_bin_dir(settings: LocalInfraSettings, version: str = DEFAULT_KUBE_VERSION) -> Path:
    """`$CANCELBUS_KUBE_BIN_DIR`, else where scripts/build-kube.sh puts that version."""
    return settings.kube_bin_dir or settings.cache_dir / "kube" / version / "bin"


class KubeApiServer(LocalServer):
    """etcd and kube-apiserver on free loopback ports, state in a temp dir removed by `stop()`."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        users: tuple[str, ...] = DEFAULT_USERS,
        startup_timeout: float = 120.0,
    ) -> None:
        self._bin_dir = bin_dir
        self._startup_timeout = startup_timeout
        self.tokens = new_tokens(users)
        self._base: Path | None = None
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self._dir / "certs" / "apiserver.crt"

    @property
    def _dir(self) -> Path:
        if self._base is None:
            raise RuntimeError("the API server is not started")
        return self._base

    def kubeconfig(self, user: str = ADMIN) -> Path:
        """The path of a kubeconfig that authenticates as `user` (written at start)."""
        return self._dir / "kubeconfigs" / f"{user}.yaml"

    def start(self) -> None:
        """Start etcd, then kube-apiserver; return once /readyz answers and kube-system exists."""
        if self._apiserver is not None:
            return
        bin_dir = self._bin_dir or kube_bin_dir(LocalInfraSettings())
        for name in ("etcd", "kube-apiserver"):
            if not os.access(bin_dir / name, os.X_OK):
                raise InfraStartError(
                    f"{bin_dir / name} not found: build it with scripts/build-kube.sh "
                    "(or set CANCELBUS_KUBE_BIN_DIR)"
                )
        self._base = Path(tempfile.mkdtemp(prefix="cancelbus-kube-"))
        atexit.register(self.stop)
        try:
            etcd_url = self._start_etcd(bin_dir / "etcd")
            self._start_apiserver(bin_dir / "kube-apiserver", etcd_url)
            self._wait_ready()
            write_kubeconfigs(
                self._dir / "kubeconfigs", self.tokens, url=self.url, ca_file=self.ca_file
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd, and remove the state dir."""
        atexit.unregister(self.stop)
        apiserver, self._apiserver = self._apiserver, None
        etcd, self._etcd = self._etcd, None
        if apiserver is not None:
            stop_process_group(apiserver, grace_seconds=15, name="kube-apiserver")
        if etcd is not None:
            stop_process_group(etcd, grace_seconds=10, name="etcd")
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def close(self) -> None:
        self.stop()

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self._dir / log_name).open("ab") as out:
            return subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _start_etcd(self, etcd: Path) -> str:
        client, peer = free_port(), free_port()
        url = f"http://{HOST}:{client}"
        self._etcd = self._spawn(
            [
                str(etcd),
                f"--data-dir={self._dir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://{HOST}:{peer}",
                f"--initial-advertise-peer-urls=http://{HOST}:{peer}",
                f"--initial-cluster=default=http://{HOST}:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            "etcd.log",
        )
        deadline = time.monotonic() + 30
        while not port_accepts(HOST, client):
            if self._etcd.poll() is not None or time.monotonic() > deadline:
                raise InfraStartError(f"etcd did not start:\n{log_tail(self._dir / 'etcd.log')}")
            time.sleep(0.05)
        return url

    def _start_apiserver(self, apiserver: Path, etcd_url: str) -> None:
        key = self._dir / "sa.key"
        done = subprocess.run(
            ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise InfraStartError(f"openssl could not make the service-account key: {done.stderr}")
        tokens = self._dir / "tokens.csv"
        write_token_file(tokens, self.tokens)
        self.port = free_port()
        self._apiserver = self._spawn(
            [
                str(apiserver),
                f"--etcd-servers={etcd_url}",
                f"--secure-port={self.port}",
                f"--bind-address={HOST}",
                f"--advertise-address={HOST}",
                f"--cert-dir={self._dir / 'certs'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                "--authorization-mode=RBAC",
                f"--token-auth-file={tokens}",
                "--anonymous-auth=false",
                "--v=0",
            ],
            "kube-apiserver.log",
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        last = "no answer yet"
        headers = {"Authorization": f"Bearer {self.tokens[ADMIN]}"}
        while time.monotonic() < deadline:
            assert self._apiserver is not None
            if self._apiserver.poll() is not None:
                raise InfraStartError(
                    f"kube-apiserver exited with {self._apiserver.returncode}:\n"
                    f"{log_tail(self._dir / 'kube-apiserver.log')}"
                )
            if self.ca_file.exists() and port_accepts(HOST, self.port):
                try:
                    with httpx.Client(
                        base_url=self.url,
                        verify=ssl.create_default_context(cafile=self.ca_file),
                        headers=headers,
                        timeout=5,
                    ) as http:
                        ready = http.get("/readyz")
                        system = http.get("/api/v1/namespaces/kube-system")
                    if ready.status_code == 200 and system.status_code == 200:
                        log.info("kube-apiserver ready at %s", self.url)
                        return
                    last = f"/readyz {ready.status_code}, kube-system {system.status_code}"
                except (httpx.HTTPError, ssl.SSLError) as exc:
                    last = repr(exc)
            time.sleep(0.2)
        raise InfraStartError(
            f"kube-apiserver not ready in {self._startup_timeout} s ({last}):\n"
            f"{log_tail(self._dir / 'kube-apiserver.log')}"
        )
