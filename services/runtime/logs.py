"""Log set-up for every `cancelbus` command: structlog for ours, stdlib for libraries.

`CANCELBUS_LOG_FORMAT=json` prints one JSON object per line (for log shippers);
the default is readable console output. Both go to stderr.
"""

from __future__ import annotations

import logging
import sys

import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANCELBUS_", extra="ignore")

    log_format: str = Field(
        default="console", description="json: one JSON object per line; else console output"
    )

    @property
    def as_json(self) -> bool:
        return self.log_format.lower() == "json"


def configure_logging(settings: LogSettings, *, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "alembic", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
