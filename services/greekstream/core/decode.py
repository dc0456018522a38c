"""Fast decoding of the hot input types (quote, index, trade, tick) with msgspec.

The pydantic models in :mod:`greekstream.core.events` stay the one source of truth:
the msgspec Structs here are *derived* from them (field names, types, ``Literal``s,
bounds, string lengths, defaults), and the JSON Schemas are still generated from the
models. A decoded hot event is a frozen Struct read by attribute exactly like the
model (``ev.type``, ``ev.ts`` as epoch-µs ``int``, ...); ``as_model()`` gives the
pydantic model when one is needed (``encode_input``).

Correctness rule: the fast path may only *accept* what the models accept, with the
same values. Anything it does not accept — a record of another type, a bad record,
or one of the few shapes msgspec is stricter about (a repeated key, NaN inside an
ignored field) — goes to the pydantic path, which accepts it or raises the
:class:`~greekstream.core.events.DecodeError` with the reference reason and detail.
So rejections are byte-identical by construction, and a differential property test
(tests/unit/test_decode.py) checks accepted values against the models.

Where msgspec is more lenient than the models (found by that test), the record is
routed to the pydantic path before msgspec sees it: invalid UTF-8 inside ignored
fields (msgspec skips them unchecked) and deep nesting inside ignored fields (the
models' JSON parser has a depth limit).
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import annotated_types as at
import msgspec
from pydantic import BaseModel, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic.fields import FieldInfo

from greekstream.core.events import INPUT_TYPES, MAX_RECORD_BYTES, DecodeError
from greekstream.core.events import decode_event as decode_reference
from greekstream.core.timeutil import parse_ts

HOT_TYPES = ("quote", "index", "trade", "tick")
_MAX = sys.float_info.max  # allow_inf_nan=False: every float must be finite
_TS_CACHE_SIZE = 1 << 16
# A record this long with this many brackets may nest deeper than the models' parser
# allows; it takes the reference path (no real market record comes close).
_NESTING_CHECK_BYTES = 200
_NESTING_BRACKETS = 64


class Unsupported(TypeError):
    """A model feature the derivation cannot reproduce exactly (that type stays on pydantic)."""


# ----------------------------------------------------------------------------- timestamps

class TsMemo:
    """RFC 3339 → epoch µs, exactly as the models parse it, memoised (quotes share ts).
    Each derived Struct type owns one (``FastQuote.ts_memo``); there is no module-level
    cache. Bounded: emptied when full, so nothing grows with the stream. The hot path
    reads ``table`` directly (a dict lookup costs less than any call: an lru_cache made
    decoding ~10% slower); ``table`` is never rebound, so a reader keeps it."""

    __slots__ = ("size", "table")

    def __init__(self, size: int = _TS_CACHE_SIZE) -> None:
        self.size = size
        self.table: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        table = self.table
        value = table.get(text)
        if value is None:
            value = parse_ts(text)  # TimestampError is a ValueError: msgspec reports it
            if len(table) >= self.size:
                table.clear()
            table[text] = value
        return value

    def clear(self) -> None:
        self.table.clear()


# ----------------------------------------------------------------------------- derivation


def _is_timestamp(metadata: Iterable[Any]) -> bool:
    return any(isinstance(m, BeforeValidator) for m in metadata)


def _constraints(base: type, metadata: Iterable[Any]) -> Any:
    """``base`` with the model's annotated-types bounds as a msgspec ``Meta``."""
    meta: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            for inner in item.metadata:
                _one_constraint(inner, meta)
        else:
            _one_constraint(item, meta)
    if base is float:  # finite: bounded on both sides unless the model bounds it
        if "gt" not in meta and "ge" not in meta:
            meta["ge"] = -_MAX
        if "lt" not in meta and "le" not in meta:
            meta["le"] = _MAX
    return typing.Annotated[base, msgspec.Meta(**meta)] if meta else base


_BOUNDS: Mapping[type, str] = types.MappingProxyType(
    {at.Gt: "gt", at.Ge: "ge", at.Lt: "lt", at.Le: "le"})


def _one_constraint(item: Any, meta: dict[str, Any]) -> None:
    if type(item) in _BOUNDS:
        name = _BOUNDS[type(item)]
        meta[name] = getattr(item, name)
    elif isinstance(item, at.MinLen):
        meta["min_length"] = item.min_length
    elif isinstance(item, at.MaxLen):
        meta["max_length"] = item.max_length
    elif isinstance(item, PlainSerializer | WithJsonSchema):
        pass  # output-side only
    else:
        raise Unsupported(f"constraint {item!r}")


def _struct_type(annotation: Any, metadata: list[Any]) -> tuple[Any, bool]:
    """(msgspec type, is a timestamp) for one model field."""
    if _is_timestamp(metadata):
        return str, True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise Unsupported(f"union {annotation!r}")
        tp, is_ts = _struct_type(inner[0], metadata)
        if is_ts:
            raise Unsupported("optional timestamp")
        return tp | None, False
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return _struct_type(base, [*metadata, *extra])
    if origin is typing.Literal:
        if metadata:
            raise Unsupported(f"constrained literal {annotation!r}")
        return annotation, False
    if annotation in (str, float, int):
        if annotation is int and metadata and not all(
            isinstance(m, at.Ge | at.Gt | at.Le | at.Lt) for m in metadata
        ):
            raise Unsupported(f"int with {metadata!r}")
        return _constraints(annotation, metadata), False
    raise Unsupported(f"type {annotation!r}")


def derive_struct(model: type[BaseModel]) -> type[msgspec.Struct]:
    """A frozen msgspec Struct that decodes exactly what ``model`` validates (or raises
    :class:`Unsupported`). Its ``type`` is the JSON tag and a class attribute; its
    ``ts_memo`` (:class:`TsMemo`) the memo of its timestamps."""
    decorators = model.__pydantic_decorators__
    if any((decorators.model_validators, decorators.field_validators, decorators.validators,
            decorators.root_validators)):
        raise Unsupported(f"{model.__name__} has validators")
    config = model.model_config
    if not (config.get("strict") and config.get("allow_inf_nan") is False
            and config.get("extra") == "ignore"):
        raise Unsupported(f"{model.__name__}: config {config!r}")
    tag = model.model_fields["type"].default
    fields: list[tuple[str, Any, Any]] = []
    stamps: list[str] = []
    for name, info in model.model_fields.items():
        if name == "type":
            continue
        if info.alias not in (None, name):
            raise Unsupported(f"{model.__name__}.{name} has an alias")
        tp, is_ts = _struct_type(info.annotation, list(info.metadata))
        if is_ts:
            stamps.append(name)
        if info.is_required():
            fields.append((name, tp, msgspec.NODEFAULT))
        else:
            fields.append((name, tp, info.default))
    memo = TsMemo()
    return msgspec.defstruct(
        f"Fast{model.__name__}",
        [(n, t) if d is msgspec.NODEFAULT else (n, t, d) for n, t, d in fields],
        tag_field="type", tag=tag, frozen=True, kw_only=True, gc=False,
        namespace={"type": tag, "__post_init__": _post_init(tuple(stamps), memo),
                   "as_model": _as_model(model), "ts_memo": memo, "__module__": __name__},
    )


def _post_init(stamps: tuple[str, ...], memo: TsMemo) -> Callable[[Any], None]:
    force = msgspec.structs.force_setattr
    cache = memo.table

    if stamps == ("ts",):
        def one(self: Any) -> None:
            value = cache.get(self.ts)
            force(self, "ts", value if value is not None else memo(self.ts))
        return one

    def many(self: Any) -> None:
        for name in stamps:
            force(self, name, memo(getattr(self, name)))
    return many


def _as_model(model: type[BaseModel]) -> Callable[[Any], BaseModel]:
    def as_model(self: Any) -> BaseModel:
        return model.model_construct(**msgspec.structs.asdict(self))
    return as_model


def _fast_structs() -> Mapping[str, type[msgspec.Struct]]:
    out: dict[str, type[msgspec.Struct]] = {}
    for name in HOT_TYPES:
        model = INPUT_TYPES.get(name)
        if model is not None:  # tick arrives with the emission windows (docs/contract.md, part 2)
            out[name] = derive_struct(model)
    return types.MappingProxyType(out)


FAST_STRUCTS = _fast_structs()  # input type -> its derived Struct, built once
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
    typing.Union[tuple(FAST_STRUCTS.values())]  # noqa: UP007 (a runtime-built union)
    if len(FAST_STRUCTS) > 1 else next(iter(FAST_STRUCTS.values()))
)


# ----------------------------------------------------------------------------- decoding


def decode_event(raw: bytes | str) -> Any:
    """Decode one JSON record into an input event, or raise :class:`DecodeError`.

    Hot types come back as frozen Structs (attribute access like the models); every
    other type, and every record the fast path does not accept, goes through the
    models, so the outcome and any rejection reason are the reference ones.
    """
    if (
        type(raw) is bytes
        and raw.isascii()  # invalid UTF-8 anywhere is the reference path's to report
        and (len(raw) < _NESTING_CHECK_BYTES
             or (raw.count(b"[") + raw.count(b"{") < _NESTING_BRACKETS
                 and len(raw) <= MAX_RECORD_BYTES))  # the reference rejects a longer one
    ):
        try:
            return _decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    return decode_reference(raw)


def decode_many(raws: Iterable[bytes | str]) -> list[Any]:
    """Decode a run of records: each item is the event, or the :class:`DecodeError`."""
    out: list[Any] = []
    append = out.append
    for raw in raws:
        try:
            append(decode_event(raw))
        except DecodeError as exc:
            append(exc)
    return out


def is_fast(event: Any) -> bool:
    """Whether an event was decoded by the fast path (a Struct, not a model)."""
    return isinstance(event, msgspec.Struct)


__all__ = ["FAST_STRUCTS", "HOT_TYPES", "decode_event", "decode_many", "derive_struct"]
