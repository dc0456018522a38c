"""Reaching the broker from a command line: librdkafka's own log lines are quiet unless
asked for (``--log-level``), and a broker that does not answer within ``--connect-timeout``
is one clear line and exit status 2 (a :class:`~greekstream.errors.KafkaError`), never a
wall of ``FAIL`` lines or a traceback.
"""

from __future__ import annotations

import argparse
from typing import Any

from greekstream.errors import KafkaError, UsageError

# librdkafka's syslog levels; "quiet" keeps only emergencies (errors reach us as exceptions)
LOG_LEVELS = {"quiet": 0, "error": 3, "warning": 4, "info": 6, "debug": 7}
# The longest --connect-timeout: an hour, past any broker's first answer and far inside
# the int32 milliseconds librdkafka takes its timeouts in (~24.8 days; 1e9 s overflowed).
MAX_CONNECT_TIMEOUT_S = 3600.0


def add_arguments(p: argparse.ArgumentParser, connect_timeout_s: float) -> None:
    p.add_argument("--log-level", choices=tuple(LOG_LEVELS), default="quiet",
                   help="librdkafka's own log lines on stderr (default quiet)")
    p.add_argument("--connect-timeout", type=float, default=connect_timeout_s, metavar="S",
                   help=f"give up when the broker does not answer within S seconds, exit 2 "
                        f"(above 0, at most {MAX_CONNECT_TIMEOUT_S:g}; default "
                        f"{connect_timeout_s:g})")


def connect_timeout(seconds: float) -> float:
    """``--connect-timeout`` if it is a number of seconds above 0 and at most
    MAX_CONNECT_TIMEOUT_S, else a :class:`UsageError` (NaN and infinities included)."""
    if not 0 < seconds <= MAX_CONNECT_TIMEOUT_S:
        raise UsageError(
            f"bad --connect-timeout {seconds:g}: a number of seconds above 0 and at most "
            f"{MAX_CONNECT_TIMEOUT_S:g}", hint="e.g. --connect-timeout 60")
    return seconds


def client_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """librdkafka settings the command line adds to every client's configuration. Every
    Kafka command asks for them before it reaches the broker, so --connect-timeout is
    checked here (:func:`connect_timeout`)."""
    connect_timeout(args.connect_timeout)
    return {"log_level": LOG_LEVELS[args.log_level]}


def unreachable(conf: dict[str, Any], timeout_s: float, cause: Exception | None = None
                ) -> KafkaError:
    detail = f" ({_reason(cause)})" if cause is not None else ""
    return KafkaError(
        f"cannot reach Kafka at {conf.get('bootstrap.servers')} within {timeout_s:g} s{detail}",
        hint="check --bootstrap HOST:PORT (or GREEKSTREAM_KAFKA__BOOTSTRAP_SERVERS) and that "
             "the broker is up; --connect-timeout S waits longer",
    )


def require_broker(conf: dict[str, Any], timeout_s: float) -> None:
    """Raise a KafkaError unless the cluster answers a metadata request within timeout_s."""
    connect_timeout(timeout_s)
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient(conf).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise unreachable(conf, timeout_s, exc) from exc


def _reason(exc: Exception) -> str:
    err = exc.args[0] if exc.args else None
    name = getattr(err, "name", None)
    return str(name() if callable(name) else exc)
