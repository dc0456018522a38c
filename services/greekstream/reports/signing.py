"""Ed25519 keys and signed JSON documents (the end-of-day report).

A signed document is ``{"report": {...}, "signature": {"algorithm": "Ed25519",
"public_key": HEX, "value": HEX}}``; the signature covers the canonical JSON of
``report`` (orjson, sorted keys, compact: the same canonical form as the hash
chain, core/chain.py). Keys are PEM files: PATH holds the private key (PKCS#8, mode
0600), PATH.pub the public key (SubjectPublicKeyInfo).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from greekstream.errors import UsageError
from greekstream.runtime.private_file import cannot_write, ensure_writable, write_private

ALGORITHM = "Ed25519"


def canonical(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def keygen(path: str | Path, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new key pair: PATH (private) and PATH.pub (public)."""
    private, public = Path(path), Path(f"{path}.pub")
    for p in (private, public):
        if p.exists() and not overwrite:
            raise UsageError(f"{p} exists", hint="choose another PATH or pass --force")
    ensure_writable([private, public], what="key", given_by="PATH")  # both, or neither
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_private(private, pem, what="key", given_by="PATH")
    try:
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as exc:
        raise cannot_write(public, exc, what="key", given_by="PATH") from exc
    return private, public


def load_private(path: str | Path) -> Ed25519PrivateKey:
    """The signing key at ``path``; refused when any user may read or write it: whoever
    can read it can sign reports as the desk. Its group may (a Kubernetes Secret reaches a
    non-root container as mode 0440 with the pod's fsGroup)."""
    data = _read(path, "private key", "create one with `greekstream keygen PATH`")
    mode = Path(path).stat().st_mode & 0o777
    if mode & 0o007:
        raise UsageError(f"private key {path} is open to every user (mode {mode:04o}): whoever "
                         "reads it can sign reports as you",
                         hint=f"chmod 600 {path} (keygen writes it so)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not a PEM private key: {exc}",
                         hint="pass the PATH written by `greekstream keygen` (not PATH.pub)"
                         ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 key", hint="create one with greekstream keygen")
    return key


def load_public(path: str | Path) -> Ed25519PublicKey:
    data = _read(path, "public key", "pass the PATH.pub written by `greekstream keygen`")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not a PEM public key: {exc}",
                         hint="pass the PATH.pub written by `greekstream keygen`") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{path} is not an Ed25519 public key",
                         hint="pass the PATH.pub written by `greekstream keygen`")
    return key


def sign(report: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    return {
        "report": report,
        "signature": {
            "algorithm": ALGORITHM,
            "public_key": public.hex(),
            "value": key.sign(canonical(report)).hex(),
        },
    }


def signature_problem(doc: Any, key: Ed25519PublicKey) -> str | None:
    """None when ``doc`` is a report signed by ``key``; else what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("report"), dict):
        return "not a signed report: no `report` object"
    sig = doc.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM:
        return f"not a signed report: no {ALGORITHM} `signature` object"
    try:
        value = bytes.fromhex(str(sig.get("value", "")))
    except ValueError:
        return "signature.value is not hex"
    try:
        key.verify(value, canonical(doc["report"]))
    except InvalidSignature:
        return ("signature does not verify with this public key: the report or its "
                "signature was altered, or another key signed it")
    # the signature does not cover the key it names: a report whose `public_key` was
    # changed (to name another signer) still verified
    named = sig.get("public_key")
    own = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    if not isinstance(named, str) or named.lower() != own:
        return (f"signature.public_key {named!r} is not the key the signature verifies "
                f"with ({own}): the signed document names another signer (altered)")
    return None


def _read(path: str | Path, what: str, hint: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}", hint=hint) from exc
