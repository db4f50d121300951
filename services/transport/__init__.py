"""The bus every service talks through: Kafka in production, in-process for the embedded default."""

from services.transport.base import Bus, Handler, InvalidMessage, Record

__all__ = ["Bus", "Handler", "InvalidMessage", "Record"]
