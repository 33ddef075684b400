"""The browser app: the Gradio chat (gradio_app.py), the HTTP server with the
corpus-only ``/doc`` route (server.py), the login (auth.py), HTML rendering
(render.py) and the interface's words in French and English (labels.py).
Answers come from the same :class:`~hdf_assistant.assistant.Assistant` as the
command line; nothing here imports gradio until a server is built."""
