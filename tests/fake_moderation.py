"""A local server answering like OpenAI's moderation endpoint and like a Llama-Guard model
behind an OpenAI-compatible chat endpoint, in their documented formats. Behaviour by words
in the text: "attack" is violence, "weapon" is S9 (indiscriminate weapons), "explode-server"
makes the server answer 500, "garbage" makes it answer something that is not the format."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from classifiers.base import CATEGORIES

# OpenAI moderation answers with the first thirteen of provgate's categories.
OPENAI_CATEGORIES = CATEGORIES[:13]


class FakeModeration:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                text = body["input"] if "input" in body else body["messages"][-1]["content"]
                if "explode-server" in text:
                    return self._send(500, {"error": {"message": "boom"}})
                if "garbage" in text:
                    return self._send(200, b'{"unexpected": true}')
                if self.path == "/v1/moderations":
                    scores = {c: 0.001 for c in OPENAI_CATEGORIES}
                    if "attack" in text:
                        scores["violence"] = 0.97
                    flags = {c: s > 0.5 for c, s in scores.items()}
                    return self._send(
                        200,
                        {
                            "id": "modr-1",
                            "model": body.get("model"),
                            "results": [
                                {"flagged": any(flags.values()), "categories": flags, "category_scores": scores}
                            ],
                        },
                    )
                if self.path == "/v1/chat/completions":
                    answer = "safe"
                    if "attack" in text:
                        answer = "unsafe\nS1"
                    elif "weapon" in text:
                        answer = "unsafe\nS9,S1"
                    return self._send(
                        200,
                        {
                            "id": "chat-1",
                            "object": "chat.completion",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
                        },
                    )
                return self._send(404, {"error": {"message": "not found"}})

        return Handler
