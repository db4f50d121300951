"""Settings of the timeout service (environment prefix CANCELBUS_)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.transport.settings import BusSettings

TIMEOUT_ENV = "CANCELBUS_CANCELLING_TIMEOUT_SECONDS"
# The name users know from Prefect; ours wins when both are set (first choice found).
PREFECT_TIMEOUT_ENV = "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_CANCELLING_TIMEOUT_SECONDS"
_ONE_YEAR = 366 * 86400.0


class TimeoutSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CANCELBUS_", extra="ignore", validate_by_name=True
    )

    bus: BusSettings = Field(default_factory=BusSettings)
    cancelling_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        le=_ONE_YEAR,
        allow_inf_nan=False,
        validation_alias=AliasChoices(TIMEOUT_ENV, PREFECT_TIMEOUT_ENV),
        description="a run still CANCELLING this long after it entered CANCELLING is forced",
    )
    api_url: str = Field(
        default="http://127.0.0.1:4200/api",
        description="the state service's API, read on start to rebuild the deadlines",
    )
    api_token: str | None = Field(default=None, description="bearer token for the API")
    api_timeout_seconds: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=4310, ge=0, le=65535, description="0: no metrics server")
    publish_batch: int = Field(
        default=1000, ge=1, le=100_000, description="timeouts published per round trip"
    )


def settings_error(exc: ValidationError, environ: Mapping[str, str] | None = None) -> str:
    """One line per bad setting, naming the environment variable: `NAME: what is wrong (got X)`."""
    present = {key.upper() for key in (os.environ if environ is None else environ)}
    lines = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "settings"
        if not name.isupper():
            name = "CANCELBUS_" + name.upper()
        if name == TIMEOUT_ENV and name not in present and PREFECT_TIMEOUT_ENV in present:
            name = PREFECT_TIMEOUT_ENV  # pydantic names the first alias; this one was given
        lines.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
    return "\n".join(lines)
