"""The HTTP server: the Gradio chat at ``/``, corpus files at ``/doc/``, the
REST API at ``/api/v1`` (with its OpenAPI description at ``/docs``), the
OpenAI-compatible endpoint at ``/v1``; the login and the API keys in front of
everything (auth.py)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hdf_assistant.access import Guard, policy_for
from hdf_assistant.assistant import Assistant
from hdf_assistant.errors import HdfError
from hdf_assistant.ingest.uploads import corpus_file
from hdf_assistant.web.auth import AccessMiddleware, Visitors, load_api_keys, load_users
from hdf_assistant.web.render import CSS, api_page, document_page

log = logging.getLogger(__name__)


def _address_of(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        try:
            return socket.gethostbyname(host)
        except OSError:
            return "0.0.0.0"


def create_app(assistant: Assistant) -> Any:
    """FastAPI app: the chat, the documents, the APIs, on one assistant."""
    import gradio as gr
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse

    from hdf_assistant.ingest.reader import IMAGE_EXTENSIONS, CorpusFile, read_file
    from hdf_assistant.web.api import api_router, user_of
    from hdf_assistant.web.conversations import ConversationStore
    from hdf_assistant.web.gradio_app import build_ui
    from hdf_assistant.web.index_jobs import IndexJobs
    from hdf_assistant.web.openai_api import openai_router

    users = load_users(assistant.settings.auth)
    keys = load_api_keys(assistant.settings.api_keys)
    guard = Guard(assistant, policy_for(assistant.settings))
    visitors = Visitors.with_secret_in(assistant.settings.index_dir)
    conversations = ConversationStore.for_settings(assistant.settings)
    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        if assistant.settings.store == "postgres":  # the process's connection pool, closed at shutdown
            from hdf_assistant.index.postgres_db import dispose_engines

            dispose_engines()

    app = FastAPI(lifespan=lifespan, title="hdf-assistant",
                  description="Questions on the regional documents; every answer cites its "
                  "sources (file, page, exact sentence). Send 'Authorization: Bearer <key>' when HDF_API_KEYS is set.",
                  docs_url=None, redoc_url=None)  # /docs below: Swagger UI would fetch its code from a CDN

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        return HTMLResponse(api_page(app.openapi()))

    def document(name: str, request: Request, start: int | None = None, end: int | None = None) -> Any:
        path = corpus_file(assistant.settings.corpus_dir, name)
        if path is None or not guard.may_read(user_of(request), name):  # a forbidden file does not exist
            raise HTTPException(status_code=404, detail="not a document of the corpus")
        if path.suffix.lower() == ".pdf":
            return FileResponse(path, media_type="application/pdf")
        if path.suffix.lower() in IMAGE_EXTENSIONS:  # read by OCR: the image itself is the page
            return FileResponse(path)
        try:
            text = read_file(CorpusFile(name, path, ""))[0].text
        except HdfError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return HTMLResponse(document_page(name, text, start, end))

    document.__annotations__["request"] = Request  # FastAPI reads the class (this module's annotations are strings)
    app.get("/doc/{name:path}", include_in_schema=False)(document)

    from hdf_assistant.web.metrics import Metrics, RequestMiddleware

    def refreshed(job: Any) -> None:
        if job.status == "failed":
            metrics.refresh_failures.inc()
        elif job.finished_at is not None:
            metrics.refresh.observe(job.finished_at - job.started_at)

    jobs = IndexJobs(assistant, on_finished=refreshed)

    def index_counts() -> tuple[str, str, int, int]:
        index = assistant.index
        return index.version, assistant.settings.store, index.size, len(index.manifest.files)

    metrics = Metrics(index_counts, jobs.counts)
    guard.observers.append(metrics.observe_answer)

    @app.get("/metrics", include_in_schema=False)
    def metrics_page() -> Any:
        from fastapi.responses import Response

        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    app.include_router(api_router(guard, jobs, conversations))
    app.include_router(openai_router(guard))
    demo = build_ui(guard, conversations, users, keys, visitors, jobs)
    demo.queue(default_concurrency_limit=2)
    app.add_middleware(AccessMiddleware, users=users, keys=keys, visitors=visitors)
    app.add_middleware(RequestMiddleware, metrics=metrics)  # outermost: every answer has its id and its timing
    return gr.mount_gradio_app(app, demo, path="/", css=CSS)


def app_from_environment() -> Any:
    """The app of one web worker of ``serve --workers N``: settings from the environment (the command line
    put its options there), the index opened (never built: the parent did), the model loaded."""
    from hdf_assistant.assistant import build_assistant
    from hdf_assistant.config import load_settings
    from hdf_assistant.web.metrics import configure_logging

    settings = load_settings(progress=False)
    configure_logging(settings.log_format)
    return create_app(build_assistant(settings, build_if_missing=False))


def launch(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat and the APIs (blocking)."""
    import uvicorn

    if not assistant.settings.auth and not ipaddress.ip_address(_address_of(host)).is_loopback:
        log.warning("serving on %s without a login (HDF_AUTH): anyone who reaches this address can ask "
                    "questions and read every document no access file restricts", host)
        print(f"warning: serving on {host} without a login (HDF_AUTH): anyone who reaches it can use the chat",
              file=sys.stderr)

    uvicorn.run(create_app(assistant), host=host, port=port, log_level="warning")
