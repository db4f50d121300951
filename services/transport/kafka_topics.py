"""The Kafka bus's topics on the broker: their names under the prefix, created on first use.

Topics are created with `max.message.bytes` raised, so an oversized message reaches a
handler (and is dead-lettered with a reason) instead of being refused by the broker where
no consumer ever sees it. A topic another service created first is fine (services race).
A topic holding the latest value per key (the automations) is compacted, so a replica reads
every live rule from the start without the broker keeping each change forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from schemas.topics import Topics

log = structlog.get_logger(__name__)

# topics whose readers want the latest message per key, not the history
COMPACTED: frozenset[str] = frozenset({Topics.AUTOMATIONS})


class KafkaTopics:
    def __init__(
        self,
        *,
        prefix: str,
        partitions: int,
        replication_factor: int,
        max_message_bytes: int,
        request_timeout: float,
    ) -> None:
        self._prefix = prefix
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._max_message_bytes = max_message_bytes
        self._request_timeout = request_timeout
        self._admin: AIOKafkaAdminClient | None = None
        self._known: set[str] = set()
        self._lock = asyncio.Lock()

    def name(self, topic: str) -> str:
        """The broker's name of a topic: namespaced by the prefix (shared clusters, tests)."""
        return self._prefix + topic

    def logical_name(self, name: str) -> str:
        return name.removeprefix(self._prefix)

    async def start(self, bootstrap_servers: str, client_id: str) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id=f"{client_id}-admin",
            request_timeout_ms=int(self._request_timeout * 1000),
        )
        await self._admin.start()

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()

    async def ensure(self, topics: Sequence[str]) -> None:
        """Create the topics not known to exist, and wait until the broker lists them."""
        missing = [t for t in dict.fromkeys(topics) if t not in self._known]
        if not missing:
            return
        admin = self._admin
        if admin is None:
            raise RuntimeError("the bus is not started")
        async with self._lock:
            missing = [t for t in missing if t not in self._known]
            if not missing:
                return
            response = await admin.create_topics(
                [
                    NewTopic(
                        self.name(t),
                        self._partitions,
                        self._replication_factor,
                        topic_configs=self._config(t),
                    )
                    for t in missing
                ]
            )
            for topic, code, *rest in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"cannot create topic {topic}: {rest}")
                if code == 0:
                    log.info("topic_created", topic=topic, partitions=self._partitions)
                elif self.logical_name(topic) in COMPACTED:
                    await _compact(admin, topic)
            await self._wait_visible(admin, [self.name(t) for t in missing])
            self._known.update(missing)

    def _config(self, topic: str) -> dict[str, str]:
        config = {"max.message.bytes": str(self._max_message_bytes)}
        if topic in COMPACTED:
            config["cleanup.policy"] = "compact"
        return config

    async def _wait_visible(self, admin: AIOKafkaAdminClient, topics: list[str]) -> None:
        """Wait until the broker's metadata lists the topics, so clients see them at once."""
        async with asyncio.timeout(self._request_timeout):
            while True:
                described = await admin.describe_topics(topics)
                if all(t["error_code"] == 0 and t["partitions"] for t in described):
                    return
                await asyncio.sleep(0.1)


async def _compact(admin: AIOKafkaAdminClient, topic: str) -> None:
    """Make a topic that exists uncompacted (created by an older version, or by hand)
    compacted, keeping the other settings made for it: under the delete policy its oldest
    rules would expire, and a replica starting later would never learn of them."""
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    (described,) = await admin.describe_configs([resource])
    ((code, message, _type, _name, entries),) = described.resources
    if code != 0:
        raise for_code(code)(f"cannot read the settings of topic {topic}: {message}")
    settings = {entry[0]: entry[1] for entry in entries if _set_for_topic(entry)}
    policy = {entry[0]: entry[1] for entry in entries}.get("cleanup.policy") or ""
    if "compact" in policy.split(","):
        return
    settings["cleanup.policy"] = "compact"
    # AlterConfigs replaces every setting of the topic: the ones read are written back
    (altered,) = await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, settings)]
    )
    ((code, message, *_rest),) = altered.resources
    if code != 0:
        raise for_code(code)(f"cannot make topic {topic} compacted: {message}")
    log.warning("topic_made_compacted", topic=topic, cleanup_policy_was=policy)


def _set_for_topic(entry: tuple[object, ...]) -> bool:
    """Whether a described setting was made for the topic itself, not inherited (version 0
    of the answer says `is_default`, later ones the source: 1 is the topic's own)."""
    _name, value, read_only, source, sensitive = entry[:5]
    if read_only or sensitive or value is None:
        return False
    return not source if isinstance(source, bool) else source == 1
