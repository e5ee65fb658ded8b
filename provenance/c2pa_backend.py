"""C2PA signing and verification with c2pa-python (blocking; call from a worker thread)."""

from __future__ import annotations

import base64
import io
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.manifest import PROVGATE_ASSERTION, TRAINED_ALGORITHMIC_MEDIA

from .base import ManifestReader, ManifestReport, ManifestSigner, SigningError


def build_manifest(
    *,
    title: str,
    generator_model: str,
    provgate_version: str,
    watermark_algorithm: str,
    watermark_payload: int,
    provgate_assertion: dict[str, Any],
) -> dict[str, Any]:
    payload_b64 = base64.b64encode(watermark_payload.to_bytes(6, "big")).decode()
    return {
        "claim_generator_info": [{"name": "provgate", "version": provgate_version}],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {"name": generator_model},
                        },
                        {
                            "action": "c2pa.watermarked",
                            "softwareAgent": {"name": f"provgate {provgate_version}"},
                            "parameters": {"description": f"visible label and invisible {watermark_algorithm}"},
                        },
                    ]
                },
            },
            {
                "label": "c2pa.soft-binding",
                "data": {"alg": watermark_algorithm, "blocks": [{"scope": {}, "value": payload_b64}]},
            },
            {"label": PROVGATE_ASSERTION, "data": provgate_assertion},
        ],
    }


def _check_pair(chain: bytes, key: bytes) -> None:
    """The key must belong to the chain's leaf: a mismatch (a rotation caught half way) would
    produce a file that verifies Invalid, so it fails closed here instead."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, IndexError, TypeError) as exc:
        raise SigningError(f"signing key or certificate is not valid PEM: {exc}") from exc
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if leaf.public_key().public_bytes(*fmt) != private.public_key().public_bytes(*fmt):
        raise SigningError(
            "the signing key does not match the leaf certificate (rotation in progress?)", retriable=True
        )


def _signing_error(exc: Exception, tsa_url: str | None) -> SigningError:
    """A timestamp authority that cannot be reached is a transient fault: the job is retried
    later rather than released without the timestamp the operator asked for."""
    text = str(exc)
    if tsa_url and ("http" in text.lower() or "timestamp" in text.lower() or "time stamp" in text.lower()):
        return SigningError(f"timestamp authority {tsa_url} failed: {text}"[:500], retriable=True)
    return SigningError(f"C2PA signing failed: {text}"[:500])


class C2paSigner(ManifestSigner):
    """Signs with a PEM chain (leaf first) and a PEM private key, read at every signing so a
    missing or rotated key is noticed immediately rather than cached."""

    def __init__(self, chain_path: Path, key_path: Path, *, alg: str = "es256", tsa_url: str | None = None) -> None:
        self.chain_path = chain_path
        self.key_path = key_path
        self.alg = alg
        self.tsa_url = tsa_url

    def _material(self) -> tuple[bytes, bytes]:
        try:
            chain, key = self.chain_path.read_bytes(), self.key_path.read_bytes()
        except OSError as exc:
            raise SigningError(f"signing key or certificate unreadable: {exc}") from exc
        _check_pair(chain, key)
        return chain, key

    def check(self) -> None:
        self._material()

    def sign(self, src: Path, dst: Path, manifest: dict[str, Any]) -> None:
        import c2pa

        chain, key = self._material()
        try:
            info = c2pa.C2paSignerInfo(self.alg.encode(), chain, key, self.tsa_url.encode() if self.tsa_url else None)
            ctx = c2pa.Context.from_dict(
                {
                    "builder": {"thumbnail": {"enabled": False}},
                    "verify": {"verify_after_sign": False, "remote_manifest_fetch": False},
                }
            )
            with (
                c2pa.Signer.from_info(info) as signer,
                c2pa.Builder(manifest, context=ctx) as builder,
                open(src, "rb") as fin,
                open(dst, "w+b") as fout,
            ):
                builder.sign(signer, "video/mp4", fin, fout)
        except c2pa.C2paError as exc:
            dst.unlink(missing_ok=True)
            raise _signing_error(exc, self.tsa_url) from exc


class C2paCommandSigner(ManifestSigner):
    """Signs through an external command (the c2patool convention): the command reads the
    bytes to sign on stdin and writes the signature (DER or raw r||s for ECDSA) on stdout,
    so the private key can live in a KMS or an HSM. Only the public chain is read here."""

    def __init__(
        self, command: str, chain_path: Path, *, alg: str = "es256", tsa_url: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("the signer command is empty")
        self.chain_path = chain_path
        self.alg = alg
        self.tsa_url = tsa_url
        self.timeout_s = timeout_s

    def _chain(self) -> str:
        try:
            return self.chain_path.read_text()
        except OSError as exc:
            raise SigningError(f"signing certificate chain unreadable: {exc}") from exc

    def _sign_bytes(self, data: bytes) -> bytes:
        try:
            res = subprocess.run(self.argv, input=data, capture_output=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SigningError(f"signer command failed: {exc}") from exc
        if res.returncode != 0 or not res.stdout:
            raise SigningError(f"signer command exited {res.returncode}: {res.stderr.decode(errors='replace')[:300]}")
        return res.stdout

    def check(self) -> None:
        if "BEGIN CERTIFICATE" not in self._chain():
            raise SigningError(f"{self.chain_path} is not a PEM certificate chain")
        if shutil.which(self.argv[0]) is None and not Path(self.argv[0]).is_file():
            raise SigningError(f"signer command {self.argv[0]!r} not found")

    def sign(self, src: Path, dst: Path, manifest: dict[str, Any]) -> None:
        import c2pa

        chain = self._chain()
        failure: list[SigningError] = []

        def callback(data: bytes) -> bytes:
            try:
                return self._sign_bytes(data)
            except SigningError as exc:
                failure.append(exc)
                raise

        alg = getattr(c2pa.C2paSigningAlg, self.alg.upper())
        try:
            ctx = c2pa.Context.from_dict(
                {
                    "builder": {"thumbnail": {"enabled": False}},
                    "verify": {"verify_after_sign": False, "remote_manifest_fetch": False},
                }
            )
            with (
                c2pa.Signer.from_callback(callback, alg, chain, self.tsa_url) as signer,
                c2pa.Builder(manifest, context=ctx) as builder,
                open(src, "rb") as fin,
                open(dst, "w+b") as fout,
            ):
                builder.sign(signer, "video/mp4", fin, fout)
        except c2pa.C2paError as exc:
            dst.unlink(missing_ok=True)
            raise (failure[0] if failure else _signing_error(exc, self.tsa_url)) from exc


class C2paReader(ManifestReader):
    """``trust_anchors``: PEM text, or a callable returning it (re-read at every
    verification, so a rotated or added root is trusted without a restart)."""

    def __init__(self, trust_anchors: str | Callable[[], str]) -> None:
        self._anchors = trust_anchors

    @property
    def trust_anchors_pem(self) -> str:
        return self._anchors() if callable(self._anchors) else self._anchors

    def read(self, path: Path) -> ManifestReport:
        return self.read_bytes(path.read_bytes())

    def read_bytes(self, data: bytes) -> ManifestReport:
        import c2pa

        settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        anchors = self.trust_anchors_pem
        if anchors:
            settings["trust"] = {"trust_anchors": anchors}
        ctx = c2pa.Context.from_dict(settings)
        try:
            with c2pa.Reader("video/mp4", io.BytesIO(data), context=ctx) as reader:
                state = reader.get_validation_state() or "Invalid"
                manifest = reader.get_active_manifest() or {}
                results = reader.get_validation_results() or {}
        except c2pa.C2paError as exc:
            if "ManifestNotFound" in type(exc).__name__ or "ManifestNotFound" in str(exc) or "JUMBF" in str(exc):
                return ManifestReport(state="Missing", codes=["claim.missing"])
            return ManifestReport(state="Invalid", codes=[f"read.error: {exc}"[:200]])
        active = results.get("activeManifest", {}) if isinstance(results, dict) else {}
        codes = [c["code"] for c in active.get("failure", [])] or [c["code"] for c in active.get("success", [])][:6]
        sig = manifest.get("signature_info") or {}
        signer = " / ".join(x for x in (sig.get("common_name"), sig.get("issuer")) if x) or None
        assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
        if state not in ("Trusted", "Valid", "Invalid"):
            state = "Invalid"
        return ManifestReport(
            state=state,
            signer=signer,
            codes=codes,
            assertions=assertions,
            manifest=manifest,
            signed_at=sig.get("time"),
            timestamp=_timestamp_trust(active, bool(sig.get("time"))),
        )


def _timestamp_trust(active: dict[str, Any], stamped: bool) -> str | None:
    """``trusted`` when the timestamp authority chains to a trust anchor, ``untrusted`` when a
    timestamp is present but its authority is unknown (or its token does not validate)."""
    if not stamped:
        return None
    seen = {c.get("code") for part in ("success", "informational", "failure") for c in active.get(part, [])}
    return "trusted" if "timeStamp.trusted" in seen and "timeStamp.validated" in seen else "untrusted"
