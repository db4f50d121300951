"""Where local servers' files are kept (environment prefix CANCELBUS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "cancelbus"


class LocalInfraSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CANCELBUS_", extra="ignore", env_ignore_empty=True
    )

    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="downloaded and built servers (Kafka's jars, kube-apiserver and etcd)",
    )
    kube_bin_dir: Path | None = Field(
        default=None,
        description="kube-apiserver and etcd; default: where scripts/build-kube.sh puts them",
    )
