"""Where a run's infrastructure lives: a kind, a scope within which the id is unique, the id.

The canonical string form is ``<kind>://<scope>/<id>[#<fingerprint>]`` with each part
percent-encoded, so any scope (a ``unix://`` socket, a cluster name) round-trips. The
plain forms users already have are accepted too:

- ``host:pid``                    -> process
- ``docker_api_url:container_id`` -> docker (the URL carries ``://``)
- ``cluster:namespace:job``       -> kubernetes

A plain form has no fingerprint: identity is then checked by the run's marker or label.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Self
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field, model_validator


class InfrastructureKind(StrEnum):
    PROCESS = "process"
    DOCKER = "docker"
    KUBERNETES = "kubernetes"


_CANONICAL_PREFIXES = {f"{kind.value}://": kind for kind in InfrastructureKind}


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _enc(part: str) -> str:
    # most parts need no escaping, and matching is several times cheaper than quote()
    return part if _UNRESERVED.fullmatch(part) else quote(part, safe="")


class InfrastructureId(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: InfrastructureKind
    scope: str = Field(min_length=1, description="where it runs: host, Docker API URL, cluster")
    id: str = Field(min_length=1, description="unique within the scope: PID, container, ns/job")
    fingerprint: str | None = Field(
        default=None,
        min_length=1,
        description="process start time, or Kubernetes Job UID; absent in the plain forms",
    )

    @model_validator(mode="after")
    def _check_id_shape(self) -> Self:
        if self.kind is InfrastructureKind.PROCESS and not self.id.isdecimal():
            raise ValueError(f"a process id must be a PID, got {self.id!r}")
        if self.kind is InfrastructureKind.KUBERNETES and self.id.count("/") != 1:
            raise ValueError(f"a Kubernetes id must be 'namespace/job', got {self.id!r}")
        return self

    def __str__(self) -> str:
        text = f"{self.kind.value}://{_enc(self.scope)}/{_enc(self.id)}"
        if self.fingerprint is not None:
            text += f"#{_enc(self.fingerprint)}"
        return text

    @classmethod
    def parse(cls, text: str) -> InfrastructureId:
        """Parse the canonical form or one of the plain forms; ValueError says why not."""
        text = text.strip()
        for prefix, kind in _CANONICAL_PREFIXES.items():
            if text.startswith(prefix):
                return cls._parse_canonical(kind, text[len(prefix) :])
        return cls._parse_plain(text)

    @classmethod
    def _parse_canonical(cls, kind: InfrastructureKind, rest: str) -> InfrastructureId:
        body, hash_sign, fingerprint = rest.partition("#")
        scope, slash, ident = body.partition("/")
        if not slash or not scope or not ident:
            raise ValueError(f"expected {kind.value}://<scope>/<id>[#<fingerprint>]")
        return cls(
            kind=kind,
            scope=unquote(scope),
            id=unquote(ident),
            fingerprint=unquote(fingerprint) if hash_sign else None,
        )

    @classmethod
    def _parse_plain(cls, text: str) -> InfrastructureId:
        if "://" in text:
            scope, _, container = text.rpartition(":")
            if not container or "/" in container or scope.endswith("://"):
                raise ValueError("expected docker_api_url:container_id")
            return cls(kind=InfrastructureKind.DOCKER, scope=scope, id=container)
        parts = text.split(":")
        if len(parts) == 2 and parts[1].isdecimal():
            return cls(kind=InfrastructureKind.PROCESS, scope=parts[0], id=parts[1])
        if len(parts) == 3 and all(parts):
            return cls(
                kind=InfrastructureKind.KUBERNETES, scope=parts[0], id=f"{parts[1]}/{parts[2]}"
            )
        raise ValueError(
            f"not an infrastructure id: {text!r}; expected <kind>://<scope>/<id>, "
            "host:pid, docker_api_url:container_id or cluster:namespace:job"
        )

    @classmethod
    def coerce(cls, value: Any) -> InfrastructureId:
        if isinstance(value, InfrastructureId):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls.model_validate(value)
