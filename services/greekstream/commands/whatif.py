"""`greekstream whatif EVENTS --trades FILE`: preview hypothetical trades on the state
after EVENTS (a copy of the engine; nothing is changed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from greekstream.commands._common import books_in_file, print_json
from greekstream.core.events import Name
from greekstream.core.timeutil import format_ts
from greekstream.core.whatif import HypotheticalTrade, WhatIfError, what_if
from greekstream.errors import UsageError
from greekstream.reports.tables import fmt_row, print_table
from greekstream.runtime.replay import BOM, read_records, replay
from greekstream.runtime.scenario_files import engine_config_from_env
from greekstream.runtime.whatif_trade import BadTrade, WhatIfTrade, read_trade

HELP = ("preview hypothetical trades on the state after EVENTS: change in each Greek, worst "
        "loss and liquidation distance after, breaches and hedge intents they would cause")
EXAMPLES = """  greekstream sample --quiet                       # writes events.jsonl
  echo '{"book": "desk-a", "instrument_id": "BTC-PERPETUAL", "side": "sell", "quantity": 500}' \\
      > trades.jsonl
  greekstream whatif events.jsonl --trades trades.jsonl
  greekstream whatif events.jsonl --trades trades.jsonl --format json
FILE: JSON lines (or one JSON array) of {book, instrument_id, side, quantity[, price]}
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", help="JSONL file of input events (the state to start from)")
    p.add_argument("--trades", required=True, metavar="FILE", help="the hypothetical trades")
    p.add_argument("--format", choices=("table", "json"), default="table")


def parse_trades(body: bytes, default_book: str | None = None
                 ) -> dict[str, list[HypotheticalTrade]]:
    """Trades per book from JSON lines or a JSON array; raises UsageError naming the bad one
    (and, in JSON lines, its line). A leading UTF-8 BOM (Windows editors write one) is not
    part of the JSON."""
    body = body.removeprefix(BOM)
    items: list[tuple[object, int]] = []  # (trade, its line in JSON lines; 0 in an array)
    lineno = 0
    try:
        if body.lstrip().startswith(b"["):
            items = [(x, 0) for x in orjson.loads(body)]
        else:
            for lineno, line in enumerate(body.splitlines(), start=1):
                if line.strip():
                    items.append((orjson.loads(line), lineno))
    except orjson.JSONDecodeError as exc:
        # a line is parsed alone: orjson's "line 1" would be that of every line
        where = f"line {lineno}: {exc.msg} (column {exc.colno})" if lineno else str(exc)
        raise UsageError(f"trades are not JSON: {where}",
                         hint='one {"book", "instrument_id", "side", "quantity"} per line') from exc
    books: dict[str, list[HypotheticalTrade]] = {}
    for i, (item, line_of) in enumerate(items, start=1):
        if default_book is not None and isinstance(item, dict):
            item = {"book": default_book, **item}
        try:
            trade = read_trade(item, FileTrade)
        except BadTrade as exc:
            at = f" (line {line_of})" if line_of not in (0, i) else ""
            raise UsageError(f"trade {i}{at} {exc}", hint=TRADE_HINT) from None
        books.setdefault(trade.book, []).append(trade.hypothetical())
    if not books:
        raise UsageError("no trades given", hint="put one trade per line in the trades file")
    return books


class FileTrade(WhatIfTrade):
    """A line of the trades file: a trade and its book (the API's URL names the book), a
    name as an input event's (``Name``: 1 to 128 characters)."""

    book: Name


TRADE_HINT = ('each line of the trades file is one trade, {"book", "instrument_id", '
              '"side": "buy" or "sell", "quantity"[, "price"]}, e.g. {"book": "desk-a", '
              '"instrument_id": "BTC-PERPETUAL", "side": "sell", "quantity": 5}')


def run(args: argparse.Namespace) -> int:
    try:
        body = Path(args.trades).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read trades file {args.trades}: {exc.strerror}") from exc
    trades = parse_trades(body)
    # the state the processors derived: their engine settings (GREEKSTREAM_ENGINE__*)
    engine = replay(read_records(args.events), config=engine_config_from_env(),
                    keep_outputs=False).engine
    # a preview of a book no event has: "no breach" for a typo's sake (the API's 404);
    # a book with only limits or margin so far is one (its first trade is the question)
    unknown = set(trades) - {key[0] for key in engine.books}
    if unknown:
        named = books_in_file(args.events)
        missing = sorted(unknown - named)
        if missing:
            raise UsageError(f"unknown book {missing[0]!r}: no event of {args.events} has it",
                             hint=f"known books: {', '.join(sorted(named)) or 'none'}; fix "
                                  "the trades file's \"book\"")
    previews = []
    for book, items in trades.items():
        try:
            previews.append(what_if(engine, book, items))
        except WhatIfError as exc:
            raise UsageError(f"book {book}: {exc}", hint="check the trades file") from exc
    for p in previews:
        p["as_of"] = format_ts(p["as_of"])
    if args.format == "json":
        print_json(previews)
        return 0
    for p in previews:
        _table(p)
    return 0


def _table(p: dict[str, Any]) -> None:
    # each row its own decimals: a column mixes a delta of thousands with a gamma of 0.0001
    rows = [[u["underlying"], g, *fmt_row([u["before"][g], u["after"][g], u["change"][g]])]
            for u in p["underlyings"] for g in ("delta", "gamma", "vega", "theta")]
    print_table(("underlying", "greek", "before", "after", "change"), rows,
                title=f"What-if for {p['book']} at {p['as_of']} ({p['trades']} trade(s))")
    print_table(("underlying", "worst loss USD", "liq distance"),
                [[u["underlying"], u["worst_loss_usd"], u["liq_distance"]]
                 for u in p["underlyings"]])
    opened = p["breaches_opened"]
    print(f"breaches that would open: {len(opened)}"
          + "".join(f"\n  {b['underlying']} {b['metric']} {b['value']:.6g} vs limit "
                    f"{b['limit']:.6g}" for b in opened))
    print(f"hedge intents that would follow: {len(p['hedge_intents'])}\n")
