from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest

from gateway.errors import ConfigError
from gateway.settings import Settings
from schemas.api import GenerationRequest
from schemas.events import GenerationReleased, decode_data, encode_data, event_type

ROOT = Path(__file__).resolve().parents[2]
BACKEND_MODULES = {
    "classifiers.lexicon",
    "classifiers.nsfw",
    "generator.procedural",
    "provenance.c2pa_backend",
    "c2pa",
    "onnxruntime",
    "torch",
    "insightface",
}


@pytest.mark.parametrize(
    ("env", "var"),
    [
        ({"PROVGATE_PORT": "eighty"}, "PROVGATE_PORT"),
        ({"PROVGATE_PORT": "70000"}, "PROVGATE_PORT"),
        ({"PROVGATE_LEASE_S": "0"}, "PROVGATE_LEASE_S"),
        ({"PROVGATE_DATABASE_URL": "mysql://x"}, "PROVGATE_DATABASE_URL"),
        ({"PROVGATE_TSA_URL": "ftp://x"}, "PROVGATE_TSA_URL"),
        ({"PROVGATE_WATERMARK_KEY": "abcd"}, "PROVGATE_WATERMARK_KEY"),
        ({"PROVGATE_KAFKA_BOOTSTRAP": "::::"}, "PROVGATE_KAFKA_BOOTSTRAP must be host:port"),
        ({"PROVGATE_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:99999"}, "PROVGATE_KAFKA_BOOTSTRAP"),
        ({"PROVGATE_KAFKA_BOOTSTRAP": "kafka-1"}, "PROVGATE_KAFKA_BOOTSTRAP"),
        ({"PROVGATE_GENERATOR": "sora"}, "PROVGATE_GENERATOR: unknown backend 'sora'; choose from diffusers, "),
        ({"PROVGATE_PROMPT_CLASSIFIERS": "lexicon,nope"}, "PROVGATE_PROMPT_CLASSIFIERS: unknown backend 'nope'"),
        ({"PROVGATE_FRAME_CLASSIFIERS": "nsfw,gore"}, "PROVGATE_FRAME_CLASSIFIERS: unknown backend 'gore'"),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], var: str) -> None:
    with pytest.raises(ConfigError, match=var):
        Settings.from_env(env)


def test_broker_lists_that_load() -> None:
    for brokers in ("127.0.0.1:9092", "kafka-1:9092, kafka-2:9092", "[::1]:9092"):
        assert Settings.from_env({"PROVGATE_KAFKA_BOOTSTRAP": brokers}).kafka.bootstrap == brokers


def test_missing_database_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="PROVGATE_DATABASE_URL"):
        Settings.from_env({}).validate()


def test_gateway_imports_no_backend_module() -> None:
    """The gateway composes stages through interfaces and registries only."""
    offenders = []
    for path in (ROOT / "gateway").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if n in BACKEND_MODULES or n.split(".")[0] in {"c2pa", "onnxruntime", "torch", "insightface"}
            ]
    assert offenders == []


def test_schemas_hold_no_logic() -> None:
    for path in (ROOT / "schemas").glob("*.py"):
        tree = ast.parse(path.read_text())
        funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert set(funcs) <= {"event_type", "encode_data", "decode_data"}, (path, funcs)


def test_request_schema_is_strict() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"prompt":"x","user":{"id":"u","age_band":"adult"},"extra":1}', type=GenerationRequest)


def test_every_json_body_is_decoded_strictly() -> None:
    """Litestar converts ``data`` laxly ("1" passes for true); each handler that takes a JSON
    body re-decodes it strictly first (``routes.deps.strict_body``). One that forgot would
    accept ``"input_image_consent": "1"`` again: found here by name, not by a caller."""
    handlers, offenders = [], []
    for path in (ROOT / "gateway" / "routes").glob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.AsyncFunctionDef):
                continue
            args = fn.args.args + fn.args.kwonlyargs
            if not any(a.arg == "data" and "JSONBody" in ast.unparse(a.annotation or ast.Constant(None)) for a in args):
                continue
            handlers.append(fn.name)
            body = [n for n in fn.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
            if not body or ast.unparse(body[0]) != "data = await strict_body(request, data)":
                offenders.append(f"{path.name}: {fn.name}")
    assert len(handlers) >= 10 and offenders == [], offenders


def test_roles_are_route_guards() -> None:
    """A route's role is a guard (``routes.deps.requires``), which Litestar runs before it reads
    the body: a key without the role gets 403 whatever it sent. A ``principal.require`` inside a
    handler would run after the body was decoded and validated (400 first)."""
    guarded, offenders = 0, []
    for path in (ROOT / "gateway" / "routes").glob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.AsyncFunctionDef):
                continue
            guarded += any("requires(" in ast.unparse(d) for d in fn.decorator_list)
            if any(ast.unparse(n).startswith("principal.require(") for n in ast.walk(fn) if isinstance(n, ast.Call)):
                offenders.append(f"{path.name}: {fn.name}")
    assert guarded >= 17 and offenders == [], offenders


def test_event_roundtrip_by_ce_type() -> None:
    ev = GenerationReleased(generation_id="g", tenant_id="t", status="succeeded", sha256="ab")
    decoded = decode_data(event_type(ev), encode_data(ev))
    assert decoded == ev


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "db"
    secret.write_text("postgresql://u@h/db\n")
    s = Settings.from_env({"PROVGATE_DATABASE_URL_FILE": str(secret)})
    assert s.database.url == "postgresql://u@h/db"
    with pytest.raises(ConfigError, match="PROVGATE_WATERMARK_KEY_FILE"):
        Settings.from_env({"PROVGATE_WATERMARK_KEY_FILE": str(tmp_path / "absent")})


def test_start_says_when_signing_is_unavailable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from gateway.services import Services

    class Part:  # stands for every model and the database: nothing to load here
        def start(self) -> None: ...

    class Db:
        async def start(self) -> None: ...

    class NoKey:
        def check(self) -> None:
            raise OSError("signing key or certificate unreadable: /keys/leaf.key")

    env = {"PROVGATE_DATABASE_URL": "postgresql://x@db/provgate", "PROVGATE_DATA_DIR": str(tmp_path)}
    parts = {"db": Db(), "prompt_classifiers": [Part()], "frame_classifiers": [Part()], "signer": NoKey()}
    svc = Services.build(Settings.from_env(env), faces=Part(), ages=Part(), generator=Part(), **parts)
    try:
        with caplog.at_level("WARNING", logger="provgate.services"):
            asyncio.run(svc.start())
    finally:
        svc.close()
    assert "signing is unavailable (signing key or certificate unreadable: /keys/leaf.key)" in caplog.text
    assert "PROVGATE_SIGNING_KEY" in caplog.text


def test_readiness_reaches_a_broker_given_as_a_bracketed_ipv6_address() -> None:
    import asyncio
    import socket

    from gateway.routes.misc import _broker_reachable

    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with listener:
        port = listener.getsockname()[1]
        assert asyncio.run(_broker_reachable(f"[::1]:{port}"))


@pytest.mark.parametrize(("level", "kafka_level"), [("INFO", "WARNING"), ("debug", "DEBUG"), ("ERROR", "ERROR")])
def test_the_kafka_clients_chatter_shows_at_debug_only(
    level: str, kafka_level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from gateway.cli import _logging

    for name in ("aiokafka", "kafka"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    monkeypatch.setenv("PROVGATE_LOG_LEVEL", level)
    _logging()
    assert logging.getLevelName(logging.getLogger("aiokafka").level) == kafka_level
