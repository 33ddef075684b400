"""The HTTP server: the Gradio chat at ``/``, corpus files at ``/doc/``, the
login in front of everything when ``HDF_AUTH`` is set."""

from __future__ import annotations

from typing import Any

from hdf_assistant.assistant import Assistant
from hdf_assistant.errors import HdfError
from hdf_assistant.uploads import corpus_file
from hdf_assistant.web.auth import BasicAuthMiddleware, load_users
from hdf_assistant.web.render import CSS, document_page


def create_app(assistant: Assistant) -> Any:
    """FastAPI app: the Gradio UI at ``/`` and the corpus files at ``/doc/``."""
    import gradio as gr
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse

    from hdf_assistant.ingest import CorpusFile, read_file
    from hdf_assistant.web.gradio_app import build_ui

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
        return HTMLResponse(document_page(name, text, start, end))

    demo = build_ui(assistant)
    demo.queue(default_concurrency_limit=2)
    users = load_users(assistant.settings.auth)
    if users:
        app.add_middleware(BasicAuthMiddleware, users=users)
    return gr.mount_gradio_app(app, demo, path="/", css=CSS)


def launch(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat (blocking)."""
    import uvicorn

    uvicorn.run(create_app(assistant), host=host, port=port, log_level="warning")
