"""``provgate`` command line: serve, tenant, keys, worker, relay, verify, review, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .settings import Settings

DEFAULT_DATA_DIR = Path(".provgate")
DEMO_PROMPT = "a paper boat drifting across a pond at sunset"


def _print(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def _err(msg: str) -> None:
    print(f"provgate: {msg}", file=sys.stderr, flush=True)


# -- embedded engines ------------------------------------------------------------------------
class Embedded:
    """Embedded Postgres + Kafka under the data directory, for ``serve --embedded``."""

    def __init__(self, data_dir: Path, *, kafka: bool = True) -> None:
        from .embedded import EmbeddedKafka, EmbeddedPostgres

        self.pg = EmbeddedPostgres(data_dir / "postgres")
        self.kafka = EmbeddedKafka(data_dir / "kafka") if kafka else None

    def start(self) -> tuple[str, str]:
        url = self.pg.start()
        bootstrap = self.kafka.start() if self.kafka else ""
        return url, bootstrap

    def stop(self) -> None:
        if self.kafka:
            self.kafka.stop()
        self.pg.stop()


def _settings(args: argparse.Namespace, *, embedded: Embedded | None = None) -> Settings:
    data_dir = Path(getattr(args, "data_dir", None) or os.environ.get("PROVGATE_DATA_DIR") or DEFAULT_DATA_DIR)
    s = Settings.from_env(data_dir=data_dir)
    port_arg = getattr(args, "port", None)
    server = replace(
        s.server,
        data_dir=data_dir,
        host=getattr(args, "host", None) or s.server.host,
        port=int(port_arg) if port_arg is not None else s.server.port,
    )
    s = replace(s, server=server)
    if embedded is not None:
        url, bootstrap = embedded.start()
        s = replace(
            s,
            database=replace(s.database, url=s.database.url or url),
            kafka=replace(s.kafka, bootstrap=s.kafka.bootstrap or bootstrap),
        )
    return s


def _db_settings(args: argparse.Namespace) -> tuple[Settings, Embedded | None]:
    """Settings with a database: the configured one, or the data directory's embedded one."""
    s = _settings(args)
    if s.database.url:
        return s, None
    if (s.server.data_dir / "postgres" / "data" / "PG_VERSION").is_file():
        emb = Embedded(s.server.data_dir, kafka=False)
        url, _ = emb.start()
        return replace(s, database=replace(s.database, url=url)), emb
    raise ConfigError(
        "PROVGATE_DATABASE_URL is not set and there is no embedded database under "
        f"{s.server.data_dir}; run `provgate serve --embedded` first"
    )


# -- tenants ---------------------------------------------------------------------------------
async def create_tenant(
    database_url: str, name: str, roles: list[str], *, label: str | None = None, settings: dict | None = None
) -> str:
    from . import repo
    from .auth import ROLES, hash_key, new_key
    from .db import Database

    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ConfigError(f"unknown role {bad[0]!r}; choose from {', '.join(ROLES)}")
    key = new_key()
    async with Database(database_url, min_size=1, max_size=2) as db, db.transaction() as conn:
        tenant_id = await repo.create_tenant(conn, name)
        for k, v in {**({"label": label} if label is not None else {}), **(settings or {})}.items():
            await repo.set_tenant_setting(conn, tenant_id, k, v)
        await repo.create_key(conn, tenant_id, hash_key(key), key[:10], sorted(set(roles)))
    return key


def cmd_tenant(args: argparse.Namespace) -> int:
    s, emb = _db_settings(args)
    try:
        limits = {
            k: v
            for k, v in (("teen_daily_limit", args.teen_daily_limit), ("adult_daily_limit", args.adult_daily_limit))
            if v is not None
        }
        key = asyncio.run(
            create_tenant(s.database.url, args.name, args.role or ["platform"], label=args.label, settings=limits)
        )
    finally:
        if emb:
            emb.pg.stop() if not _server_running(s) else None
    _print(f"PROVGATE_API_KEY={key}")
    return 0


def _server_running(s: Settings) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection((s.server.host, s.server.port), timeout=0.3):
        return True
    return False


# -- keys ------------------------------------------------------------------------------------
def cmd_keys_init(args: argparse.Namespace) -> int:
    from provenance.keys import init_dev_keys

    s = _settings(args)
    existed = (s.provenance.keys_dir / "root.pem").is_file()
    paths = init_dev_keys(s.provenance.keys_dir, force=args.force)
    _print(
        ("kept existing" if existed and not args.force else "created") + f" dev signing chain in {paths.directory}",
        f"trust anchor: {paths.root}",
    )
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from provenance.keys import KeyPaths, rotate_leaf, rotate_root

    s = _settings(args)
    if not KeyPaths(s.provenance.keys_dir).exists():
        _err(f"no dev signing chain in {s.provenance.keys_dir}; run `provgate keys init` first")
        return 2
    paths = rotate_root(s.provenance.keys_dir) if args.root else rotate_leaf(s.provenance.keys_dir)
    anchors = ", ".join(str(p) for p in paths.trust_anchors())
    _print(
        f"rotated the {'root (new chain)' if args.root else 'leaf'} in {paths.directory}", f"trusted roots: {anchors}"
    )
    return 0


# -- serve / worker / relay ------------------------------------------------------------------
async def _serve(s: Settings, *, banner: list[str], run_worker: bool = True) -> None:
    import uvicorn

    from .app import create_app

    app = create_app(s, run_worker=run_worker)
    config = uvicorn.Config(
        app, host=s.server.host, port=s.server.port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if task.done():
        await task
        raise SystemExit(f"provgate: the server did not start on {s.server.host}:{s.server.port}")
    port = server.servers[0].sockets[0].getsockname()[1] if server.servers else s.server.port
    _print(f"PROVGATE_URL=http://{s.server.host}:{port}", *banner)
    await task


def _dev_key(s: Settings) -> tuple[str, bool]:
    """The embedded dev tenant's key, created on first start; returns (key, created_now)."""
    path = s.server.data_dir / "dev-api-key"
    if path.is_file():
        return path.read_text().strip(), False
    key = asyncio.run(create_tenant(s.database.url, "dev", ["platform", "reviewer", "auditor", "admin"]))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key, True


# Libraries whose INFO lines are connection chatter ("Updating subscribed topics", "Joined
# group ..."): shown at DEBUG, otherwise from WARNING up.
_CHATTY = ("aiokafka", "kafka")


def _logging() -> None:
    """Log lines with time, level and source, at PROVGATE_LOG_LEVEL (default INFO)."""
    name = os.environ.get("PROVGATE_LOG_LEVEL", "INFO").strip().upper()
    level = logging.getLevelNamesMapping().get(name)
    if level is None:
        raise ConfigError(
            f"PROVGATE_LOG_LEVEL={name!r} is not a log level; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for lib in _CHATTY:
        logging.getLogger(lib).setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))


class _Terminated(Exception):
    """SIGTERM (``kill``, ``docker stop``, systemd) as an exception, so ``serve`` unwinds and
    stops its embedded engines. uvicorn shuts down gracefully on SIGTERM and then re-raises the
    signal; with the default handler that killed the process before the embedded Postgres and
    Kafka were stopped, and they kept running, orphaned."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def cmd_serve(args: argparse.Namespace) -> int:
    from provenance.keys import init_dev_keys

    _logging()
    signal.signal(signal.SIGTERM, _raise_terminated)
    emb = None
    if args.embedded:
        data_dir = Path(args.data_dir or os.environ.get("PROVGATE_DATA_DIR") or DEFAULT_DATA_DIR)
        data_dir.mkdir(parents=True, exist_ok=True)
        _err(f"starting embedded Postgres and Kafka under {data_dir.resolve()} ...")
        emb = Embedded(data_dir)
    try:
        s = _settings(args, embedded=emb)
        banner: list[str] = []
        # Reach the database and apply migrations before anything else: an unreachable one is a
        # one-line ConfigError here, not a traceback from inside uvicorn's lifespan, and the
        # embedded dev tenant below needs the tables.
        from .db import Database

        async def _migrate() -> None:
            async with Database(s.database.url, min_size=1, max_size=1):
                pass

        asyncio.run(_migrate())
        if args.embedded:
            if not (s.provenance.keys_dir / "root.pem").is_file() and s.provenance.signing_key is None:
                init_dev_keys(s.provenance.keys_dir)
                _err(f"created a dev signing chain in {s.provenance.keys_dir} (trust anchor: root.pem)")
            key, created = _dev_key(s)
            if created:
                banner.append(f"PROVGATE_API_KEY={key}")
            host = s.server.host
            port = s.server.port
            body = json.dumps(
                {
                    "prompt": DEMO_PROMPT,
                    "user": {"id": "demo-user", "age_band": "adult"},
                    "duration_s": 4,
                    "resolution": "480p",
                }
            )
            banner += [
                f"# dev API key (also in {s.server.data_dir / 'dev-api-key'}). Try:",
                f"curl -s -X POST http://{host}:{port}/v1/generations -H 'Authorization: Bearer {key}' "
                f"-H 'Content-Type: application/json' -d '{body}'",
                f"# then: curl -s http://{host}:{port}/v1/generations/<id> -H 'Authorization: Bearer {key}'",
            ]
        asyncio.run(_serve(s, banner=banner))
    except ConfigError as exc:
        _err(str(exc))
        return 2
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        if emb is not None:
            emb.stop()
    return 0


async def _run_parts(s: Settings, *, worker: bool, relay: bool) -> None:
    from .relay import Relay
    from .services import Services
    from .worker import Worker

    services = Services.build(s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    parts: list[Any] = []
    try:
        await services.start()
        if relay:
            from .decisions import DecisionConsumer

            parts.append(Relay(services))
            parts.append(DecisionConsumer(services))
        if worker:
            parts.append(Worker(services))
        for p in parts:
            await p.start()
        # Probes (Kubernetes startup/liveness) watch this file: it appears once models are loaded.
        ready = os.environ.get("PROVGATE_READY_FILE")
        if ready:
            Path(ready).write_text(f"{os.getpid()}\n")
        _print(f"provgate {'worker' if worker else 'relay'} running (pid {os.getpid()})")
        await stop.wait()
    finally:
        if os.environ.get("PROVGATE_READY_FILE"):
            Path(os.environ["PROVGATE_READY_FILE"]).unlink(missing_ok=True)
        for p in parts:
            await p.stop()
        await services.stop()
        services.close()


def cmd_worker(args: argparse.Namespace) -> int:
    _logging()
    s = _settings(args)
    s.validate()
    asyncio.run(_run_parts(s, worker=True, relay=False))
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    _logging()
    s = _settings(args)
    s.validate()
    asyncio.run(_run_parts(s, worker=False, relay=True))
    return 0


# -- client commands -------------------------------------------------------------------------
def _client_target(args: argparse.Namespace) -> tuple[str, str]:
    data_dir = Path(getattr(args, "data_dir", None) or os.environ.get("PROVGATE_DATA_DIR") or DEFAULT_DATA_DIR)
    url = args.url or os.environ.get("PROVGATE_URL") or "http://127.0.0.1:8000"
    key = args.api_key or os.environ.get("PROVGATE_API_KEY") or ""
    if not key and (data_dir / "dev-api-key").is_file():
        key = (data_dir / "dev-api-key").read_text().strip()
    if not key:
        raise ConfigError("no API key: set PROVGATE_API_KEY or pass --api-key")
    return url.rstrip("/"), key


def cmd_verify(args: argparse.Namespace) -> int:
    import httpx

    path = Path(args.file)
    if not path.is_file():
        _err(f"{path}: {'a directory, not a file' if path.is_dir() else 'no such file'}")
        return 2
    url, key = _client_target(args)
    try:
        with open(path, "rb") as fh:
            r = httpx.post(
                f"{url}/v1/verify",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": (path.name, fh, "video/mp4")},
                timeout=300,
            )
    except httpx.HTTPError as exc:
        _err(f"cannot reach provgate at {url}: {exc}")
        return 2
    if r.status_code != 200:
        _err(f"verify failed: HTTP {r.status_code}: {r.text}")
        return 2
    report = r.json()
    ok = bool(report["consistent"]) and report["c2pa"]["state"] == "Trusted"
    if args.json:
        _print(json.dumps(report, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        c, w, rec = report["c2pa"], report["watermark"], report["record"]
        t = Table(title=f"provgate verify {path.name}", show_header=False)
        t.add_row("C2PA", f"{c['state']}  signer: {c['signer'] or '-'}  generation: {c['generation_id'] or '-'}")
        if c.get("signed_at"):
            t.add_row("timestamp", f"{c['signed_at']} ({c['timestamp']} authority)")
        t.add_row("watermark", f"{'found' if w['found'] else 'not found'}  generation: {w['generation_id'] or '-'}")
        t.add_row("record", f"{rec['status']} (released {rec['released_at'] or '-'})" if rec else "none")
        t.add_row("consistent", "[green]yes[/]" if ok else "[red]no[/]")
        Console().print(t)
    return 0 if ok else 1


def cmd_review_tail(args: argparse.Namespace) -> int:
    from .reviewtail import tail

    s = _settings(args)
    bootstrap = s.kafka.bootstrap
    if not bootstrap:
        port_file = s.server.data_dir / "kafka" / "port"
        if not port_file.is_file():
            _err("PROVGATE_KAFKA_BOOTSTRAP is not set and no embedded broker was found")
            return 2
        bootstrap = f"127.0.0.1:{port_file.read_text().strip()}"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            tail(
                bootstrap,
                topic=args.topic,
                from_beginning=args.from_beginning,
                limit=args.limit,
                timeout_s=args.timeout,
            )
        )
    return 0


def cmd_schemas_export(args: argparse.Namespace) -> int:
    from .apidocs import export

    for path in export(Path(args.directory)):
        _print(f"wrote {path}")
    return 0


def cmd_review_stats(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console
    from rich.table import Table

    url, key = _client_target(args)
    try:
        r = httpx.get(f"{url}/v1/reviews/stats", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    except httpx.HTTPError as exc:
        _err(f"cannot reach provgate at {url}: {exc}")
        return 2
    if r.status_code != 200:
        _err(f"HTTP {r.status_code}: {r.text}")
        return 2
    s = r.json()
    if args.json:
        _print(json.dumps(s, indent=2))
        return 0
    t = Table(title="review queue", show_header=False)
    t.add_row("open items", str(s["open"]))
    t.add_row("assigned now", str(s["assigned"]))
    t.add_row("oldest open item", f"{s['oldest_open_age_s'] / 60:.1f} min")
    t.add_row("decisions in the last hour", str(s["decisions_last_hour"]))
    t.add_row("open by priority", ", ".join(f"p{k}: {v}" for k, v in sorted(s["by_priority"].items())) or "-")
    Console().print(t)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import httpx

    url, key = _client_target(args)
    h = {"Authorization": f"Bearer {key}"}
    body = {
        "prompt": args.prompt,
        "user": {"id": "demo-user", "age_band": "adult"},
        "duration_s": args.duration,
        "resolution": args.resolution,
    }
    with httpx.Client(base_url=url, headers=h, timeout=60) as c:
        r = c.post("/v1/generations", json=body)
        if r.status_code != 202:
            _err(f"refused: HTTP {r.status_code} {r.text}")
            return 1
        gid = r.json()["id"]
        _print(f"admitted {gid}")
        last = ""
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            g = c.get(f"/v1/generations/{gid}").json()
            if g["status"] != last:
                _print(f"  status: {g['status']}")
                last = g["status"]
            if g["status"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        if last != "succeeded":
            _print(json.dumps(g.get("decision"), indent=2))
            return 1
        out = Path(args.out or f"{gid}.mp4")
        out.write_bytes(c.get(f"/v1/generations/{gid}/content").content)
        _print(f"saved {out} ({out.stat().st_size} bytes)")
        with open(out, "rb") as fh:
            v = c.post("/v1/verify", files={"file": (out.name, fh, "video/mp4")}).json()
        _print(
            f"verify: C2PA {v['c2pa']['state']}, watermark {'found' if v['watermark']['found'] else 'missing'}, "
            f"consistent={v['consistent']}"
        )
        return 0 if v["consistent"] else 1


# -- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="provgate", description="Trust-and-safety and provenance gateway for video.")

    def _port(value: str) -> int:  # checked before anything starts (PROVGATE_PORT has the same range)
        if not value.isdigit() or not 0 <= int(value) <= 65535:
            raise argparse.ArgumentTypeError(f"{value!r} is not a port (0..65535)")
        return int(value)

    sub = p.add_subparsers(dest="command", required=True)

    def data_dir(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", help="state directory (default ./.provgate or $PROVGATE_DATA_DIR)")

    sp = sub.add_parser("serve", help="API + worker + relay")
    sp.add_argument("--embedded", action="store_true", help="start embedded Postgres and Kafka under the data dir")
    sp.add_argument("--host")
    sp.add_argument("--port", type=_port)
    data_dir(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("tenant", help="manage tenants")
    tsub = sp.add_subparsers(dest="tenant_command", required=True)
    tc = tsub.add_parser("create", help="create a tenant (or a new key for an existing one)")
    tc.add_argument("name")
    tc.add_argument("--role", action="append", choices=["platform", "reviewer", "auditor", "admin"])
    tc.add_argument("--label", help="platform name in this tenant's visible watermark (default $PROVGATE_LABEL)")
    tc.add_argument("--teen-daily-limit", type=int, metavar="N", help="generations per teen per day (default 10)")
    tc.add_argument("--adult-daily-limit", type=int, metavar="N", help="generations per adult per day (default 100)")
    data_dir(tc)
    tc.set_defaults(func=cmd_tenant)

    sp = sub.add_parser("keys", help="signing keys")
    ksub = sp.add_subparsers(dest="keys_command", required=True)
    ki = ksub.add_parser("init", help="dev root + intermediate + leaf under <data-dir>/keys")
    ki.add_argument("--force", action="store_true", help="replace an existing chain")
    data_dir(ki)
    ki.set_defaults(func=cmd_keys_init)
    kr = ksub.add_parser("rotate", help="new leaf (default) or new root; files signed before stay Trusted")
    kr.add_argument("--root", action="store_true", help="rotate the whole chain; the old root stays trusted")
    data_dir(kr)
    kr.set_defaults(func=cmd_keys_rotate)

    for name, fn in (("worker", cmd_worker), ("relay", cmd_relay)):
        sp = sub.add_parser(name, help=f"run only the {name}")
        data_dir(sp)
        sp.set_defaults(func=fn)

    def client(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--url", help="provgate URL (default $PROVGATE_URL or http://127.0.0.1:8000)")
        sp.add_argument("--api-key", help="API key (default $PROVGATE_API_KEY or the embedded dev key)")
        data_dir(sp)

    sp = sub.add_parser("verify", help="verify a file: C2PA, watermark, record")
    sp.add_argument("file")
    sp.add_argument("--json", action="store_true")
    client(sp)
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("schemas", help="event contracts")
    ssub = sp.add_subparsers(dest="schemas_command", required=True)
    se = ssub.add_parser("export", help="write JSON Schema and AsyncAPI for the events")
    se.add_argument("directory", nargs="?", default="docs")
    se.set_defaults(func=cmd_schemas_export)

    sp = sub.add_parser("review", help="reviewer tools")
    rsub = sp.add_subparsers(dest="review_command", required=True)
    rt = rsub.add_parser("tail", help="follow the review topic")
    rt.add_argument("--topic", default="provgate.review")
    rt.add_argument("--from-beginning", action="store_true")
    rt.add_argument("--limit", type=int, default=0, help="stop after N events (0 = follow)")
    rt.add_argument("--timeout", type=float, default=0, help="stop after S seconds without events (0 = never)")
    data_dir(rt)
    rt.set_defaults(func=cmd_review_tail)
    rs = rsub.add_parser("stats", help="queue depth, oldest item, decisions per hour")
    rs.add_argument("--json", action="store_true")
    client(rs)
    rs.set_defaults(func=cmd_review_stats)

    sp = sub.add_parser("demo", help="one generation end to end against a running server")
    sp.add_argument("--prompt", default=DEMO_PROMPT)
    sp.add_argument("--duration", type=float, default=4)
    sp.add_argument("--resolution", default="480p", choices=["480p", "720p", "1080p"])
    sp.add_argument("--out")
    client(sp)
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        _err(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
