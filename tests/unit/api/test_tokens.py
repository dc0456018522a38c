"""Bearer tokens: digests only, constant-time comparison, and no token text in errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from greekstream.api import tokens as tokens_module
from greekstream.api.tokens import Tokens, fingerprint, load_tokens
from greekstream.errors import ConfigError

SECRET = "s3cr3t-token-do-not-print-0123456789"
OTHER = "another-token-also-secret-987654321"


def test_lookup_goes_through_digests_with_hmac_compare_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.yaml"
    hashed = hashlib.sha256(OTHER.encode()).hexdigest()
    path.write_text(f'"{SECRET}": ["desk-a"]\n"sha256:{hashed}": "*"\n')
    table = load_tokens(str(path), None)
    assert isinstance(table, Tokens) and len(table) == 2
    assert SECRET not in repr(vars(table))  # only digests are kept
    compared: list[tuple[bytes, bytes]] = []
    real = tokens_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens_module.hmac, "compare_digest", spy)
    scope = table.scope(SECRET)
    assert scope is not None and scope.allows("desk-a") and not scope.allows("desk-b")
    assert len(compared) == 2  # every digest compared, even after a match
    other = table.scope(OTHER)  # a `sha256:` key holds no token text at all
    assert other is not None and other.books is None and other.name == fingerprint(OTHER)
    assert table.scope("x" * 32) is None and table.scope("") is None


@pytest.mark.parametrize("text", [
    f'"{SECRET}": ["desk-a"\n',  # unclosed list
    f"{SECRET}: [desk-a]\n\t{OTHER}: '*'\n",  # a tab
    f'{{"{SECRET}": ["desk-a"], "{OTHER}": *}}\n',  # a bare star
])
def test_a_yaml_error_never_prints_a_token(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_tokens(str(path), None)
    message = str(caught.value) + str(caught.value.hint or "")
    assert "line" in message
    assert SECRET not in message and OTHER not in message and "s3cr3t" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ConfigError) as inline:
        load_tokens(None, text)
    assert SECRET not in str(inline.value) and "s3cr3t" not in str(inline.value)


def test_a_sha256_key_is_read_in_any_case_and_never_taken_as_a_token() -> None:
    """``sha256:`` and its hex digits in upper case (PowerShell's Get-FileHash prints
    them so) or mixed case are the digest; before, such a key failed the lower-case
    pattern and was taken as a plain token: the real token was refused and the digest
    text, in the file meant to hold no token, was accepted as one."""
    hashed = hashlib.sha256(SECRET.encode()).hexdigest()
    for key in (f"sha256:{hashed.upper()}", f"SHA256:{hashed}", f"Sha256:{hashed.upper()}"):
        table = load_tokens(None, f'{{"{key}": ["desk-a"]}}')
        scope = table.scope(SECRET)
        assert scope is not None and scope.allows("desk-a"), key
        assert scope.name == fingerprint(SECRET)
        assert table.scope(key) is None and table.scope(key.lower()) is None


@pytest.mark.parametrize(("key", "problem"), [
    ("sha256:" + "A" * 63, "63 characters after sha256:"),
    ("SHA256:" + "0" * 65, "65 characters after sha256:"),
    ("sha256:" + "0" * 63 + "g", "a character that is not a hex digit"),
    ("sha256:" + "0" * 64 + "\n", "spaces or line breaks around the digits"),
    ("sha256: " + "0" * 64, "spaces or line breaks around the digits"),
    ("sha256:my-token-that-looks-hashed", "26 characters after sha256:"),
])
def test_a_malformed_sha256_key_is_refused_at_load(
    tmp_path: Path, key: str, problem: str
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(orjson.dumps({OTHER: "*", key: ["desk-a"]}).decode())
    with pytest.raises(ConfigError) as caught:
        load_tokens(str(path), None)
    message = str(caught.value)
    assert f"{path}: key 2 starts with sha256:" in message and problem in message
    assert "sha256sum" in (caught.value.hint or "")
    assert key.strip() not in message and OTHER not in message


def test_the_same_token_twice_is_refused() -> None:
    """Its text and its digest, or its digest in two cases: one would silently win."""
    hashed = hashlib.sha256(SECRET.encode()).hexdigest()
    for first, second in ((SECRET, f"sha256:{hashed}"),
                          (f"sha256:{hashed}", f"SHA256:{hashed.upper()}")):
        text = orjson.dumps({first: ["desk-a"], second: "*"}).decode()
        with pytest.raises(ConfigError, match="given twice") as caught:
            load_tokens(None, text)
        assert fingerprint(SECRET) in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize("text", [
    f"{SECRET}: [desk-a]\n{OTHER}: [desk-b]\n{SECRET}: '*'\n",  # YAML
    f'{{"{SECRET}": ["desk-a"],\n "{SECRET}": "*"}}',  # JSON
])
def test_a_token_given_twice_in_one_mapping_is_refused_by_its_lines(
        tmp_path: Path, text: str) -> None:
    """PyYAML keeps a repeated key's last value silently: a token meant for desk-a and
    listed again further down with "*" read every book. Refused, naming the lines only."""
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    for file, inline in ((str(path), None), (None, text)):
        with pytest.raises(ConfigError, match="given twice") as caught:
            load_tokens(file, inline)
        message = str(caught.value) + str(caught.value.hint or "")
        assert "lines 1 and " in message, message
        assert SECRET not in message and "s3cr3t" not in message
    assert len(load_tokens(None, f"{SECRET}: [desk-a]\n{OTHER}: '*'\n")) == 2


def test_a_token_in_both_the_file_and_the_env_is_refused(tmp_path: Path) -> None:
    """The env's entry silently replaced the file's: a token the file gives desk-a read
    every book because GREEKSTREAM_TOKENS_JSON also listed it with "*"."""
    path = tmp_path / "tokens.yaml"
    path.write_text(f"{SECRET}: [desk-a]\n")
    hashed = hashlib.sha256(SECRET.encode()).hexdigest()
    for inline in (f'{{"{SECRET}": "*"}}', f'{{"sha256:{hashed}": ["desk-a"]}}'):
        with pytest.raises(ConfigError, match="in both") as caught:
            load_tokens(str(path), inline)
        assert fingerprint(SECRET) in str(caught.value) and SECRET not in str(caught.value)
    assert len(load_tokens(str(path), f'{{"{OTHER}": "*"}}')) == 2
