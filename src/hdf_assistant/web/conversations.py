"""Saved conversations: each user's chats, kept on the server so that they
survive a page reload and a restart.

Stored with SQLAlchemy Core in SQLite next to the local index
(``<index_dir>/conversations.sqlite3``), or in the PostgreSQL database beside
the index when ``store = "postgres"`` (the schema of ``index_name``). Every
query is filtered by the user: nobody sees another user's conversations.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdf_assistant.config import Settings

TITLE_CHARS = 80


@dataclass
class Message:
    role: str  # "user" or "assistant"
    content: str
    #: for an answer: what ``ask --json`` prints (citations, mode, ...)
    answer: dict[str, Any] | None = None


@dataclass
class Conversation:
    id: str
    title: str
    created_at: float
    updated_at: float
    messages: list[Message] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "created_at": self.created_at, "updated_at": self.updated_at}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "messages": [
            {"role": m.role, "content": m.content, **({"answer": m.answer} if m.answer else {})}
            for m in self.messages]}

    def user_turns(self) -> list[str]:
        """The user's questions, oldest first (the history of the next question)."""
        return [m.content for m in self.messages if m.role == "user"]


def save_exchange(store: ConversationStore, user: str, conversation_id: str | None, question: str,
                  answer: dict[str, Any]) -> str | None:
    """Add a question and its answer (``Answer.to_dict()``) to the user's
    conversation, starting one when ``conversation_id`` is None; returns its id
    (None when the conversation is not the user's)."""
    if conversation_id is None:
        conversation_id = store.create(user, question).id
    saved = store.append(user, conversation_id, [Message("user", question), Message("assistant", answer["answer"], answer)])
    return conversation_id if saved else None


def title_of(question: str) -> str:
    text = " ".join(question.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def server_database(settings: Settings) -> tuple[Any, str | None]:
    """(engine, schema) of the database the server keeps its own tables in (saved conversations, refresh
    jobs): SQLite in ``index_dir``, one engine per file and process; or the index's schema in PostgreSQL,
    on the process's one pool for that database (shared with the index)."""
    import sqlalchemy as sa

    if settings.store == "postgres":
        from hdf_assistant.index.postgres_db import shared_engine

        return shared_engine(settings.database_url), f"hdf_{settings.index_name}"
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    path = settings.index_dir.resolve() / "conversations.sqlite3"
    with _SQLITE_LOCK:
        engine = _SQLITE.get(path)
        if engine is None:
            engine = _SQLITE[path] = sa.create_engine(f"sqlite:///{path}", connect_args={
                "check_same_thread": False, "timeout": 30})
    return engine, None


_SQLITE: dict[Path, Any] = {}
_SQLITE_LOCK = threading.Lock()


class ConversationStore:
    """Conversations by user, in SQLite or PostgreSQL."""

    def __init__(self, engine: Any, schema: str | None = None) -> None:
        """``engine``: the database (:func:`server_database`), ``schema``: where the tables go (PostgreSQL)."""
        import sqlalchemy as sa

        self._sa = sa
        sqlite = engine.dialect.name == "sqlite"
        self._engine = engine
        metadata = sa.MetaData(schema=schema)
        self._conversations = sa.Table(
            "conversations", metadata,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("user_name", sa.String(200), nullable=False, index=True),
            sa.Column("title", sa.String(200), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        )
        self._messages = sa.Table(
            "conversation_messages", metadata,
            sa.Column("conversation_id", sa.String(32), nullable=False, index=True),
            sa.Column("position", sa.Integer, nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("content", sa.Text, nullable=False),
            sa.Column("answer", sa.Text),
        )
        with self._engine.begin() as connection:
            if sqlite:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            else:  # servers starting together: CREATE ... IF NOT EXISTS is not safe concurrently in PostgreSQL
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('hdf-assistant:conversations:{schema}'))")
                if schema:
                    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            metadata.create_all(connection)
        self._lock = threading.Lock()  # appends number their messages one at a time

    @classmethod
    def for_settings(cls, settings: Settings) -> ConversationStore:
        """Beside the index (:func:`server_database`)."""
        return cls(*server_database(settings))

    def create(self, user: str, title: str) -> Conversation:
        now = time.time()
        conversation = Conversation(uuid.uuid4().hex, title_of(title) or "Conversation", now, now)
        with self._engine.begin() as connection:
            connection.execute(self._conversations.insert().values(
                id=conversation.id, user_name=user, title=conversation.title, created_at=now, updated_at=now))
        return conversation

    def list_of(self, user: str) -> list[Conversation]:
        """The user's conversations, most recent first (without their messages); none for a request
        without identity (a program without key or login: it reaches its conversations by their id)."""
        if not user:
            return []
        c = self._conversations
        with self._engine.connect() as connection:
            rows = connection.execute(self._sa.select(c.c.id, c.c.title, c.c.created_at, c.c.updated_at)
                                      .where(c.c.user_name == user).order_by(c.c.updated_at.desc())).all()
        return [Conversation(r.id, r.title, r.created_at, r.updated_at) for r in rows]

    def get(self, user: str, conversation_id: str) -> Conversation | None:
        """One of the user's conversations with its messages (None: not theirs, or none)."""
        c, m = self._conversations, self._messages
        with self._engine.connect() as connection:
            row = connection.execute(self._sa.select(c.c.id, c.c.title, c.c.created_at, c.c.updated_at)
                                     .where(c.c.id == conversation_id, c.c.user_name == user)).first()
            if row is None:
                return None
            messages = connection.execute(self._sa.select(m.c.role, m.c.content, m.c.answer)
                                          .where(m.c.conversation_id == conversation_id).order_by(m.c.position)).all()
        return Conversation(row.id, row.title, row.created_at, row.updated_at,
                            [Message(r.role, r.content, json.loads(r.answer) if r.answer else None) for r in messages])

    def append(self, user: str, conversation_id: str, messages: list[Message]) -> bool:
        """Add messages at the end of one of the user's conversations; False if it is not theirs."""
        c, m = self._conversations, self._messages
        with self._lock, self._engine.begin() as connection:
            owned = connection.execute(self._sa.select(c.c.id).where(
                c.c.id == conversation_id, c.c.user_name == user)).first()
            if owned is None:
                return False
            count = connection.execute(self._sa.select(self._sa.func.count()).select_from(m)
                                       .where(m.c.conversation_id == conversation_id)).scalar_one()
            rows = [{"conversation_id": conversation_id, "position": count + i, "role": message.role,
                     "content": message.content,
                     "answer": json.dumps(message.answer, ensure_ascii=False) if message.answer else None}
                    for i, message in enumerate(messages)]
            connection.execute(m.insert(), rows)
            connection.execute(c.update().where(c.c.id == conversation_id).values(updated_at=time.time()))
        return True

    def rename(self, user: str, conversation_id: str, title: str) -> bool:
        c = self._conversations
        with self._engine.begin() as connection:
            done = connection.execute(c.update().where(c.c.id == conversation_id, c.c.user_name == user)
                                      .values(title=title_of(title) or "Conversation", updated_at=time.time()))
        return done.rowcount > 0

    def delete(self, user: str, conversation_id: str) -> bool:
        c, m = self._conversations, self._messages
        with self._engine.begin() as connection:
            done = connection.execute(c.delete().where(c.c.id == conversation_id, c.c.user_name == user))
            if done.rowcount:
                connection.execute(m.delete().where(m.c.conversation_id == conversation_id))
        return done.rowcount > 0
