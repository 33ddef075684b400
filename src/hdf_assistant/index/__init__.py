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

Nothing heavy is imported here: :func:`open_store` imports the backend it returns
(``assistant.open_backend`` calls it with the settings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from hdf_assistant.index.backend import IndexBackend


def open_store(store: str, index_dir: Path, database_url: str = "", index_name: str = "default") -> IndexBackend:
    """The index backend of ``store``: the local directory ``index_dir``, or the index ``index_name`` in
    the PostgreSQL database ``database_url``."""
    if store == "postgres":
        from hdf_assistant.index.postgres import PostgresBackend

        return PostgresBackend(database_url, index_name)
    from hdf_assistant.index.local import LocalBackend

    return LocalBackend(index_dir)
