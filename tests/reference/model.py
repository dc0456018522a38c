"""An independent reference for `greekstream replay`: exposures as of a time, from a JSONL file.

Written from ../shared/SPEC.md only (none of the engine's modules are imported), in
plain Python with QuantLib's ``BlackCalculator`` for Black-76. It is slow and obvious
on purpose: every as-of query replays the file from the start and revalues every
position from scratch.

Decisions where SPEC.md is silent (the lead's, mirrored here):

- **Rows.** A (book, underlying) row exists when the book has ever traded an
  instrument of that underlying, or has a (not retracted) collateral event in that
  asset, and only if the asset is a known underlying (some instrument's
  ``underlying`` or an ``index`` event's). Rows are sorted by (book, underlying) and
  stay, with zeros, after their positions close.
- **positions** counts the instruments with a net position of at least 1e-9
  contracts in absolute value that are not expired at the as-of time. Loans and LP
  positions are not modelled here (the generated cases have none).
- **Expiry.** An option with T <= 0 and a future at or past its expiry contribute
  nothing and are not counted.
- **Unquoted.** An option never quoted has zero Greeks but is counted; an inverse
  future/perpetual without a quote has zero delta; a linear future, perpetual or
  spot contributes q without a quote. ``delta_usd`` is None without an index at or
  before the as-of time.
- **Event sourcing.** Records are applied in file order; a record whose ``ts`` is
  after the as-of time is skipped entirely. A repeated ``event_id`` is ignored; a
  rejected record's ``event_id`` is not remembered. A ``reorg`` retracts the earlier
  collateral events of its chain with ``block_number >= from_block`` and forgets
  their ids (they apply again if sent again).
- **Rejections.** Not JSON, not an object, unknown ``type``, a missing or
  mistyped field, a non-finite number, a non-positive quantity/price/vol/size, a bad
  timestamp, an unknown instrument (trade, quote), a quote of an option without
  ``underlying_price``/``mark_iv`` or of anything else without ``mark_price``, and a
  ``limits`` naming an unknown ``hedge_instrument``.
- **Default as-of** is the latest ``ts`` of the events that apply: rejected records
  and duplicates do not move it.
- **P&L** (SPEC v2 *Mark-to-market P&L*, *Funding of perpetuals*; docs/pnl.md): every
  trade moves its (book, instrument)'s position, average entry and realized P&L; an
  option is marked at its Black-76 value as of the query (QuantLib), or at intrinsic
  on the last forward quoted before its expiry once expired; a future past expiry at
  its last mark before expiry; an instrument with no price is held at cost. A
  ``funding`` of a non-perpetual is rejected, and of a linear perpetual before any
  mark (``missing_quote_field``). A row's ``pnl`` sums its instruments;
  ``funding_usd_per_day`` applies each perpetual's last rate to the position now.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import QuantLib as ql

SECONDS_PER_YEAR = 365 * 86400
MIN_CONTRACTS = 1e-9
METRICS = ("delta", "delta_equity", "gamma", "vega", "theta")
PNL_FIELDS = ("realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Invalid(Exception):
    """A record the contract rejects; ``reason`` is a coarse category."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


# --------------------------------------------------------------------------- validation


def to_micros(text: Any) -> int:
    """RFC 3339 with an explicit offset -> epoch microseconds."""
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt":
        raise Invalid("invalid_event", f"bad timestamp {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Invalid("invalid_event", f"bad timestamp {text!r}") from exc
    if moment.tzinfo is None:
        raise Invalid("invalid_event", f"timestamp without offset {text!r}")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _name(obj: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise Invalid("invalid_event", f"{key} must be a string of 1..128 chars")
    return value


def _number(obj: dict[str, Any], key: str, required: bool = True, low: str = "") -> float | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("invalid_event", f"{key} must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise Invalid("invalid_event", f"{key} must be finite")
    if (low == ">0" and value <= 0) or (low == ">=0" and value < 0):
        raise Invalid("invalid_event", f"{key} must be {low}")
    return value


def _integer(obj: dict[str, Any], key: str, required: bool = True) -> int | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid("invalid_event", f"{key} must be an integer >= 0")
    return value


def _choice(obj: dict[str, Any], key: str, options: tuple[str, ...]) -> str:
    value = obj.get(key)
    if value not in options:
        raise Invalid("invalid_event", f"{key} must be one of {options}")
    return str(value)


def _instrument(o: dict[str, Any]) -> dict[str, Any]:
    e = {"instrument_id": _name(o, "instrument_id"), "underlying": _name(o, "underlying"),
         "kind": _choice(o, "kind", ("option", "future", "perpetual", "spot")),
         "settlement": _choice(o, "settlement", ("linear", "inverse")),
         "contract_size": _number(o, "contract_size", low=">0")}
    if e["kind"] in ("option", "future") or o.get("expiry") is not None:
        e["expiry"] = to_micros(o.get("expiry"))
    if e["kind"] == "option":
        e["strike"] = _number(o, "strike", low=">0")
        e["option_type"] = _choice(o, "option_type", ("call", "put"))
    if e["kind"] == "spot" and e["settlement"] == "inverse":
        raise Invalid("invalid_event", "inverse spot")
    e["interval_h"] = _number(o, "interval_h", required=False, low=">0") or 8.0
    return e


def _quote(o: dict[str, Any]) -> dict[str, Any]:
    for key in ("bid", "ask"):
        _number(o, key, required=False, low=">=0")
    return {"instrument_id": _name(o, "instrument_id"),
            **{k: _number(o, k, required=False, low=">0")
               for k in ("underlying_price", "mark_iv", "mark_price")}}


def _collateral(o: dict[str, Any]) -> dict[str, Any]:
    e = {"book": _name(o, "book"), "asset": _name(o, "asset"), "amount": _number(o, "amount"),
         "chain": _name(o, "chain", required=False),
         "block_number": _integer(o, "block_number", required=False)}
    if not isinstance(o.get("tx_hash", ""), str | None):
        raise Invalid("invalid_event", "tx_hash must be a string")
    _integer(o, "log_index", required=False)
    if e["block_number"] is not None and e["chain"] is None:
        raise Invalid("invalid_event", "block_number without chain")
    return e


def _limits(o: dict[str, Any]) -> dict[str, Any]:
    for key in ("max_abs_delta", "max_abs_gamma", "max_abs_vega", "hedge_band"):
        _number(o, key, required=False, low=">=0")
    for key in ("min_theta", "hedge_target"):
        _number(o, key, required=False)
    return {"book": _name(o, "book"), "underlying": _name(o, "underlying"),
            "hedge_instrument": _name(o, "hedge_instrument", required=False)}


def _loan(o: dict[str, Any]) -> dict[str, Any]:
    e = {k: _name(o, k) for k in ("book", "position_id", "protocol", "collateral_asset",
                                    "debt_asset")}
    e.update({k: _number(o, k, low=">=0") for k in ("collateral_amount", "debt_amount",
                                                     "liquidation_bonus")})
    for k in ("liquidation_threshold", "close_factor"):
        e[k] = _number(o, k, low=">0")
    return e


def _lp(o: dict[str, Any]) -> dict[str, Any]:
    e = {k: _name(o, k) for k in ("book", "position_id", "pool", "base")}
    e["liquidity"] = _number(o, "liquidity", low=">=0")
    e.update({k: _number(o, k, low=">0") for k in ("price_lower", "price_upper")})
    return e


SCHEMAS = {
    "loan": _loan,
    "lp_position": _lp,
    "instrument": _instrument,
    "quote": _quote,
    "index": lambda o: {"underlying": _name(o, "underlying"),
                        "price": _number(o, "price", low=">0")},
    "trade": lambda o: {"book": _name(o, "book"), "instrument_id": _name(o, "instrument_id"),
                        "side": _choice(o, "side", ("buy", "sell")),
                        "quantity": _number(o, "quantity", low=">0"),
                        "price": _number(o, "price", low=">0"),
                        "fee": _number(o, "fee", required=False, low=">=0") or 0.0},
    "funding": lambda o: {"instrument_id": _name(o, "instrument_id"),
                          "rate": _number(o, "rate")},
    "collateral": _collateral,
    "reorg": lambda o: {"chain": _name(o, "chain"), "from_block": _integer(o, "from_block")},
    "limits": _limits,
}


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def decode(raw: bytes) -> dict[str, Any]:
    """One record -> a validated event dict (``type``, ``event_id``, ``ts`` in µs, fields)."""
    try:
        obj = json.loads(raw, parse_constant=_no_constants)
    except ValueError as exc:
        raise Invalid("invalid_json", str(exc)) from exc
    if not isinstance(obj, dict):
        raise Invalid("not_an_object", "not an object")
    kind = obj.get("type")
    if kind not in SCHEMAS:
        raise Invalid("unknown_type", repr(kind))
    event = {"type": kind, "event_id": _name(obj, "event_id"), "ts": to_micros(obj.get("ts"))}
    event.update(SCHEMAS[kind](obj))
    return event


# --------------------------------------------------------------------------- state


@dataclass
class State:
    instruments: dict[str, dict[str, Any]] = field(default_factory=dict)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: dict[str, float] = field(default_factory=dict)
    contracts: dict[tuple[str, str], float] = field(default_factory=dict)
    traded: set[tuple[str, str]] = field(default_factory=set)
    collateral: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    # on-chain positions: the latest event per position_id (reorgs of them not modelled)
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # P&L: (book, instrument) -> [position, average entry, realized, fees, funding]
    lots: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)  # perpetual -> last funding rate
    settle: dict[str, float] = field(default_factory=dict)  # last price before expiry

    def check(self, e: dict[str, Any]) -> None:
        """Rejections that depend on state (raise :class:`Invalid`)."""
        iid = e.get("instrument_id")
        if e["type"] in ("trade", "quote", "funding") and iid not in self.instruments:
            raise Invalid("unknown_instrument", str(iid))
        if e["type"] == "funding":
            inst = self.instruments[iid]
            if inst["kind"] != "perpetual":
                raise Invalid("inconsistent_event", f"funding of a {inst['kind']}")
            if inst["settlement"] == "linear" and iid not in self.quotes:
                raise Invalid("missing_quote_field", f"{iid} has no mark")
        if e["type"] == "quote":
            option = self.instruments[iid]["kind"] == "option"
            need = ("underlying_price", "mark_iv") if option else ("mark_price",)
            if any(e[k] is None for k in need):
                raise Invalid("missing_quote_field", f"{iid} needs {need}")
        if e["type"] == "limits" and e["hedge_instrument"] not in (None, *self.instruments):
            raise Invalid("unknown_instrument", str(e["hedge_instrument"]))
        assets = {"loan": ("collateral_asset", "debt_asset"), "lp_position": ("base",)}
        for key in assets.get(e["type"], ()):
            if e[key] != "USD" and e[key] not in self.index:
                raise Invalid("unknown_asset", str(e[key]))

    def apply(self, e: dict[str, Any]) -> None:
        kind = e["type"]
        if kind == "instrument":
            self.instruments[e["instrument_id"]] = e
        elif kind == "quote":
            self.quotes[e["instrument_id"]] = e
            expiry = self.instruments[e["instrument_id"]].get("expiry")
            if expiry is not None and e["ts"] < expiry:
                self.settle[e["instrument_id"]] = e["underlying_price"] or e["mark_price"]
        elif kind == "funding":
            self.fund(e)
        elif kind == "index":
            self.index[e["underlying"]] = e["price"]
        elif kind == "trade":
            key = (e["book"], e["instrument_id"])
            sign = 1.0 if e["side"] == "buy" else -1.0
            self.contracts[key] = self.contracts.get(key, 0.0) + sign * e["quantity"]
            self.traded.add((e["book"], self.instruments[e["instrument_id"]]["underlying"]))
            self.book_trade(key, sign * e["quantity"], e["price"], e["fee"])
        elif kind == "collateral":
            self.collateral.append(e)
        elif kind == "reorg":
            self.retract(e["chain"], e["from_block"])
        elif kind in ("loan", "lp_position"):
            self.positions[e["position_id"]] = e

    def book_trade(self, key: tuple[str, str], s: float, x: float, fee: float) -> None:
        """SPEC v2: average entry, realized P&L on the closed part, the rest opens at X."""
        inst = self.instruments[key[1]]
        m = inst["contract_size"]
        harmonic = inst["settlement"] == "inverse" and inst["kind"] != "option"
        q, a, r, f, fund = self.lots.get(key, [0.0, 0.0, 0.0, 0.0, 0.0])
        f += fee
        if q == 0 or (q > 0) == (s > 0):
            if q == 0:
                a = x
            elif harmonic:
                a = 1.0 / ((q / a + s / x) / (q + s))
            else:
                a = (q * a + s * x) / (q + s)
            q += s
        else:
            c = min(abs(s), abs(q)) * (1 if q > 0 else -1)
            r += c * m * (1 / a - 1 / x) * x if harmonic else c * m * (x - a)
            remainder = s + c  # what is left of the trade after closing c
            q += s
            if abs(q) < MIN_CONTRACTS:
                q, a = 0.0, 0.0
            elif abs(remainder) > 0 and (q > 0) == (remainder > 0):
                a = x
        self.lots[key] = [q, a, r, f, fund]

    def fund(self, e: dict[str, Any]) -> None:
        iid = e["instrument_id"]
        inst = self.instruments[iid]
        self.rates[iid] = e["rate"]
        for (_book, lot_iid), lot in self.lots.items():
            if lot_iid == iid and lot[0] != 0:
                lot[4] += self.funding_per_period(inst, lot[0], e["rate"])

    def funding_per_period(self, inst: dict[str, Any], q: float, rate: float) -> float:
        if inst["settlement"] == "inverse":
            return -q * inst["contract_size"] * rate
        quote = self.quotes.get(inst["instrument_id"])
        return 0.0 if quote is None else -q * inst["contract_size"] * quote["mark_price"] * rate

    def retract(self, chain: str, from_block: int) -> None:
        keep = []
        for c in self.collateral:
            if c["chain"] == chain and c["block_number"] is not None and \
                    c["block_number"] >= from_block:
                self.seen.discard(c["event_id"])
            else:
                keep.append(c)
        self.collateral = keep


@dataclass
class Replayed:
    state: State
    as_of: int | None
    rejected: list[tuple[int, str]]  # (line number, reason)
    duplicates: int
    clock: int | None = None  # the latest ts of the events applied


def read_lines(path: Path) -> list[tuple[int, bytes]]:
    lines = path.read_bytes().split(b"\n")
    return [(n, line.rstrip(b"\r")) for n, line in enumerate(lines, 1) if line.strip()]


def replay(path: Path, as_of: int | None = None) -> Replayed:
    """Apply the file's records in order, counting only events at or before ``as_of``."""
    if as_of is None:  # the latest ts of the events that apply (not rejected, not duplicate)
        as_of = _run(path, None).clock
    return _run(path, as_of)


def _run(path: Path, as_of: int | None) -> Replayed:
    done = Replayed(state=State(), as_of=as_of, rejected=[], duplicates=0)
    state = done.state
    for lineno, raw in read_lines(path):
        try:
            event = decode(raw)
            if as_of is not None and event["ts"] > as_of:
                continue
            if event["event_id"] in state.seen:
                done.duplicates += 1
                continue
            state.check(event)
        except Invalid as exc:
            done.rejected.append((lineno, exc.reason))
            continue
        state.apply(event)
        state.seen.add(event["event_id"])
        done.clock = max(done.clock or event["ts"], event["ts"])
    return done


# --------------------------------------------------------------------------- valuation


@dataclass
class Greeks:
    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0


def black76(q: float, inst: dict[str, Any], quote: dict[str, Any], years: float) -> Greeks:
    """Greeks of q coin of an option, Black-76 on the forward, r = 0 (QuantLib)."""
    fwd, vol, strike = quote["underlying_price"], quote["mark_iv"], inst["strike"]
    kind = ql.Option.Call if inst["option_type"] == "call" else ql.Option.Put
    calc = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, strike), fwd, vol * math.sqrt(years), 1.0)
    delta = calc.delta(fwd)
    if inst["settlement"] == "inverse":
        delta -= calc.value() / fwd  # net transaction delta: premium paid in coin
    return Greeks(delta=q * delta, gamma=q * calc.gamma(fwd), vega=q * calc.vega(years) / 100,
                  theta=q * calc.thetaPerDay(fwd, years))


def position_greeks(n: float, inst: dict[str, Any], quote: dict[str, Any] | None,
                    as_of: int) -> Greeks | None:
    """Greeks of n contracts at ``as_of``; None when the position is expired (not counted)."""
    expiry = inst.get("expiry")
    if inst["kind"] in ("option", "future") and expiry <= as_of:
        return None
    size = inst["contract_size"]
    if inst["kind"] == "option":
        if quote is None:
            return Greeks()
        return black76(n * size, inst, quote, (expiry - as_of) / 1e6 / SECONDS_PER_YEAR)
    if inst["settlement"] == "linear":
        return Greeks(delta=n * size)
    if quote is None:
        return Greeks()
    return Greeks(delta=n * size / quote["mark_price"])


@dataclass
class Row:
    book: str
    underlying: str
    delta: float = 0.0
    delta_equity: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    delta_usd: float | None = None
    positions: int = 0
    scale: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, 0.0))
    pnl: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PNL_FIELDS, 0.0))
    pnl_scale: float = 0.0  # sum of the absolute amounts that make up the row's P&L
    funding_usd_per_day: float = 0.0

    def add(self, g: Greeks) -> None:
        for metric in ("delta", "gamma", "vega", "theta"):
            value = getattr(g, metric)
            setattr(self, metric, getattr(self, metric) + value)
            self.scale[metric] += abs(value)
        self.positions += 1

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in
                ("book", "underlying", *METRICS, "delta_usd", "positions")}


def exposures(path: Path, as_of: int | None = None) -> tuple[list[Row], Replayed]:
    """Every (book, underlying) exposure as of ``as_of`` (default: the last event's ts)."""
    done = replay(path, as_of)
    s, at = done.state, done.as_of
    known = {i["underlying"] for i in s.instruments.values()} | set(s.index)
    keys = set(s.traded) | {(c["book"], c["asset"]) for c in s.collateral}
    rows = {k: Row(*k) for k in sorted(keys) if k[1] in known}
    for (book, iid), n in s.contracts.items():
        inst = s.instruments[iid]
        row = rows.get((book, inst["underlying"]))
        if row is None or abs(n) < MIN_CONTRACTS:
            continue
        g = position_greeks(n, inst, s.quotes.get(iid), at)
        if g is not None:
            row.add(g)
    for row in rows.values():
        coll = [c["amount"] for c in s.collateral
                if (c["book"], c["asset"]) == (row.book, row.underlying)]
        row.delta_equity = row.delta + sum(coll)
        row.scale["delta_equity"] = row.scale["delta"] + sum(abs(c) for c in coll)
        price = s.index.get(row.underlying)
        row.delta_usd = None if price is None else row.delta * price
        row.scale["delta_usd"] = row.scale["delta"] * (price or 0.0)
    for (book, iid), lot in s.lots.items():
        row = rows.get((book, s.instruments[iid]["underlying"]))
        if row is not None:
            add_pnl(row, s, iid, lot, at)
    for row in rows.values():
        p = row.pnl
        p["total_usd"] = p["realized_usd"] + p["unrealized_usd"] + p["funding_usd"] \
            - p["fees_usd"]
    return list(rows.values()), done


def mark_price(s: State, iid: str, at: int) -> float | None:
    """USD per coin a position is marked at (None: no price, held at cost)."""
    inst, quote = s.instruments[iid], s.quotes.get(iid)
    expiry = inst.get("expiry")
    expired = expiry is not None and expiry <= at
    if inst["kind"] == "option":
        if expired:
            f = s.settle.get(iid)
            if f is None:
                return None
            return max(f - inst["strike"], 0.0) if inst["option_type"] == "call" \
                else max(inst["strike"] - f, 0.0)
        if quote is None:
            return None
        kind = ql.Option.Call if inst["option_type"] == "call" else ql.Option.Put
        years = (expiry - at) / 1e6 / SECONDS_PER_YEAR
        calc = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, inst["strike"]),
                                  quote["underlying_price"],
                                  quote["mark_iv"] * math.sqrt(years), 1.0)
        return float(calc.value())
    if expired:
        return s.settle.get(iid)
    return None if quote is None else quote["mark_price"]


def add_pnl(row: Row, s: State, iid: str, lot: list[float], at: int) -> None:
    q, a, realized, fees, funding = lot
    inst = s.instruments[iid]
    m = inst["contract_size"]
    unreal = 0.0
    price = mark_price(s, iid, at) if q != 0 else None
    if price is not None:
        if inst["settlement"] == "inverse" and inst["kind"] != "option":
            unreal = q * m * (1 / a - 1 / price) * price
        else:
            unreal = q * m * (price - a)
    for name, value in (("realized_usd", realized), ("unrealized_usd", unreal),
                        ("fees_usd", fees), ("funding_usd", funding)):
        row.pnl[name] += value
    row.pnl_scale += abs(realized) + abs(unreal) + abs(fees) + abs(funding) + abs(
        q * m * (a if inst["settlement"] == "linear" or inst["kind"] == "option" else 1.0))
    rate = s.rates.get(iid)
    if rate is not None and q != 0:
        row.funding_usd_per_day += s.funding_per_period(inst, q, rate) * 24 / inst["interval_h"]
