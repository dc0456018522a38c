"""`greekstream demo`: the bundled sample → engine → embedded ClickHouse, with a summary."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path

import orjson

from greekstream.core.engine import EngineConfig
from greekstream.core.events import Breach, HedgeIntent, IntentStatus, Regime
from greekstream.core.timeutil import format_ts
from greekstream.core.var import Returns
from greekstream.errors import UsageError
from greekstream.history.client import require_engine
from greekstream.reports.tables import (
    EXPOSURE_FIELDS,
    EXPOSURE_HEADERS,
    METRIC_UNITS,
    exposure_rows,
    fmt_duration,
    fmt_row,
    print_table,
    with_unit,
)
from greekstream.runtime.progress import Progress
from greekstream.runtime.replay import ReplayResult, read_records, replay
from greekstream.runtime.whole_file import write_whole

HELP = "replay the bundled sample day through the engine into embedded ClickHouse; summarise"
EXAMPLES = """  greekstream demo                 # the bundled day into demo-out/ (a few minutes)
  greekstream demo --events events.jsonl --out small-demo/   # your file instead
  greekstream demo --events events.jsonl --history chdb://$PWD/gs-demo --out d2/  # a new store
then serve the store it made (the command the demo prints at its end):
  greekstream serve --dsn chdb://$PWD/demo-out/chdb --host 127.0.0.1 --new-token demo-out/token
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-out", metavar="DIR",
                   help="directory for output events, the chDB store and plots (default demo-out)")
    p.add_argument("--history", metavar="DSN",
                   help="ClickHouse DSN to write to, a store holding no input records yet "
                        "(default: chdb:///<out>/chdb, the demo's own store, rebuilt on "
                        "every run)")
    p.add_argument("--events", metavar="FILE",
                   help="replay this file instead of the bundled sample")


# the image bakes the demo day here at build time (a read-only root cannot generate it)
BUNDLED_EVENTS = Path("/opt/greekstream/share/demo.jsonl")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    dsn = args.history or f"chdb://{(out / 'chdb').resolve()}"
    require_engine(dsn)  # first: chDB is the optional extra `embedded` (pyproject.toml)
    if args.events and not Path(args.events).is_file():
        raise UsageError(f"no such events file: {args.events}",
                         hint="write one with `greekstream sample`")
    if args.history is not None:  # before anything is written
        _require_fresh_store(args.history, Path(args.events) if args.events else _sample())
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".writable").touch()
        (out / ".writable").unlink()
    except OSError as exc:
        raise UsageError(f"cannot write the demo's outputs to {out}/: {exc.strerror}",
                         hint="give a writable directory with --out DIR "
                              "(e.g. --out /tmp/demo-out on a read-only root)") from exc
    if args.history is None:
        _fresh_store(out / "chdb")
    events = Path(args.events) if args.events else _sample()
    print(f"== greekstream demo: {events}", file=sys.stderr)
    # the returns first: the day's replay then emits each book's `var` every
    # var_interval_s, as a processor with a returns file does, and the store holds them
    returns = _returns(out, dsn)
    result = replay(read_records(events), config=EngineConfig(returns=returns),
                    progress=Progress("replay"))
    from greekstream.commands.replay import write_outputs

    write_outputs(result, str(out))
    _history(dsn, events, result)
    _summary(result)
    _pnl(result, events)
    _regimes(result)
    _signed_report(dsn, out, result)
    _stress(result, out)
    _var(result, out, dsn, returns)
    _onchain(result)
    print(f"\noutputs written to {out}/ (exposures.jsonl, breaches.jsonl, ...)")
    _next_step(dsn, out)
    return 0


def serve_command(dsn: str, out: Path) -> str:
    """The command that serves the demo's store on loopback with a fresh token file."""
    exe = shutil.which("greekstream")
    if exe is None:  # not on PATH (make demo runs .venv/bin/greekstream)
        venv_exe = Path(sys.executable).with_name("greekstream")
        exe = str(_relative(venv_exe)) if venv_exe.exists() else "greekstream"
    else:
        exe = "greekstream"
    return (f"{exe} serve --dsn {dsn} --host 127.0.0.1 --port 8000 "
            f"--new-token {out / 'token'}")


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _next_step(dsn: str, out: Path) -> None:
    # `make serve` serves the default demo-out/chdb of the repository's folder only
    default = out.resolve() == Path("demo-out").resolve() and dsn.endswith("/demo-out/chdb")
    also = " (or `make serve`)" if default else ""
    print(f"\nnext: serve the demo's store on loopback with a fresh token{also}:")
    print(f"  {serve_command(dsn, out)}")
    print(f"then open http://127.0.0.1:8000/ and enter the token from {out / 'token.txt'}")


def _sample() -> Path:
    from greekstream.sample import sample_path

    if BUNDLED_EVENTS.is_file():
        return BUNDLED_EVENTS
    try:
        return sample_path("demo")
    except OSError as exc:
        raise UsageError(f"cannot generate the demo's events: {exc}",
                         hint="write them elsewhere with `greekstream sample --profile day "
                              "--out FILE` and pass --events FILE") from exc


def _summary(result: ReplayResult) -> None:
    counts = Counter(o.type for o in result.outputs)
    as_of = format_ts(result.as_of_us) if result.as_of_us is not None else "-"
    print(f"\n{result.applied:,} events applied ({result.engine.duplicates:,} duplicates ignored); "
          f"outputs: " + ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())))
    rows = exposure_rows(result.exposures(), None)
    print()
    print_table(EXPOSURE_HEADERS, [[r[k] for k in EXPOSURE_FIELDS] for r in rows],
                title=f"Exposures as of {as_of}")
    breaches = [o for o in result.outputs if isinstance(o, Breach)]
    open_now = {b.breach_id: b for b in breaches if b.state == "open"}
    for b in breaches:
        if b.state == "cleared":
            open_now.pop(b.breach_id, None)
    end = result.as_of_us
    print(f"\nBreaches: {sum(b.state == 'open' for b in breaches):,} opened, "
          f"{sum(b.state == 'cleared' for b in breaches):,} cleared, {len(open_now):,} open now")
    print_table(
        ("opened", "open for (h:mm:ss)", "book", "underlying", "metric", "unit", "value",
         "limit"),
        [[format_ts(b.ts), fmt_duration(None if end is None else (end - b.ts) / 1e6),
          b.book, b.underlying, b.metric, METRIC_UNITS.get(b.metric, ""),
          *fmt_row([b.value, b.limit])]  # each row in its metric's digits
         for b in open_now.values()],
    )
    intents = [o for o in result.outputs if isinstance(o, HedgeIntent)]
    status = {o.intent_id: o.state for o in result.outputs if isinstance(o, IntentStatus)}
    states = Counter(status.get(i.intent_id, "pending") for i in intents)
    print(f"\nHedge intents: {len(intents):,} ("
          + ", ".join(f"{n:,} {s}" for s, n in sorted(states.items())) + "; last 10)")
    print_table(
        ("ts", "book", "instrument", "side", with_unit("quantity"), "limit_price",
         "est_cost_usd", "status"),
        [[format_ts(i.ts), i.book, i.instrument_id, i.side, i.quantity, i.limit_price,
          i.est_cost_usd, status.get(i.intent_id, "pending")] for i in intents[-10:]],
    )


def _pnl(result: ReplayResult, events: Path) -> None:
    """P&L per book for the day (its underlyings added up), then the explain of the
    day's last hour."""
    from greekstream.commands.explain import table_text
    from greekstream.runtime.explain import explain_window

    if result.as_of_us is None:
        return
    books: dict[str, list[float]] = {}
    for r in result.exposures():
        if r.pnl is None:
            continue
        acc = books.setdefault(r.book, [0.0] * 5)
        for i, name in enumerate(("realized_usd", "unrealized_usd", "funding_usd", "fees_usd",
                                  "total_usd")):
            acc[i] += r.pnl[name]
    print()
    print_table(("book", "realized_usd", "unrealized_usd", "funding_usd", "fees_usd",
                 "total_usd"), [[book, *v] for book, v in sorted(books.items())],
                title=f"P&L per book for the day (USD) as of {format_ts(result.as_of_us)} "
                      "(total = realized + unrealized + funding - fees)")
    t1 = result.as_of_us
    t0 = t1 - 3600 * 1_000_000
    rows = explain_window(read_records(events), t0, t1)
    print()
    print(table_text(rows, t0, t1), end="")


def _regimes(result: ReplayResult) -> None:
    changes = [o for o in result.outputs if isinstance(o, Regime)]
    print(f"\nVolatility regimes (realized vol, EWMA half-life 24 h): {len(changes)} changes")
    print_table(
        ("ts", "underlying", "from", "to", "realized_vol", "implied_vol"),
        [[format_ts(r.ts), r.underlying, r.previous or "-", r.regime, r.realized_vol,
          r.implied_vol] for r in changes],
    )


def _signed_report(dsn: str, out: Path, result: ReplayResult) -> None:
    """Sign the day's report with a fresh key and verify it against the stored history
    (the chain recomputed from the stored inputs is this run's replay of them)."""
    from greekstream.history.client import connect
    from greekstream.history.report import build_report, verify_history
    from greekstream.reports.signing import (
        keygen,
        load_private,
        load_public,
        sign,
        signature_problem,
    )

    if result.as_of_us is None:
        return
    # the day the replay covers: it ends at the next midnight (the day's funding records),
    # which is the first instant of the next day, where the day's report has nothing
    day = format_ts(result.as_of_us - 1)[:10]
    key, pub = keygen(out / "report-key", overwrite=True)
    with connect(dsn) as history:
        doc = sign(build_report(history, day), load_private(key))
        path = out / f"report-{day}.json"
        write_whole(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        problem = signature_problem(orjson.loads(path.read_bytes()), load_public(pub))
        findings = verify_history(history, doc["report"], recomputed=result.outputs)
    heads = {b: e["chain"]["head"][:16] for b, e in doc["report"]["books"].items()
             if e["chain"]}
    print(f"\nSigned end-of-day report {day} (Ed25519): {path}")
    print("  chain heads: " + ", ".join(f"{b} {h}…" for b, h in heads.items()))
    verdict = "OK" if problem is None and not findings else "FAILED"
    print(f"  verified: {verdict} (signature; {len(result.outputs):,} stored outputs "
          "re-hashed and compared with the chain recomputed from the stored inputs)")
    for f in findings[:5]:
        print(f"  FAIL {f}")
    print(f"  check it yourself: greekstream verify {path} --pubkey {pub} --dsn {dsn} "
          f"--returns {out / 'returns.csv'}")


def _fresh_store(path: Path) -> None:
    """The demo's own store (``<out>/chdb``, no --history) is rebuilt on every run. A store
    left by an earlier run keeps that run's rows (a replay stores each row once), so one
    written by an earlier version, whose outputs differ, would fail the demo's own
    verification of the hash chain. Only a ClickHouse data directory is removed."""
    if (path / "metadata").is_dir():
        print(f"== rebuilding the demo's store {path}/", file=sys.stderr)
        shutil.rmtree(path)


def _require_fresh_store(dsn: str, events: Path) -> None:
    """Refuse a --history store that holds input records: the demo replays its file from
    a fresh engine and stores every record and output, so the same file again (an earlier
    demo, or `replay FILE --history` into it: replay_io.plan_append finds it) would store
    its outputs twice, and after other files its outputs would not follow theirs; either
    way the demo's hash chain breaks, after the rows are written."""
    from greekstream.history.client import connect
    from greekstream.history.replay_io import plan_append

    target = require_engine(dsn)
    try:
        new = target.embedded and not (Path(target.location) / "metadata").is_dir()
    except OSError as exc:  # a name too long, ...
        raise UsageError(f"cannot open {target}: {exc.strerror or exc}",
                         hint="give --history a chdb:///DIR the demo can make or open"
                         ) from exc
    if new:
        return  # no store there yet: the demo makes it
    with connect(dsn, create=True) as history:  # (a server: the database the demo makes)
        if "raw_events" not in history.tables():
            return
        plan = plan_append(history, events)
    if not plan.stored:
        return
    hint = ("give --history a new store (e.g. chdb://$PWD/gs-demo-2), or leave it out for "
            "the demo's own, rebuilt on every run")
    if plan.already:
        raise UsageError(f"{target} holds {events} already (as {plan.name}): the demo would "
                         "store its outputs a second time; nothing written", hint=hint)
    raise UsageError(f"{target} holds {plan.stored:,} input records already: the demo "
                     f"replays {events.name} from a fresh engine, so its outputs would not "
                     "follow them; nothing written",
                     hint=f"{hint}; `greekstream replay {events} --history DSN` adds the "
                          "file to a store, continuing from its records")


def _history(dsn: str, events: Path, result: ReplayResult) -> None:
    from greekstream.history.replay_io import write_replay

    counts = write_replay(dsn, read_records(events), result.outputs)
    stored = ", ".join(f"{n:,} {table}" for table, n in counts.items())
    print(f"stored in ClickHouse ({dsn}): {stored}", file=sys.stderr)


def _stress(result: ReplayResult, out: Path) -> None:
    from greekstream.commands.stress import book_totals, stress_reports, summary_lines
    from greekstream.reports.plots import risk_heatmaps
    from greekstream.runtime.scenario_files import LIBRARY_PATH, load

    if result.as_of_us is None:
        return
    reports = stress_reports(result.engine, result.as_of_us, load(LIBRARY_PATH))
    print("\nScenario risk (full revaluation: the default grid of docs/contract.md + the "
          "stress library): worst loss (USD), liquidation distance\n(stablecoins are not on "
          "the price grid: their rows are the library's depeg scenarios)")
    for line in summary_lines(reports):
        print("  " + line)
    print("\nNamed scenarios, each book's underlyings moved together (worst per book):")
    for book, t in book_totals(reports).items():
        name = t.names[t.worst_index]
        parts = ", ".join(f"{u} {x:,.0f}" for u, x in sorted(t.by_underlying[t.worst_index]
                                                            .items()))
        print(f"  {book:<12} worst loss {t.worst_loss:>14,.0f} USD at {name} ({parts})")
    path = risk_heatmaps(reports, out / "risk_heatmap.png",
                         title="greekstream demo: scenario P&L by book and underlying",
                         as_of_us=result.as_of_us)
    print(f"heatmap written to {path}")


VAR_DAYS = 250


def history_dsn(dsn: str) -> str:
    """The demo's daily market history goes next to its store, in database `history`."""
    from urllib.parse import urlsplit, urlunsplit

    if dsn.startswith("chdb://"):
        return dsn.split("?", 1)[0] + "?database=history"
    return urlunsplit(urlsplit(dsn)._replace(path="/history"))


def _returns(out: Path, dsn: str) -> Returns:
    """A year of sample daily history → stored → the returns CSV (`greekstream returns`)."""
    from greekstream.history.client import connect
    from greekstream.history.replay_io import write_replay
    from greekstream.history.returns import build_returns
    from greekstream.runtime.returns_file import write_returns
    from greekstream.sample.history import history_lines

    lines = history_lines()
    write_replay(history_dsn(dsn),
                 ((line, f"history.jsonl:{n}") for n, line in enumerate(lines, 1)), [])
    with connect(history_dsn(dsn)) as history:
        returns = build_returns(history, ["BTC", "ETH", "WBTC"], VAR_DAYS)
    write_returns(out / "returns.csv", returns)
    return returns


def _var(result: ReplayResult, out: Path, dsn: str, returns: Returns) -> None:
    """Each book's VaR and ES on the demo day's final positions, and the P&L distribution
    picture (the day's `var` outputs, every var_interval_s, are in the store too)."""
    from greekstream.commands.var import table_text, var_reports
    from greekstream.reports.plots import var_distributions

    if result.as_of_us is None:
        return
    where = history_dsn(dsn)
    reports = var_reports(result.engine, result.as_of_us, returns)
    print(f"\nHistorical VaR and expected shortfall (every underlying of a book moved together "
          f"by each of {VAR_DAYS} days of sample history, stored in {where} and turned into "
          f"{out / 'returns.csv'} by `greekstream returns`):")
    print("  " + table_text(reports, result.as_of_us).replace("\n", "\n  ").rstrip())
    path = var_distributions(reports, out / "var_distribution.png")
    print(f"VaR distribution picture written to {path}")


DEMO_CASCADE = ("ETH", -0.20, 5_000_000.0)  # asset, shock, depth (USD of selling per 1%)


def _onchain(result: ReplayResult) -> None:
    """Loans and LP positions per book (their exposure is in the table above), then one
    liquidation cascade over every loan in the state."""
    from greekstream.commands.cascade import cascade_report, table_text
    from greekstream.core.events import Loan
    from greekstream.core.onchain import asset_price, health_factor

    engine = result.engine
    positions = engine.chain.all_positions()
    if result.as_of_us is None or not positions:
        return
    loans = [p for p in positions if isinstance(p, Loan)]
    print(f"\nOn-chain positions: {len(loans):,} loans, {len(positions) - len(loans):,} "
          "LP positions (their delta and gamma are in the exposures above)")
    rows = []
    for book in sorted({p.book for p in positions}):
        mine = [x for x in loans if x.book == book]
        # both prices are known: the engine rejects a loan without them (unknown_asset),
        # and an index price, once set, stays
        hf = health_factor(
            [x.collateral_amount for x in mine],
            [asset_price(x.collateral_asset, engine.index) for x in mine],
            [x.liquidation_threshold for x in mine],
            [x.debt_amount for x in mine],
            [asset_price(x.debt_asset, engine.index) for x in mine],
        ) if mine else None
        lps = [p for p in positions if p.book == book and not isinstance(p, Loan)]
        rows.append([book, len(mine), None if hf is None else float(hf.min()),
                     None if hf is None else int((hf < 1.1).sum()), len(lps)])
    print_table(("book", "loans", "lowest HF (ratio)", "loans with HF < 1.1", "LP positions"),
                rows)
    asset, shock, depth = DEMO_CASCADE
    price = engine.index_price(asset)
    if price is None:
        return
    added = _market_loans(engine, result.as_of_us, asset, price)
    print(f"\nThe wider lending market: {added:,} more {asset} loans at the current price "
          "(greekstream.sample.loans: health factors spread like a real market's), book "
          "`market`, so the cascade has a crowd to liquidate:")
    print(table_text(cascade_report(engine, result.as_of_us, asset, shock, depth)), end="")


MARKET_LOANS = 5_000


def _market_loans(engine: object, at_us: int, asset: str, price: float) -> int:
    """Apply a generated loan population to the engine (after the summaries above)."""
    from greekstream.core.engine import Engine
    from greekstream.core.events import Loan
    from greekstream.sample.loans import DEBT_ASSET, loan_population

    assert isinstance(engine, Engine)
    if engine.index_price(DEBT_ASSET) is None:
        return 0
    pop = loan_population(MARKET_LOANS, asset, seed=11, price=price)
    for i in range(len(pop)):
        # validated as an input event: ts in its wire form, an RFC 3339 string (Timestamp)
        loan = Loan.model_validate(dict(
            event_id=f"demo-market-loan-{i}", ts=format_ts(at_us), book=pop.book[i],
            position_id=f"demo:{pop.protocol[i]}:{asset}:{i:06d}", protocol=pop.protocol[i],
            collateral_asset=asset, collateral_amount=float(pop.collateral_amount[i]),
            debt_asset=DEBT_ASSET, debt_amount=float(pop.debt_amount[i]),
            liquidation_threshold=float(pop.liquidation_threshold[i]),
            liquidation_bonus=float(pop.liquidation_bonus[i]),
            close_factor=float(pop.close_factor[i]),
        ))
        # straight into the on-chain state: the summaries are printed, and reporting
        # 5,000 loans one by one would re-run each touched book's risk matrix each time
        engine.chain.set_position(loan)
    return len(pop)
