"""Scenario grids and named stress scenarios from YAML or JSON files.

A file is one of two shapes (YAML is a superset of JSON, so both parse alike):

* a bare grid, used for every underlying::

      {"price_shocks": [-0.3, 0, 0.3], "vol_shocks": [0, 0.2], "time_shift_h": [0, 24]}

* a document with ``grids`` (per underlying, ``default`` for the others) and/or
  ``scenarios`` (named sets, each with a shock per underlying, ``default`` for the
  others); without ``grids`` the named scenarios come after the default grid of docs/contract.md::

      grids:
        default: {price_shocks: [...], vol_shocks: [...]}
        ETH: {price_shocks: [...], vol_shocks: [...], time_shift_h: [0, 24]}
      scenarios:
        - name: march-2020-crash
          description: ...
          source: ...
          shocks:
            BTC: {price_shock: -0.50, vol_shock: 0.60, time_shift_h: 24}

Every problem is a :class:`~greekstream.errors.ConfigError` naming the file and
the field: a file that does not parse (or nests too deeply), a price shock at or below
−100 % or above +1000 %, a vol shock beyond ±5, a time shift outside 0 to 87,600 h (ten
years), a shock written as text or true/false, an empty grid, a grid of more than
100,000 scenarios, an underlying the events never mention.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from greekstream.core.scenarios import DEFAULT_GRID, EMPTY_GRID, STABLECOINS, Grid, Scenario
from greekstream.errors import ConfigError
from greekstream.settings import UniqueKeyLoader

if TYPE_CHECKING:
    from greekstream.core.engine import EngineConfig

LIBRARY_PATH = Path(__file__).parents[1] / "data" / "stress_scenarios.yaml"
PM_PATH = Path(__file__).parents[1] / "data" / "pm.yaml"
# names `--scenarios` accepts for the shipped files (a file of that name wins)
PRESETS = {"library": LIBRARY_PATH, "pm": PM_PATH}
DEFAULT_KEY = "default"
MAX_SCENARIOS = 100_000  # per grid, named scenarios included
MAX_PRICE_SHOCK = 10.0  # +1000 %
MAX_VOL_SHOCK = 5.0  # absolute, either way (500 vol points)
MAX_TIME_SHIFT_H = 87_600.0  # ten years


def _number(value: Any) -> Any:
    """A shock is a number as written: true/false or a quoted "0.1" is refused, not read
    as 1.0 or 0.1 (pydantic's lax float would)."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number")
    if isinstance(value, str):
        raise ValueError(f"{value!r} is text, not a number (write the number unquoted)")
    return value


# strict: an int is taken, nothing else but a float
Number = Annotated[float, BeforeValidator(_number), Field(strict=True, allow_inf_nan=False)]
VolShock = Annotated[Number, Field(ge=-MAX_VOL_SHOCK, le=MAX_VOL_SHOCK)]
Hours = Annotated[Number, Field(ge=0, le=MAX_TIME_SHIFT_H)]


def _check_price_shock(value: float) -> float:
    if value <= -1.0:
        raise ValueError(f"price shock {value} is at or below -100% (a price cannot reach 0)")
    if value > MAX_PRICE_SHOCK:
        raise ValueError(f"price shock {value} is above +{MAX_PRICE_SHOCK:.0%} "
                         f"(at most {MAX_PRICE_SHOCK:g}: shocks are relative, 0.1 = +10%)")
    return value


PriceShock = Annotated[Number, AfterValidator(_check_price_shock)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Shocks(_Strict):
    price_shock: PriceShock
    vol_shock: VolShock = 0.0
    time_shift_h: Hours = 0.0


Power = Annotated[Number, Field(ge=0, le=2)]


class TenorPower(_Strict):
    """Vol shocks scaled by (30/DTE)^w per option: ``up`` for rises, ``down`` for falls."""

    up: Power
    down: Power


class GridSpec(_Strict):
    price_shocks: list[PriceShock] = Field(min_length=1)
    vol_shocks: list[VolShock] = Field(default=[0.0], min_length=1)
    time_shift_h: list[Hours] = Field(default=[0.0], min_length=1)
    tenor_power: TenorPower | None = None
    # cells outside the product (a venue's "extended table" of large moves)
    extended: list[Shocks] = Field(default_factory=list)

    def grid(self) -> Grid:
        power = None if self.tenor_power is None else (self.tenor_power.up,
                                                       self.tenor_power.down)
        cells = Grid.product(self.price_shocks, self.vol_shocks, self.time_shift_h).scenarios()
        cells += [Scenario(x.price_shock, x.vol_shock, x.time_shift_h) for x in self.extended]
        return Grid.of(cells, power)


JOINT_KEYS = ("vol", "time_shift_h")  # the compact form's shocks shared by every underlying


class NamedScenario(_Strict):
    """A named stress scenario: a shock per underlying, all applied together (joint).

    ``shocks`` maps an underlying to its shocks, or, in the compact form, to its price
    shock alone, with ``vol`` and ``time_shift_h`` applying to every underlying named::

        shocks: {BTC: -0.30, ETH: -0.40, vol: 0.25}
    """

    name: str = Field(min_length=1)
    description: str = ""
    source: str = ""
    shocks: dict[str, Shocks] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("shocks"), dict):
            return data
        shocks = dict(data["shocks"])
        shared = {"vol_shock": shocks.pop("vol", 0.0),
                  "time_shift_h": shocks.pop("time_shift_h", 0.0)}
        expanded = {
            u: ({"price_shock": x, **shared} if isinstance(x, int | float)
                and not isinstance(x, bool) else x)
            for u, x in shocks.items()
        }
        return {**data, "shocks": expanded}

    def shocks_for(self, underlying: str) -> Shocks | None:
        """Its shocks for ``underlying``: named, else ``default`` (never for a stablecoin)."""
        named = self.shocks.get(underlying)
        if named is not None or underlying in STABLECOINS:
            return named
        return self.shocks.get(DEFAULT_KEY)


class ScenarioDocument(_Strict):
    grids: dict[str, GridSpec] = Field(default_factory=dict)
    scenarios: list[NamedScenario] = Field(default_factory=list)


@dataclass(frozen=True)
class ScenarioConfig:
    """Grids per underlying (``default`` for the rest) and the named stress scenarios."""

    grids: dict[str, Grid]
    named: tuple[NamedScenario, ...] = ()
    source: str = "the default grid"
    # a shipped preset (library, pm) names the market's usual underlyings: one the events
    # do not hold simply does not apply; a desk's own file naming one is a typo to report
    preset: bool = False

    def underlyings(self) -> set[str]:
        named = {u for ns in self.named for u in ns.shocks}
        return ({u for u in self.grids if u != DEFAULT_KEY} | named) - {DEFAULT_KEY}

    def check_underlyings(self, known: set[str]) -> None:
        unknown = sorted(self.underlyings() - known - STABLECOINS)
        if unknown and not self.preset:
            raise ConfigError(
                f"{self.source}: unknown underlying {', '.join(map(repr, unknown))}: "
                f"no instrument or index of it in the events",
                hint=f"the events know {', '.join(sorted(known)) or 'no underlying'}",
            )

    def grid_for(self, underlying: str) -> Grid:
        """The underlying's grid (or the default one), then its named scenarios.

        A stablecoin (USD, USDC, USDT, DAI) has no grid, and a scenario's ``default``
        never applies to it: only the named scenarios that name it (its depegs).
        """
        stable = underlying in STABLECOINS
        grid = None if stable else self.grids.get(underlying, self.grids.get(DEFAULT_KEY))
        named = [
            Scenario(sh.price_shock, sh.vol_shock, sh.time_shift_h, ns.name)
            for ns in self.named
            for sh in [ns.shocks_for(underlying)]
            if sh is not None
        ]
        if grid is None:
            return Grid.of(named) if named else EMPTY_GRID
        return grid + Grid.of(named) if named else grid

    def with_named(self, extra: tuple[NamedScenario, ...]) -> ScenarioConfig:
        """These grids and scenarios, then ``extra``'s (those with a new name)."""
        names = {ns.name for ns in self.named}
        return ScenarioConfig(self.grids, self.named + tuple(x for x in extra
                                                             if x.name not in names),
                              self.source)


DEFAULT_CONFIG = ScenarioConfig(grids={DEFAULT_KEY: DEFAULT_GRID})


def load(path: str | Path) -> ScenarioConfig:
    """Read and validate a scenario file (or a preset: ``pm``, ``library``); any problem
    is a ConfigError, nothing partial."""
    p = Path(path)
    if str(path) in PRESETS and not p.exists():
        p = PRESETS[str(path)]
    data = _parse(p)
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a scenario file must be a mapping (a grid or grids/scenarios)",
                          hint=_SHAPE_HINT)
    try:
        if "price_shocks" in data:
            doc = ScenarioDocument(grids={DEFAULT_KEY: GridSpec.model_validate(data)})
        else:
            doc = ScenarioDocument.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{p}: {_explain(exc)}", hint=f"{_SHAPE_HINT}; {_LIMITS}") from exc
    if not doc.grids and not doc.scenarios:
        raise ConfigError(f"{p}: an empty scenario file (no grids, no scenarios)",
                          hint=_SHAPE_HINT)
    _check_names(p, doc)
    stable = sorted(set(doc.grids) & STABLECOINS)
    if stable:
        raise ConfigError(
            f"{p}: grids for {', '.join(stable)}: a stablecoin is never shocked by a price "
            "grid", hint="shock it in a named depeg scenario (docs/scenarios.md)")
    _check_size(p, doc)  # before a grid is built: its product may be far too large
    grids = {k: g.grid() for k, g in doc.grids.items()} or {DEFAULT_KEY: DEFAULT_GRID}
    return ScenarioConfig(
        grids=grids,
        named=tuple(doc.scenarios),
        source=str(p),
        preset=p in PRESETS.values(),
    )


_LIMITS = (f"numbers unquoted: a price shock above -1 and at most {MAX_PRICE_SHOCK:g} "
           f"(relative: 0.1 = +10%), a vol shock from -{MAX_VOL_SHOCK:g} to "
           f"{MAX_VOL_SHOCK:g} (absolute: 0.2 = +20 vol points), time_shift_h from 0 to "
           f"{MAX_TIME_SHIFT_H:,.0f} (hours)")
_SHAPE_HINT = ('write {"price_shocks": [...], "vol_shocks": [...], "time_shift_h": [...]} '
               "or a mapping with `grids` and/or `scenarios`; see docs/scenarios.md")


class _Loader(UniqueKeyLoader):
    """The safe loader that refuses a key written twice (two ``ETH:`` grids, ``BTC``
    twice in a scenario's shocks: greekstream.settings), reading a number with an
    exponent and no point (``1e-3``, as JSON writes it) as a float, not as text (YAML 1.1
    asks for ``1.0e-3``): shocks are strict numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _parse(p: Path) -> Any:
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"no such scenario file: {p}") from exc
    except OSError as exc:  # a directory, no permission (one line, not "[Errno 21] ...")
        raise ConfigError(f"cannot read scenario file {p}: {exc.strerror or exc}",
                          hint="give a YAML or JSON file you can read, or a preset: pm, "
                               "library") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read scenario file {p}: not UTF-8 text ({exc.reason} at "
                          f"byte {exc.start})", hint=_SHAPE_HINT) from exc
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: does not parse as YAML or JSON: {exc}",
                          hint=_SHAPE_HINT) from exc
    except RecursionError as exc:  # the parser recurses per level of nesting
        raise ConfigError(f"{p}: nested too deeply to parse (lists or mappings inside "
                          "each other hundreds of levels deep)", hint=_SHAPE_HINT) from exc


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _check_names(p: Path, doc: ScenarioDocument) -> None:
    counts = Counter(ns.name for ns in doc.scenarios)  # (names.count per name: quadratic)
    dupes = sorted(n for n, k in counts.items() if k > 1)
    if dupes:
        raise ConfigError(f"{p}: scenario names repeat: {', '.join(dupes)}")


def _check_size(p: Path, doc: ScenarioDocument) -> None:
    """Each grid's scenarios (the product of its axes' lengths, its extended cells and
    the named scenarios) counted from the lengths alone, before anything is built."""
    named = len(doc.scenarios)
    if not doc.grids and len(DEFAULT_GRID) + named > MAX_SCENARIOS:
        raise ConfigError(f"{p}: scenarios: {named:,} named scenarios and the default "
                          f"grid's {len(DEFAULT_GRID)} cells make more than "
                          f"{MAX_SCENARIOS:,} scenarios", hint=_SIZE_HINT)
    for key, g in doc.grids.items():
        axes = (len(g.price_shocks), len(g.vol_shocks), len(g.time_shift_h))
        size = axes[0] * axes[1] * axes[2] + len(g.extended) + named
        if size > MAX_SCENARIOS:
            raise ConfigError(
                f"{p}: grids.{key}: {size:,} scenarios ({axes[0]:,} price_shocks x "
                f"{axes[1]:,} vol_shocks x {axes[2]:,} time_shift_h, + {len(g.extended):,} "
                f"extended + {named:,} named), more than {MAX_SCENARIOS:,}",
                hint=_SIZE_HINT)


_SIZE_HINT = (f"at most {MAX_SCENARIOS:,} scenarios per grid (the product of its axes' "
              "lengths, its extended cells and the named scenarios): use fewer shocks per "
              "axis, or split the file and run each part")


def engine_config(engine: Any = None, scenarios_file: str | None = None,
                  returns_file: str | None = None) -> EngineConfig:
    """The engine's configuration from EngineSettings (or defaults), a scenario file and a
    returns file (the arguments win over ``engine.scenarios_file`` / ``returns_file``);
    file errors are ConfigErrors."""
    from functools import lru_cache

    from greekstream.core.engine import EngineConfig as Config
    from greekstream.runtime.returns_file import load_returns

    fields: dict[str, Any] = {} if engine is None else engine.model_dump(
        exclude={"scenarios_file", "returns_file"})
    path = scenarios_file or (None if engine is None else engine.scenarios_file)
    if path:
        fields["grids"] = lru_cache(maxsize=None)(load(path).grid_for)
    returns = returns_file or (None if engine is None else engine.returns_file)
    if returns:
        fields["returns"] = load_returns(returns)
    return Config(**fields)


def engine_config_from_env(scenarios_file: str | None = None,
                           returns_file: str | None = None) -> EngineConfig:
    """What a processor would run with: the GREEKSTREAM_ENGINE__* settings (replay and
    audit must re-derive its outputs), the files given over the env's. A bad engine
    setting is a ConfigError (not the defaults in its place); the processor's other
    settings are not read."""
    from greekstream.settings import engine_settings

    return engine_config(engine_settings(), scenarios_file, returns_file)
