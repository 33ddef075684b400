"""The chat in the browser (Gradio Blocks in a FastAPI app). Formatting only:
answers come from the same :class:`~hdf_assistant.assistant.Assistant` as
the command line.

- Chat: streamed answers with [n] markers, a sources panel (file, page, the
  passage with the answering sentence highlighted, a link that opens the
  document: PDFs at the page, text at the passage), examples, clear button.
- Documents: indexed files, index manifest, upload, rebuild with progress.
- Settings per session (answer mode, retriever, top-k); French or English labels.
- ``/doc/<file>`` serves corpus files only; ``/ask`` is the documented API endpoint.
"""

from __future__ import annotations

import html
import logging
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hdf_assistant.assistant import Assistant
from hdf_assistant.errors import HdfError, QuestionError
from hdf_assistant.schema import Answer, Citation
from hdf_assistant.uploads import UploadRejected, corpus_file, save_upload

log = logging.getLogger(__name__)

EXAMPLES = [
    "How many startups in Lille?",
    "Combien de startups sont référencées à Lille ?",
    "Où OVH a-t-il été créé ?",
    "Which research lab is part of EuraTechnologies?",
    "Quel est le plafond des aides pour les artisans ?",
]

LABELS = {
    "fr": {
        "title": "## hdf-assistant\nQuestions sur les documents régionaux ; chaque réponse cite ses sources.",
        "chat_tab": "Discussion", "docs_tab": "Documents", "settings": "Réglages (pour cette session)",
        "mode": "Mode de réponse", "retriever": "Recherche", "top_k": "Passages cités au plus",
        "sources": "Sources", "no_sources": "Les sources de la réponse s'afficheront ici.",
        "placeholder": "Posez une question sur les documents…", "examples": "Exemples",
        "upload": "Ajouter des documents (.pdf, .txt, .md, .html, .docx)", "add": "Ajouter au corpus",
        "replace": "Remplacer un fichier du même nom", "rebuild": "Reconstruire l'index",
        "empty": "Posez une question : le message est vide.", "abstained": "Les documents ne répondent pas",
        "open": "ouvrir", "page": "p.", "files": "Documents indexés",
    },
    "en": {
        "title": "## hdf-assistant\nQuestions about the regional documents; every answer cites its sources.",
        "chat_tab": "Chat", "docs_tab": "Documents", "settings": "Settings (this session)",
        "mode": "Answer mode", "retriever": "Retriever", "top_k": "Passages cited at most",
        "sources": "Sources", "no_sources": "The sources of the answer will appear here.",
        "placeholder": "Ask a question about the documents…", "examples": "Examples",
        "upload": "Add documents (.pdf, .txt, .md, .html, .docx)", "add": "Add to the corpus",
        "replace": "Replace a file with the same name", "rebuild": "Rebuild the index",
        "empty": "Please ask a question: the message is empty.", "abstained": "The documents do not answer",
        "open": "open", "page": "p.", "files": "Indexed documents",
    },
}

CSS = """
#sources .source {border-left: 3px solid #1f5fa8; padding: 4px 10px; margin: 8px 0;}
#sources mark {background: #ffe58a; padding: 0 2px;}
#sources .passage {color: #333; font-size: 0.92em; white-space: pre-wrap;}
"""


def doc_link(citation: Citation) -> str:
    """Where a citation opens: PDFs at the page, other files at the passage."""
    url = "/doc/" + quote(citation.source)
    if citation.page:
        return f"{url}#page={citation.page}"
    if citation.start is not None and citation.end is not None:
        return f"{url}?start={citation.start}&end={citation.end}#passage"
    return url


def _passage_with_mark(answer: Answer, citation: Citation) -> str:
    """The retrieved passage holding the cited sentence, sentence highlighted."""
    for result in answer.retrieved:
        chunk = result.chunk
        if (chunk.source, chunk.page) != (citation.source, citation.page) or citation.start is None:
            continue
        if chunk.start <= citation.start and citation.end is not None and citation.end <= chunk.end:
            a, b = citation.start - chunk.start, citation.end - chunk.start
            return (html.escape(chunk.text[:a]) + "<mark>" + html.escape(chunk.text[a:b]) + "</mark>"
                    + html.escape(chunk.text[b:]))
    return "<mark>" + html.escape(citation.text) + "</mark>"


def sources_html(answer: Answer | None, lang: str = "fr") -> str:
    """The sources panel for one answer."""
    t = LABELS[lang]
    if answer is None or not answer.citations:
        if answer is not None and answer.abstained:
            return f"<div class='abstained'><b>{t['abstained']}.</b></div>"
        return f"<div class='empty'>{t['no_sources']}</div>"
    parts = [f"<h4>{t['sources']}</h4>"]
    for c in answer.citations:
        where = html.escape(c.source + (f", {t['page']} {c.page}" if c.page else "") + (f", {c.section}" if c.section else ""))
        parts.append(
            f"<div class='source'><b>[{c.n}] {where}</b> "
            f"<a href='{html.escape(doc_link(c))}' target='_blank'>{t['open']}</a>"
            f"<div class='passage'>{_passage_with_mark(answer, c)}</div></div>"
        )
    return "\n".join(parts)


def format_answer(answer: Answer, lang: str = "fr") -> str:
    """The chat message for one answer."""
    if answer.abstained:
        return f"*{answer.text}*"
    return answer.text


def _earlier_turns(history: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]


def _language_of(labels_lang: str | None) -> str:
    return "en" if labels_lang == "English" else "fr"


def build_ui(assistant: Assistant) -> Any:
    """The Gradio Blocks app."""
    import gradio as gr

    t = LABELS["fr"]

    def respond(message: str, history: list[dict[str, Any]], mode: str, retriever: str, top_k: float,
                lang_choice: str) -> Iterator[tuple[str, str]]:
        lang = _language_of(lang_choice)
        if not message or not message.strip():
            gr.Info(LABELS[lang]["empty"])
            yield LABELS[lang]["empty"], sources_html(None, lang)
            return
        tokens: queue.Queue[str | None] = queue.Queue()
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["answer"] = assistant.ask(message, history=_earlier_turns(history), top_k=int(top_k),
                                                 retriever=retriever, mode=mode, on_token=tokens.put)
            except HdfError as exc:
                result["error"] = exc
            finally:
                tokens.put(None)

        threading.Thread(target=work, daemon=True).start()
        streamed = ""
        while (token := tokens.get()) is not None:
            streamed += token
            yield streamed, sources_html(None, lang)
        if "error" in result:
            yield f"⚠️ {result['error']}", sources_html(None, lang)
            return
        answer: Answer = result["answer"]
        yield format_answer(answer, lang), sources_html(answer, lang)

    def api_ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Ask the assistant: the question and the earlier user turns (oldest
        first); returns what ``hdf-assistant ask --json`` prints."""
        try:
            return assistant.ask(question, history=history or []).to_dict()
        except QuestionError as exc:
            return {"question": question, "error": str(exc)}

    def documents_rows() -> list[list[Any]]:
        files = assistant.manifest.files
        return [[name, e.pages, e.chunks, e.indexed_at] for name, e in sorted(files.items())]

    def manifest_md() -> str:
        m = assistant.manifest
        return (f"**Index** : {len(m.files)} documents, {sum(e.chunks for e in m.files.values())} passages — "
                f"modèle `{m.model_id}` ({m.dim} dimensions), passages de {m.chunk_size} caractères "
                f"(recouvrement {m.chunk_overlap} phrase), construit le {m.built_at}")

    def add_files(files: list[Any] | None, replace: bool) -> str:
        if not files:
            return "Aucun fichier choisi."
        lines = []
        for f in files:
            path = Path(getattr(f, "name", f))
            try:
                saved = save_upload(assistant.settings.corpus_dir, path.name, path.read_bytes(),
                                    replace=replace, max_mb=assistant.settings.max_file_mb)
                lines.append(f"✅ {saved.name} ajouté. Reconstruisez l'index pour l'utiliser.")
            except UploadRejected as exc:
                lines.append(f"❌ {path.name} : {exc}")
        return "\n\n".join(lines)

    def rebuild(progress: Any = gr.Progress(track_tqdm=True)) -> tuple[str, list[list[Any]], str]:
        progress(0, desc="Indexation…")
        try:
            report = assistant.reindex(progress=True)
        except HdfError as exc:
            return f"❌ {exc}", documents_rows(), manifest_md()
        parts = [f"✅ Index à jour en {report.seconds:.1f} s : {report.documents} documents, {report.chunks} passages."]
        for label, names in (("ajoutés", report.added), ("modifiés", report.updated), ("retirés", report.removed)):
            if names:
                parts.append(f"{label} : {', '.join(names)}")
        for s in report.skipped:
            parts.append(f"ignoré : {s.file} ({s.reason})")
        return "\n\n".join(parts), documents_rows(), manifest_md()

    with gr.Blocks(title="hdf-assistant") as demo:
        with gr.Row():
            title = gr.Markdown(t["title"])
            lang = gr.Radio(["Français", "English"], value="Français", label="Langue / Language", scale=0)
        with gr.Tab(t["chat_tab"]) as chat_tab:
            with gr.Row():
                with gr.Column(scale=3):
                    with gr.Accordion(t["settings"], open=False) as settings_box:
                        mode = gr.Dropdown(["extractive", "quote", "llm"], value=assistant.settings.answer_mode,
                                           label=t["mode"])
                        retriever = gr.Dropdown(["hybrid", "dense", "bm25"], value=assistant.settings.retriever,
                                                label=t["retriever"])
                        top_k = gr.Slider(1, 10, value=assistant.settings.top_k, step=1, label=t["top_k"])
                    sources = gr.HTML(sources_html(None), elem_id="sources", render=False)
                    textbox = gr.Textbox(placeholder=t["placeholder"], show_label=False, elem_id="question")
                    chat = gr.ChatInterface(
                        respond,
                        textbox=textbox,
                        additional_inputs=[mode, retriever, top_k, lang],
                        additional_outputs=[sources],
                        examples=[[e] for e in EXAMPLES],
                        examples_label=t["examples"],
                        api_name="chat",
                        fill_height=False,
                    )
                with gr.Column(scale=2):
                    sources.render()
        with gr.Tab(t["docs_tab"]) as docs_tab:
            manifest_box = gr.Markdown(manifest_md())
            table = gr.Dataframe(headers=["fichier", "pages", "passages", "indexé le"], value=documents_rows(),
                                 interactive=False, label=t["files"])
            upload = gr.File(label=t["upload"], file_count="multiple",
                             file_types=[".pdf", ".txt", ".md", ".html", ".htm", ".docx"], elem_id="upload")
            replace = gr.Checkbox(label=t["replace"], value=False)
            add_btn = gr.Button(t["add"], elem_id="add-files")
            rebuild_btn = gr.Button(t["rebuild"], variant="primary", elem_id="rebuild")
            status = gr.Markdown(elem_id="index-status")
        add_btn.click(add_files, [upload, replace], status, api_visibility="private")
        rebuild_btn.click(rebuild, None, [status, table, manifest_box], api_visibility="private",
                          concurrency_limit=1)
        gr.api(api_ask, api_name="ask")

        def relabel(choice: str) -> list[Any]:
            lab = LABELS[_language_of(choice)]
            return [
                gr.update(value=lab["title"]), gr.update(label=lab["chat_tab"]), gr.update(label=lab["docs_tab"]),
                gr.update(label=lab["settings"]), gr.update(label=lab["mode"]), gr.update(label=lab["retriever"]),
                gr.update(label=lab["top_k"]), gr.update(placeholder=lab["placeholder"]),
                gr.update(label=lab["upload"]), gr.update(label=lab["replace"]), gr.update(value=lab["add"]),
                gr.update(value=lab["rebuild"]), gr.update(label=lab["files"]),
            ]

        lang.change(relabel, lang, [title, chat_tab, docs_tab, settings_box, mode, retriever, top_k, textbox,
                                    upload, replace, add_btn, rebuild_btn, table], api_visibility="private")
        del chat
    return demo


def create_app(assistant: Assistant) -> Any:
    """FastAPI app: the Gradio UI at ``/`` and the corpus files at ``/doc/``."""
    import gradio as gr
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse

    from hdf_assistant.ingest import CorpusFile, read_file

    app = FastAPI()

    @app.get("/doc/{name:path}")
    def document(name: str, start: int | None = None, end: int | None = None) -> Any:
        path = corpus_file(assistant.settings.corpus_dir, name)
        if path is None:
            raise HTTPException(status_code=404, detail="not a document of the corpus")
        if path.suffix.lower() == ".pdf":
            return FileResponse(path, media_type="application/pdf")
        try:
            text = read_file(CorpusFile(name, path, ""))[0].text
        except HdfError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        if start is not None and end is not None and 0 <= start < end <= len(text):
            body = (html.escape(text[:start]) + "<mark id='passage'>" + html.escape(text[start:end]) + "</mark>"
                    + html.escape(text[end:]))
        else:
            body = html.escape(text)
        page = (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>{html.escape(name)}</title>"
                "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;white-space:pre-wrap;"
                "line-height:1.5}mark{background:#ffe58a}</style></head>"
                f"<body><h3>{html.escape(name)}</h3>{body}</body></html>")
        return HTMLResponse(page)

    demo = build_ui(assistant)
    demo.queue(default_concurrency_limit=2)
    users = load_users(assistant.settings.auth)
    if users:
        app.add_middleware(BasicAuthMiddleware, users=users)
    return gr.mount_gradio_app(app, demo, path="/", css=CSS)


def load_users(auth: str) -> dict[str, str]:
    """Users from ``HDF_AUTH``: "user:password", or a file of such lines."""
    if not auth:
        return {}
    path = Path(auth).expanduser()
    lines = path.read_text(encoding="utf-8").splitlines() if ":" not in auth and path.is_file() else [auth]
    users = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise HdfError("HDF_AUTH must be 'user:password' or a file of 'user:password' lines")
        users[user] = password
    if not users:
        raise HdfError(f"HDF_AUTH names no user: {auth}")
    return users


class BasicAuthMiddleware:
    """HTTP Basic authentication on every route (the chat, its API, /doc)."""

    def __init__(self, app: Any, users: dict[str, str]) -> None:
        self.app = app
        self.users = users

    def _allowed(self, header: str) -> bool:
        import base64
        import hmac

        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self._allowed(headers.get("authorization", "")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"www-authenticate", b'Basic realm="hdf-assistant"'),
                                (b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"Authentification requise."})


def launch(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat (blocking)."""
    import uvicorn

    print(f"hdf-assistant: http://{host}:{port}", flush=True)
    uvicorn.run(create_app(assistant), host=host, port=port, log_level="warning")
