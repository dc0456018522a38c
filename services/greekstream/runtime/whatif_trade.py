"""One hypothetical trade as a what-if takes it: one model, one set of rules, for the
trades file of `greekstream whatif` and the body of ``POST /v1/books/{book}/what-if``.

The API validates its body with ``WhatIfTrade`` (its 422 is pydantic's, field by field);
the CLI validates each line with it too and says the first problem in plain words
(``read_trade``). Only pydantic here, not FastAPI: the CLI imports this module.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from greekstream.core.whatif import HypotheticalTrade


def _not_a_bool(value: object) -> object:
    """true/false is not a number here (pydantic's lax mode would take true as 1)."""
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


# a finite number above 0, or one in a string ("5"): both the API and the CLI take it
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False), BeforeValidator(_not_a_bool)]


class WhatIfTrade(BaseModel):
    instrument_id: str
    side: Literal["buy", "sell"]
    quantity: Positive
    price: Positive | None = None

    def hypothetical(self) -> HypotheticalTrade:
        return HypotheticalTrade(self.instrument_id, self.side, self.quantity, self.price)


T = TypeVar("T", bound=WhatIfTrade)


class BadTrade(ValueError):
    """What is wrong with a trade, in words that follow "trade N ..."."""


def read_trade(item: object, model: type[T]) -> T:
    """``item`` as a ``model`` (WhatIfTrade, or one that adds fields, as the CLI's book);
    raises BadTrade naming the first problem in plain words. A null counts as missing."""
    if not isinstance(item, dict):
        raise BadTrade(f"is not a JSON object but {_shown(item)}")
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        errors = exc.errors()
    missing = [f'"{_field(e)}"' for e in errors if e["type"] == "missing" or e["input"] is None]
    if missing:
        event = (f" (it looks like an input event of type {item['type']!r}: --trades takes "
                 "hypothetical trades, not events)" if "type" in item else "")
        raise BadTrade(f"has no {', '.join(missing)}{event}")
    raise BadTrade(_words(errors[0]))


def _words(error: Any) -> str:
    name, value, kind = _field(error), error["input"], error["type"]
    a = "an" if name[:1] in tuple("aeiou") else "a"
    if kind == "literal_error":
        allowed = error["ctx"]["expected"].replace("'", '"')
        return f'has "{name}" {value!r}: it must be {allowed}'
    if kind in ("float_type", "float_parsing"):
        return f'has {a} "{name}" that is not a number: {_shown(value)}'
    if kind == "string_type":
        return f'has {a} "{name}" that is not a string: {_shown(value)}'
    if kind == "finite_number":
        return f'has "{name}" {_shown(value)}: it must be a finite number'
    if kind == "greater_than":
        return f'has "{name}" {_shown(value)}: it must be more than {error["ctx"]["gt"]:g}'
    return f'has {a} bad "{name}" {_shown(value)}: {error["msg"]}'


def _field(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


def _shown(value: object) -> str:
    try:
        return orjson.dumps(value).decode()[:80]
    except TypeError:  # not JSON (a caller's Python object): its repr
        return repr(value)[:80]
