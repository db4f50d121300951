"""The bus every service talks through: Kafka in production, in-process for the embedded default."""

from services.transport.base import (
    BatchHandler,
    Bus,
    Handler,
    InvalidMessage,
    Record,
    Subscription,
)

__all__ = ["BatchHandler", "Bus", "Handler", "InvalidMessage", "Record", "Subscription"]
