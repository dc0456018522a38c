"""Hash-chained outputs (docs/contract.md part 2 "Hash-chained outputs and signed reports").

Every output record carries ``prev`` and ``hash``:

    hash = sha256(prev + canonical_json(record without "hash")).hexdigest()

``canonical_json`` is the record's wire JSON (what ``encode`` writes, ``prev``
included) re-serialised with sorted keys and no whitespace: orjson with
``OPT_SORT_KEYS`` (UTF-8, floats in their shortest round-trip form, ``null`` for
None). The first record of a chain has ``prev`` = 64 zeros (:data:`GENESIS`).

Chains: one per book, in output order. Records that belong to no book chain under
book "": a ``rejected`` record *per source stream* (the stream, and Kafka partition,
of the record it rejects: every processor instance reads all market data, so each
computes the same chain whoever produces it, and a rejected record of a book
partition chains with that partition); a ``regime`` record per underlying. The key
is ``(book, "")`` for a book, ``("", stream)`` for rejections and
``("", "regime/BTC")`` for regimes.

This is one pass over the engine's outputs at its exit point (:meth:`Chains.link`);
no output builder knows about it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from pydantic import BaseModel

GENESIS = "0" * 64
ChainKey = tuple[str, str]  # (book, "") or ("", source stream)


def source_stream(source: str) -> str:
    """The stream of a record's source: "TOPIC/PARTITION" of "TOPIC/PARTITION/OFFSET",
    "FILE" of "FILE:LINE"; anything else as given."""
    head, sep, tail = source.rpartition("/")
    if sep and tail.isdigit() and head:
        return head
    head, sep, tail = source.rpartition(":")
    if sep and tail.isdigit() and head:
        return head
    return source


def chain_key(record: BaseModel, stream: str) -> ChainKey:
    """(book, "") for a book's record; ("", stream) for a rejection (it names its source);
    ("", "TYPE/UNDERLYING") for other market-wide records (regimes), which every
    processor instance derives alike from market data, whatever the transport."""
    book = getattr(record, "book", None)
    if book:
        return (book, "")
    kind = getattr(record, "type", "")
    if kind == "rejected":
        return ("", stream)
    return ("", f"{kind}/{getattr(record, 'underlying', '')}")


def canonical_json(fields: dict[str, Any]) -> bytes:
    """Sorted keys, compact separators, no "hash" (the record's JSON object as given)."""
    body = dict(fields)
    body.pop("hash", None)
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def record_hash(prev: str, canonical: bytes) -> str:
    return hashlib.sha256(prev.encode("ascii") + canonical).hexdigest()


def wire_fields(record: BaseModel) -> dict[str, Any]:
    """The record as its JSON object (what a consumer of the topic decodes), built by the
    model's serializer in JSON mode: the same values as parsing its JSON bytes (floats are
    the same doubles), at half the cost (hot: every output)."""
    fields: dict[str, Any] = record.__pydantic_serializer__.to_python(record, mode="json")
    return fields


_set = object.__setattr__


class Chains:
    """The head (last hash) of every chain; engine state, snapshotted with the books."""

    def __init__(self) -> None:
        self.heads: dict[ChainKey, str] = {}

    def link(self, outputs: list[Any], source: str) -> list[Any]:
        """Set ``prev`` and ``hash`` on each output, in order (outputs are frozen models
        built by the engine and not yet seen by anyone: set in place). All or nothing: an
        output that cannot be encoded raises before any head moves."""
        if not outputs:
            return outputs
        stream = source_stream(source)
        heads = self.heads
        moved: dict[ChainKey, str] = {}
        for record in outputs:
            key = chain_key(record, stream)
            prev = moved.get(key) or heads.get(key, GENESIS)
            record.__dict__["prev"] = prev
            fields = wire_fields(record)
            digest = record_hash(prev, canonical_json(fields))
            record.__dict__["hash"] = digest
            moved[key] = digest
        heads.update(moved)
        return outputs

    # ------------------------------------------------------------------ snapshots

    def dump(self, keep: Callable[[str], bool], market: bool) -> dict[str, list[list[str]]]:
        books = sorted([b, s, h] for (b, s), h in self.heads.items()
                       if (b and keep(b)) or (not b and keep(s)))
        doc = {"books": books}
        if market:
            doc["market"] = sorted([b, s, h] for (b, s), h in self.heads.items() if not b)
        return doc

    def load(self, doc: dict[str, list[list[str]]]) -> None:
        for section in ("market", "books"):
            for book, stream, head in doc.get(section, ()):
                self.heads[(book, stream)] = head

    def drop(self, book_filter: Callable[[str], bool]) -> None:
        for key in [k for k in self.heads if book_filter(k[0] or k[1])]:
            del self.heads[key]


class ChainBroken(ValueError):
    """Stored links that do not form chains: two records naming the same ``prev``."""

    def __init__(self, event_ids: list[str], prev: str) -> None:
        super().__init__(f"records {', '.join(event_ids)} all follow {prev[:16]}…")
        self.event_ids = event_ids


Link = tuple[str, str, int | None, str]  # (hash, prev, ts µs or None, event_id)


def walk(links: Iterable[Link]) -> list[list[Link]]:
    """Order records into their chains by following ``prev`` → ``hash``: one list per
    chain, each from its first record (prev = GENESIS, or a record no longer stored)
    to its head; chains sorted by their first record's event_id. Duplicate rows
    (same hash) count once."""
    by_hash: dict[str, Link] = {}
    for link in links:
        by_hash.setdefault(link[0], link)
    after: dict[str, Link] = {}
    for link in sorted(by_hash.values(), key=lambda x: x[3]):
        if link[1] == GENESIS:  # several chains may start here (book "": one per key)
            continue
        other = after.get(link[1])
        if other is not None:
            raise ChainBroken(sorted((other[3], link[3])), link[1])
        after[link[1]] = link
    chains = []
    for first in sorted((x for x in by_hash.values() if x[1] not in by_hash),
                        key=lambda x: x[3]):
        chain, node = [first], after.get(first[0])
        while node is not None:
            chain.append(node)
            node = after.get(node[0])
        chains.append(chain)
    return chains


def heads_at(chain: list[Link], ends: list[int]) -> list[str | None]:
    """For each end time, the hash of the last record in chain order at or before it."""
    found: list[str | None] = [None] * len(ends)
    for digest, _prev, ts, _eid in chain:
        for i, end in enumerate(ends):
            if ts is None or ts <= end:
                found[i] = digest
    return found


def verify_records(records: Iterable[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], str]]:
    """Each stored record (as its JSON object, ``prev`` and ``hash`` included) whose hash
    does not match its own content, with the reason."""
    for fields in records:
        expected = record_hash(str(fields.get("prev", "")), canonical_json(fields))
        if fields.get("hash") != expected:
            yield fields, f"hash {fields.get('hash')} != sha256(prev + record) {expected}"


__all__ = [
    "GENESIS",
    "ChainBroken",
    "ChainKey",
    "Chains",
    "canonical_json",
    "chain_key",
    "heads_at",
    "record_hash",
    "source_stream",
    "verify_records",
    "walk",
    "wire_fields",
]
