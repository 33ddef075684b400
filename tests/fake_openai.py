"""A small local HTTP server speaking the OpenAI chat-completions protocol
(plain JSON and server-sent-event streaming), with scripted replies. It
stands in for a remote model endpoint, which cannot run here."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Script = Callable[[str, list[str]], str]  # (question, passages) -> reply

_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)


def parse_prompt(messages: list[dict]) -> tuple[str, list[str]]:
    user = messages[-1]["content"]
    passages = [text for _, text in sorted((int(n), t) for n, t in _PASSAGE.findall(user))]
    question = user.rsplit("Question :", 1)[-1].strip()
    return question, passages


class _Handler(BaseHTTPRequestHandler):
    script: Script
    requests: list[dict]

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.requests.append(body)
        question, passages = parse_prompt(body["messages"])
        reply = self.script(question, passages)
        created = int(time.time())
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            pieces = re.findall(r"\S+\s*", reply) or [""]
            for i, piece in enumerate(pieces):
                chunk = {
                    "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": ({"role": "assistant"} if i == 0 else {}) | {"content": piece},
                                 "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            done = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                    "model": body["model"], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            return
        payload = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def fake_openai_server(script: Script) -> Iterator[tuple[str, list[dict]]]:
    """Yields (base_url, recorded requests) of a server running ``script``."""
    requests: list[dict] = []
    handler = type("Handler", (_Handler,), {"script": staticmethod(script), "requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    finally:
        server.shutdown()
        server.server_close()
