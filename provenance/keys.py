"""Signing keys: a dev chain (root -> intermediate -> leaf, P-256) for local use.

Production deployments bring their own leaf key and chain (``PROVGATE_SIGNING_KEY`` and
``PROVGATE_SIGNING_CERTS``) or an external signer; the dev chain exists so that a fresh
``make run`` can sign files that verify as ``Trusted`` against ``keys/root.pem``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = "root.pem"
INTERMEDIATE = "intermediate.pem"
LEAF = "leaf.pem"
LEAF_KEY = "leaf.key"
CHAIN = "chain.pem"  # leaf + intermediate, the order C2PA expects


@dataclass(frozen=True)
class KeyPaths:
    directory: Path

    @property
    def root(self) -> Path:
        return self.directory / ROOT

    @property
    def chain(self) -> Path:
        return self.directory / CHAIN

    @property
    def leaf_key(self) -> Path:
        return self.directory / LEAF_KEY

    def exists(self) -> bool:
        return self.root.is_file() and self.chain.is_file() and self.leaf_key.is_file()


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provgate dev"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_len: int | None,
    days: int,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    if subject != issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    return builder.sign(signing_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def init_dev_keys(directory: Path, *, force: bool = False) -> KeyPaths:
    """Create root + intermediate + leaf under ``directory``; keep an existing chain unless forced."""
    paths = KeyPaths(directory)
    if paths.exists() and not force:
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("provgate dev root CA")
    inter_name = _name("provgate dev intermediate CA")
    root = _cert(root_name, root_name, root_key.public_key(), root_key, ca=True, path_len=1, days=3650)
    inter = _cert(inter_name, root_name, inter_key.public_key(), root_key, ca=True, path_len=0, days=1825)
    leaf = _cert(
        _name("provgate dev signer"), inter_name, leaf_key.public_key(), inter_key, ca=False, path_len=None, days=365
    )
    (directory / ROOT).write_bytes(_pem(root))
    (directory / INTERMEDIATE).write_bytes(_pem(inter))
    (directory / LEAF).write_bytes(_pem(leaf))
    (directory / CHAIN).write_bytes(_pem(leaf) + _pem(inter))
    key_bytes = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(directory / LEAF_KEY, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_bytes)
    return paths
