"""Settings: one frozen model per deployable, read from ``GREEKSTREAM_*`` env vars or a file.

Nested fields use ``__`` in env vars: ``GREEKSTREAM_KAFKA__BOOTSTRAP_SERVERS``.
A settings file (YAML or JSON) is named by ``GREEKSTREAM_SETTINGS_FILE``; env vars win.
snake_case names map to librdkafka's dotted keys in :meth:`KafkaSettings.client_config`.

The Helm chart's values and docker-compose's environment are checked against
these models in tests/deploy (both directions), so add a field here first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from yaml.constructor import ConstructorError

from greekstream.core.guards import MAX_INTERVAL_S, MAX_TS_AHEAD_S, MIN_INTERVAL_S


def _no_bool_for_a_number(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A number setting given ``true``/``false`` (YAML's ``yes``, ``on``: a slip) is refused,
    not read as 1 or 0 (pydantic's lax ints and floats take a bool)."""
    field = cls.model_fields.get(info.field_name or "")
    if isinstance(value, bool) and field is not None and field.annotation in (int, float):
        raise ValueError(f"a number is wanted, not {str(value).lower()} (YAML reads yes, no, "
                         "on and off as true and false)")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    _numbers = field_validator("*", mode="before")(classmethod(_no_bool_for_a_number))


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    client_id: str = "greekstream"
    topic_prefix: str = "greekstream"

    def client_config(self) -> dict[str, Any]:
        """The librdkafka configuration these settings stand for."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        for key, value in optional.items():
            if value is not None:
                conf[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return conf


# the engine's intervals: a microsecond (its clock's unit) to ~31,700 years (core/guards.py)
Interval = Annotated[float, Field(ge=MIN_INTERVAL_S, le=MAX_INTERVAL_S, allow_inf_nan=False)]


# a regime bound: an annualised realized vol (0.40 = 40%), finite and positive
RegimeBound = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class EngineSettings(_Section):
    revaluation_interval_s: Interval = 60.0
    oracle_tolerance: float = Field(0.01, gt=0, allow_inf_nan=False)
    oracle_max_age_s: Interval = 300.0
    oracle_max_jump: float = Field(0.10, gt=0, allow_inf_nan=False)
    risk_interval_s: Interval = 60.0
    risk_change_threshold: float = Field(0.05, ge=0, allow_inf_nan=False)
    # contract part 2: exposures of market data conflated per window of this many ms of event
    # time (docs/engine.md); 0 = v1, outputs after every record
    emit_interval_ms: int = Field(100, ge=0, le=int(MAX_INTERVAL_S * 1000))
    # a book record dated more than this past the market's clock is rejected (ts_ahead), so
    # one mistyped year cannot make every later record late (docs/streaming.md); 0 = no limit
    max_ts_ahead_s: float = Field(MAX_TS_AHEAD_S, ge=0, allow_inf_nan=False)
    # A scenario file (YAML/JSON, docs/scenarios.md) for the streamed risk matrices:
    # grids per underlying and named stress sets. None or "": the default grid of docs/contract.md.
    scenarios_file: str | None = None
    # A returns file (CSV, docs/var.md) for the streamed `var` outputs: each book's
    # historical VaR and ES every var_interval_s of event time. None or "": no `var`.
    returns_file: str | None = None
    var_interval_s: Interval = 3600.0
    var_confidence: float = Field(0.99, gt=0, lt=1)
    # volatility regimes (docs/regimes.md): the realized vol's EWMA half-life in hours of
    # event time, and the calm/normal and normal/stressed bounds on it (annualised, as a
    # fraction: 0.40 = 40%), two increasing numbers (in an env var JSON, "[0.4, 0.8]", or
    # "0.4,0.8")
    regime_half_life_h: float = Field(24.0, gt=0, allow_inf_nan=False)
    regime_bounds: Annotated[tuple[RegimeBound, RegimeBound], NoDecode] = (0.40, 0.80)

    @field_validator("regime_bounds", mode="before")
    @classmethod
    def _two_numbers(cls, value: Any) -> Any:
        """From an env var: JSON ("[0.4, 0.8]") or two numbers with a comma ("0.4,0.8");
        whatever it is, the model says what is wrong with it (a ConfigError, never a
        settings-source error without the field's name)."""
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                return [part.strip() for part in value.strip().strip("[]()").split(",")]
        if isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
            raise ValueError("two numbers are wanted, not true or false (YAML reads yes, "
                             "no, on and off as true and false)")
        return value

    @field_validator("regime_bounds")
    @classmethod
    def _increasing(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        if not bounds[0] < bounds[1]:
            raise ValueError(f"the calm/normal bound {bounds[0]} must be below the "
                             f"normal/stressed bound {bounds[1]}")
        return bounds


class HttpSettings(_Section):
    # Loopback unless told otherwise: the chart and docker-compose set 0.0.0.0 explicitly.
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


# YAML (JSON is YAML) as every file a desk writes by hand is read: this settings file, the
# tokens file and GREEKSTREAM_TOKENS_JSON (api/tokens.py), scenario files
# (runtime/scenario_files.py). PyYAML keeps the last of a key written twice in one mapping
# and drops the first without a word (JSON readers do the same): two `ETH:` grids, a token
# listed again with "*", an `engine:` section given twice. UniqueKeyLoader refuses it with
# DuplicateKey, which names both lines; a `<<` merge's keys may still be overridden, as
# YAML means them to be. The caller turns it into its ConfigError (the tokens file names
# the lines only: a key there is a token).
MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(ConstructorError):
    """A key written twice in one mapping; ``lines`` are both its lines (1-based)."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__("while reading a mapping", first,
                         f"the key {key!r} appears twice (write each key once)", again)
        self.lines = (first.line + 1, again.line + 1)


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that holds a key twice."""

    def construct_mapping(self, node: yaml.MappingNode,
                          deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _value in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # not hashable: the base class says so below
                continue
            if first is not key_node.start_mark:
                raise DuplicateKey(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep)


class _Sources(BaseSettings):
    """GREEKSTREAM_* variables over the settings file (GREEKSTREAM_SETTINGS_FILE)."""

    model_config = SettingsConfigDict(
        env_prefix="GREEKSTREAM_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls), file_secret_settings)


class _Settings(_Sources):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    _numbers = field_validator("*", mode="before")(classmethod(_no_bool_for_a_number))


class _FileSource(PydanticBaseSettingsSource):
    """Values from the YAML/JSON file named by GREEKSTREAM_SETTINGS_FILE (lowest priority)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("GREEKSTREAM_SETTINGS_FILE")
        if not path:
            return {}
        from greekstream.errors import ConfigError

        hint = ("point GREEKSTREAM_SETTINGS_FILE at a readable YAML or JSON file of settings "
                "(a mapping: kafka:, engine:, ...), or unset it")
        try:  # (a key written twice, an `engine:` section given twice, is refused)
            loaded = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"bad settings: cannot read settings file {path}: {why}",
                              hint=hint) from exc
        except DuplicateKey as exc:
            raise ConfigError(f"bad settings: settings file {path}: {exc}", hint=hint) from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"bad settings: settings file {path} is not YAML: {exc}",
                              hint=hint) from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"bad settings: settings file {path} must hold a mapping", hint=hint)
        return loaded


class KafkaClientSettings(_Settings):
    """`greekstream topics` and `greekstream produce`: only the Kafka connection."""

    kafka: KafkaSettings = KafkaSettings()


class EngineEnvSettings(_Sources):
    """The engine section of a processor's settings alone (GREEKSTREAM_ENGINE__* and the
    settings file's ``engine``): what replay, audit, verify and exposure re-derive its
    outputs with, and what the gateway follows. The rest is not theirs to check."""

    model_config = SettingsConfigDict(extra="ignore")  # (over _Sources' own)

    engine: EngineSettings = EngineSettings()


def engine_settings() -> EngineSettings:
    """The processors' engine settings from the environment and the settings file; a bad
    value, or a settings file that cannot be read, is a ConfigError naming it."""
    from pydantic import ValidationError

    from greekstream.errors import ConfigError

    try:
        return EngineEnvSettings().engine
    except ValueError as exc:  # (a ValidationError is one; a file that cannot be read is
        # the file source's ConfigError already)
        what = "bad engine settings" if isinstance(exc, ValidationError) else "settings"
        raise ConfigError(f"{what} (GREEKSTREAM_ENGINE__*, or the engine section of "
                          f"GREEKSTREAM_SETTINGS_FILE): {exc}") from exc


class ProcessorSettings(_Settings):
    """`greekstream process`: the exactly-once stream processor."""

    kafka: KafkaSettings = KafkaSettings()
    engine: EngineSettings = EngineSettings()
    http: HttpSettings = HttpSettings()
    group_id: str = "greekstream-processor"
    batch_max_events: int = Field(5000, gt=0)
    batch_max_ms: int = Field(50, gt=0)
    checkpoint_interval_s: float = Field(10.0, gt=0)
    session_timeout_ms: int = Field(10000, ge=1000)
    # the Kafka runtime (docs/streaming.md)
    instance_id: str | None = None  # stable per instance (pod name); default: the hostname
    checkpoint_every_events: int = Field(500_000, gt=0)
    # a partition's snapshot larger than this is written as several records (brokers and
    # librdkafka refuse a record over 1 MB by default; kafka/checkpoints.py)
    checkpoint_chunk_bytes: int = Field(512 * 1024, ge=1024, le=900_000)
    transaction_timeout_ms: int = Field(30000, ge=1000)
    backoff_max_s: float = Field(5.0, gt=0)
    # group.instance.id = the instance id (KIP-345): a restart within the session timeout
    # gets its partitions back without a rebalance. Off by default: on Tansu, the test
    # broker, a static member's restart stalls the group (measured, docs/streaming.md)
    static_membership: bool = False


class SinkSettings(_Settings):
    """`greekstream sink`: Kafka topics to ClickHouse."""

    kafka: KafkaSettings = KafkaSettings()
    http: HttpSettings = HttpSettings(port=8081)
    clickhouse_dsn: SecretStr = SecretStr("chdb:///var/lib/greekstream/chdb")
    group_id: str = "greekstream-sink"
    batch_rows: int = Field(50_000, gt=0)
    batch_seconds: float = Field(1.0, gt=0)
    session_timeout_ms: int = Field(10000, ge=1000)


class QuerySettings(_Section):
    """How `serve` shares ClickHouse and runs replays (docs/history.md, "Concurrency")."""

    connections: int = Field(8, ge=1, le=64)  # pooled clients: queries never queue on one
    replay_workers: int = Field(2, ge=1, le=32)  # processes for mode=replay (engine off-GIL)
    replay_timeout_s: float = Field(120.0, gt=0, le=3600)  # then 504; the worker finishes
    replay_per_token: int = Field(1, ge=1, le=32)  # running replays per token, then 429
    # a replay's stored records are spooled to a file under TMPDIR as they are read (the
    # worker streams them from it); a history larger than this is a 507, not a full disk
    replay_spool_mb: int = Field(128, ge=1, le=65536)
    # spool files at once, all tokens together (reading, queued for a worker, or still read
    # by one after a 504), then 503: with replay_spool_mb, the most replays take of TMPDIR
    # (6 x 128 MiB of the chart's 1 GiB serve.tmpSizeLimit)
    replay_spools: int = Field(6, ge=1, le=1024)
    # a request waits this long for a pooled connection, then 503 with Retry-After (the
    # store is busy): never without bound behind `connections` slow queries
    connection_wait_s: float = Field(5.0, gt=0, le=300)
    # ClickHouse stops an ordinary query past this (max_execution_time), then 504; a
    # replay's read is given the time left of replay_timeout_s instead
    query_timeout_s: float = Field(30.0, gt=0, le=3600)


class ServeSettings(_Settings):
    """`greekstream serve`: the historical analytics query service."""

    http: HttpSettings = HttpSettings(port=8000)
    queries: QuerySettings = QuerySettings()
    clickhouse_dsn: SecretStr = SecretStr("chdb:///var/lib/greekstream/chdb")
    tokens_file: str | None = None  # YAML/JSON {token: [books] | "*"}, e.g. a mounted secret
    tokens_json: SecretStr | None = None  # the same mapping inline (GREEKSTREAM_TOKENS_JSON)
