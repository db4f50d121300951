"""Child-process helpers shared by the local Kafka broker and PostgreSQL server."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)


class InfraStartError(RuntimeError):
    """A local server could not be started; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages ("" if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stop_process_group(
    proc: subprocess.Popen[bytes],
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    grace_seconds: float = 15.0,
    name: str = "process",
) -> None:
    """Stop a child started with `start_new_session=True`: signal, wait, then SIGKILL its group.

    The whole group is killed at the end in any case, so no grandchild outlives it.
    """
    if proc.poll() is None:
        log.info("stopping %s (pid %s) with %s", name, proc.pid, first_signal.name)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(first_signal)
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            log.warning(
                "%s (pid %s) ignored %s for %ss: killing it",
                name,
                proc.pid,
                first_signal.name,
                grace_seconds,
            )
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class LocalServer:
    """`with server:` starts a local server and closes it (stopped, temporary files gone)."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
