"""Passages as llama-index nodes, at the boundary with llama-index's vector
stores (the postgres backend stores them through ``PGVectorStore``).

A :class:`~hdf_assistant.schema.Chunk` becomes a ``TextNode`` whose metadata
carries the passage's place (source, page, character span, section, file
hash) and whose source document (``ref_doc_id``) is the file, and back.
"""

from __future__ import annotations

from typing import Any

from hdf_assistant.schema import Chunk

#: metadata that locates a passage; none of it is embedded or shown to a model
_PLACE_KEYS = ["source", "page", "start", "end", "file_hash", "section", "ocr"]


def chunk_to_node(chunk: Chunk) -> Any:
    """The passage as a ``TextNode`` (its file as the source document)."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    return TextNode(
        id_=chunk.id,
        text=chunk.text,
        metadata={"source": chunk.source, "page": chunk.page, "start": chunk.start, "end": chunk.end,
                  "file_hash": chunk.file_hash, "section": chunk.section, "ocr": chunk.ocr},
        excluded_embed_metadata_keys=_PLACE_KEYS,
        excluded_llm_metadata_keys=["start", "end", "file_hash"],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.source)},
    )


def node_metadata(chunk: Chunk) -> dict[str, Any]:
    """What a llama-index vector store keeps beside the text and the vector."""
    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    return node_to_metadata_dict(chunk_to_node(chunk), remove_text=True, flat_metadata=False)


def node_to_chunk(node: Any) -> Chunk:
    """The passage a node stands for."""
    meta = node.metadata
    return Chunk(
        id=node.node_id,
        text=node.get_content(),
        source=meta["source"],
        page=meta["page"],
        start=meta["start"],
        end=meta["end"],
        file_hash=meta["file_hash"],
        section=meta.get("section"),
        ocr=bool(meta.get("ocr", False)),
    )
