"""The chat in the browser: Gradio Blocks over the assistant.

- Chat: streamed answers with [n] markers, a sources panel (file, page, the
  passage with the answering sentence highlighted, a link that opens the
  document: PDFs at the page, text at the passage), examples, clear button.
- Documents (documents_tab.py): each file's status, upload that indexes at once,
  delete or replace with a confirmation, refresh with progress.
- Saved conversations (conversations.py): listed beside the chat, opened,
  renamed, deleted; each user sees their own (the login's name).
- Settings per session (answer mode, retriever, top-k); French or English labels.
- ``/ask`` is the documented Gradio API endpoint (the REST API is in api.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hdf_assistant.access import FilterError, Filters, Guard
from hdf_assistant.errors import HdfError, QuestionError
from hdf_assistant.schema import MODES, RETRIEVERS, Answer
from hdf_assistant.web.auth import Visitors, request_user
from hdf_assistant.web.conversations import ConversationStore, save_exchange
from hdf_assistant.web.documents_tab import DocumentManager, documents_tab
from hdf_assistant.web.index_jobs import IndexJobs
from hdf_assistant.web.labels import EXAMPLES, LABELS, language_of
from hdf_assistant.web.render import format_answer, message_text, sources_html

MARK_LIVE_REGION = """() => {
  const mark = () => {
    const s = document.getElementById('index-status');
    if (s && s.getAttribute('aria-live') !== 'polite') {
      s.setAttribute('role', 'status');
      s.setAttribute('aria-live', 'polite');
    }
  };
  mark();
  new MutationObserver(mark).observe(document.body, {childList: true, subtree: true});
}"""


def earlier_turns(history: list[dict[str, Any]]) -> list[str]:
    """The user's earlier messages, oldest first, from Gradio's chat history."""
    turns = (message_text(m.get("content")) for m in history if m.get("role") == "user")
    return [t for t in turns if t.strip()]


class ChatHandlers:
    """What the page's controls do; each returns what Gradio displays."""

    def __init__(self, guard: Guard, conversations: ConversationStore,
                 users: dict[str, str] | None = None, keys: dict[str, str] | None = None,
                 visitors: Visitors | None = None) -> None:
        self.guard = guard
        self.assistant = guard.assistant
        self.conversations = conversations
        self._users = users or {}  # the server's logins and keys (auth.py), to name the page's user
        self._keys = keys or {}
        self._visitors = visitors

    # -- saved conversations -------------------------------------------------
    def user_of(self, headers: Any) -> str:
        """The page's user: its login, or its browser's anonymous identity (auth.py)."""
        return request_user({k.lower(): v for k, v in dict(headers or {}).items()}, self._users, self._keys,
                            self._visitors)

    def collection_choices(self, user: str, lang: str = "fr") -> Any:
        """The collection selector: the collections ``user`` may read, and "all of mine"."""
        import gradio as gr

        return gr.update(choices=[(str(LABELS[lang]["all_collections"]), "")] + self.guard.collections(user),
                         value="", label=str(LABELS[lang]["collection"]))

    def conversation_choices(self, user: str, selected: str | None = None) -> Any:
        import gradio as gr

        choices = [(c.title, c.id) for c in self.conversations.list_of(user)]
        return gr.update(choices=choices, value=selected if selected in {v for _, v in choices} else None)

    def open_conversation(self, conversation_id: str | None, user: str,
                          lang_choice: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None, str, Any]:
        """The chat, its state, the sources panel and the collection asked in of a saved conversation."""
        import gradio as gr

        lang = language_of(lang_choice)
        found = self.conversations.get(user, conversation_id) if conversation_id else None
        if found is None:
            return [], [], None, sources_html(None, lang), gr.skip()
        messages: list[dict[str, Any]] = []
        last = None
        collection = ""
        for m in found.messages:
            if m.role == "assistant" and m.answer:
                last = Answer.from_dict(m.answer)
                collection = str(m.answer.get("collection") or "")
                messages.append({"role": "assistant", "content": format_answer(last, lang)})
            else:
                messages.append({"role": m.role, "content": m.content})
        if collection not in self.guard.collections(user):  # gone, or no longer readable: all of mine
            collection = ""
        return messages, messages, found.id, sources_html(last, lang), gr.update(value=collection)

    # -- chat ----------------------------------------------------------------
    def respond(self, message: str, history: list[dict[str, Any]], mode: str, retriever: str, top_k: float,
                lang_choice: str, user: str = "", conversation_id: str | None = None,
                collection: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream the answer to ``message``, then show it with its sources and save it."""
        import gradio as gr

        lang = language_of(lang_choice)
        keep = (conversation_id, gr.skip())
        if not message or not message.strip():
            gr.Info(LABELS[lang]["empty"])
            yield LABELS[lang]["empty"], sources_html(None, lang), *keep
            return
        draft = ""
        answer: Answer | None = None
        try:
            filters = Filters.of(collections=[collection] if collection else None)
            for piece in self.guard.stream(user, "chat", message, history=earlier_turns(history), top_k=int(top_k),
                                           retriever=retriever, mode=mode, filters=filters):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    draft += piece
                    yield draft, sources_html(None, lang), *keep
        except HdfError as exc:
            yield f"⚠️ {exc}", sources_html(None, lang), *keep
            return
        assert answer is not None
        # the collection asked in is kept with the answer: reopening the conversation selects it again
        saved = save_exchange(self.conversations, user, conversation_id, answer.question,
                              {**answer.to_dict(), "collection": collection or ""})
        yield format_answer(answer, lang), sources_html(answer, lang), saved, self.conversation_choices(user, saved)

    def api_ask(self, question: str, history: list[str] | None = None, request: Any = None) -> dict[str, Any]:
        """Ask the assistant: the question and the earlier user turns (oldest
        first); returns what ``hdf-assistant ask --json`` prints."""
        user = self.user_of(getattr(request, "headers", None))
        try:
            return self.guard.ask(user, "gradio", question, history=history or []).to_dict()
        except (QuestionError, FilterError) as exc:
            return {"question": question, "error": str(exc)}


def relabel(choice: str) -> list[Any]:
    """New labels for the controls listed in :func:`build_ui`'s ``lang.change``."""
    import gradio as gr

    lab = LABELS[language_of(choice)]
    return [
        gr.update(value=lab["title"]), gr.update(label=lab["chat_tab"]), gr.update(label=lab["docs_tab"]),
        gr.update(label=lab["settings"]), gr.update(label=lab["mode"]), gr.update(label=lab["retriever"]),
        gr.update(label=lab["top_k"]), gr.update(placeholder=lab["placeholder"]),
        gr.update(value=lab["new_chat"]),
        gr.update(label=lab["conversations"]), gr.update(value=lab["rename"]), gr.update(value=lab["delete"]),
        gr.update(placeholder=lab["new_title"]),
    ]


def _chat_interface_class() -> Any:
    """Gradio's ChatInterface, keeping the question box's placeholder: its own
    submit step blanks the placeholder while answering and never puts it back
    (gradio 6), so after the first answer the box no longer said what to type."""
    import gradio as gr

    class ChatKeepingPlaceholder(gr.ChatInterface):
        def _clear_and_save_textbox(self, message: Any) -> tuple[Any, Any]:
            return gr.update(value="", interactive=False), message

    return ChatKeepingPlaceholder


def build_ui(guard: Guard, conversations: ConversationStore, users: dict[str, str] | None = None,
             keys: dict[str, str] | None = None, visitors: Visitors | None = None, jobs: IndexJobs | None = None) -> Any:
    """The Gradio Blocks app (``users``, ``keys`` and ``visitors``: the server's, see auth.py); each page
    acts for its user (``guard``: what they may read and change)."""
    import gradio as gr

    t = LABELS["fr"]
    handlers = ChatHandlers(guard, conversations, users, keys, visitors)
    docs = DocumentManager(guard, jobs)
    settings = guard.assistant.settings

    def on_load(request: gr.Request) -> tuple[str, Any, Any]:
        user = handlers.user_of(request.headers)
        return user, handlers.conversation_choices(user), handlers.collection_choices(user)

    on_load.__annotations__["request"] = gr.Request  # Gradio looks for the class, not its name

    with gr.Blocks(title="hdf-assistant") as demo:
        with gr.Row():
            title = gr.Markdown(t["title"])
            lang = gr.Radio(["Français", "English"], value="Français", label="Langue / Language", scale=0)
        user = gr.State("")
        conversation = gr.State(None)
        with gr.Tab(t["chat_tab"]) as chat_tab:
            with gr.Row():
                with gr.Column(scale=1, min_width=220):
                    new_chat = gr.Button(t["new_chat"], elem_id="new-chat", size="sm")
                    saved = gr.Radio([], label=t["conversations"], elem_id="conversations")
                    with gr.Row():
                        title_box = gr.Textbox(placeholder=t["new_title"], show_label=False, elem_id="conversation-title",
                                               scale=3, min_width=80)
                        rename_btn = gr.Button(t["rename"], size="sm", scale=1, min_width=60, elem_id="rename-chat")
                    delete_btn = gr.Button(t["delete"], size="sm", variant="stop", elem_id="delete-chat")
                with gr.Column(scale=3):
                    with gr.Accordion(t["settings"], open=False) as settings_box:
                        mode = gr.Dropdown(list(MODES), value=settings.answer_mode, label=t["mode"])
                        retriever = gr.Dropdown(sorted(RETRIEVERS, key=lambda r: r != settings.retriever),
                                                value=settings.retriever,
                                                label=t["retriever"])
                        top_k = gr.Slider(1, 10, value=settings.top_k, step=1, label=t["top_k"])
                    collection = gr.Dropdown([(str(t["all_collections"]), "")], value="", label=t["collection"],
                                             elem_id="collection")
                    sources = gr.HTML(sources_html(None), elem_id="sources", render=False)
                    textbox = gr.Textbox(placeholder=t["placeholder"], show_label=False, elem_id="question")
                    chat = _chat_interface_class()(
                        handlers.respond,
                        textbox=textbox,
                        additional_inputs=[mode, retriever, top_k, lang, user, conversation, collection],
                        additional_outputs=[sources, conversation, saved],
                        examples=[[e] for e in EXAMPLES],
                        examples_label=t["examples"],
                        # no "share" button: it has no accessible name (axe-core: button-name)
                        chatbot=gr.Chatbot(buttons=["copy", "copy_all"], label="Chatbot"),
                        api_name="chat",
                        fill_height=False,
                    )
                with gr.Column(scale=2):
                    sources.render()
        with gr.Tab(t["docs_tab"]) as docs_tab:
            documents = documents_tab(docs, lang, user)

        def api_ask(question: str, history: list[str] | None, request: gr.Request) -> dict[str, Any]:
            return handlers.api_ask(question, history, request)

        api_ask.__doc__ = handlers.api_ask.__doc__
        # Gradio reads the classes, not their names (this module's annotations are strings)
        api_ask.__annotations__.update(question=str, history=list[str] | None, request=gr.Request,
                                       **{"return": dict[str, Any]})
        gr.api(api_ask, api_name="ask")

        demo.load(on_load, None, [user, saved, collection], api_visibility="private").then(
            documents.fill, [user, lang], documents.filled, api_visibility="private")
        # the page's language, for screen readers (RGAA 8.3): French, or English when chosen
        demo.load(None, None, None, js="() => { document.documentElement.lang = 'fr'; }")
        lang.change(None, lang, None, js="(l) => { document.documentElement.lang = l === 'English' ? 'en' : 'fr'; }")
        # what a change of the corpus did is announced (a polite live region, RGAA 7.5); the
        # Documents tab is drawn when first opened, so its status line is marked when it appears
        demo.load(None, None, None, js=MARK_LIVE_REGION)
        saved.input(handlers.open_conversation, [saved, user, lang], [chat.chatbot, chat.chatbot_state, conversation,
                                                                      sources, collection], api_visibility="private")

        def start_new(lang_choice: str) -> tuple[Any, ...]:
            return [], [], None, sources_html(None, language_of(lang_choice)), gr.update(value=None)

        new_chat.click(start_new, [lang], [chat.chatbot, chat.chatbot_state, conversation, sources, saved],
                       api_visibility="private")
        chat.chatbot.clear(lambda: (None, gr.update(value=None)), None, [conversation, saved], api_visibility="private")

        def rename(conversation_id: str | None, title: str, who: str) -> tuple[Any, str]:
            if conversation_id and title.strip():
                conversations.rename(who, conversation_id, title)
            return handlers.conversation_choices(who, conversation_id), ""

        rename_btn.click(rename, [conversation, title_box, user], [saved, title_box], api_visibility="private")

        def delete(conversation_id: str | None, who: str, lang_choice: str) -> tuple[Any, ...]:
            if conversation_id:
                conversations.delete(who, conversation_id)
            return ([], [], None, sources_html(None, language_of(lang_choice)),
                    handlers.conversation_choices(who))

        delete_btn.click(delete, [conversation, user, lang], [chat.chatbot, chat.chatbot_state, conversation, sources,
                                                              saved], api_visibility="private")
        lang.change(relabel, lang, [title, chat_tab, docs_tab, settings_box, mode, retriever, top_k, textbox,
                                    new_chat, saved, rename_btn, delete_btn, title_box], api_visibility="private")
        lang.change(documents.relabel, [lang, user], documents.labelled, api_visibility="private")
        lang.change(lambda choice, who: handlers.collection_choices(who, language_of(choice)), [lang, user],
                    collection, api_visibility="private")
    return demo
