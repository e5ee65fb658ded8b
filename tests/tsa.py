"""A local RFC 3161 timestamp authority for tests: ``openssl ts -reply`` behind an HTTP server.

The authority's certificate is issued by its own root (not self-signed: C2PA validators check
the certificate profile: AKI/SKI, critical timeStamping EKU), so a test can choose whether
the verifier trusts it. ``fail_next`` makes the next N requests answer 503, like an outage.
"""

from __future__ import annotations

import datetime as dt
import http.server
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _write_pki(directory: Path) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    root_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provgate test TSA root")])
    tsa_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provgate test TSA")])

    def builder(subject: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )

    root = (
        builder(root_name, root_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    tsa = (
        builder(tsa_name, tsa_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "root.pem").write_bytes(root.public_bytes(pem))
    (directory / "tsa.pem").write_bytes(tsa.public_bytes(pem))
    (directory / "tsa.key").write_bytes(
        tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "serial").write_text("01\n")
    (directory / "ts.cnf").write_text(
        "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\n"
        f"serial = {directory}/serial\ncrypto_device = builtin\n"
        f"signer_cert = {directory}/tsa.pem\nsigner_key = {directory}/tsa.key\ncerts = {directory}/tsa.pem\n"
        "signer_digest = sha256\ndefault_policy = 1.3.6.1.4.1.99999.1\nother_policies = 1.3.6.1.4.1.99999.2\n"
        "digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = yes\ntsa_name = no\n"
        "ess_cert_id_chain = no\ness_cert_id_alg = sha256\n"
    )


class LocalTsa:
    def __init__(self, directory: Path) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("openssl is needed for the local timestamp authority")
        directory.mkdir(parents=True, exist_ok=True)
        _write_pki(directory)
        self.directory = directory
        self.root = directory / "root.pem"
        self.requests = 0
        self.fail_next = 0
        lock = threading.Lock()
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base signature
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    tsa.requests += 1
                    failing = tsa.fail_next > 0
                    tsa.fail_next -= failing
                if failing or self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(503 if failing else 415)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with tempfile.TemporaryDirectory() as tmp:
                    (Path(tmp) / "q").write_bytes(query)
                    with lock:  # openssl increments the serial file
                        done = subprocess.run(
                            [openssl, "ts", "-reply", "-config", str(directory / "ts.cnf")]
                            + ["-queryfile", f"{tmp}/q", "-out", f"{tmp}/r"],
                            capture_output=True,
                            check=False,
                        )
                    reply = (Path(tmp) / "r").read_bytes() if done.returncode == 0 else b""
                self.send_response(200 if reply else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsr"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalTsa:
        self._thread.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
