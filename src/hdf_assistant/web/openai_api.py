"""An OpenAI-compatible chat endpoint, so that any OpenAI client (the
``openai`` package, chat front-ends) can talk with the documents.

- ``GET /v1/models``: one model, ``hdf-assistant``.
- ``POST /v1/chat/completions``: the last user message is the question, the
  earlier user messages its history; the reply is the answer with its [n]
  markers, then the sources; the structured citations travel in an extra
  field, ``citations`` (and ``hdf`` holds everything ``ask --json`` prints).
  With ``stream: true`` the reply comes as server-sent events
  (``chat.completion.chunk``), the citations in the last chunk.

The answer is made whole, then streamed in pieces: the assistant checks an
answer before anyone sees it, so there is no token-by-token generation here.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from hdf_assistant.access import FilterError, Filters, Guard
from hdf_assistant.errors import HdfError, QuestionError
from hdf_assistant.schema import Answer
from hdf_assistant.web.render import message_text

MODEL = "hdf-assistant"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: Any = ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens... are accepted and ignored

    model: str = MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    #: narrow the search, inside the caller's rights (the ``openai`` client sends it with ``extra_body``)
    filters: dict[str, list[str] | str] | None = None


def reply_text(answer: Answer) -> str:
    """The answer, then its sources, as a chat client shows them."""
    if not answer.citations:
        return answer.text
    sources = "\n".join(f"[{c.n}] {c.where} : « {' '.join(c.text.split())} »" for c in answer.citations)
    return f"{answer.text}\n\nSources :\n{sources}"


def _pieces(text: str) -> Iterator[str]:
    """The reply in word-sized pieces, spaces kept."""
    yield from (m.group(0) for m in re.finditer(r"\S+\s*|\s+", text))


def openai_router(guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

    @router.get("/models", summary="The model this server answers as")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "hdf-assistant"}]}

    @router.post("/chat/completions", summary="Chat with the documents (OpenAI's protocol)")
    def chat(body: ChatRequest, request: Request) -> Any:
        users = [message_text(m.content) for m in body.messages if m.role == "user"]
        if not users or not users[-1].strip():
            raise HTTPException(400, "the last user message is empty: ask a question")
        known = ("collections", "files", "types", "date_from", "date_to")
        unknown = sorted(set(body.filters or {}) - set(known))
        if unknown:
            raise HTTPException(400, f"unknown filter '{unknown[0]}' (filters: {', '.join(known)})")
        try:
            given = {k: [v] if isinstance(v, str) and not k.startswith("date") else v
                     for k, v in (body.filters or {}).items()}
            if any(k.startswith("date") and not isinstance(v, str) for k, v in given.items()):
                raise FilterError("date_from and date_to are days written YYYY-MM-DD")
            filters = Filters.of(**given)  # type: ignore[arg-type]
            # the pieces of an llm draft are not sent: the client receives the checked answer's text only
            answer = next(p for p in guard.stream(str(getattr(request.state, "user", "") or ""), "openai", users[-1],
                                                  history=[u for u in users[:-1] if u.strip()], filters=filters)
                          if isinstance(p, Answer))
        except (QuestionError, FilterError) as exc:
            raise HTTPException(400, str(exc)) from exc
        except HdfError as exc:
            raise HTTPException(503, str(exc)) from exc
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        text = reply_text(answer)
        extra = {"citations": [c.to_dict() for c in answer.citations], "hdf": answer.to_dict()}
        if not body.stream:
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                **extra,
            }

        def events() -> Iterator[str]:
            def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
                payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
                return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            for piece in _pieces(text):
                yield chunk({"content": piece})
            yield chunk({}, "stop", **extra)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return router
