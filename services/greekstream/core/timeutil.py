"""Event time: RFC 3339 strings in, integer microseconds since the Unix epoch inside.

Integers keep time arithmetic exact, so replays are byte-for-byte repeatable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
MICROS_PER_SECOND = 1_000_000
SECONDS_PER_YEAR = 365 * 86_400


class TimestampError(ValueError):
    """A string that is not an RFC 3339 timestamp with a UTC offset."""


# RFC 3339 section 5.6's date-time, with at most six fraction digits (microseconds: a
# seventh would be dropped without a word). datetime.fromisoformat alone took much more of
# ISO 8601: a week date (2026-W09-1T...), +0100 or +01, a comma before the fraction, a
# space before Z, seconds in the offset. "T" and "Z" may be lower case (its NOTE).
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)


def parse_ts(text: str) -> int:
    """Parse an RFC 3339 timestamp (``2026-03-01T12:00:00.250Z``) to epoch microseconds.

    An explicit offset is required; non-UTC offsets are converted to UTC. At most six
    fraction digits; nothing RFC 3339 does not write (ISO 8601's other forms) is read.
    """
    if not isinstance(text, str) or _RFC3339.fullmatch(text) is None:
        raise TimestampError(f"not an RFC 3339 timestamp: {text!r}")
    if text[-1] == "z" or text[10] == "t":
        text = text.upper()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3339 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        raise TimestampError(f"timestamp has no UTC offset (add 'Z'): {text!r}")
    return (moment - _EPOCH) // _ONE_US


@lru_cache(maxsize=4096)
def format_ts(micros: int) -> str:
    """Format epoch microseconds as RFC 3339 UTC, with as many fraction digits as needed."""
    moment = _EPOCH + timedelta(microseconds=micros)
    frac = micros % MICROS_PER_SECOND
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if frac == 0:
        return base + "Z"
    if frac % 1000 == 0:
        return f"{base}.{frac // 1000:03d}Z"
    return f"{base}.{frac:06d}Z"


def year_fraction(start_us: int, end_us: int) -> float:
    """ACT/365 in seconds: (end - start) / (365 * 86400 s)."""
    return (end_us - start_us) / (MICROS_PER_SECOND * SECONDS_PER_YEAR)
