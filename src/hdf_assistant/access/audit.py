"""The audit log (``HDF_AUDIT_LOG``, off by default): one JSON line per question answered.

Each line: ``time`` (UTC, ISO 8601), ``user`` (a login, ``key:NAME``, or ``anonymous``), ``via`` (api,
openai, chat, cli), ``collections`` (those the question could read; ``null``: all, no access file),
``question_chars``, the ``question`` itself only with ``HDF_AUDIT_QUESTIONS=1``, ``sources`` (the files
cited) and ``abstained``. Lines are appended whole (one ``write`` on a file opened for appending), so
several processes may share the file.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from hdf_assistant.index.scope import Scope
from hdf_assistant.schema import Answer


class AuditLog:
    """Appends one line per question to ``path`` (nothing when ``path`` is empty)."""

    def __init__(self, path: str | Path | None, questions: bool = False) -> None:
        self.path = Path(path).expanduser() if path else None
        self.questions = questions
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def record(self, user: str, via: str, scope: Scope | None, answer: Answer) -> None:
        if self.path is None:
            return
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "user": user or "anonymous",
            "via": via,
            "collections": None if scope is None else sorted(scope.collections),
            "question_chars": len(answer.question),
            **({"question": answer.question} if self.questions else {}),
            "sources": sorted({c.source for c in answer.citations}),
            "abstained": answer.abstained,
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
