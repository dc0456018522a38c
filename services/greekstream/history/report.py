"""The signed end-of-day report and its verification (docs/contract.md, "Hash-chained outputs and
signed reports"; docs/reporting.md).

``build_report(history, day)`` reads what the engine *reported* (stored outputs) for the
UTC day D: per book the last exposure (and P&L when history has it) of each underlying
at the end of D, the breaches opened and cleared during D, the hedge intents of D with
how each closed, and the head of the book's hash chain at the end of D and at the end
of each hour (``marks``). ``verify_history`` recomputes the chains from the stored
inputs and compares them with the stored outputs and with a report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from greekstream.core.chain import (
    ChainBroken,
    Link,
    canonical_json,
    heads_at,
    record_hash,
    walk,
)
from greekstream.core.engine import EngineConfig
from greekstream.core.timeutil import MICROS_PER_SECOND, format_ts
from greekstream.errors import HistoryQueryError
from greekstream.history.audit import audit_outputs
from greekstream.history.client import History
from greekstream.history.migrate import require_schema
from greekstream.history.replay_io import iter_raw
from greekstream.runtime.replay import replay

REPORT_KIND = "greekstream.end_of_day"
REPORT_VERSION = 1
DAY_US = 86_400 * MICROS_PER_SECOND
HOUR_US = 3_600 * MICROS_PER_SECOND
_EXPOSURE = ("delta", "delta_equity", "gamma", "vega", "theta", "delta_usd", "positions")


def day_bounds(day: str) -> tuple[int, int]:
    """[start, end] of a UTC date "YYYY-MM-DD" in epoch µs (end inclusive), a day inside
    the range the engine accepts (guards.ts_in_range: what history holds and format_ts
    can write)."""
    from greekstream.core.guards import TS_RANGE_TEXT, ts_in_range
    from greekstream.core.timeutil import TimestampError, parse_ts

    try:
        start = parse_ts(f"{day}T00:00:00Z")
    except (TimestampError, OverflowError) as exc:
        raise HistoryQueryError(f"bad date {day!r}", hint="write it as --date 2026-03-01"
                                ) from exc
    end = start + DAY_US - 1
    if not (ts_in_range(start) and ts_in_range(end)):
        raise HistoryQueryError(
            f"bad date {day!r}: out of the range the engine accepts ({TS_RANGE_TEXT})",
            hint="give a day inside it, like --date 2026-03-01")
    return start, end


def hour_ends(start: int) -> list[int]:
    return [start + (h + 1) * HOUR_US - 1 for h in range(24)]


# ----------------------------------------------------------------------------- chains


def stored_links(history: History) -> dict[str, list[Link]]:
    """Every stored output's chain link, per book ("" for market-wide records)."""
    rows = history.rows(
        "SELECT DISTINCT book, hash, prev, if(has_ts, toUnixTimestamp64Micro(ts), NULL), "
        "event_id FROM output_chain"
    )
    out: dict[str, list[Link]] = {}
    for book, digest, prev, ts, event_id in rows:
        out.setdefault(book, []).append((digest, prev, ts, event_id))
    return out


def chain_summary(links: Iterable[Link], start: int, end: int) -> list[dict[str, Any]]:
    """Per chain: its head at ``end`` and at the end of each hour of the day; chains with
    no record by ``end`` are left out."""
    ends = [*hour_ends(start), end]
    summary = []
    for chain in walk(links):
        heads = heads_at(chain, ends)
        if heads[-1] is None:
            continue
        summary.append({
            "first": chain[0][3],
            "head": heads[-1],
            "outputs": sum(1 for x in chain if x[2] is None or x[2] <= end),
            "marks": {f"{h:02d}": heads[h] for h in range(24)},
        })
    return summary


# ----------------------------------------------------------------------------- report


def build_report(history: History, day: str) -> dict[str, Any]:
    tables = require_schema(history)
    start, end = day_bounds(day)
    params = {"start": start, "end": end}
    books: dict[str, dict[str, Any]] = {}

    def book(name: str) -> dict[str, Any]:
        return books.setdefault(name, {"exposures": [], "pnl": [], "breaches_opened": [],
                                       "breaches_cleared": [], "intents": [], "chain": None})

    for name, und, ts, values, event_id in history.rows(
        f"SELECT book, underlying, toUnixTimestamp64Micro(max(ts)), "
        f"argMax(tuple({', '.join(_EXPOSURE)}), (ts, seq)), argMax(event_id, (ts, seq)) "
        "FROM exposures WHERE ts <= fromUnixTimestamp64Micro({end:Int64}, 'UTC') "
        "GROUP BY book, underlying ORDER BY book, underlying", params,
    ):
        book(name)["exposures"].append({"underlying": und, "ts": format_ts(ts),
                                        **dict(zip(_EXPOSURE, values, strict=True)),
                                        "event_id": event_id})
    has_pnl = "pnl" in tables
    if has_pnl:
        _pnl(history, params, book)
    for row in history.rows(
        "SELECT DISTINCT event_id, toUnixTimestamp64Micro(ts), breach_id, book, underlying, "
        "metric, value, `limit`, state FROM breaches WHERE ts BETWEEN "
        "fromUnixTimestamp64Micro({start:Int64}, 'UTC') AND "
        "fromUnixTimestamp64Micro({end:Int64}, 'UTC') ORDER BY 2, 1", params,
    ):
        event_id, ts, breach_id, name, und, metric, value, limit, state = row
        book(name)[f"breaches_{'opened' if state == 'open' else 'cleared'}"].append({
            "breach_id": breach_id, "ts": format_ts(ts), "underlying": und, "metric": metric,
            "value": value, "limit": limit, "event_id": event_id,
        })
    for name, intent in _intents(history, params, tables):
        book(name)["intents"].append(intent)
    links = stored_links(history)
    market: list[dict[str, Any]] = []
    try:
        for name, chain_links in sorted(links.items()):
            summary = chain_summary(chain_links, start, end)
            if not summary:
                continue
            if name:
                if len(summary) != 1:
                    raise ChainBroken([s["first"] for s in summary], "(several starts)")
                book(name)["chain"] = summary[0]
            else:
                market = summary
    except ChainBroken as exc:
        raise HistoryQueryError(
            f"the stored hash chain is broken ({exc}); a report would sign a broken chain",
            hint="run `greekstream verify` with --dsn to find the altered records",
        ) from exc
    notes = [] if has_pnl else [
        "P&L: this history has no pnl table (outputs before P&L was added); exposures only"]
    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "date": day,
        "as_of": format_ts(end),
        "database": str(history.target),
        "books": dict(sorted(books.items())),
        "market_chains": market,
        "notes": notes,
    }


def _pnl(history: History, params: dict[str, Any], book: Any) -> None:
    columns = [r[0] for r in history.rows("DESCRIBE TABLE pnl")]
    values = [c for c in columns if c.endswith("_usd")]
    if not values:
        return
    order = "(ts, seq)" if "seq" in columns else "ts"
    for name, und, ts, row in history.rows(
        f"SELECT book, underlying, toUnixTimestamp64Micro(max(ts)), "
        f"argMax(tuple({', '.join(values)}), {order}) FROM pnl "
        "WHERE ts <= fromUnixTimestamp64Micro({end:Int64}, 'UTC') "
        "GROUP BY book, underlying ORDER BY book, underlying", params,
    ):
        book(name)["pnl"].append({"underlying": und, "ts": format_ts(ts),
                                  **dict(zip(values, row, strict=True))})


def _intents(history: History, params: dict[str, Any], tables: set[str]
             ) -> list[tuple[str, dict[str, Any]]]:
    status: dict[str, tuple[str, int]] = {}
    if "intent_status" in tables:
        for intent_id, state, ts in history.rows(  # as at the end of D: one closed later
            "SELECT DISTINCT intent_id, state, toUnixTimestamp64Micro(ts) FROM intent_status "
            "WHERE ts <= fromUnixTimestamp64Micro({end:Int64}, 'UTC')", params,
        ):  # was pending then (the report must not depend on when it is built)
            status[intent_id] = (state, ts)
    out = []
    for row in history.rows(
        "SELECT DISTINCT intent_id, toUnixTimestamp64Micro(ts), book, underlying, "
        "instrument_id, side, quantity, delta_before, delta_after FROM hedge_intents "
        "WHERE ts BETWEEN fromUnixTimestamp64Micro({start:Int64}, 'UTC') AND "
        "fromUnixTimestamp64Micro({end:Int64}, 'UTC') ORDER BY 2, 1", params,
    ):
        intent_id, ts, name, und, iid, side, qty, before, after = row
        state, closed = status.get(intent_id, ("pending", None))
        out.append((name, {
            "intent_id": intent_id, "ts": format_ts(ts), "underlying": und,
            "instrument_id": iid, "side": side, "quantity": qty, "delta_before": before,
            "delta_after": after, "status": state,
            "closed_at": None if closed is None else format_ts(closed),
        }))
    return out


# ----------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Finding:
    """One mismatch; ``what`` names the record (or report field) concerned."""

    kind: str  # hash | missing | unexpected | differs | report | chain | signature
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.what}  {self.detail}"


def _stored_records(history: History) -> dict[str, list[tuple[str, str, bytes]]]:
    found: dict[str, list[tuple[str, str, bytes]]] = {}
    for event_id, digest, prev, record in history.rows(
        "SELECT DISTINCT event_id, hash, prev, record FROM output_chain"
    ):
        body = record.encode() if isinstance(record, str) else record
        found.setdefault(event_id, []).append((digest, prev, body))
    return found


def verify_history(
    history: History, report: dict[str, Any] | None = None,
    config: EngineConfig | None = None, recomputed: list[Any] | None = None,
) -> list[Finding]:
    """Recompute the chains from the stored inputs and compare: each stored output's hash
    with its own content, with the recomputed record, the typed tables with the
    recomputed outputs (audit), and the report's chain heads and marks with the
    recomputed ones. Findings in chain order, the first differing record first.
    ``recomputed``: the outputs of a replay of exactly the stored inputs, if the caller
    has just made one (the demo); by default they are replayed here."""
    require_schema(history)
    outputs = recomputed if recomputed is not None else replay(
        iter_raw(history), as_of_us=None, config=config).outputs
    stored = _stored_records(history)
    findings: list[Finding] = []
    first_bad: dict[str, Finding] = {}
    derived_ids = set()
    for out in outputs:
        fields = out.__dict__
        event_id, digest, chain = fields["event_id"], fields["hash"], fields.get("book") or ""
        derived_ids.add(event_id)
        found = _compare_record(out.type, event_id, digest, stored.get(event_id))
        if found is not None:
            findings.append(found)
            first_bad.setdefault(chain, found)
    for event_id in sorted(stored.keys() - derived_ids):
        findings.append(Finding("unexpected", f"output {event_id}",
                                "stored in output_chain but not re-derived from the inputs"))
    findings.extend(
        Finding("differs", f"{d.type} {d.event_id}", f"{d.kind}: {d.detail}")
        for d in audit_outputs(history, outputs)
    )
    if report is not None:
        findings.extend(_compare_report(report, outputs))
    return findings


def _compare_record(kind: str, event_id: str, digest: str,
                    rows: list[tuple[str, str, bytes]] | None) -> Finding | None:
    what = f"{kind} {event_id}"
    if not rows:
        return Finding("missing", what, "re-derived from the inputs but not stored")
    for stored_hash, prev, body in rows:
        fields = orjson.loads(body)
        own = record_hash(prev, canonical_json(fields))
        if fields.get("hash") != stored_hash or own != stored_hash:
            return Finding("hash", what, f"stored record does not hash to its stored hash "
                                         f"{stored_hash[:16]}… (its content was altered)")
        if stored_hash != digest:
            return Finding("hash", what, f"stored hash {stored_hash[:16]}… != recomputed "
                                         f"{digest[:16]}… from the stored inputs")
    return None


def _compare_report(report: dict[str, Any], outputs: list[Any]) -> list[Finding]:
    day = report.get("date")
    if not isinstance(day, str):
        return [Finding("report", "date", "the report has no date")]
    try:
        start, end = day_bounds(day)
    except HistoryQueryError:
        return [Finding("report", "date", f"{day!r} is not a UTC date YYYY-MM-DD the engine "
                                          f"accepts: not as `greekstream report` writes it")]
    signed_books = report.get("books", {})
    if not isinstance(signed_books, dict):
        return [Finding("report", "books", "not an object of books: not as "
                                           "`greekstream report` writes it")]
    by_book: dict[str, list[Link]] = {}
    events: dict[str, Any] = {}
    for out in outputs:
        f = out.__dict__
        by_book.setdefault(f.get("book") or "", []).append(
            (f["hash"], f["prev"], f.get("ts"), f["event_id"]))
        events[f["hash"]] = out
    findings = []
    for name, entry in signed_books.items():
        signed = entry.get("chain") if isinstance(entry, dict) else entry
        if signed is None:
            continue
        if not isinstance(signed, dict):
            findings.append(Finding("report", f"books.{name}", "its chain is not an object: "
                                    "not as `greekstream report` writes it"))
            continue
        chains = chain_summary(by_book.get(name, []), start, end)
        mine = chains[0] if len(chains) == 1 else None
        if mine is None or mine["head"] != signed.get("head"):
            findings.append(_localise(name, signed, mine, by_book.get(name, []), start))
    # a book the report has no chain of, whose chain history has by the end of the day:
    # inputs of that day stored after the report was signed (or a book added to history)
    for name in sorted(set(by_book) - {""}):
        entry = signed_books.get(name)
        if isinstance(entry, dict) and entry.get("chain") is not None:
            continue
        chains = chain_summary(by_book[name], start, end)
        if chains:
            findings.append(Finding(
                "chain", f"book {name}",
                f"the chain recomputed from the stored inputs has {chains[0]['outputs']} "
                f"output(s) by {format_ts(end)} (head {chains[0]['head']}, first output "
                f"{chains[0]['first']}) but the signed report has no chain of this book: "
                f"history holds inputs the report did not (stored after it was signed?)"))
    signed_market = report.get("market_chains")
    if isinstance(signed_market, list):
        findings.extend(_compare_market(signed_market, by_book.get("", []), end))
    return findings


def _compare_market(signed: list[Any], links: list[Link], end: int) -> list[Finding]:
    """The report's market chains (rejections per stream, regimes) against the recomputed
    ones. Each signed head must still be in history (a hash commits to every record
    before it: one no longer recomputed was rewritten or removed). A recomputed chain
    whose head at the end of D is not a signed one is named when a record after the
    signed head (all of it, for a chain the report has not) is dated at or before the
    end of D: history holds inputs of D the report did not. Records with no ts (the
    rejection of a line that is not JSON) count at every end (heads_at), so one stored
    after the report was signed moves the head without being of D: not a finding."""
    signed_heads = {c.get("head"): c.get("first") for c in signed if isinstance(c, dict)}
    chains = walk(links)
    known = {x[0] for chain in chains for x in chain}
    findings = [
        Finding("chain", f"market chain from {first}",
                f"the signed report's head {head} is not in any chain recomputed from the "
                f"stored inputs (rejections, regimes): stored inputs were rewritten or "
                f"removed after the report was signed")
        for head, first in sorted(signed_heads.items(), key=str) if head not in known]
    for chain in chains:
        head = heads_at(chain, [end])[0]
        if head is None or head in signed_heads:
            continue
        hashes = [x[0] for x in chain]
        upto = hashes.index(head)
        after = next((i for i in range(upto, -1, -1) if hashes[i] in signed_heads), -1)
        dated = [x for x in chain[after + 1:upto + 1] if x[2] is not None and x[2] <= end]
        if dated:
            findings.append(Finding(
                "chain", f"market chain from {chain[0][3]}",
                f"recomputed from the stored inputs to head {head}, which the signed report "
                f"does not have: history holds inputs of the day the report did not "
                f"(first: output {dated[0][3]}, {format_ts(dated[0][2] or 0)})"))
    return findings


def _localise(name: str, signed: dict[str, Any], mine: dict[str, Any] | None,
              links: list[Link], start: int) -> Finding:
    """The first hour whose signed head differs from the recomputed one, and the first
    recomputed output of the book in that hour."""
    marks = signed.get("marks")
    marks = marks if isinstance(marks, dict) else {}
    mine_marks = (mine or {}).get("marks", {})
    hour = next((h for h in sorted(marks, key=str) if marks[h] != mine_marks.get(h)
                 and isinstance(h, str) and h.isdigit() and int(h) < 24), None)
    detail = (f"the chain recomputed from the stored inputs ends at "
              f"{(mine or {}).get('head', 'nothing')} but the signed report says "
              f"{signed.get('head')}: stored inputs and outputs were rewritten together, or "
              f"the store was written by another version of greekstream whose outputs "
              f"differ (docs/history.md)")
    if hour is None:
        return Finding("chain", f"book {name}", detail)
    lo = start + int(hour) * HOUR_US
    hi = lo + HOUR_US - 1
    first = next((x for x in links if x[2] is not None and lo <= x[2] <= hi), None)
    where = f"; first divergence in hour {hour}:00 UTC"
    if first is not None:
        where += f", at or after output {first[3]} ({format_ts(first[2] or lo)})"
    return Finding("chain", f"book {name}", detail + where)


def report_differences(signed: Any, rebuilt: Any, path: str = ""
                       ) -> list[Finding]:
    """Field by field, where a (tampered) report differs from one rebuilt from history."""
    if isinstance(signed, dict) and isinstance(rebuilt, dict):
        out: list[Finding] = []
        for key in sorted(set(signed) | set(rebuilt)):
            if key == "database":
                continue
            out.extend(report_differences(signed.get(key), rebuilt.get(key),
                                          f"{path}.{key}" if path else key))
        return out
    if isinstance(signed, list) and isinstance(rebuilt, list) and len(signed) == len(rebuilt):
        out = []
        for i, (a, b) in enumerate(zip(signed, rebuilt, strict=True)):
            out.extend(report_differences(a, b, f"{path}[{i}]"))
        return out
    if signed != rebuilt:
        return [Finding("report", path, f"report says {signed!r}, history says {rebuilt!r}")]
    return []
