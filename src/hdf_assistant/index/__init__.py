"""The index: passages, their vectors and terms, behind one interface.

- backend.py: the interface (``SearchIndex``, ``WritableIndex``, ``IndexBackend``)
- manifest.py: the on-disk contract, validated
- state.py: state directories, atomic switch, lock, atomic writes
- local.py: the FAISS + bm25s backend, with faiss_vectors.py, keyword.py,
  passages.py and documents.py
- postgres.py: PostgreSQL + pgvector (llama-index's PGVectorStore), BM25 in SQL,
  with postgres_db.py, postgres_read.py and postgres_write.py; nodes.py maps
  passages to llama-index nodes
- builder.py: build or refresh an index from the corpus

Nothing heavy is imported here: :func:`open_backend` imports the backend it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hdf_assistant.config import Settings
    from hdf_assistant.index.backend import IndexBackend


def open_backend(settings: Settings) -> IndexBackend:
    """The index backend the settings name: the local directory ``index_dir``, or
    the index ``index_name`` in the PostgreSQL database ``database_url``."""
    if settings.store == "postgres":
        from hdf_assistant.index.postgres import PostgresBackend

        return PostgresBackend(settings.database_url, settings.index_name)
    from hdf_assistant.index.local import LocalBackend

    return LocalBackend(settings.index_dir)
