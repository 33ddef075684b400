"""Question -> ranked chunks. Dense search for now; keyword search and fusion
plug in here behind the same ``retrieve`` signature."""

from __future__ import annotations

from hdf_assistant.embeddings import Embedder
from hdf_assistant.schema import ScoredChunk
from hdf_assistant.store import VectorStore


class DenseRetriever:
    """Nearest chunks by cosine similarity of multilingual embeddings."""

    name = "dense"

    def __init__(self, store: VectorStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def retrieve(self, query: str, top_k: int) -> list[ScoredChunk]:
        vector = self.embedder.embed_queries([query])[0]
        return self.store.search(vector, top_k)
