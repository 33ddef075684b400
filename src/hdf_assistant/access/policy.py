"""The access file (``HDF_ACCESS``): who may read each collection, who administers the corpus.

::

    [groups]
    drh = ["alice", "carol"]          # logins from HDF_AUTH; "key:NAME" for a key of HDF_API_KEYS

    [collections]
    rh = ["group:drh", "key:paie"]    # who may read; a collection not listed is readable by every user
    direction = ["alice"]

    [admins]
    members = ["alice"]               # may upload, replace, delete and re-index; others only ask

A collection is a first-level folder of the corpus (``schema.collection_of``). A request's user is a
login, ``key:NAME`` for an API key, or an anonymous visitor (no rights beyond the unlisted collections).
Admins read every collection (they can open, replace and delete every file anyway). Without an access
file, everybody reads everything and administers the corpus, as before collections existed.

:meth:`AccessPolicy.scope` turns a user's rights and a request's :class:`Filters` into the
:class:`~hdf_assistant.index.scope.Scope` the index applies inside its queries.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdf_assistant.errors import ConfigError, HdfError
from hdf_assistant.index.scope import Scope
from hdf_assistant.schema import collection_of

_SECTIONS = {"groups", "collections", "admins"}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class FilterError(HdfError):
    """A filter names a collection or a file the user has not got (unknown to them): HTTP 400."""


@dataclass(frozen=True)
class Filters:
    """What a request narrows its question to, always inside the user's rights."""

    #: collections (first-level folders; "general" for the corpus's root)
    collections: tuple[str, ...] | None = None
    #: files, by their name in the corpus ("rh/bilan.pdf")
    files: tuple[str, ...] | None = None
    #: file types, by extension ("pdf", ".md")
    types: tuple[str, ...] | None = None
    #: documents dated (the date their file states: ingest/dates.py) on or after / on or before this day
    date_from: str | None = None
    date_to: str | None = None

    @classmethod
    def of(cls, collections: Iterable[str] | None = None, files: Iterable[str] | None = None,
           types: Iterable[str] | None = None, date_from: str | None = None,
           date_to: str | None = None) -> Filters | None:
        """The filters given (None when none is); raises FilterError for a date that is not YYYY-MM-DD."""
        for name, day in (("date_from", date_from), ("date_to", date_to)):
            if day is not None and not _DAY.fullmatch(day):
                raise FilterError(f"{name} must be a day written YYYY-MM-DD, not '{day}'")
        made = cls(tuple(collections) if collections else None, tuple(files) if files else None,
                   tuple(types) if types else None, date_from or None, date_to or None)
        return None if made == cls() else made


class AccessPolicy:
    """Readers of each listed collection and the admins, their groups expanded."""

    def __init__(self, readers: dict[str, frozenset[str]] | None = None, admins: frozenset[str] | None = None,
                 where: str = "") -> None:
        #: None: no access file (everybody reads everything and administers)
        self._readers = readers
        self._admins = admins
        self.where = where

    @property
    def enabled(self) -> bool:
        return self._readers is not None

    @property
    def restricted_collections(self) -> frozenset[str]:
        """The collections the file lists (readable by their readers only)."""
        return frozenset(self._readers or {})

    def is_admin(self, user: str) -> bool:
        """May upload, replace, delete and re-index (everybody without an access file)."""
        return self._admins is None or (bool(user) and user in self._admins)

    def may_read(self, user: str, collection: str) -> bool:
        if self._readers is None or collection not in self._readers or self.is_admin(user):
            return True
        return bool(user) and user in self._readers[collection]

    def may_read_file(self, user: str, source: str) -> bool:
        return self.may_read(user, collection_of(source))

    def readable(self, user: str, files: Iterable[str]) -> list[str]:
        """The collections of ``files`` the user may read, sorted."""
        return sorted({c for c in map(collection_of, files) if self.may_read(user, c)})

    def scope(self, user: str, files: Mapping[str, Any], filters: Filters | None = None,
              everything: bool = False, present: Collection[str] | None = None) -> Scope | None:
        """What ``user`` may search among the indexed ``files`` (the manifest's entries: their ``date`` serves
        the date filters; a file without one is left out by them), narrowed by ``filters``; None when nothing
        limits it (no access file, no filter: the index is searched whole, as without collections).
        ``present``: the collections of ``files``, when the caller already knows them.

        Raises :class:`FilterError` for a filter naming a collection or file the user cannot read (said
        the same way as one that does not exist). ``everything``: every collection, whoever asks."""
        if (everything or not self.enabled) and filters is None:
            return None
        present = set(map(collection_of, files)) if present is None else present
        allowed = set(present) if everything else {c for c in present if self.may_read(user, c)}
        sources: set[str] | None = None
        if filters is not None and filters.collections is not None:
            unknown = [c for c in filters.collections if c not in allowed]
            if unknown:
                raise FilterError(f"unknown collection '{unknown[0]}' (yours: {', '.join(sorted(allowed)) or 'none'})")
            allowed &= set(filters.collections)
        if filters is not None and filters.files is not None:
            readable_files = {f for f in files if collection_of(f) in allowed}
            unknown = [f for f in filters.files if f not in readable_files]
            if unknown:
                raise FilterError(f"unknown file '{unknown[0]}' (list them at /api/v1/documents)")
            sources = set(filters.files)
        if filters is not None and filters.types is not None:
            suffixes = {"." + t.lower().lstrip(".") for t in filters.types}
            typed = {f for f in files if Path(f).suffix.lower() in suffixes}
            sources = typed if sources is None else sources & typed
        if filters is not None and (filters.date_from or filters.date_to):
            low, high = filters.date_from or "0000-00-00", filters.date_to or "9999-99-99"
            dated = {f for f, entry in files.items() if entry.date and low <= entry.date <= high}
            sources = dated if sources is None else sources & dated
        return Scope.of(allowed, sources)


def load_policy(path: str, logins: Collection[str], key_names: Collection[str]) -> AccessPolicy:
    """The policy of the access file ``path`` (empty: none); every member must be a login of
    ``logins``, ``key:NAME`` for a name of ``key_names``, or ``group:NAME`` of a group defined in the
    file. Anything else is refused with one line saying where (:class:`ConfigError`)."""
    if not path:
        return AccessPolicy()
    file = Path(path).expanduser()
    where = f"HDF_ACCESS {file}"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{where}: no such file") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{where}: not a readable TOML file ({exc})") from exc
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}] (known: groups, collections, admins)")

    def names(section: str, key: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{where}: [{section}] {key} must be a list of names, like [\"alice\", \"group:drh\"]")
        return [v.strip() for v in value]

    def person(section: str, key: str, name: str) -> str:
        if name.startswith("key:"):
            if name[4:] not in key_names:
                raise ConfigError(f"{where}: [{section}] {key}: '{name}' is not a key of HDF_API_KEYS "
                                  f"(keys are named 'name:key' there)")
        elif name not in logins:
            raise ConfigError(f"{where}: [{section}] {key}: '{name}' is neither a login of HDF_AUTH nor "
                              "a key ('key:NAME') of HDF_API_KEYS")
        return name

    def table(section: str) -> dict[str, Any]:
        value = data.get(section, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        return value

    groups = {group: frozenset(person("groups", group, n) for n in names("groups", group, members))
              for group, members in table("groups").items()}

    def members(section: str, key: str, value: Any) -> frozenset[str]:
        found: set[str] = set()
        for name in names(section, key, value):
            if name.startswith("group:"):
                if name[6:] not in groups:
                    raise ConfigError(f"{where}: [{section}] {key}: unknown group '{name[6:]}' "
                                      f"(defined: {', '.join(sorted(groups)) or 'none'})")
                found |= groups[name[6:]]
            else:
                found.add(person(section, key, name))
        return frozenset(found)

    readers = {}
    for collection, value in table("collections").items():
        if "/" in collection or not collection.strip():
            raise ConfigError(f"{where}: [collections] '{collection}' is not a collection (a first-level folder name)")
        readers[collection] = members("collections", collection, value)
    admin_table = table("admins")
    extra = sorted(set(admin_table) - {"members"})
    if extra:
        raise ConfigError(f"{where}: [admins] has '{extra[0]}'; write members = [\"alice\"]")
    admins = members("admins", "members", admin_table.get("members", []))
    return AccessPolicy(readers, admins, where)
