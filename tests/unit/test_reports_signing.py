"""The signed end-of-day report's envelope (reports/signing.py): what verify accepts."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greekstream.reports.signing import sign, signature_problem

REPORT: dict[str, Any] = {"kind": "greekstream.end_of_day", "date": "2026-03-02",
                          "books": {"desk-a": {"chain": {"head": "ab" * 32}}}}


def test_a_signed_report_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    assert signature_problem(sign(REPORT, key), key.public_key()) is None


def test_a_report_naming_another_signer_is_refused() -> None:
    """The signature covers `report` only, not the `public_key` it names: a report whose
    public_key was replaced by another signer's verified (verify said OK)."""
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    doc = sign(REPORT, key)
    doc["signature"]["public_key"] = sign(REPORT, other)["signature"]["public_key"]
    problem = signature_problem(doc, key.public_key())
    assert problem is not None and "public_key" in problem
    del doc["signature"]["public_key"]
    assert signature_problem(doc, key.public_key()) is not None


def test_the_named_key_may_be_upper_case_hex() -> None:
    key = Ed25519PrivateKey.generate()
    doc = sign(REPORT, key)
    doc["signature"]["public_key"] = doc["signature"]["public_key"].upper()
    assert signature_problem(doc, key.public_key()) is None
