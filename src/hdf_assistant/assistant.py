"""The assistant: one object shared by the CLI, the UI and evaluation.

This module is the one place below the interfaces that reads the settings: it builds the backend, the
embedder, the build options, the answerers and the LLM client from them (``open_backend``,
``build_embedder``, ``build_options``, ``build_assistant``) and passes them down; the stages under it take
plain values. The assistant reads the index through its interface (``SearchIndex``) only.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from hdf_assistant.answer import ExtractiveAnswerer, analyse_question, quote_best_passage
from hdf_assistant.answer.conversation import contextualize
from hdf_assistant.answer.llm import LLMAnswerer, build_llm
from hdf_assistant.config import Settings, embedding_prefixes
from hdf_assistant.errors import ConfigError, IndexMissingError, QuestionError
from hdf_assistant.index import open_store
from hdf_assistant.index.backend import IndexBackend, SearchIndex
from hdf_assistant.index.builder import BuildOptions, ProgressCallback, refresh
from hdf_assistant.index.manifest import IndexSpec, Manifest, check_compatible
from hdf_assistant.index.scope import Scope, ScopedIndex
from hdf_assistant.ingest.ocr import OcrOptions
from hdf_assistant.ingest.textclean import clean_question
from hdf_assistant.models.embedders import Embedder, load_embedder
from hdf_assistant.retrieve import Retriever, build_retriever
from hdf_assistant.schema import Answer, IndexReport, Mode, ScoredChunk

log = logging.getLogger(__name__)

#: Chunks retrieved per question, at least: enough for MRR@10 in evaluation
#: and for later re-ranking; the answer cites the best ``top_k`` of them.
RETRIEVAL_DEPTH = 10
#: Questions worked on at once (the others wait): more than the cores only
#: makes every answer slower (the chat, the API and the OpenAI endpoint share them).
CONCURRENT_QUESTIONS = max(2, os.cpu_count() or 2)


def open_backend(settings: Settings) -> IndexBackend:
    """The index the settings name: the local directory ``index_dir``, or the index ``index_name`` in
    the PostgreSQL database ``database_url`` (one connection pool per process and database)."""
    return open_store(settings.store, settings.index_dir, settings.database_url, settings.index_name)


def build_embedder(settings: Settings) -> Embedder:
    """The embedding model the settings name, loaded from local files."""
    query, passage = embedding_prefixes(settings)
    return load_embedder(settings.embed_model, settings.embed_backend, query, passage, settings.embed_batch_size,
                         settings.model_cache_dir, settings.embed_threads)


def index_spec(settings: Settings) -> IndexSpec:
    """How the settings say passages and vectors are made (what an index must match)."""
    query, passage = embedding_prefixes(settings)
    return IndexSpec(settings.embed_model, query, passage, settings.chunk_size, settings.chunk_overlap)


def ocr_options(settings: Settings) -> OcrOptions:
    """How the ingest reads images, from the settings."""
    return OcrOptions(enabled=settings.ocr, command=settings.tesseract, dpi=settings.ocr_dpi,
                      max_pages=settings.ocr_max_pages, cache_dir=settings.ocr_cache_dir)


def build_options(settings: Settings) -> BuildOptions:
    """What a refresh of the settings' corpus reads, and how."""
    return BuildOptions(settings.corpus_dir, index_spec(settings), settings.max_file_mb * 1024 * 1024,
                        ocr_options(settings))


def refresh_index(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    full: bool = False,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
    backend: IndexBackend | None = None,
) -> IndexReport:
    """Bring the settings' index in step with their corpus (``index.builder.refresh``); ``backend``: the
    one the caller holds (default: the one the settings name)."""
    return refresh(build_options(settings), backend or open_backend(settings), embedder_factory, full=full,
                   progress=progress, on_progress=on_progress)


def _postgres_backend(settings: Settings) -> Any:
    from hdf_assistant.index.postgres import PostgresBackend

    backend = open_backend(settings)
    if not isinstance(backend, PostgresBackend):
        raise ConfigError("indexing spread over workers needs the postgres store (HDF_STORE=postgres and "
                          "HDF_DATABASE_URL): the local store indexes in one process")
    return backend


def refresh_index_distributed(settings: Settings, progress: bool = False,
                              on_progress: ProgressCallback | None = None, timeout: float | None = None,
                              full: bool = False) -> IndexReport:
    """``index --distribute``: plan here, read and embed on the workers, commit here (index.distributed)."""
    from hdf_assistant.index.distributed import refresh_distributed

    return refresh_distributed(build_options(settings), _postgres_backend(settings), settings.database_url,
                               settings.index_name, lambda: build_embedder(settings), full=full, progress=progress,
                               on_progress=on_progress, timeout=timeout)


def run_index_worker(settings: Settings, stop: Callable[[], bool] | None = None) -> None:
    """``hdf-assistant worker``: read and embed the files of distributed refreshes, one at a time."""
    from hdf_assistant.index.distributed import run_worker

    run_worker(build_options(settings), _postgres_backend(settings), settings.database_url, settings.index_name,
               lambda: build_embedder(settings), stop)


class Assistant:
    """Answers questions from the index, citing the passages it used."""

    def __init__(self, settings: Settings, embedder: Embedder, backend: IndexBackend | None = None,
                 answerer: ExtractiveAnswerer | None = None, llm: LLMAnswerer | None = None) -> None:
        """``answerer`` (the extractive one, with its settings and abstention model) and ``llm`` (the
        generated answers' client) are built from the settings when not given."""
        self.settings = settings
        self.embedder = embedder
        self.backend = backend or open_backend(settings)
        self._lock = threading.Lock()
        self._asking = threading.BoundedSemaphore(CONCURRENT_QUESTIONS)
        self._llm_answerer = llm
        self._extractive = answerer or ExtractiveAnswerer(embedder)
        self._use(self.backend.open())

    def _use(self, index: SearchIndex) -> None:
        check_compatible(index.manifest, index_spec(self.settings))
        if self.settings.document_weight > 0 and index.size and not index.has_document_vectors:
            log.warning("the index in %s has no document vectors: passages are ranked alone until "
                        "'hdf-assistant index' adds them (no passage is embedded again)", self.settings.index_dir)
        # the index and its retrievers change together, in one assignment: a question that reads them
        # once (``ask``) never retrieves from one version and reads evidence from another
        self._state: tuple[SearchIndex, dict[tuple[str, Scope | None], Retriever]] = (index, {})

    @property
    def index(self) -> SearchIndex:
        """The index version questions are answered from now."""
        return self._state[0]

    def retriever(self, name: str | None = None,
                  state: tuple[SearchIndex, dict[tuple[str, Scope | None], Retriever]] | None = None,
                  scope: Scope | None = None) -> Retriever:
        """The retriever called ``name`` (default: the configured one) over the current index (or ``state``'s),
        seen through ``scope`` when given (scope.py)."""
        name = name or self.settings.retriever
        index, retrievers = state or self._state
        found = retrievers.get((name, scope))
        if found is None:
            if len(retrievers) > 256:
                retrievers.clear()
            found = retrievers[(name, scope)] = build_retriever(
                name, self.scoped(index, scope), self.embedder, self.settings.document_weight,
                self.settings.keyword_weight)
        return found

    @staticmethod
    def scoped(index: SearchIndex, scope: Scope | None) -> SearchIndex:
        """``index`` as a request limited to ``scope`` sees it (all of it without a scope)."""
        return index if scope is None else ScopedIndex(index, scope)

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest

    def ask(
        self,
        question: str,
        history: Sequence[str] = (),
        top_k: int | None = None,
        retriever: str | None = None,
        mode: str | None = None,
        on_token: Callable[[str], None] | None = None,
        scope: Scope | None = None,
    ) -> Answer:
        """Answer ``question``; ``history`` holds earlier user turns, oldest first. With ``scope``, only the
        passages it allows are searched, weighed and quoted (access.py makes it from a user's rights)."""
        question, warnings = clean_question(question)
        if not question:
            raise QuestionError("la question est vide : posez une question / the question is empty")
        history = [clean_question(turn)[0] for turn in history if turn and turn.strip()]
        queued = time.perf_counter()
        with self._asking:
            self.follow_index()
            state = self._state  # one version for the whole question
            k = top_k or self.settings.top_k
            started = time.perf_counter()
            search_query = contextualize(question, history)
            retriever_ = self.retriever(retriever, state, scope)
            results = retriever_.retrieve(search_query, max(k, RETRIEVAL_DEPTH))
            retrieved = time.perf_counter()
            answer = self._answer(question, history, search_query, results[:k], mode or self.settings.answer_mode,
                                  on_token, retriever_.index)
        done = time.perf_counter()
        timings = {
            "queue": (started - queued) * 1000,
            "retrieve": (retrieved - started) * 1000,
            "answer": (done - retrieved) * 1000,
            "total": (done - started) * 1000,
        }
        return replace(answer, retrieved=results, search_query=search_query, warnings=warnings + answer.warnings,
                       timings_ms=timings)

    def stream(
        self,
        question: str,
        history: Sequence[str] = (),
        top_k: int | None = None,
        retriever: str | None = None,
        mode: str | None = None,
        scope: Scope | None = None,
    ) -> Iterator[str | Answer]:
        """The answer as it is made: pieces of text (in ``llm`` mode the model's draft, token by token; the
        other modes have no draft), then, last, the :class:`Answer` itself, checked and cited, which replaces
        the draft. An error (an empty question, no index) is raised here, before or after the pieces."""
        if (mode or self.settings.answer_mode) != Mode.LLM:  # no draft to show: no thread either
            yield self.ask(question, history, top_k=top_k, retriever=retriever, mode=mode, scope=scope)
            return
        pieces: queue.Queue[str | None] = queue.Queue()
        outcome: dict[str, Answer | BaseException] = {}

        def work() -> None:
            try:
                outcome["answer"] = self.ask(question, history, top_k=top_k, retriever=retriever, mode=mode,
                                             on_token=pieces.put, scope=scope)
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc
            finally:
                pieces.put(None)

        threading.Thread(target=work, name="hdf-answer", daemon=True).start()
        while (piece := pieces.get()) is not None:
            yield piece
        error, answer = outcome.get("error"), outcome.get("answer")
        if isinstance(error, BaseException):
            raise error
        assert isinstance(answer, Answer)
        yield answer

    def _answer(
        self,
        question: str,
        history: Sequence[str],
        search_query: str,
        results: list[ScoredChunk],
        mode: str,
        on_token: Callable[[str], None] | None,
        index: SearchIndex,
    ) -> Answer:
        if mode == Mode.QUOTE:
            return replace(quote_best_passage(question, results), mode=Mode.QUOTE)
        if mode == Mode.LLM:
            return self._llm().answer(
                question, history, results,
                fallback=lambda: self._answer(question, history, search_query, results, Mode.EXTRACTIVE, None, index),
                on_token=on_token,
            )
        return self._extractive.answer(analyse_question(question, search_query), results, index)

    def follow_index(self) -> bool:
        """Switch to a newer index if another process saved one; True if it did.

        Costs one small read; the current index keeps serving until the new one
        is fully loaded: while one question opens it, the others go on with the
        current one instead of waiting."""
        live = self.backend.live_version()
        if live is None or live == self.index.version:
            return False
        if not self._lock.acquire(blocking=False):
            return False  # another question is opening it
        try:
            live = self.backend.live_version()
            if live is None or live == self.index.version:
                return False
            self._use(self.backend.open())
            log.info("event=index_reloaded state=%s", self.index.version)
            return True
        finally:
            self._lock.release()

    def forget_cached_vectors(self) -> None:
        """Drop the question and sentence vectors remembered so far (so that a
        benchmark's every question pays for its embeddings)."""
        self._extractive.clear_cache()
        clear = getattr(self.embedder, "clear_cache", None)
        if clear is not None:
            clear()

    def _llm(self) -> LLMAnswerer:
        if self._llm_answerer is None:
            s = self.settings
            self._llm_answerer = LLMAnswerer(build_llm(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout),
                                             self.embedder)
        return self._llm_answerer

    def reindex(self, full: bool = False, progress: bool = False,
                on_progress: ProgressCallback | None = None) -> IndexReport:
        """Refresh the index with this assistant's model, then use the new one.
        Questions keep being answered from the current index meanwhile."""
        report = refresh_index(self.settings, lambda: self.embedder, full=full, progress=progress,
                               on_progress=on_progress, backend=self.backend)
        self.follow_index()
        return report


def build_assistant(
    settings: Settings,
    build_if_missing: bool = True,
    progress: bool = False,
    embedder: Embedder | None = None,
    answerer: ExtractiveAnswerer | None = None,
) -> Assistant:
    """Load the model and the index (building the index first when there is none).

    ``embedder`` lets a caller that already holds the model reuse it; ``answerer`` answers with other
    settings or another abstention model than the shipped ones (the benchmarks' sweeps).
    """
    backend = open_backend(settings)
    manifest = backend.read_manifest()
    if manifest is not None:
        check_compatible(manifest, index_spec(settings))  # before loading the model: a mismatch is told at once
    elif not build_if_missing:
        raise IndexMissingError(f"no index in {settings.index_dir}: run hdf-assistant index")
    model = embedder or build_embedder(settings)
    if manifest is None:
        log.info("event=building_missing_index index_dir=%s", settings.index_dir)
        refresh_index(settings, lambda: model, progress=progress, backend=backend)
    return Assistant(settings, model, backend, answerer=answerer)
