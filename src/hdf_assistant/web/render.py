"""HTML for the browser: the sources panel, the chat message, the document page."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from hdf_assistant.schema import Answer, Citation, place
from hdf_assistant.web.labels import LABELS

CSS = """
/* contrast of at least 4.5:1 (WCAG 2.1 AA, RGAA 3.2) where Gradio's default theme is lighter */
button.stop {background: #b91c1c !important; border-color: #b91c1c !important; color: #fff !important;}
button.primary {background: #c2410c !important; border-color: #c2410c !important; color: #fff !important;}
footer .show-api, footer .built-with, footer .settings, .or, input.subdued {color: #55555f !important;}
#sources a, .prose a {color: #1d4ed8 !important;}
#confirm-box {border: 2px solid #b91c1c !important; background: #fff !important; padding: 8px;}
#confirm-question, #confirm-question * {color: #111827 !important; background: #fff !important;}
#sources h2.sources-title {font-size: 1.1em; margin: 0 0 4px 0;}
#sources .source {border-left: 3px solid #1f5fa8; padding: 4px 10px; margin: 8px 0;}
#sources mark {background: #ffe58a; padding: 0 2px;}
#sources .passage {color: #333; font-size: 0.92em; white-space: pre-wrap;}
#sources button.copy-ref {font-size: 0.85em; margin-left: 8px; padding: 0 6px; border: 1px solid #55555f;
  border-radius: 4px; background: #fff; color: #1f2937; cursor: pointer;}
#sources button.copy-ref:focus-visible, #sources a:focus-visible {outline: 2px solid #1d4ed8; outline-offset: 2px;}
"""

#: quotes longer than this (characters) show their beginning, the rest folded
FOLD_AFTER = 300
#: how much of a folded quote shows
FOLDED_HEAD = 180

#: copies the reference to the clipboard; says so in the button (and to screen readers: it is the button's name)
_COPY = ("navigator.clipboard.writeText(this.dataset.ref).then(() => { this.textContent = this.dataset.done; })")


def doc_link(citation: Citation) -> str:
    """Where a citation opens: PDFs at the page, other files at the passage."""
    url = "/doc/" + quote(citation.source)
    if citation.page:
        return f"{url}#page={citation.page}"
    if citation.start is not None and citation.end is not None:
        return f"{url}?start={citation.start}&end={citation.end}#passage"
    return url


def _marked(text: str, start: int, end: int, mark_id: str = "") -> str:
    """``text`` escaped, with ``text[start:end]`` highlighted."""
    attribute = f" id='{mark_id}'" if mark_id else ""
    return (html.escape(text[:start]) + f"<mark{attribute}>" + html.escape(text[start:end]) + "</mark>"
            + html.escape(text[end:]))


def _passage_with_mark(answer: Answer, citation: Citation) -> str:
    """The retrieved passage holding the cited sentence, sentence highlighted."""
    for result in answer.retrieved:
        chunk = result.chunk
        if (chunk.source, chunk.page) != (citation.source, citation.page) or citation.start is None:
            continue
        if chunk.start <= citation.start and citation.end is not None and citation.end <= chunk.end:
            return _marked(chunk.text, citation.start - chunk.start, citation.end - chunk.start)
    return "<mark>" + html.escape(citation.text) + "</mark>"


def sources_html(answer: Answer | None, lang: str = "fr") -> str:
    """The sources panel for one answer."""
    t = LABELS[lang]
    if answer is None or not answer.citations:
        if answer is not None and answer.abstained:
            parts = [f"<div class='abstained'><b>{t['abstained']}.</b>"]
            if answer.why:
                parts.append(f" {html.escape(answer.why)}")
            parts.append("</div>")
            if answer.related is not None:
                parts.append(f"<h2 class='sources-title'>{html.escape(t['related'])}</h2>")
                parts.append(_source_block(answer, answer.related, t, label=""))
            return "".join(parts)
        return f"<div class='empty'>{t['no_sources']}</div>"
    parts = [f"<h2 class='sources-title'>{t['sources']}</h2>"]
    for c in answer.citations:
        parts.append(_source_block(answer, c, t, label=f"[{c.n}] "))
    return "\n".join(parts)


def _source_block(answer: Answer, c: Citation, t: dict[str, Any], label: str) -> str:
    """One source: where it is, a link that opens it, a button that copies the reference, the passage."""
    where = html.escape(place(c.source, c.page, c.section, page_label=t["page"], ocr=c.ocr))
    reference = html.escape(place(c.source, c.page, c.section, page_label=t["page"]), quote=True)
    return (
        f"<div class='source'><b>{label}{where}</b> "
        f"<a href='{html.escape(doc_link(c))}' target='_blank'>{t['open']}</a>"
        f"<button type='button' class='copy-ref' data-ref=\"{reference}\" data-done=\"{t['copied']}\" "
        f"onclick=\"{_COPY}\">{t['copy']}</button>"
        f"<div class='passage'>{_passage_with_mark(answer, c)}</div></div>"
    )


def _folded(quote: str, n: int, label: str) -> str:
    """A long quote's beginning and its marker, the whole quote under a "read the whole quote" fold."""
    head = quote[:FOLDED_HEAD].rsplit(" ", 1)[0]
    return f"{head}… » [{n}] <details><summary>{html.escape(label)}</summary>« {html.escape(quote)} »</details>"


def format_answer(answer: Answer, lang: str = "fr") -> str:
    """The chat message for one answer: long quotes folded."""
    if answer.abstained:
        # "*The documents do not contain...*", then why, then the closest passage, each on its own line
        first, _, rest = answer.text.partition("\n")
        return f"*{first}*" + "".join(f"\n\n{html.escape(line)}" for line in rest.split("\n") if line.strip())
    text = answer.text
    for c in answer.citations:
        quote = " ".join(c.text.split())
        if len(quote) > FOLD_AFTER:
            text = text.replace(f"{quote} » [{c.n}]", _folded(quote, c.n, LABELS[lang]["more"]), 1)
    return text


def document_page(name: str, text: str, start: int | None = None, end: int | None = None) -> str:
    """A text document as a page, the passage ``text[start:end]`` highlighted (``#passage``)."""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        body = _marked(text, start, end, mark_id="passage")
    else:
        body = html.escape(text)
    return (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>{html.escape(name)}</title>"
            "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;white-space:pre-wrap;"
            "line-height:1.5}mark{background:#ffe58a}</style></head>"
            f"<body><h3>{html.escape(name)}</h3>{body}</body></html>")


def api_page(spec: dict[str, Any]) -> str:
    """The API's description as one self-contained page (Swagger UI would load its code from a CDN,
    and this assistant runs offline): each endpoint, what it takes and what it says."""
    schemas = spec.get("components", {}).get("schemas", {})

    def fields(ref: dict[str, Any]) -> str:
        name = ref.get("$ref", "").rsplit("/", 1)[-1]
        props = schemas.get(name, {}).get("properties", {})
        if not props:
            return ""
        rows = "".join(f"<li><code>{html.escape(k)}</code> {html.escape(v.get('description', ''))}</li>"
                       for k, v in props.items())
        return f"<ul>{rows}</ul>"

    parts = [f"<h1>{html.escape(spec.get('info', {}).get('title', 'API'))}</h1>",
             f"<p>{html.escape(spec.get('info', {}).get('description', ''))}</p>",
             "<p>The machine-readable description: <a href='/openapi.json'>/openapi.json</a>.</p>"]
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            body: dict[str, Any] = op.get("requestBody", {}).get("content", {})
            schema: dict[str, Any] = next(iter(body.values())).get("schema", {}) if body else {}
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            statuses = ", ".join(op.get("responses", {}))
            parts.append(f"<h3><code>{method.upper()} {html.escape(path)}</code></h3>"
                         f"<p>{html.escape(op.get('summary', ''))}</p>"
                         + (f"<p>Parameters: {html.escape(params)}</p>" if params else "")
                         + fields(schema) + f"<p>Answers: {html.escape(statuses)}</p>")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>hdf-assistant API</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}"
            "h3{margin-bottom:0.2em}code{background:#f2f2f2;padding:0 3px}</style></head><body>"
            + "\n".join(parts) + "</body></html>")


def message_text(content: Any) -> str:
    """The text of a chat message's content, whatever shape Gradio gives it: a
    string, a part ``{"type": "text", "text": ...}``, or a list of parts (Gradio 6)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        text = content.get("text") if content.get("type", "text") == "text" else None
        return text if isinstance(text, str) else ""
    if isinstance(content, list | tuple):
        return " ".join(t for t in (message_text(part) for part in content) if t)
    return ""
