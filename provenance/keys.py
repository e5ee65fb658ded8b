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
INTERMEDIATE_KEY = "intermediate.key"  # dev only: lets `keys rotate` issue new leaves
CHAIN = "chain.pem"  # leaf + intermediate, the order C2PA expects
TRUSTED_DIR = "trusted"  # earlier roots that stay trusted after a root rotation


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

    def trust_anchors(self) -> list[Path]:
        """The current root and every archived root: files signed before a rotation stay Trusted."""
        archived = sorted((self.directory / TRUSTED_DIR).glob("*.pem"))
        return [p for p in [self.root, *archived] if p.is_file()]


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


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def rotate_leaf(directory: Path) -> KeyPaths:
    """A new leaf key and certificate under the same intermediate; earlier files stay Trusted."""
    paths = KeyPaths(directory)
    inter_key_path = directory / INTERMEDIATE_KEY
    if not inter_key_path.is_file():
        raise FileNotFoundError(f"{inter_key_path} is missing: rotate the root instead (`keys rotate --root`)")
    inter_key = serialization.load_pem_private_key(inter_key_path.read_bytes(), password=None)
    assert isinstance(inter_key, ec.EllipticCurvePrivateKey)
    inter = x509.load_pem_x509_certificate((directory / INTERMEDIATE).read_bytes())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    leaf = _cert(
        _name(f"provgate dev signer {stamp}"),
        inter.subject,
        leaf_key.public_key(),
        inter_key,
        ca=False,
        path_len=None,
        days=365,
    )
    # Key first, then the chain that names it; a signer reading between the two fails closed.
    _write_private(paths.leaf_key, leaf_key)
    (directory / LEAF).write_bytes(_pem(leaf))
    paths.chain.write_bytes(_pem(leaf) + _pem(inter))
    return paths


def rotate_root(directory: Path) -> KeyPaths:
    """Archive the current root under trusted/ (still trusted) and make a whole new chain."""
    paths = KeyPaths(directory)
    if paths.root.is_file():
        archive = directory / TRUSTED_DIR
        archive.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
        (archive / f"root-{stamp}.pem").write_bytes(paths.root.read_bytes())
    return init_dev_keys(directory, force=True)


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
    _write_private(directory / LEAF_KEY, leaf_key)
    _write_private(directory / INTERMEDIATE_KEY, inter_key)
    return paths
