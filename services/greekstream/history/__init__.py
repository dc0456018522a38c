"""History in ClickHouse: migrations, the column-oriented writer, the Kafka sink,
replay and audit from stored raw events, and as-of / analytics queries.

One DSN names the store: ``chdb:///path[?database=db]`` (embedded chDB, the default)
or ``http(s)://user:pass@host:8123/db`` (a ClickHouse server).
"""

from greekstream.history.client import History, connect
from greekstream.history.replay_io import read_records_from_history, write_replay

__all__ = ["History", "connect", "read_records_from_history", "write_replay"]
