"""Real local infrastructure for development and tests: a Kafka broker and PostgreSQL.

Both run as child processes of the caller from files on this machine (Kafka's jars
come from Maven Central into a cache outside the repo); neither needs Docker. A private
Docker engine for the Docker tests lives in services.localinfra.docker.
"""

from services.localinfra.kafka import DEFAULT_KAFKA_VERSION, KafkaBroker, ensure_kafka_jars
from services.localinfra.postgres import PostgresServer
from services.localinfra.postgres_install import PostgresNotFoundError
from services.localinfra.processes import InfraStartError

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "InfraStartError",
    "KafkaBroker",
    "PostgresNotFoundError",
    "PostgresServer",
    "ensure_kafka_jars",
]
