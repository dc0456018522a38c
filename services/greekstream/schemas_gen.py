"""Generate schemas/*.json (one JSON Schema per event type) from the pydantic models.

python -m greekstream.schemas_gen --write   # regenerate (make schemas)
python -m greekstream.schemas_gen --check   # exit 1 if a checked-in schema drifted
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from greekstream.core.events import INPUT_TYPES, OUTPUT_TYPES

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
_ID = "https://greekstream.dev/schemas/v1/"


def all_models() -> dict[str, type]:
    return {**INPUT_TYPES, **OUTPUT_TYPES}


def render(name: str, model: type) -> bytes:
    schema = model.model_json_schema(mode="serialization" if name in OUTPUT_TYPES else "validation")  # type: ignore[attr-defined]
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_ID}{name}.json",
        **schema,
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def expected_files() -> dict[str, bytes]:
    direction = {n: "input" for n in INPUT_TYPES} | {n: "output" for n in OUTPUT_TYPES}
    return {
        f"{direction.get(name, 'output')}/{name}.json": render(name, model)
        for name, model in all_models().items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="write the schemas")
    parser.add_argument("--check", action="store_true", help="fail if any schema drifted")
    args = parser.parse_args(argv)
    drift = []
    for rel, body in expected_files().items():
        path = SCHEMA_DIR / rel
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        elif not path.exists() or path.read_bytes() != body:
            drift.append(rel)
    if drift:
        print(
            "schemas out of date: " + ", ".join(drift) + "\n  run `make schemas`", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
