"""The published contract: schemas in sync with the models, the core kept pure."""

from __future__ import annotations

import ast
import importlib
from collections import deque
from pathlib import Path

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.events import decode_event, encode_input
from greekstream.tools import schemas_gen
from tests.unit import builders as b

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "services" / "greekstream" / "core"
FORBIDDEN = {"os", "time", "asyncio", "confluent_kafka", "clickhouse_connect", "chdb", "random",
             "datetime.now", "socket", "threading", "subprocess", "greekstream.kafka",
             "greekstream.history", "greekstream.api", "greekstream.settings"}


def test_checked_in_schemas_match_the_models() -> None:
    expected = schemas_gen.expected_files()
    for rel, body in expected.items():
        path = ROOT / "schemas" / rel
        assert path.exists(), f"{rel} missing: run `make schemas`"
        assert path.read_bytes() == body, f"{rel} drifted from the models: run `make schemas`"
    on_disk = {str(p.relative_to(ROOT / "schemas")) for p in (ROOT / "schemas").glob("*/*.json")}
    assert on_disk == set(expected), "a schema file has no model (or vice versa)"


@pytest.mark.parametrize(
    "raw",
    [
        b.option("BTC-X-C", 60000),
        b.perp(),
        b.quote_opt("q", 1, "BTC-X-C", 60000, 0.6),
        b.quote_mark("m", 1, "BTC-PERPETUAL", 60000),
        b.index("x", 1, 60000),
        b.trade("t", 1, "BTC-X-C", "buy", 1),
        b.rec("collateral", "c", 1, book="a", asset="BTC", amount=-1.5, chain="eth",
              block_number=1, tx_hash="0x1", log_index=0),
        b.rec("reorg", "r", 1, chain="eth", from_block=1),
        b.limits("l", 1, max_abs_delta=1, hedge_instrument="BTC-PERPETUAL", hedge_band=1),
    ],
)
def test_valid_events_satisfy_their_published_schema(raw: bytes) -> None:
    event = decode_event(raw)
    schema = orjson.loads((ROOT / "schemas" / "input" / f"{event.type}.json").read_bytes())
    jsonschema.validate(orjson.loads(encode_input(event)), schema)
    jsonschema.validate(orjson.loads(raw), schema)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_core_imports_no_io_clock_or_framework() -> None:
    offenders = {}
    for path in sorted(CORE.glob("*.py")):
        bad = {
            name for name in _imports(path)
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_core_reads_no_wall_clock_or_randomness() -> None:
    calls = {"now", "utcnow", "today", "perf_counter", "monotonic", "default_rng", "urandom",
             "uuid4", "random", "rand", "randn"}
    offenders = []
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in calls):
                offenders.append(f"{path.name}:{node.lineno} .{node.func.attr}()")
    assert offenders == []


def test_core_keeps_no_module_level_mutable_state() -> None:
    """A table computed at import is read-only (MappingProxyType, tuple, frozenset); a
    memo is owned by an object or is a bounded lru_cache: importing core, or running one
    engine, leaves nothing behind that another could see grow."""
    offenders = []
    for path in sorted(CORE.glob("*.py")):
        module = importlib.import_module(f"greekstream.core.{path.stem}")
        for name, value in vars(module).items():
            if name.startswith("__"):
                continue
            if isinstance(value, dict | list | set | bytearray | deque):
                offenders.append(f"{path.stem}.{name}: {type(value).__name__}")
            elif (callable(getattr(value, "cache_parameters", None))
                  and value.cache_parameters()["maxsize"] is None):
                offenders.append(f"{path.stem}.{name}: an unbounded cache")
    assert offenders == []


# The layering, top to bottom: commands -> api -> history -> kafka -> runtime -> core, with
# reports (tables, charts, signing), sample (the demo generators) and tools (build time)
# beside it. A package imports only itself, what is listed for it and the two shared
# root modules; a new folder or a loose module at the root has to be placed here first.
PACKAGE = ROOT / "services" / "greekstream"
MAY_IMPORT = {
    "commands": {"api", "reports", "history", "kafka", "sample", "runtime", "core"},
    "api": {"reports", "history", "kafka", "runtime", "core"},
    "reports": {"runtime", "core"},
    "history": {"kafka", "runtime", "core"},
    "kafka": {"runtime", "core"},
    "sample": {"runtime", "core"},
    "runtime": {"core"},
    "tools": {"core"},
    "core": set(),
}
SHARED = {"errors", "settings"}  # root modules every layer but core may import
ROOT_MODULES = {"__init__", "cli", *SHARED}


def _greekstream_imports(path: Path, services: Path = ROOT / "services") -> set[str]:
    """The first name under ``greekstream`` of every import in ``path`` (relative ones
    resolved), e.g. ``kafka`` for ``from greekstream.kafka.ops import serve``."""
    package = path.relative_to(services).parent.parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            modules = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            if module == "greekstream":
                modules = [f"greekstream.{a.name}" for a in node.names]
        else:
            continue
        found.update(m.split(".")[1] for m in modules
                     if m.startswith("greekstream.") and m.count(".") >= 1)
    return found


def test_every_folder_and_root_module_has_a_place_in_the_layering() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders == set(MAY_IMPORT), "place the new folder in MAY_IMPORT (and the README)"
    loose = {p.stem for p in PACKAGE.glob("*.py")} - ROOT_MODULES
    assert loose == set(), "a module at the package root belongs in a folder"


def test_no_import_runs_back_up_the_layers() -> None:
    offenders = {}
    for layer, allowed in MAY_IMPORT.items():
        ok = allowed | {layer} | (SHARED if layer != "core" else set())
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            bad = _greekstream_imports(path) - ok
            if bad:
                offenders[str(path.relative_to(PACKAGE))] = sorted(bad)
    for name in SHARED:
        bad = _greekstream_imports(PACKAGE / f"{name}.py") - {"core", *SHARED}
        if bad:
            offenders[f"{name}.py"] = sorted(bad)
    assert offenders == {}


def test_the_layer_check_sees_upward_and_relative_imports(tmp_path: Path) -> None:
    fake = tmp_path / "greekstream" / "kafka" / "example.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("import greekstream.commands.sink\n"
                    "from greekstream.history.client import connect\n"
                    "from ..api import app\nfrom . import ops\nfrom greekstream import errors\n")
    assert _greekstream_imports(fake, tmp_path) == {"commands", "history", "api", "kafka",
                                                    "errors"}


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_maybe = st.none() | _finite


@settings(max_examples=60, deadline=None)
@given(d=_finite, g=_finite, v=_maybe, n=st.integers(0, 10**6), flag=st.booleans(),
       ts=st.integers(0, 4_000_000_000_000_000))
def test_outputs_built_without_validation_encode_as_validated_ones(
    d: float, g: float, v: float | None, n: int, flag: bool, ts: int
) -> None:
    from greekstream.core.events import (
        Breach,
        Exposure,
        HedgeIntent,
        RiskMatrixEvent,
        ScenarioPnl,
        build,
        encode,
    )

    cases: list[tuple[type, dict[str, object]]] = [
        (Exposure, dict(event_id="e", ts=ts, book="b", underlying="BTC", delta=d,
                        delta_equity=g, gamma=g, vega=d, theta=g, delta_usd=v, positions=n,
                        caused_by="c", stale=flag, oracle_divergence=not flag)),
        (Exposure, dict(event_id="e", ts=ts, book="b", underlying="BTC", delta=d,
                        delta_equity=g, gamma=g, vega=d, theta=g, delta_usd=v, positions=n,
                        caused_by="c")),
        (Breach, dict(event_id="x", ts=ts, breach_id="y", book="b", underlying="ETH",
                      metric="oracle", value=v, limit=d, state="open", caused_by="c")),
        (HedgeIntent, dict(event_id="i", ts=ts, intent_id="i", book="b", underlying="BTC",
                           instrument_id="BTC-PERPETUAL", side="sell", quantity=n,
                           delta_before=d, delta_after=g, basis="equity", caused_by="c")),
    ]
    row = dict(price_shock=d, vol_shock=g, time_shift_h=0.0, pnl=d)
    cases.append((RiskMatrixEvent, dict(
        event_id="r", ts=ts, book="b", underlying="BTC", as_of=ts,
        price_shocks=[d, d], vol_shocks=[g, g], time_shift_h=[0.0, 24.0], names=[None, "x"],
        pnl=[d, g], worst_loss=abs(g), worst_scenario=build(ScenarioPnl, **row),
        liq_move_down=v, liq_move_up=None, liq_price_down=v, liq_price_up=d, caused_by="c")))
    for cls, fields in cases:
        validated = cls.model_validate(
            {**fields, "worst_scenario": fields["worst_scenario"].model_dump()}
            if cls is RiskMatrixEvent else fields
        )
        built = build(cls, **fields)
        assert encode(built) == encode(validated)
        assert built == validated


def test_the_exposure_event_carries_the_one_exposure_field_list() -> None:
    """`exposure` events, ExposureValues and the exposures table follow EXPOSURE_VALUES."""
    from greekstream.core.books import (
        EXPOSURE_FLAGS,
        EXPOSURE_METRICS,
        EXPOSURE_VALUES,
        ExposureValues,
    )
    from greekstream.core.events import CHAIN_FIELDS, Exposure
    from greekstream.history.rows import OUTPUT_TABLES

    assert list(Exposure.model_fields) == [
        "type", "event_id", "ts", "book", "underlying", *EXPOSURE_METRICS, "caused_by",
        *EXPOSURE_FLAGS, *EXPOSURE_VALUES[len(EXPOSURE_METRICS) + len(EXPOSURE_FLAGS):],
        *CHAIN_FIELDS,
    ]
    values = ExposureValues("desk-a", "BTC", *range(1, len(EXPOSURE_VALUES) + 1))
    assert values.as_tuple() == tuple(range(1, len(EXPOSURE_VALUES) + 1))
    assert list(values.as_dict()) == ["book", "underlying", *EXPOSURE_VALUES]
    columns = OUTPUT_TABLES["exposure"].columns
    assert [c for c in columns if c in EXPOSURE_VALUES] == [*EXPOSURE_METRICS, *EXPOSURE_FLAGS]


def test_an_output_missing_a_field_or_with_a_malformed_link_fails_its_schema() -> None:
    """The output schemas say what every emitted record holds: each field present (an
    output is always written whole), chain links 64 lower-case hex (empty only on the
    gateway's own rejections, which no engine chained)."""
    from greekstream.core.events import Rejected, encode
    from tests.unit.test_engine_never_raises import VALID, VALIDATORS, setup_engine

    engine = setup_engine()
    outputs = [o for i, raw in enumerate(VALID) for o in engine.handle(raw, f"v:{i}")]
    outputs += engine.flush()
    kinds = {o.type for o in outputs}
    assert {"exposure", "pnl", "risk_matrix", "hedge_intent"} <= kinds, kinds
    for o in outputs:
        record = orjson.loads(encode(o))
        validator = VALIDATORS[o.type]
        validator.validate(record)
        for name in record:  # every field is required
            assert not validator.is_valid({k: v for k, v in record.items() if k != name}), (
                o.type, name)
        for link in ("prev", "hash"):
            for bad in ("not-a-sha", "A" * 64, "g" * 64, record[link][:63], ""):
                assert not validator.is_valid({**record, link: bad}), (o.type, link, bad)
    gateway = orjson.loads(encode(Rejected(event_id="rej:1", ts=None, reason="invalid_json",
                                           detail="not valid JSON", source="f:1", raw="{")))
    assert gateway["prev"] == gateway["hash"] == ""
    VALIDATORS["rejected"].validate(gateway)
