"""``provgate review tail``: follow a provgate topic and print each CloudEvent."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka import AIOKafkaConsumer
from rich.console import Console

PRIORITY_STYLE = {0: "bold red", 1: "red", 2: "yellow", 3: "yellow"}


def render(console: Console, headers: dict[str, str], value: bytes) -> None:
    data = json.loads(value) if value else {}
    ce_type = headers.get("ce_type", "?")
    pri = data.get("priority")
    style = PRIORITY_STYLE.get(pri, "cyan") if pri is not None else "cyan"
    cats = ", ".join(f"{k} {v:.2f}" for k, v in sorted(data.get("categories", {}).items(), key=lambda kv: -kv[1])[:4])
    console.print(
        f"[dim]{headers.get('ce_time', '')}[/] [{style}]{ce_type}[/] "
        f"gen={data.get('generation_id', headers.get('ce_subject', ''))} "
        + (f"priority={pri} " if pri is not None else "")
        + (f"decision={data['decision']} " if "decision" in data else "")
        + (f"[{cats}]" if cats else "")
    )
    for reason in data.get("reasons", [])[:5]:
        console.print(f"    [dim]- {reason}[/]")


async def tail(bootstrap: str, *, topic: str, from_beginning: bool, limit: int = 0, timeout_s: float = 0) -> int:
    console = Console()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"provgate-tail-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    seen = 0
    try:
        console.print(f"[dim]following {topic} on {bootstrap} (Ctrl-C to stop)[/]")
        while True:
            batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000) if timeout_s else 1000)
            if not batch and timeout_s:
                return seen
            for records in batch.values():
                for rec in records:
                    headers = {k: v.decode() for k, v in (rec.headers or ())}
                    render(console, headers, rec.value or b"")
                    seen += 1
                    if limit and seen >= limit:
                        return seen
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
