"""A local server speaking the OpenAI-compatible Videos API, for tests and the generator
bench. Behaviour is chosen by words in the prompt:

- "refuse": POST answers 400 {"error": {"code": "moderation_blocked", ...}}
- "unsafe-later": the job is accepted, then fails with error.code "moderation_blocked"
- "explode": the job fails with error.code "internal_error"
- "slow": the job stays in_progress for many polls
- "busy": the first two POSTs answer 429 with Retry-After: 0

Completed jobs return a real MP4 (procedural content, 30 fps, 44.1 kHz mono AAC) of the
requested size and seconds, so the client's decoding and resampling are exercised.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from generator.base import GenerationSpec
from generator.procedural import ProceduralGenerator
from provenance.media import encode_mp4


class FakeVideosApi:
    def __init__(self, *, processing_s: float = 0.3) -> None:
        self.processing_s = processing_s
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self._busy_left = 2
        self._lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeVideosApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _render(self, job: dict[str, Any]) -> bytes:
        w, h = (int(x) for x in job["size"].split("x"))
        res = {480: "480p", 720: "720p", 1080: "1080p"}.get(h, "480p")
        media = ProceduralGenerator().generate(
            GenerationSpec(job["prompt"], 1, float(job["seconds"]), res, fps=30, sample_rate=44_100)
        )
        frames = media.frames[:, :h, :w] if media.frames.shape[1:3] != (h, w) else media.frames
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "v.mp4"
            encode_mp4(path, frames.copy(), media.audio.mean(axis=1, keepdims=True), 30, 44_100)
            return path.read_bytes()

    def _status(self, job: dict[str, Any]) -> dict[str, Any]:
        elapsed = time.monotonic() - job["t0"]
        prompt = job["prompt"]
        done_after = 3600 if "slow" in prompt else self.processing_s
        video = {
            "id": job["id"],
            "object": "video",
            "model": job["model"],
            "prompt": prompt,
            "size": job["size"],
            "seconds": job["seconds"],
            "created_at": int(job["created"]),
            "completed_at": None,
            "expires_at": None,
            "remixed_from_video_id": None,
            "error": None,
            "progress": min(99, int(100 * elapsed / max(done_after, 1e-3))),
            "status": "in_progress",
        }
        if elapsed >= done_after:
            if "unsafe-later" in prompt:
                video.update(
                    status="failed",
                    error={
                        "code": "moderation_blocked",
                        "message": "Your request was blocked by our moderation system.",
                    },
                )
            elif "explode" in prompt:
                video.update(status="failed", error={"code": "internal_error", "message": "the model crashed"})
            else:
                video.update(status="completed", progress=100, completed_at=int(time.time()))
        elif elapsed < 0.05:
            video["status"] = "queued"
        return video

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("application/json"):
                    return json.loads(raw)
                boundary = ctype.split("boundary=")[1].encode()
                fields: dict[str, Any] = {}
                for part in raw.split(b"--" + boundary)[1:-1]:
                    head, _, value = part.partition(b"\r\n\r\n")
                    name = head.split(b'name="')[1].split(b'"')[0].decode()
                    value = value[:-2]
                    fields[name] = value if b"filename=" in head else value.decode()
                return fields

            def do_POST(self) -> None:  # noqa: N802
                api.requests.append(("POST", self.path))
                if self.headers.get("Authorization") != "Bearer upstream-key":
                    self._json(401, {"error": {"code": "invalid_api_key", "message": "bad key"}})
                    return
                body = self._body()
                api.bodies.append(body)
                prompt = str(body.get("prompt", ""))
                if "busy" in prompt:
                    with api._lock:
                        if api._busy_left > 0:
                            api._busy_left -= 1
                            self._json(
                                429,
                                {"error": {"code": "rate_limit_exceeded", "message": "slow down"}},
                                {"Retry-After": "0"},
                            )
                            return
                if "refuse" in prompt:
                    self._json(
                        400,
                        {
                            "error": {
                                "code": "moderation_blocked",
                                "type": "invalid_request_error",
                                "message": "Your request was blocked by our moderation system.",
                            }
                        },
                    )
                    return
                job = {
                    "id": f"video_{uuid.uuid4().hex[:12]}",
                    "prompt": prompt,
                    "model": body.get("model", ""),
                    "size": body.get("size", "854x480"),
                    "seconds": body.get("seconds", "4"),
                    "t0": time.monotonic(),
                    "created": time.time(),
                }
                api.jobs[job["id"]] = job
                self._json(200, api._status(job))

            def do_GET(self) -> None:  # noqa: N802
                api.requests.append(("GET", self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                job = api.jobs.get(parts[2]) if len(parts) >= 3 else None
                if job is None:
                    self._json(404, {"error": {"code": "not_found", "message": "no such video"}})
                    return
                if len(parts) == 4 and parts[3] == "content":
                    data = api._render(job)
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self._json(200, api._status(job))

            def do_DELETE(self) -> None:  # noqa: N802
                api.requests.append(("DELETE", self.path))
                vid = self.path.strip("/").split("/")[2]
                api.deleted.append(vid)
                api.jobs.pop(vid, None)
                self._json(200, {"id": vid, "object": "video.deleted", "deleted": True})

        return Handler
