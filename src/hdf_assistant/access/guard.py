"""Every question from a person or a program goes through the :class:`Guard`: it turns the user's rights
(policy.py) and the request's filters into a scope, asks the assistant inside it, and writes the audit
line. The interfaces (REST, OpenAI endpoint, chat, CLI) use it, never the assistant's ``ask`` directly."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from hdf_assistant.access.audit import AuditLog
from hdf_assistant.access.identities import load_api_keys, load_users
from hdf_assistant.access.policy import AccessPolicy, Filters, load_policy
from hdf_assistant.assistant import Assistant
from hdf_assistant.config import Settings
from hdf_assistant.index.scope import Scope
from hdf_assistant.schema import Answer, collection_of


def policy_for(settings: Settings) -> AccessPolicy:
    """The settings' access file, checked against their logins and keys."""
    logins = load_users(settings.auth)
    keys = load_api_keys(settings.api_keys)
    return load_policy(settings.access, set(logins), set(keys.values()))


class Guard:
    """The assistant as one user may use it."""

    def __init__(self, assistant: Assistant, policy: AccessPolicy | None = None, audit: AuditLog | None = None) -> None:
        self.assistant = assistant
        self.policy = policy if policy is not None else policy_for(assistant.settings)
        s = assistant.settings
        self.audit = audit if audit is not None else AuditLog(s.audit_log, s.audit_questions)
        #: called with (user, via, scope, answer) after each answer, like the audit log (the server's metrics)
        self.observers: list[Callable[[str, str, Scope | None, Answer], None]] = [self.audit.record]
        self._known: tuple[Any, frozenset[str]] | None = None

    def _answered(self, user: str, via: str, scope: Scope | None, answer: Answer) -> None:
        for observe in self.observers:
            observe(user, via, scope, answer)

    def _present(self) -> tuple[Any, frozenset[str]]:
        """The manifest questions are answered from, and its collections (worked out once per version,
        not once per question)."""
        manifest = self.assistant.index.manifest
        known = self._known
        if known is None or known[0] is not manifest:
            known = self._known = (manifest, frozenset(map(collection_of, manifest.files)))
        return known

    def scope(self, user: str, filters: Filters | None = None) -> Scope | None:
        """What ``user`` may search now, narrowed by ``filters`` (raises FilterError)."""
        manifest, present = self._present()
        return self.policy.scope(user, manifest.files, filters, present=present)

    def scope_all(self, filters: Filters | None = None) -> Scope | None:
        """Every collection (the operator's view on the command line), narrowed by ``filters``."""
        manifest, present = self._present()
        return self.policy.scope("", manifest.files, filters, everything=True, present=present)

    def ask(self, user: str, via: str, question: str, history: Sequence[str] = (), filters: Filters | None = None,
            **options: Any) -> Answer:
        scope = self.scope(user, filters)
        answer = self.assistant.ask(question, history, scope=scope, **options)
        self._answered(user, via, scope, answer)
        return answer

    def stream(self, user: str, via: str, question: str, history: Sequence[str] = (),
               filters: Filters | None = None, **options: Any) -> Iterator[str | Answer]:
        scope = self.scope(user, filters)
        for piece in self.assistant.stream(question, history, scope=scope, **options):
            if isinstance(piece, Answer):
                self._answered(user, via, scope, piece)
            yield piece

    def may_read(self, user: str, source: str) -> bool:
        return self.policy.may_read_file(user, source)

    def readable_files(self, user: str, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.policy.may_read_file(user, n)]

    def collections(self, user: str) -> list[str]:
        """The collections of the index the user may read."""
        return sorted(c for c in self._present()[1] if self.policy.may_read(user, c))

    def is_admin(self, user: str) -> bool:
        return self.policy.is_admin(user)

