"""The greekstream error tree. Adapters wrap third-party errors ``from exc``.

    GreekstreamError
    ├── UsageError          bad command-line input: a missing file, a bad --as-of, ...
    ├── ConfigError         settings, scenario or grid files that do not parse or make no sense
    ├── KafkaError          the broker refused or vanished (wraps confluent_kafka.KafkaException)
    └── HistoryError        ClickHouse/chDB: bad DSN, unreachable server, failed query
        └── HistoryQueryError   a well-formed query that cannot be answered (range, as-of, ...)
            └── UnknownBookError  ... because it names a book with no events (HTTP 404)

Business rejections (bad events) are not errors: they are ``rejected`` events.
A broken invariant inside the core raises AssertionError/RuntimeError and is a bug.
"""

from __future__ import annotations


class GreekstreamError(Exception):
    """Base of every error greekstream raises on purpose; ``hint`` says what to do next."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  hint: {self.hint}" if self.hint else base


class UsageError(GreekstreamError):
    """Bad command-line input."""


class ConfigError(GreekstreamError):
    """A settings, scenario or grid file that does not parse or is not meaningful."""


class KafkaError(GreekstreamError):
    """The Kafka broker refused a request or could not be reached."""


class HistoryError(GreekstreamError):
    """ClickHouse (server or embedded chDB) could not be reached or refused a statement."""


class HistoryQueryError(HistoryError):
    """A well-formed history query that cannot be answered (unknown book, range, as-of)."""


class UnknownBookError(HistoryQueryError):
    """A query names a book the history (or the caller's token) has no events of."""
