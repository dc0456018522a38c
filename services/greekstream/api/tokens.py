"""Bearer tokens scoped to sets of books, from a file or an env var — never from code.

File (YAML or JSON) or ``GREEKSTREAM_TOKENS_JSON``: ``{TOKEN: [book, ...] | "*"}``; a key
``sha256:HEX`` is the SHA-256 of a token, so the file need not hold the token itself. The
prefix and the 64 hex digits may be in either case (PowerShell's Get-FileHash prints them
upper case); any other key starting with ``sha256:`` is refused at load, never taken as a
token (its text would then be a working token, in the file meant to hold none).
Only digests are kept in memory, and a presented token is compared with every digest in
constant time (``hmac.compare_digest``), so timing tells nothing about which is near.
Error messages name a token by its fingerprint, never by its text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from greekstream.errors import ConfigError
from greekstream.settings import DuplicateKey, UniqueKeyLoader

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


HASHED_PREFIX = "sha256:"
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def fingerprint(token: str) -> str:
    return _fingerprint(digest(token))


def _fingerprint(token_digest: bytes) -> str:
    return "tok-" + token_digest.hex()[:8]


class Tokens:
    """Scopes by token digest. ``scope(token)`` compares against every digest, always."""

    def __init__(self, scopes: dict[bytes, Scope]) -> None:
        self._scopes = list(scopes.items())

    def scope(self, token: str) -> Scope | None:
        presented = digest(token)
        found = None
        for known, scope in self._scopes:
            if hmac.compare_digest(known, presented):
                found = scope
        return found

    def __len__(self) -> int:
        return len(self._scopes)


def parse_tokens(data: Any, origin: str) -> dict[bytes, Scope]:
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{origin}: tokens must be a non-empty mapping {{token: [books] or '*'}}")
    scopes: dict[bytes, Scope] = {}
    for number, (token, books) in enumerate(data.items(), 1):
        if not isinstance(token, str):
            raise ConfigError(f"{origin}: every token must be a string of at least 16 characters")
        key = _key(token, number, origin)
        name = _fingerprint(key)
        if key in scopes:  # the same token twice (its text and its digest, or two cases)
            raise ConfigError(f"{origin}: token {name} is given twice (key {number})",
                              hint="keep one entry per token, with all its books")
        if books == ALL_BOOKS:
            scopes[key] = Scope(name, None)
        elif isinstance(books, list) and all(isinstance(b, str) and b for b in books):
            scopes[key] = Scope(name, frozenset(books))
        else:
            raise ConfigError(f"{origin}: token {name} must map to a list of books or '*'")
    return scopes


def _key(token: str, number: int, origin: str) -> bytes:
    """The digest a key stands for: ``sha256:`` and 64 hex digits in any case, or a
    token's text of at least 16 characters; any other key starting with ``sha256:`` (any
    case) is an error, which names the key by its place, not its text."""
    if token[:len(HASHED_PREFIX)].lower() != HASHED_PREFIX:
        if len(token) < 16:
            raise ConfigError(
                f"{origin}: every token must be a string of at least 16 characters")
        return digest(token)
    hexdigits = token[len(HASHED_PREFIX):]
    if _HEX_DIGEST.fullmatch(hexdigits):
        return bytes.fromhex(hexdigits)
    if _HEX_DIGEST.fullmatch(hexdigits.strip()):
        wrong = "spaces or line breaks around the digits"
    elif len(hexdigits) != 64:
        wrong = f"{len(hexdigits)} characters after {HASHED_PREFIX}"
    else:
        wrong = "a character that is not a hex digit"
    raise ConfigError(
        f"{origin}: key {number} starts with {HASHED_PREFIX} (in any case) but is not "
        f"{HASHED_PREFIX} and 64 hex digits: it has {wrong}. It is refused, not taken "
        "as a token's text",
        hint="write the token's SHA-256 there, e.g. sha256:$(printf %s \"$TOKEN\" | "
        "sha256sum | cut -c1-64), with no spaces or line breaks; or, for a token whose "
        "text starts with sha256:, list its SHA-256 instead",
    )


def _read(text: str, origin: str) -> Any:
    """``text`` as YAML (JSON is YAML), a key given twice being a ConfigError naming its
    lines, never its text."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader
    except DuplicateKey as exc:  # (a token listed again with "*" silently read every book)
        raise ConfigError(
            f"{origin}: the same key is given twice (lines {exc.lines[0]} and "
            f"{exc.lines[1]}); one entry would silently replace the other",
            hint="keep one entry per token, with all its books") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, without PyYAML's snippet of the offending line (a token's text)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def load_tokens(tokens_file: str | None, tokens_json: str | None) -> Tokens:
    """Tokens from the file and/or the JSON text; at least one source is required."""
    scopes: dict[bytes, Scope] = {}
    if tokens_file:
        try:
            text = Path(tokens_file).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read tokens file {tokens_file}: {exc.strerror}") from exc
        try:
            scopes.update(parse_tokens(_read(text, tokens_file), tokens_file))
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"tokens file {tokens_file} is not YAML/JSON: {_yaml_problem(exc)}"
            ) from None  # the parser's message quotes the line: a token
    if tokens_json:
        try:
            inline = parse_tokens(_read(tokens_json, "GREEKSTREAM_TOKENS_JSON"),
                                  "GREEKSTREAM_TOKENS_JSON")
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"GREEKSTREAM_TOKENS_JSON is not JSON: {_yaml_problem(exc)}"
            ) from None
        both = sorted(scopes[key].name for key in inline.keys() & scopes.keys())
        if both:  # the env's books silently replaced the file's
            raise ConfigError(
                f"token {', '.join(both)} is in both {tokens_file} and "
                "GREEKSTREAM_TOKENS_JSON: which books it reads would depend on the order",
                hint="list each token in one of them, with all its books")
        scopes.update(inline)
    if not scopes:
        raise ConfigError(
            "the query service needs bearer tokens",
            hint="set GREEKSTREAM_TOKENS_FILE (a Kubernetes secret mounted as a file) "
            "or GREEKSTREAM_TOKENS_JSON to {token: [books] or '*'}",
        )
    return Tokens(scopes)
