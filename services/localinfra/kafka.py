"""A real single-node Apache Kafka (KRaft broker + controller) as a child process."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from services.localinfra import kafka_data_dir
from services.localinfra.kafka_dist import (
    DEFAULT_KAFKA_VERSION,
    ensure_kafka_jars,
    find_java,
)
from services.localinfra.processes import (
    InfraStartError,
    LocalServer,
    free_port,
    log_tail,
    port_accepts,
    stop_process_group,
)

__all__ = ["DEFAULT_KAFKA_VERSION", "KafkaBroker", "ensure_kafka_jars"]

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


class KafkaBroker(LocalServer):
    """A local broker on 127.0.0.1; `start()` and `stop()` may be called again and again.

    Ports are chosen once (free ones unless given) and kept, so a restart on the same data
    dir serves the same `bootstrap_servers` with the data written before. A temporary data
    dir is removed by `close()` (and on leaving the `with` block); a given one is kept.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        data_dir: Path | None = None,
        version: str = DEFAULT_KAFKA_VERSION,
        cache_dir: Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 90.0,
    ) -> None:
        self._port = port
        self._controller_port = controller_port
        self._data_dir = data_dir
        self._owns_data_dir = data_dir is None
        self._version = version
        self._cache_dir = cache_dir
        self._heap = heap
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the broker has no port before its first start()")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("the broker has no data dir before its first start()")
        return self._data_dir

    @property
    def log_file(self) -> Path:
        return kafka_data_dir.log_file(self.data_dir)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker JVM's process id while it runs."""
        return self._proc.pid if self._proc is not None and self.running else None

    def start(self) -> None:
        """Start the broker and return once it answers metadata requests."""
        if self.running:
            return
        libs = ensure_kafka_jars(self._version, self._cache_dir)
        java = find_java()
        self._prepare_dirs()
        if self._port is None:
            self._port = free_port(HOST)
        if self._controller_port is None:
            self._controller_port = free_port(HOST)
        for port in (self._port, self._controller_port):
            if port_accepts(HOST, port):
                raise InfraStartError(f"port {port} on {HOST} is already in use")
        config = kafka_data_dir.write_config(
            self.data_dir, host=HOST, port=self._port, controller_port=self._controller_port
        )
        classpath = f"{libs}/*"
        kafka_data_dir.format_storage(self.data_dir, java, classpath, config)
        command = [
            str(java),
            f"-Xmx{self._heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile=file:{kafka_data_dir.log4j_config(self.data_dir)}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        started = time.monotonic()
        with kafka_data_dir.stdout_log(self.data_dir).open("ab") as out:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        if not self._atexit_registered:
            atexit.register(self.close)
            self._atexit_registered = True
        log.info(
            "kafka %s starting (pid %s) on %s",
            self._version,
            self._proc.pid,
            self.bootstrap_servers,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("kafka ready on %s in %.1fs", self.bootstrap_servers, time.monotonic() - started)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, up to 15 s, then SIGKILL); the data dir stays."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process_group(proc, grace_seconds=15.0, name="kafka")

    def close(self) -> None:
        """Stop the broker and remove its data dir if it was a temporary one."""
        self.stop()
        atexit.unregister(self.close)
        self._atexit_registered = False
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def _prepare_dirs(self) -> None:
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="cancelbus-kafka-"))
        kafka_data_dir.prepare(self._data_dir)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise InfraStartError(
                    f"Kafka exited with code {self._proc.returncode} while starting; "
                    f"last lines of {self.log_file}:\n{log_tail(self.log_file)}\n"
                    f"{log_tail(kafka_data_dir.stdout_log(self.data_dir))}"
                )
            if port_accepts(HOST, self.port) and _answers_metadata(self.bootstrap_servers):
                return
            if time.monotonic() >= deadline:
                raise InfraStartError(
                    f"Kafka did not answer on {self.bootstrap_servers} within "
                    f"{self._startup_timeout:.0f}s; last lines of {self.log_file}:\n"
                    f"{log_tail(self.log_file)}"
                )
            time.sleep(0.3)


def _answers_metadata(bootstrap_servers: str) -> bool:
    """True once the broker lists itself in a metadata answer.

    The probe runs its own event loop in a worker thread, so `start()` works both from
    plain code and from inside a running event loop.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _probe(bootstrap_servers)).result()


async def _probe(bootstrap_servers: str) -> bool:
    from aiokafka import AIOKafkaClient  # imported here: no client library work at import
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except KafkaError:
        return False
    finally:
        await client.close()
