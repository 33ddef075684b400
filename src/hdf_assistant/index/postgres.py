"""The postgres backend: one index in a PostgreSQL database with pgvector,
shared by any number of assistant processes on any number of machines.

One schema per index (``hdf_<index_name>``) holds:

- ``data_passages``: llama-index ``PGVectorStore``'s table (text, node
  metadata, node id, the vector, an HNSW cosine index), with our columns for
  the passage's place (source, page, character span, section), its length in
  terms, and the versions it is live in;
- ``postings``: each passage's analysed terms and their counts, and
  ``term_stats``: each term's document frequency, so that BM25 is computed in
  SQL with exactly the local backend's formula and analyser;
- ``documents``: one vector per file;
- ``versions``: one row per committed state, with its manifest and the BM25
  statistics.

Every row carries ``v_from`` / ``v_to``: it is live in versions
``v_from <= v < v_to``. A writer does all its work in one transaction
(retire the old rows, ``COPY`` the new ones, add the version row) and commits
once, so a reader sees the old version or the new one. A reader pins the live
version when it opens the index and filters every query by it, so the several
queries of one question never mix two versions; it moves to a newer version
at its next question (``Assistant.follow_index``). Retired rows are deleted
two minutes after the version that retired them went live (``RETIRED_GRACE_S``, as for the local
store's replaced states). Two writers are
serialized by an advisory lock.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from hdf_assistant.errors import IndexBusyError, IndexCorruptError, IndexMissingError
from hdf_assistant.index.manifest import REBUILD, Manifest, parse_manifest
from hdf_assistant.index.postgres_db import Database
from hdf_assistant.index.postgres_read import PostgresIndex
from hdf_assistant.index.postgres_write import PostgresWriter


class PostgresBackend:
    """Indexes in a PostgreSQL database with pgvector (``store = "postgres"``)."""

    name = "postgres"

    def __init__(self, url: str, index_name: str) -> None:
        self.db = Database(url, index_name)

    def live_version(self) -> str | None:
        if not self.db.exists():
            return None
        with self.db.cursor() as cur:
            cur.execute(f"SELECT max(version) FROM {self.db.schema}.versions")
            version = cur.fetchone()[0]
        return None if version is None else str(version)

    def _live(self) -> tuple[int, Manifest, int, int] | None:
        live = self.db.live()
        if live is None:
            return None
        version, data, passages, total = live
        manifest = parse_manifest(json.dumps(data), f"the manifest of {self.db.where} (version {version})")
        return version, manifest, passages, total

    def read_manifest(self) -> Manifest | None:
        live = self._live()
        return live[1] if live else None

    def open(self) -> PostgresIndex:
        live = self._live()
        if live is None:
            raise IndexMissingError(f"no {self.db.where}: run hdf-assistant index")
        version, manifest, passages, total = live
        self.db.upgrade()
        return PostgresIndex(self.db, version, manifest, passages, total)

    def create(self, manifest: Manifest) -> PostgresWriter:
        self.db.setup(manifest.dim)
        return PostgresWriter(self.db, manifest, 0, fresh=True)

    def edit(self) -> PostgresWriter:
        live = self._live()
        if live is None:
            raise IndexMissingError(f"no {self.db.where}: run hdf-assistant index")
        version, manifest, _, _ = live
        self.db.upgrade()
        if self.db.dim() != manifest.dim:
            raise IndexCorruptError(f"{self.db.where} does not match its manifest; rebuild it with: {REBUILD}")
        return PostgresWriter(self.db, manifest, version, fresh=False)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """An advisory lock held for the whole update; a second writer is refused."""
        holder = f"pid {os.getpid()} on {socket.gethostname()}"
        key = f"hdf-assistant:{self.db.schema}"
        connection = self.db.engine.raw_connection()
        try:
            cur = connection.cursor()
            cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))  # held by the session
            acquired = cur.fetchone()[0]
            connection.commit()
            if not acquired:
                other = "?"
                if self.db.exists():
                    cur.execute(f"SELECT holder FROM {self.db.schema}.writer WHERE id = 1")
                    row = cur.fetchone()
                    other = row[0] if row else "?"
                    connection.rollback()
                raise IndexBusyError(f"another 'hdf-assistant index' ({other}) is updating the {self.db.where}; "
                                     "try again when it has finished")
            try:
                if self.db.exists():
                    cur.execute(f"INSERT INTO {self.db.schema}.writer VALUES (1, %s, now()) "
                                "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, since = now()", (holder,))
                    connection.commit()
                yield
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
                connection.commit()
        finally:
            connection.close()
