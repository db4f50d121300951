"""What a local broker's data dir holds: its configuration files and its KRaft storage.

<data_dir>/server.properties, log4j2.properties   written at each start
<data_dir>/kraft/                                  the log dirs, formatted once
<data_dir>/logs/kafka.log, stdout.log              what the broker wrote
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from services.localinfra.processes import InfraStartError

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dirs}
num.partitions=6
auto.create.topics.enable=false
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""

_LOG4J2_PROPERTIES = """\
status = warn
name = cancelbus-local-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
"""


def log_file(data_dir: Path) -> Path:
    return data_dir / "logs" / "kafka.log"


def stdout_log(data_dir: Path) -> Path:
    return data_dir / "logs" / "stdout.log"


def log4j_config(data_dir: Path) -> Path:
    return data_dir / "log4j2.properties"


def prepare(data_dir: Path) -> None:
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (data_dir / "kraft").mkdir(exist_ok=True)


def write_config(data_dir: Path, *, host: str, port: int, controller_port: int) -> Path:
    """Write the broker's and log4j's configuration; the path of the broker's."""
    config = data_dir / "server.properties"
    config.write_text(
        _SERVER_PROPERTIES.format(
            host=host, port=port, controller_port=controller_port, log_dirs=data_dir / "kraft"
        )
    )
    log4j_config(data_dir).write_text(_LOG4J2_PROPERTIES.format(log_file=log_file(data_dir)))
    return config


def format_storage(data_dir: Path, java: Path, classpath: str, config: Path) -> None:
    """Format the KRaft storage with a new cluster id, unless an earlier start did."""
    if (data_dir / "kraft" / "meta.properties").is_file():
        return  # formatted by an earlier start: keep the data
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    command = [
        str(java),
        "-Xmx256m",
        f"-Dlog4j2.configurationFile=file:{log4j_config(data_dir)}",
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "format",
        # one argument: an id may start with "-", which would read as an option
        f"--cluster-id={cluster_id}",
        "-c",
        str(config),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise InfraStartError(
            f"formatting Kafka storage in {data_dir} failed (exit {done.returncode}):\n"
            f"{(done.stdout + done.stderr).strip()}"
        )
