"""The chat in the browser (Gradio). Formatting only: answers come from the
same :class:`~hdf_assistant.assistant.Assistant` as the command line."""

from __future__ import annotations

import html
from typing import Any

from hdf_assistant.assistant import Assistant
from hdf_assistant.errors import QuestionError
from hdf_assistant.schema import Answer

EXAMPLES = [
    "Combien de startups sont référencées à Lille ?",
    "How many startups in Lille?",
    "Où OVH a-t-il été créé ?",
    "Quel pôle est le premier incubateur de startups en France ?",
]


def format_answer(answer: Answer) -> str:
    """Markdown for one answer: the text, then its numbered sources."""
    lines = [answer.text]
    if answer.citations:
        lines.append("")
        lines.append("**Sources**")
        for c in answer.citations:
            where = f"{c.source}, p. {c.page}" if c.page else c.source
            snippet = html.escape(" ".join(c.text.split()))
            lines.append(f"- **[{c.n}] {html.escape(where)}** : {snippet}")
    return "\n".join(lines)


def build_ui(assistant: Assistant) -> Any:
    """A minimal chat: question in, cited answer out."""
    import gradio as gr

    def respond(message: str, history: list[dict[str, Any]]) -> str:
        earlier = [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]
        try:
            return format_answer(assistant.ask(message, history=earlier))
        except QuestionError:
            return "Posez une question : le message est vide."

    return gr.ChatInterface(
        respond,
        title="hdf-assistant",
        description="Questions sur l'économie numérique des Hauts-de-France ; chaque réponse cite ses sources.",
        examples=EXAMPLES,
    )


def launch(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Start the chat server (blocking)."""
    build_ui(assistant).launch(server_name=host, server_port=port)
