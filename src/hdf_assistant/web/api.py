"""The REST API under ``/api/v1``, on the same assistant as the chat.

- ``POST /api/v1/ask``: a question (with earlier turns, or a saved conversation) -> what ``ask --json`` prints
- ``GET|POST /api/v1/documents``, ``DELETE /api/v1/documents/{name}``: the corpus, uploads as in the chat
- ``POST /api/v1/index`` -> a job; ``GET /api/v1/index/{job}``: its progress and report
- ``GET /api/v1/conversations``, ``GET|PATCH|DELETE /api/v1/conversations/{id}``: saved conversations
- ``GET /api/v1/health``: index, counts, model

Errors are JSON (``{"detail": "..."}``) with a message a person can act on and
the status that says what went wrong (400, 404, 409, 413, 415).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel, Field

from hdf_assistant.access import FilterError, Filters, Guard
from hdf_assistant.errors import HdfError, QuestionError
from hdf_assistant.ingest.uploads import UploadRejected, corpus_file, save_upload
from hdf_assistant.schema import Answer, Mode, RetrieverName, collection_of
from hdf_assistant.web.conversations import ConversationStore, save_exchange
from hdf_assistant.web.index_jobs import IndexJobs, JobRunning

#: this process, as health reports it ("host:pid": which web worker answered)
WORKER = f"{socket.gethostname()}:{os.getpid()}"
UPLOAD_STATUS = {"too_large": 413, "unsupported": 415, "exists": 409, "empty": 400, "invalid": 400}


class AskFilters(BaseModel):
    """What to search, always inside the caller's rights."""

    collections: list[str] | None = Field(None, description="collections (first-level folders; 'general': the root)")
    files: list[str] | None = Field(None, description="files, by their name in the corpus ('rh/bilan.pdf')")
    types: list[str] | None = Field(None, description="file types ('pdf', 'md')")
    date_from: str | None = Field(None, description="documents dated on or after this day (YYYY-MM-DD; the date "
                                                    "their file states: PDF/DOCX metadata, Markdown front matter)")
    date_to: str | None = Field(None, description="documents dated on or before this day (YYYY-MM-DD)")

    def made(self) -> Filters | None:
        return Filters.of(self.collections, self.files, self.types, self.date_from, self.date_to)


class AskRequest(BaseModel):
    question: str = Field(description="the question, in French or English")
    history: list[str] = Field(default_factory=list, description="earlier user turns, oldest first")
    conversation_id: str | None = Field(None, description="continue this saved conversation (its turns are the history)")
    save: bool = Field(False, description="start a saved conversation with this question")
    top_k: int | None = Field(None, ge=1, le=20, description="passages cited at most")
    retriever: RetrieverName | None = None
    mode: Mode | None = None
    filters: AskFilters | None = Field(None, description="narrow the search (collections, files, types)")


class IndexRequest(BaseModel):
    full: bool = Field(False, description="rebuild everything instead of refreshing what changed")


class RenameRequest(BaseModel):
    title: str = Field(min_length=1, max_length=200)


def user_of(request: Request) -> str:
    """The user the access middleware found for this request ("" when nobody logs in)."""
    return str(getattr(request.state, "user", "") or "")


def ask_and_save(guard: Guard, conversations: ConversationStore, user: str, question: str,
                 history: list[str], conversation_id: str | None, save: bool, **options: Any) -> tuple[Answer, str | None]:
    """Answer as ``user`` (inside their rights), continuing or starting a saved conversation when asked;
    the conversation's own turns are the history then. Raises KeyError for a conversation that is not
    the user's."""
    if conversation_id is not None:
        conversation = conversations.get(user, conversation_id)
        if conversation is None:
            raise KeyError(conversation_id)
        history = conversation.user_turns()
    answer = guard.ask(user, "api", question, history=history, **options)
    if conversation_id is not None or save:
        conversation_id = save_exchange(conversations, user, conversation_id, answer.question, answer.to_dict())
    return answer, conversation_id


def api_router(guard: Guard, jobs: IndexJobs, conversations: ConversationStore) -> APIRouter:
    """The ``/api/v1`` routes; every one acts inside the caller's rights (``guard``)."""
    router = APIRouter(prefix="/api/v1", tags=["hdf-assistant"])
    assistant = guard.assistant
    settings = assistant.settings

    def admin(request: Request) -> None:
        if not guard.is_admin(user_of(request)):
            raise HTTPException(403, "only the corpus's admins may change the documents or the index "
                                     "([admins] of the access file)")

    @router.post("/ask", summary="Answer a question from the documents, with citations")
    def ask(body: AskRequest, request: Request) -> dict[str, Any]:
        try:
            filters = body.filters.made() if body.filters else None
            answer, conversation_id = ask_and_save(
                guard, conversations, user_of(request), body.question, body.history, body.conversation_id,
                body.save, top_k=body.top_k, retriever=body.retriever, mode=body.mode, filters=filters)
        except (QuestionError, FilterError) as exc:
            raise HTTPException(400, str(exc)) from exc
        except KeyError as exc:
            raise HTTPException(404, f"no saved conversation {body.conversation_id} (list them at "
                                     "/api/v1/conversations)") from exc
        except HdfError as exc:
            raise HTTPException(503, str(exc)) from exc
        return {**answer.to_dict(), "conversation_id": conversation_id}

    @router.get("/documents", summary="The indexed documents, and corpus files not indexed yet")
    def documents(request: Request) -> dict[str, Any]:
        from hdf_assistant.index.status import INDEXED, PARTIAL, REMOVED, SKIPPED, document_statuses

        user = user_of(request)
        statuses = [d for d in document_statuses(assistant.manifest, settings.corpus_dir)
                    if guard.may_read(user, d.name)]
        return {
            "collections": guard.collections(user),
            "documents": [{"name": d.name, "collection": collection_of(d.name), "pages": d.pages,
                           "passages": d.passages, "indexed_at": d.indexed_at,
                           "ocr_pages": d.ocr_pages, "unread_pages": d.reasons}
                          for d in statuses if d.state in (INDEXED, PARTIAL)],
            "not_indexed": [d.name for d in statuses if d.state not in (INDEXED, PARTIAL, REMOVED)],
            "skipped": [{"name": d.name, "reason": d.reasons[0]} for d in statuses if d.state == SKIPPED],
            "removed_from_corpus": [d.name for d in statuses if d.state == REMOVED],
        }

    @router.post("/documents", status_code=201, summary="Add a file to the corpus (then POST /api/v1/index)")
    async def upload(request: Request, file: UploadFile = File(...), replace: bool = Form(False)) -> dict[str, Any]:
        admin(request)
        limit = settings.max_file_mb * 1024 * 1024
        data = await file.read(limit + 1)
        try:
            saved = save_upload(settings.corpus_dir, file.filename or "", data, replace=replace,
                                max_mb=settings.max_file_mb)
        except UploadRejected as exc:
            raise HTTPException(UPLOAD_STATUS.get(exc.kind, 400), f"{file.filename}: {exc}") from exc
        return {"name": saved.name, "indexed": False, "next": "POST /api/v1/index to index it"}

    @router.delete("/documents/{name:path}", summary="Remove a file from the corpus (then POST /api/v1/index)")
    def delete_document(name: str, request: Request) -> dict[str, Any]:
        admin(request)
        path = corpus_file(settings.corpus_dir, name)
        if path is None:
            raise HTTPException(404, f"no document '{name}' in the corpus (list them at /api/v1/documents)")
        path.unlink()
        return {"deleted": name, "next": "POST /api/v1/index to remove it from the index"}

    @router.post("/index", status_code=202, summary="Start an index refresh; questions are answered meanwhile")
    def start_index(request: Request, body: IndexRequest | None = None) -> dict[str, Any]:
        admin(request)
        try:
            return jobs.start(full=bool(body and body.full)).to_dict()
        except JobRunning as exc:
            raise HTTPException(409, str(exc)) from exc

    @router.get("/index/{job}", summary="A refresh's progress and report")
    def index_job(job: str, request: Request) -> dict[str, Any]:
        admin(request)  # its report names every file
        found = jobs.get(job)
        if found is None:
            raise HTTPException(404, f"no index job {job}")
        return found.to_dict()

    @router.get("/conversations", summary="Your saved conversations, most recent first")
    def list_conversations(request: Request) -> dict[str, Any]:
        return {"conversations": [c.summary() for c in conversations.list_of(user_of(request))]}

    @router.get("/conversations/{conversation_id}", summary="One saved conversation, with its messages")
    def read_conversation(conversation_id: str, request: Request) -> dict[str, Any]:
        found = conversations.get(user_of(request), conversation_id)
        if found is None:
            raise HTTPException(404, f"no saved conversation {conversation_id}")
        return found.to_dict()

    @router.patch("/conversations/{conversation_id}", summary="Rename a saved conversation")
    def rename_conversation(conversation_id: str, body: RenameRequest, request: Request) -> dict[str, Any]:
        if not conversations.rename(user_of(request), conversation_id, body.title):
            raise HTTPException(404, f"no saved conversation {conversation_id}")
        return {"id": conversation_id, "title": body.title}

    @router.delete("/conversations/{conversation_id}", summary="Delete a saved conversation")
    def delete_conversation(conversation_id: str, request: Request) -> dict[str, Any]:
        if not conversations.delete(user_of(request), conversation_id):
            raise HTTPException(404, f"no saved conversation {conversation_id}")
        return {"deleted": conversation_id}

    @router.get("/health", summary="Index state, counts and model")
    def health(request: Request) -> dict[str, Any]:
        user = user_of(request)
        manifest = assistant.manifest
        running = jobs.running()
        files = guard.readable_files(user, manifest.files)  # counts of what the caller may read
        return {
            "status": "ok",
            "store": settings.store,
            "index": {"version": assistant.index.version, "documents": len(files),
                      "passages": sum(manifest.files[f].chunks for f in files), "built_at": manifest.built_at},
            "model": manifest.model_id,
            "refresh": running.to_dict() if running and guard.is_admin(user) else None,
            "worker": WORKER,
        }

    return router
