"""The Documents tab: the corpus and the index in one place.

Each document's row says where it stands (indexed, with its pages read by
OCR; indexed in part; skipped, with why; not indexed yet). Uploading files
adds them and refreshes the index at once, with its progress; a document is
deleted, or replaced by a new version, after a confirmation. The chat keeps
answering from the current index while a refresh runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdf_assistant.access import Guard
from hdf_assistant.errors import HdfError
from hdf_assistant.index.status import INDEXED, DocumentStatus, corpus_names, document_statuses
from hdf_assistant.ingest.reader import SUPPORTED_EXTENSIONS
from hdf_assistant.ingest.uploads import UploadRejected, corpus_file, replace_corpus_file, save_upload
from hdf_assistant.schema import IndexReport, collection_of
from hdf_assistant.web.index_jobs import IndexJobs
from hdf_assistant.web.labels import LABELS, language_of


@dataclass(frozen=True)
class Pending:
    """A change waiting for its confirmation."""

    action: str  # "delete" or "replace"
    name: str
    upload: str | None = None  # the new version's temporary file


def _count(n: int, noun: str) -> str:
    """"1 document", "2 documents" (the same rule in French and English for these nouns)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _path_of(upload: Any) -> Path:
    return Path(getattr(upload, "name", upload))


class DocumentManager:
    """What the Documents tab's controls do; each returns what the tab shows."""

    def __init__(self, guard: Guard, jobs: IndexJobs | None = None) -> None:
        self.guard = guard
        self.assistant = guard.assistant
        self.jobs = jobs or IndexJobs(guard.assistant)

    @property
    def corpus_dir(self) -> Path:
        return self.assistant.settings.corpus_dir

    # -- what the tab shows --------------------------------------------------
    def state_text(self, d: DocumentStatus, lang: str) -> str:
        t = LABELS[lang]
        text = str(t[f"state_{d.state}"])
        if d.state == INDEXED and d.ocr_pages:
            text += f" ({str(t['ocr_pages']).format(n=d.ocr_pages)})"
        if d.reasons:
            text += " — " + "; ".join(d.reasons)
        return text

    def rows(self, lang: str = "fr", user: str = "") -> list[list[Any]]:
        """The files ``user`` may read, with their status."""
        return [[d.name, collection_of(d.name), self.state_text(d, lang), d.pages or "", d.passages or "",
                 d.indexed_at or ""]
                for d in document_statuses(self.assistant.manifest, self.corpus_dir) if self.guard.may_read(user, d.name)]

    def names(self, user: str = "") -> list[str]:
        """The documents that can be deleted or replaced: the corpus folder's files (an admin's)."""
        return corpus_names(self.corpus_dir) if self.guard.is_admin(user) else []

    def summary(self, lang: str = "fr", user: str = "") -> str:
        m = self.assistant.manifest
        files = self.guard.readable_files(user, m.files)
        return LABELS[lang]["manifest"].format(files=_count(len(files), "document"),
                                               chunks=_count(sum(m.files[f].chunks for f in files), "passage"),
                                               model=m.model_id, dim=m.dim,
                                               size=m.chunk_size, overlap=m.chunk_overlap, built=m.built_at)

    # -- changes -------------------------------------------------------------
    def add(self, files: list[Any] | None, replace: bool, lang: str = "fr") -> tuple[list[str], bool]:
        """Save uploaded files in the corpus; the status lines and whether any was saved."""
        t = LABELS[lang]
        if not files:
            return [str(t["no_file"])], False
        settings = self.assistant.settings
        lines = []
        saved_any = False
        for f in files:
            path = _path_of(f)
            try:
                saved = save_upload(settings.corpus_dir, path.name, path.read_bytes(), replace=replace,
                                    max_mb=settings.max_file_mb)
                lines.append(str(t["added"]).format(name=saved.name))
                saved_any = True
            except UploadRejected as exc:
                why = str(t[f"rejected_{exc.kind}"]).format(extensions=", ".join(SUPPORTED_EXTENSIONS),
                                                            max_mb=settings.max_file_mb)
                lines.append(f"❌ {path.name} : {why}" if lang == "fr" else f"❌ {path.name}: {why}")
        return lines, saved_any

    def refresh(self, lang: str = "fr") -> list[str]:
        """Refresh the index (progress bars are followed by the page); the status lines."""
        t = LABELS[lang]
        colon = " :" if lang == "fr" else ":"
        try:
            job = self.jobs.run_here()
        except HdfError as exc:  # another refresh runs (here or in another worker)
            return [f"❌ {exc}"]
        if job.report is None:
            return [f"❌ {job.error}"]
        report = IndexReport.from_dict(job.report)
        parts = [str(t["up_to_date"]).format(seconds=f"{report.seconds:.1f}", documents=_count(report.documents,
                                             "document"), chunks=_count(report.chunks, "passage"))]
        for key, names in (("added_files", report.added), ("updated_files", report.updated),
                           ("removed_files", report.removed)):
            if names:
                parts.append(f"{t[key]}{colon} {', '.join(names)}")
        for move in report.renamed:
            parts.append(f"{t['renamed']}{colon} {move['from']} → {move['to']}")
        for s in report.skipped:
            parts.append(f"{t['skipped']}{colon} {s.file} ({s.reason})")
        return parts

    def ask_delete(self, name: str | None, lang: str = "fr") -> tuple[Pending | None, str]:
        """The change to confirm, and the question asked (or why there is none)."""
        t = LABELS[lang]
        if not name:
            return None, str(t["choose_doc"])
        return Pending("delete", name), str(t["confirm_delete"]).format(name=name)

    def ask_replace(self, name: str | None, upload: Any, lang: str = "fr") -> tuple[Pending | None, str]:
        t = LABELS[lang]
        if not name:
            return None, str(t["choose_doc"])
        new = _path_of(upload)
        ext = Path(name).suffix.lower()
        if new.suffix.lower() != ext:
            return None, str(t["wrong_type"]).format(new=new.name, ext=ext, name=name)
        size = max(1, round(new.stat().st_size / 1024))
        return Pending("replace", name, str(new)), str(t["confirm_replace"]).format(name=name, new=new.name,
                                                                                       size=size)

    def apply(self, pending: Pending | None, lang: str = "fr") -> list[str]:
        """Carry out the confirmed change, then refresh the index."""
        t = LABELS[lang]
        if pending is None:
            return [str(t["choose_doc"])]
        path = corpus_file(self.corpus_dir, pending.name)
        if path is None:
            return [str(t["gone"]).format(name=pending.name)]
        if pending.action == "delete":
            path.unlink()
            done = str(t["deleted"]).format(name=pending.name)
        else:
            try:
                replace_corpus_file(self.corpus_dir, pending.name, Path(pending.upload or "").read_bytes(),
                                    self.assistant.settings.max_file_mb)
            except (UploadRejected, OSError) as exc:
                return [f"❌ {pending.name}: {exc}"]
            done = str(t["replaced"]).format(name=pending.name)
        return [done, *self.refresh(lang)]


@dataclass(frozen=True)
class DocumentsTab:
    """The tab's components whose words follow the language toggle, and the
    function giving their words for the radio's choice."""

    labelled: list[Any]
    relabel: Callable[[str, str], list[Any]]
    #: the tab's contents for a user (when the page loads), and the components it fills
    fill: Callable[[str, str], tuple[Any, ...]]
    filled: list[Any]


def documents_tab(docs: DocumentManager, lang: Any, user: Any) -> DocumentsTab:
    """Build the tab's components (inside the current ``gr.Tab``) and wire them;
    ``lang`` is the page's language radio, ``user`` the state holding the page's user: the tab shows
    the files that user may read (filled by ``DocumentsTab.fill`` when the page loads: nothing of the
    corpus is written into the page itself), and only an admin's changes are carried out."""
    import gradio as gr

    t = LABELS["fr"]
    extensions = list(SUPPORTED_EXTENSIONS)
    summary = gr.Markdown("")
    table = gr.Dataframe(headers=list(t["columns"]), value=[], interactive=False, label=t["files"],
                         elem_id="documents", wrap=True)
    upload = gr.File(label=t["upload"], file_count="multiple", file_types=extensions, elem_id="upload")
    replace = gr.Checkbox(label=t["replace"], value=False)
    status = gr.Markdown(elem_id="index-status")  # a live region (see gradio_app: role=status)
    manage = gr.Markdown(f"## {t['manage']}")
    with gr.Row():
        chosen = gr.Dropdown([], value=None, label=t["document"], elem_id="document-choice", scale=3)
        delete = gr.Button(t["delete_doc"], variant="stop", elem_id="delete-document", scale=1)
        new_version = gr.UploadButton(t["replace_doc"], file_types=extensions, elem_id="replace-document", scale=1)
    with gr.Group(visible=False, elem_id="confirm-box") as confirm_box:
        question = gr.Markdown(elem_id="confirm-question")
        with gr.Row():
            confirm = gr.Button(t["confirm"], variant="stop", elem_id="confirm")
            cancel = gr.Button(t["cancel"], elem_id="cancel")
    pending = gr.State(None)
    refresh = gr.Button(t["rebuild"], variant="primary", elem_id="rebuild")

    def shown(lines: list[str], lang_code: str, who: str) -> tuple[Any, ...]:
        """The status lines, then the table, summary and document list as they now are."""
        return ("\n\n".join(lines), gr.update(value=docs.rows(lang_code, who)), docs.summary(lang_code, who),
                gr.update(choices=docs.names(who), value=None))

    def refused(who: str, code: str) -> list[str] | None:
        return None if docs.guard.is_admin(who) else [str(LABELS[code]["admins_only"])]

    after_change = [status, table, summary, chosen]
    asking = [pending, question, confirm_box, status]

    def confirmation(change: Pending | None, text: str) -> tuple[Any, ...]:
        """Show the question to confirm, or why there is nothing to confirm."""
        return change, text, gr.update(visible=change is not None), "" if change else text

    def on_upload(files: list[Any] | None, replace_it: bool, choice: str, who: str,
                  progress: Any = gr.Progress(track_tqdm=True)) -> tuple[Any, ...]:
        code = language_of(choice)
        no = refused(who, code)
        if no:
            return (*shown(no, code, who), gr.update(value=None))
        lines, saved_any = docs.add(files, replace_it, code)
        if saved_any:
            progress(0, desc=LABELS[code]["indexing"])
            lines += docs.refresh(code)
        return (*shown(lines, code, who), gr.update(value=None))

    def on_refresh(choice: str, who: str, progress: Any = gr.Progress(track_tqdm=True)) -> tuple[Any, ...]:
        code = language_of(choice)
        no = refused(who, code)
        if no:
            return shown(no, code, who)
        progress(0, desc=LABELS[code]["indexing"])
        return shown(docs.refresh(code), code, who)

    def on_delete(name: str | None, choice: str, who: str) -> tuple[Any, ...]:
        no = refused(who, language_of(choice))
        return confirmation(None, no[0]) if no else confirmation(*docs.ask_delete(name, language_of(choice)))

    def on_new_version(name: str | None, file: Any, choice: str, who: str) -> tuple[Any, ...]:
        no = refused(who, language_of(choice))
        return confirmation(None, no[0]) if no else confirmation(*docs.ask_replace(name, file, language_of(choice)))

    def on_confirm(change: Pending | None, choice: str, who: str,
                   progress: Any = gr.Progress(track_tqdm=True)) -> tuple[Any, ...]:
        code = language_of(choice)
        no = refused(who, code)
        if no:
            return (None, gr.update(visible=False), *shown(no, code, who))
        progress(0, desc=LABELS[code]["indexing"])
        return (None, gr.update(visible=False), *shown(docs.apply(change, code), code, who))

    def on_cancel(choice: str) -> tuple[Any, ...]:
        return None, gr.update(visible=False), LABELS[language_of(choice)]["cancelled"]

    # one change of the corpus at a time; the chat is not in this queue and keeps answering
    one_at_a_time: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "index", "api_visibility": "private"}
    upload.upload(on_upload, [upload, replace, lang, user], [*after_change, upload], **one_at_a_time)
    refresh.click(on_refresh, [lang, user], after_change, **one_at_a_time)
    delete.click(on_delete, [chosen, lang, user], asking, api_visibility="private")
    new_version.upload(on_new_version, [chosen, new_version, lang, user], asking, api_visibility="private")
    confirm.click(on_confirm, [pending, lang, user], [pending, confirm_box, *after_change], **one_at_a_time)
    cancel.click(on_cancel, [lang], [pending, confirm_box, status], api_visibility="private")

    def relabel(choice: str, who: str) -> list[Any]:
        code = language_of(choice)
        lab = LABELS[code]
        return [docs.summary(code, who), gr.update(headers=list(lab["columns"]), value=docs.rows(code, who),
                                                   label=lab["files"]),
                gr.update(label=lab["upload"]), gr.update(label=lab["replace"]), gr.update(value=f"## {lab['manage']}"),
                gr.update(label=lab["document"]), gr.update(value=lab["delete_doc"]),
                gr.update(label=lab["replace_doc"]), gr.update(value=lab["confirm"]), gr.update(value=lab["cancel"]),
                gr.update(value=lab["rebuild"])]

    def fill(who: str, choice: str) -> tuple[Any, ...]:
        code = language_of(choice)
        return docs.summary(code, who), gr.update(value=docs.rows(code, who)), gr.update(choices=docs.names(who))

    return DocumentsTab([summary, table, upload, replace, manage, chosen, delete, new_version, confirm, cancel,
                         refresh], relabel, fill, [summary, table, chosen])
