"""Bearer tokens scoped to sets of books, from a file or an env var — never from code.

File (YAML or JSON) or ``GREEKSTREAM_TOKENS_JSON``: ``{TOKEN: [book, ...] | "*"}``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from greekstream.errors import ConfigError

ALL_BOOKS = "*"


@dataclass(frozen=True)
class Scope:
    """What one token may see."""

    name: str  # a fingerprint of the token, safe to log
    books: frozenset[str] | None  # None: every book

    def allows(self, book: str) -> bool:
        return self.books is None or book in self.books

    def visible(self, books: list[str]) -> list[str]:
        return [b for b in books if self.allows(b)]


def fingerprint(token: str) -> str:
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def parse_tokens(data: Any, origin: str) -> dict[str, Scope]:
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{origin}: tokens must be a non-empty mapping {{token: [books] or '*'}}")
    scopes = {}
    for token, books in data.items():
        if not isinstance(token, str) or len(token) < 16:
            raise ConfigError(f"{origin}: every token must be a string of at least 16 characters")
        if books == ALL_BOOKS:
            scopes[token] = Scope(fingerprint(token), None)
        elif isinstance(books, list) and all(isinstance(b, str) and b for b in books):
            scopes[token] = Scope(fingerprint(token), frozenset(books))
        else:
            raise ConfigError(
                f"{origin}: token {fingerprint(token)} must map to a list of books or '*'"
            )
    return scopes


def load_tokens(tokens_file: str | None, tokens_json: str | None) -> dict[str, Scope]:
    """Tokens from the file and/or the JSON text; at least one source is required."""
    scopes: dict[str, Scope] = {}
    if tokens_file:
        try:
            text = Path(tokens_file).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read tokens file {tokens_file}: {exc.strerror}") from exc
        try:
            scopes.update(parse_tokens(yaml.safe_load(text), tokens_file))
        except yaml.YAMLError as exc:
            raise ConfigError(f"tokens file {tokens_file} is not YAML/JSON: {exc}") from exc
    if tokens_json:
        try:
            scopes.update(parse_tokens(yaml.safe_load(tokens_json), "GREEKSTREAM_TOKENS_JSON"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"GREEKSTREAM_TOKENS_JSON is not JSON: {exc}") from exc
    if not scopes:
        raise ConfigError(
            "the query service needs bearer tokens",
            hint="set GREEKSTREAM_TOKENS_FILE (a Kubernetes secret mounted as a file) "
            "or GREEKSTREAM_TOKENS_JSON to {token: [books] or '*'}",
        )
    return scopes
