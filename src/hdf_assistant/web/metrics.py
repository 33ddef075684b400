"""What the server exposes for monitoring: ``/metrics`` in Prometheus's text format, request ids, and
JSON log lines.

Metrics (``prometheus-client``; names follow prometheus-fastapi-instrumentator's for HTTP):

- ``http_request_duration_seconds{handler, method, status}`` (histogram) and ``http_requests_total``;
- ``hdf_questions_total{via, mode, abstained}``; ``hdf_retrieve_seconds`` and ``hdf_answer_seconds``;
- ``hdf_index_passages``, ``hdf_index_documents``, ``hdf_index_info{version, store}`` (read at scrape time);
- ``hdf_refresh_seconds`` (histogram of refreshes) and ``hdf_refresh_failures_total``;
- ``hdf_index_jobs{state}``: refresh jobs per state.

With several web workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by them: each
process writes its values there and ``/metrics`` adds them up (prometheus-client's multi-process mode).

Every response carries ``X-Request-ID`` (the caller's, when it sends a sane one, else a new one); with
``HDF_LOG_FORMAT=json`` each log line is one JSON object with that ``request_id``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hdf_assistant.index.scope import Scope
from hdf_assistant.schema import Answer

#: the id of the request being handled (in log lines)
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("hdf_request_id", default="")
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: routes whose paths name things (a file, a conversation, a job): measured under one handler name
_GROUPED = (("/doc/", "/doc/{name}"), ("/api/v1/conversations/", "/api/v1/conversations/{id}"),
            ("/api/v1/index/", "/api/v1/index/{job}"), ("/api/v1/documents/", "/api/v1/documents/{name}"),
            ("/gradio_api/", "/gradio_api"), ("/assets/", "/assets"), ("/static/", "/static"))


def handler_of(path: str) -> str:
    """The route a path belongs to, with few distinct values (a label must not take a value per file)."""
    for prefix, name in _GROUPED:
        if path.startswith(prefix):
            return name
    return path if path.startswith(("/api/", "/v1/")) or path in ("/", "/metrics", "/docs") else "other"


class Metrics:
    """The server's metrics, in its own registry (or the multi-process one)."""

    def __init__(self, index_counts: Callable[[], tuple[str, str, int, int]] | None = None,
                 jobs_by_state: Callable[[], dict[str, int]] | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self.registry  # multi-process: values go to files
        buckets = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
        self.requests = Histogram("http_request_duration_seconds", "HTTP request latency",
                                  ["handler", "method", "status"], buckets=buckets, registry=registry)
        self.requests_total = Counter("http_requests_total", "HTTP requests", ["handler", "method", "status"],
                                      registry=registry)
        self.questions = Counter("hdf_questions_total", "Questions answered", ["via", "mode", "abstained"],
                                 registry=registry)
        self.retrieve = Histogram("hdf_retrieve_seconds", "Retrieval time per question", buckets=buckets,
                                  registry=registry)
        self.answer = Histogram("hdf_answer_seconds", "Answer time per question (after retrieval)",
                                buckets=buckets, registry=registry)
        self.refresh = Histogram("hdf_refresh_seconds", "Index refresh duration", buckets=(1, 5, 30, 60, 300, 1800,
                                                                                             7200), registry=registry)
        self.refresh_failures = Counter("hdf_refresh_failures_total", "Index refreshes that failed", registry=registry)
        self._index_counts = index_counts
        self._jobs_by_state = jobs_by_state
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)
        self.registry.register(_StateCollector(self))

    def observe_answer(self, user: str, via: str, scope: Scope | None, answer: Answer) -> None:
        """A question answered (a ``Guard`` observer)."""
        self.questions.labels(via, str(answer.mode), str(answer.abstained).lower()).inc()
        if "retrieve" in answer.timings_ms:
            self.retrieve.observe(answer.timings_ms["retrieve"] / 1000)
        if "answer" in answer.timings_ms:
            self.answer.observe(answer.timings_ms["answer"] / 1000)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StateCollector:
    """Values read when scraped: the index served and the refresh jobs."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        counts = self._metrics._index_counts
        if counts is not None:
            version, store, passages, documents = counts()
            yield GaugeMetricFamily("hdf_index_passages", "Passages in the index served", value=passages)
            yield GaugeMetricFamily("hdf_index_documents", "Files in the index served", value=documents)
            yield InfoMetricFamily("hdf_index", "The index served", value={"version": version, "store": store})
        jobs = self._metrics._jobs_by_state
        if jobs is not None:
            family = GaugeMetricFamily("hdf_index_jobs", "Index refresh jobs per state", labels=["state"])
            for state, number in sorted(jobs().items()):
                family.add_metric([state], number)
            yield family


class RequestMiddleware:
    """Gives each request an id (``X-Request-ID``, also in its log lines) and measures it."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            handler = handler_of(str(scope.get("path", "")))
            labels = (handler, str(scope.get("method", "")), str(status["code"]))
            self.metrics.requests.labels(*labels).observe(time.perf_counter() - started)
            self.metrics.requests_total.labels(*labels).inc()
            logging.getLogger("hdf_assistant.web").info(
                "event=request method=%s path=%s status=%s ms=%.1f", scope.get("method"), handler, status["code"],
                (time.perf_counter() - started) * 1000)
            REQUEST_ID.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (when in a request)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, verbose: bool = False) -> None:
    """The process's log lines: ``json`` (one object per line, with request ids) or plain text."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose or log_format == "json" else logging.WARNING)
