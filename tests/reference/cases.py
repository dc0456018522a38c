"""Seeded random replay cases: a small desk's day in JSONL, with traps mixed in.

Each case has BTC and ETH chains (linear and inverse calls and puts from deep in to
deep out of the money, one expiring mid-stream), linear and inverse futures (one
expiring mid-stream) and perpetuals, spot, three books, quotes and index prices that
move over time, collateral on two chains and off-chain with a reorg (one retracted
event is mined again later), limits, duplicates and bad records of several kinds.
The case records which lines are bad and which as-of times are worth asking about.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STEP_S = 30
BOOKS = ("alpha", "beta", "gamma")
SPOT0 = {"BTC": (40_000.0, 90_000.0), "ETH": (1_500.0, 4_500.0)}


def rfc3339(seconds: float) -> str:
    """T0 plus whole milliseconds, as RFC 3339 UTC."""
    moment = T0 + timedelta(milliseconds=round(seconds * 1000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Case:
    path: Path
    # mid-stream, 90 s before / at / after the near expiry, just after the reorg, at the
    # near future's expiry, and None: the command's default (the last event's ts)
    as_of: list[str | None]
    bad_lines: dict[int, str] = field(default_factory=dict)  # line -> expected reason
    duplicate_lines: list[int] = field(default_factory=list)


@dataclass
class Instrument:
    iid: str
    fields: dict[str, Any]
    expiry_s: float | None = None
    quoted_from_s: float = 0.0  # first time a quote may be sent (inf: never quoted)
    pinned: bool = False  # quoted with the forward at its strike (at the money)


class Generator:
    def __init__(self, seed: int, steps: int = 260, pnl: bool = False) -> None:
        self.rng = random.Random(seed)
        # pnl=True: trades at market-like prices with fees, and perpetual funding; drawn
        # from a second generator so the rest of the case is the same as without
        self.pnl = random.Random(seed + 1_000_003) if pnl else None
        self.quoted: set[str] = set()
        self.steps = steps
        self.span = steps * STEP_S
        self.now = 0.0
        self.lines: list[str] = []
        self.case_bad: dict[int, str] = {}
        self.dups: list[int] = []
        self.ids = 0
        self.spot = {u: self.rng.uniform(*r) for u, r in SPOT0.items()}
        self.basis: dict[float, float] = {}
        self.iv: dict[str, float] = {}
        self.instruments: list[Instrument] = []
        self.positions: dict[tuple[str, str], float] = {}
        self.trade_lines: list[str] = []
        self.block = {"ethereum": 1000, "arbitrum": 50_000}
        self.chain_events: list[dict[str, Any]] = []
        self.anchored: set[tuple[str, str]] = set()
        self.reorg_s = 0.0

    # ---------------------------------------------------------------- writing
    def emit(self, obj: dict[str, Any] | str, bad: str | None = None) -> int:
        line = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
        self.lines.append(line)
        if bad is not None:
            self.case_bad[len(self.lines)] = bad
        return len(self.lines)

    def event(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.ids += 1
        return {"type": type_, "event_id": f"{type_[:3]}-{self.ids:05d}",
                "ts": rfc3339(self.now), **fields}

    # ---------------------------------------------------------------- set-up
    def define(self) -> None:
        near = self.span * self.rng.uniform(0.5, 0.6)
        expiries = [near, 7 * 86400.0, 91.25 * 86400.0]
        for u in SPOT0:
            for e in expiries:
                self.basis[e] = self.rng.uniform(-0.002, 0.02)
            self.define_options(u, expiries)
            self.define_linear(u)
        for inst in self.instruments:
            self.emit(self.event("instrument", **inst.fields))

    def define_options(self, u: str, expiries: list[float]) -> None:
        rng = self.rng
        for k, expiry in enumerate(expiries):
            for m in rng.sample((0.5, 0.8, 0.95, 1.0, 1.05, 1.25, 1.9), 4):
                linear = rng.random() < 0.5
                kind = rng.choice(("call", "put"))
                iid = f"{u}-O{k}-{m}-{kind[0].upper()}-{'L' if linear else 'I'}"
                fields = {"instrument_id": iid, "kind": "option", "underlying": u,
                          "settlement": "linear" if linear else "inverse",
                          "contract_size": rng.choice((0.01, 0.1, 1.0)) if linear else 1.0,
                          "expiry": rfc3339(expiry), "strike": round(self.spot[u] * m, -1),
                          "option_type": kind}
                self.instruments.append(Instrument(iid, fields, expiry))
                self.iv[iid] = rng.uniform(0.3, 1.2) * (1.5 if m < 0.7 or m > 1.5 else 1.0)
        never = rng.choice([i for i in self.instruments if i.iid.startswith(u)])
        never.quoted_from_s = math.inf

    def define_linear(self, u: str) -> None:
        rng, late = self.rng, self.span * 0.3
        fut_expiry = self.span * rng.uniform(0.7, 0.8)
        specs = [
            (f"{u}-FUT-L", "future", "linear", rng.choice((0.001, 0.01, 1.0)), fut_expiry, 0.0),
            (f"{u}-FUT-I", "future", "inverse", 10.0, 30 * 86400.0, late),
            (f"{u}-PERP-L", "perpetual", "linear", 0.001, None, 0.0),
            (f"{u}-PERP-I", "perpetual", "inverse", 10.0 if u == "BTC" else 1.0, None, late),
            (f"{u}-SPOT", "spot", "linear", 1.0, None, 0.0),
        ]
        for iid, kind, settlement, size, expiry, quoted_from in specs:
            fields = {"instrument_id": iid, "kind": kind, "underlying": u,
                      "settlement": settlement, "contract_size": size}
            if expiry is not None:
                fields["expiry"] = rfc3339(expiry)
            self.instruments.append(Instrument(iid, fields, expiry, quoted_from))

    def define_atm(self) -> None:
        """A near-expiry BTC option listed mid-stream at the money, traded and quoted at once."""
        near = self.instruments[0]
        strike = round(self.spot["BTC"] * (1 + self.basis[near.expiry_s]), -1)
        kind, linear = self.rng.choice(("call", "put")), self.rng.random() < 0.5
        iid = f"BTC-O0-ATM-{kind[0].upper()}-{'L' if linear else 'I'}"
        fields = {**near.fields, "instrument_id": iid, "strike": strike, "option_type": kind,
                  "settlement": "linear" if linear else "inverse"}
        inst = Instrument(iid, fields, near.expiry_s, pinned=True)
        self.instruments.append(inst)
        self.iv[iid] = self.rng.uniform(0.4, 0.9)
        self.emit(self.event("instrument", **fields))
        self.trade(inst)
        self.quote(inst)

    def seed_collateral(self) -> None:
        self.collateral("alpha", "BTC", 2.5, chain=None)
        self.collateral("beta", "ETH", 40.0, chain="ethereum")
        self.anchored |= {("alpha", "BTC"), ("beta", "ETH")}

    # ---------------------------------------------------------------- market moves
    def live(self) -> list[Instrument]:
        return [i for i in self.instruments if i.expiry_s is None or i.expiry_s > self.now]

    def move(self) -> None:
        for u in self.spot:
            self.spot[u] *= math.exp(self.rng.gauss(0.0, 0.003))

    def quote(self, inst: Instrument | None = None) -> None:
        choices = [i for i in self.live() if i.quoted_from_s <= self.now]
        inst = inst or self.rng.choice(choices)
        u, f = inst.fields["underlying"], inst.fields
        if f["kind"] == "option":
            fwd = self.spot[u] * (1 + self.basis[inst.expiry_s])
            if inst.pinned:
                fwd = f["strike"] * math.exp(self.rng.gauss(0, 0.0003))
            self.iv[inst.iid] = min(3.0, max(0.05, self.iv[inst.iid] * math.exp(
                self.rng.gauss(0, 0.05))))
            body = {"underlying_price": round(fwd, 2), "mark_iv": round(self.iv[inst.iid], 6)}
        else:
            bump = 1.01 if f["kind"] == "future" else 1.0003
            body = {"mark_price": round(self.spot[u] * bump, 2)}
        self.emit(self.event("quote", instrument_id=inst.iid, **body))
        self.quoted.add(inst.iid)

    def index(self, u: str | None = None) -> None:
        u = u or ("BTC" if self.now < self.span * 0.35 else self.rng.choice(("BTC", "ETH")))
        self.emit(self.event("index", underlying=u, price=round(self.spot[u], 2)))

    def trade(self, inst: Instrument | None = None) -> None:
        rng = self.rng
        book = "gamma" if inst else rng.choice(BOOKS)
        pool = [i for i in self.live() if book != "gamma" or i.fields["underlying"] == "BTC"]
        inst = inst or rng.choice(pool)
        key = (book, inst.iid)
        held = self.positions.get(key, 0.0)
        if held and rng.random() < 0.15:  # close the position out exactly
            side, qty = ("sell" if held > 0 else "buy"), abs(held)
        else:
            side = rng.choice(("buy", "sell"))
            qty = rng.choice((1, 2, 5, 10, 0.1, 0.5, 25, 300))
        self.positions[key] = held + (qty if side == "buy" else -qty)
        price = round(rng.uniform(0.01, 2) * 1000, 2)
        extra: dict[str, Any] = {}
        if self.pnl is not None:
            if inst.fields["kind"] != "option":
                price = round(self.spot[inst.fields["underlying"]] * self.pnl.uniform(0.98, 1.02),
                              2)
            extra["fee"] = round(self.pnl.uniform(0.0, 5.0), 4)
        line = self.emit(self.event("trade", book=book, instrument_id=inst.iid, side=side,
                                    quantity=qty, price=price, **extra))
        self.trade_lines.append(self.lines[line - 1])

    def collateral(self, book: str, asset: str, amount: float, chain: str | None) -> None:
        extra: dict[str, Any] = {}
        if chain is not None:
            self.block[chain] += self.rng.randint(1, 4)
            extra = {"chain": chain, "tx_hash": f"0x{self.ids:064x}",
                     "block_number": self.block[chain], "log_index": self.rng.randint(0, 9)}
        event = self.event("collateral", book=book, asset=asset, amount=amount, **extra)
        self.emit(event)
        if chain == "ethereum":
            self.chain_events.append(event)

    def random_collateral(self) -> None:
        rng = self.rng
        if rng.random() < 0.25:
            book, asset = rng.choice(BOOKS), rng.choice(("USDC", "SOL"))
        else:
            book, asset = rng.choice(sorted(self.anchored))
        amount = round(rng.uniform(-1, 3) * (1 if asset == "BTC" else 20), 4) or 1.0
        self.collateral(book, asset, amount, rng.choice(("ethereum", "ethereum", "arbitrum", None)))

    def reorg(self) -> None:
        """Orphan the last few ethereum blocks; mine one retracted transfer again later."""
        mined = [e for e in self.chain_events if e["block_number"] > 1000 + 4]
        if not mined:
            self.collateral("beta", "ETH", 5.0, chain="ethereum")
            mined = self.chain_events[-1:]
        start = mined[-min(len(mined), self.rng.randint(1, 3))]["block_number"]
        self.emit(self.event("reorg", chain="ethereum", from_block=start))
        self.reorg_s = self.now
        self.block["ethereum"] = start - 1
        self.remine = next(e for e in mined if e["block_number"] >= start)

    def mine_again(self) -> None:
        self.block["ethereum"] += 1
        again = {**self.remine, "ts": rfc3339(self.now), "block_number": self.block["ethereum"]}
        self.emit(again)

    def limits(self) -> None:
        u = self.rng.choice(("BTC", "ETH"))
        self.emit(self.event("limits", book=self.rng.choice(BOOKS), underlying=u,
                             max_abs_delta=round(self.rng.uniform(0.5, 50), 2),
                             max_abs_vega=1000.0, hedge_instrument=f"{u}-PERP-L",
                             hedge_band=5.0))

    def duplicate(self) -> None:
        if self.trade_lines:
            self.dups.append(self.emit(self.rng.choice(self.trade_lines)))

    # ---------------------------------------------------------------- bad records
    def bad(self, kind: str) -> None:
        live = self.live()
        iid = self.rng.choice([i.iid for i in live if i.fields["kind"] != "option"])
        opt = self.rng.choice([i.iid for i in live if i.fields["kind"] == "option"])
        trade = self.event("trade", book="alpha", instrument_id=iid, side="buy", quantity=1,
                           price=100.0)
        recipes: dict[str, tuple[Any, str]] = {
            "json": (json.dumps(trade)[:-9], "invalid_json"),
            "missing": ({k: v for k, v in trade.items() if k != "side"}, "invalid_event"),
            "type": ({**trade, "quantity": "1"}, "invalid_event"),
            "inf": (json.dumps(trade).replace('"price": 100.0', '"price": 1e999'),
                    "invalid_json"),
            "zero_qty": ({**trade, "quantity": 0}, "invalid_event"),
            "neg_price": ({**trade, "price": -5.0}, "invalid_event"),
            "zero_iv": (self.event("quote", instrument_id=opt, underlying_price=100.0,
                                   mark_iv=0.0), "invalid_event"),
            "unknown": ({**trade, "instrument_id": "BTC-NOPE"}, "unknown_instrument"),
            "no_iv": (self.event("quote", instrument_id=opt, underlying_price=100.0),
                      "missing_quote_field"),
            "hedge": (self.event("limits", book="beta", underlying="BTC",
                                 hedge_instrument="BTC-NOPE", hedge_band=1.0),
                      "unknown_instrument"),
            "kind": (self.event("fill", book="alpha"), "unknown_type"),
            "ts": ({**trade, "ts": "2026-03-01 12:00:00"}, "invalid_event"),
            "array": ("[1, 2, 3]", "not_an_object"),
        }
        record, reason = recipes[kind]
        self.emit(record, bad=reason)

    def reused_id(self) -> None:
        """A rejected trade, then a valid one with the same event_id: the valid one applies."""
        iid = self.rng.choice([i.iid for i in self.live() if i.fields["kind"] == "perpetual"])
        good = self.event("trade", book="alpha", instrument_id=iid, side="sell", quantity=3,
                          price=100.0)
        self.emit({**good, "quantity": -3}, bad="invalid_event")
        self.now += 1
        self.emit({**good, "ts": rfc3339(self.now)})

    # ---------------------------------------------------------------- the day
    def run(self) -> None:
        self.define()
        self.index("BTC")
        self.seed_collateral()
        kinds = ["json", "missing", "type", "inf", "zero_qty", "neg_price", "zero_iv",
                 "unknown", "no_iv", "hedge", "kind", "ts", "array"]
        bad_at = dict(zip(self.rng.sample(range(20, self.steps - 5), 6),
                          self.rng.sample(kinds, 6), strict=True))
        dup_at = set(self.rng.sample(range(30, self.steps - 5), 2))
        reorg_at, reused_at = int(self.steps * 0.65), int(self.steps * 0.4)
        atm_at = int(self.steps * 0.45)
        for step in range(self.steps):
            self.now = (step + 1) * STEP_S + self.rng.uniform(0, 20)
            self.move()
            self.step()
            if step in bad_at:
                self.bad(bad_at[step])
            if step in dup_at:
                self.duplicate()
            if step == reorg_at:
                self.reorg()
            if step == reorg_at + 10:
                self.mine_again()
            if step == reused_at:
                self.reused_id()
            if step == atm_at:
                self.define_atm()
            if self.pnl is not None and self.pnl.random() < 0.08:
                self.funding()
        self.now += 5
        self.index("BTC")

    def funding(self) -> None:
        """A quoted perpetual's funding rate (linear ones need a mark to pay at)."""
        assert self.pnl is not None
        perps = [i for i in self.instruments
                 if i.fields["kind"] == "perpetual" and i.iid in self.quoted]
        if perps:
            inst = self.pnl.choice(perps)
            self.emit(self.event("funding", instrument_id=inst.iid,
                                 rate=round(self.pnl.gauss(0.0001, 0.0003), 7)))

    def step(self) -> None:
        r = self.rng.random()
        if r < 0.5:
            self.quote()
        elif r < 0.78:
            self.trade()
        elif r < 0.88:
            self.index()
        elif r < 0.97:
            self.random_collateral()
        else:
            self.limits()

    def as_of_times(self) -> list[str | None]:
        near = self.instruments[0].expiry_s  # BTC options of expiry 0 come first
        assert near is not None
        future = next(i.expiry_s for i in self.instruments if i.iid == "BTC-FUT-L")
        assert future is not None
        return [rfc3339(self.span * 0.2), rfc3339(near - 90), rfc3339(near), rfc3339(near + 1),
                rfc3339(self.reorg_s + 0.5), rfc3339(future), None]


def write_case(directory: Path, seed: int, steps: int = 260, pnl: bool = False) -> Case:
    """Generate case ``seed`` into ``directory/case-SEED.jsonl`` (``pnl``: with fees,
    market-like trade prices and funding)."""
    gen = Generator(seed, steps, pnl)
    gen.run()
    path = directory / f"case-{seed}.jsonl"
    path.write_text("\n".join(gen.lines) + "\n")
    return Case(path=path, as_of=gen.as_of_times(), bad_lines=gen.case_bad,
                duplicate_lines=gen.dups)


# --------------------------------------------------------------------------- golden files

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "cases"
GOLDEN_AS_OF: dict[str, list[str | None]] = {
    "linear_call": [None, "2026-03-01T13:30:00Z"],
    "inverse_put": [None, "2026-03-01T12:10:00Z"],
    "perps_futures_spot": [None, "2026-03-01T09:30:00Z"],
    "collateral_reorg": [None, "2026-03-01T00:09:30Z"],
}


def expected_document(path: Path, as_ofs: list[str | None]) -> dict[str, Any]:
    from tests.reference.model import exposures, to_micros

    queries = []
    for as_of in as_ofs:
        rows, _ = exposures(path, None if as_of is None else to_micros(as_of))
        queries.append({"as_of": as_of, "exposures": [r.as_dict() for r in rows]})
    return {"events": path.name, "queries": queries}


def write_golden() -> None:
    """Regenerate tests/golden/cases/*.expected.json from the reference (review the diff!)."""
    for name, as_ofs in GOLDEN_AS_OF.items():
        doc = expected_document(GOLDEN_DIR / f"{name}.jsonl", as_ofs)
        (GOLDEN_DIR / f"{name}.expected.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    write_golden()
