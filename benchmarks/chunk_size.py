"""Measure dense retrieval on the PIAF benchmark for several chunkings.

    python benchmarks/chunk_size.py ../shared/benchmarks/piaf-spf/spf_qr_test.json \
        --configs 400:1 800:1 800:0 1200:1

Each article of the SQuAD file becomes one document; a question's article
counts as found at the rank of its first chunk. Uses the project's own
chunker, default embedding model and FAISS store.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hdf_assistant.assistant import build_embedder, index_spec
from hdf_assistant.config import load_settings
from hdf_assistant.index.local import LocalBackend
from hdf_assistant.index.manifest import new_manifest
from hdf_assistant.ingest.chunking import chunk_document
from hdf_assistant.schema import SourceDocument


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("squad", type=Path)
    parser.add_argument("--configs", nargs="+", default=["400:1", "800:1", "1200:1"])
    args = parser.parse_args()
    data = json.loads(args.squad.read_text(encoding="utf-8"))["data"]
    docs = [
        SourceDocument(a["title"], "\n\n".join(p["context"] for p in a["paragraphs"]), a["title"])
        for a in data
    ]
    questions = [
        (qa["question"], a["title"]) for a in data for p in a["paragraphs"] for qa in p.get("qas", [])
    ]
    settings = load_settings()
    embedder = build_embedder(settings)
    qvecs = embedder.embed_queries([q for q, _ in questions])
    print(f"{len(docs)} articles, {len(questions)} questions, model {embedder.model_id}")
    print("| chunk size | overlap (sentences) | chunks | hit@1 | hit@3 | hit@5 | MRR@10 | embed s |")
    print("|---|---|---|---|---|---|---|---|")
    for config in args.configs:
        size, overlap = (int(x) for x in config.split(":"))
        chunks = [c for d in docs for c in chunk_document(d, size, overlap)]
        started = time.perf_counter()
        vectors = embedder.embed_passages([c.text for c in chunks])
        seconds = time.perf_counter() - started
        manifest = new_manifest(index_spec(settings.replace(chunk_size=size, chunk_overlap=overlap)), embedder.model_id,
                                embedder.dim)
        store = LocalBackend(Path(tempfile.mkdtemp(prefix="hdf-chunk-size-"))).create(manifest)  # searched, never saved
        row = 0
        for source, group in itertools.groupby(chunks, key=lambda c: c.source):  # chunk_document keeps files together
            mine = list(group)
            store.replace_source(source, mine, vectors[row : row + len(mine)])
            row += len(mine)
        ranks = []
        for qvec, (_, gold) in zip(qvecs, questions):
            seen: list[str] = []
            for r in store.search(qvec, 100):
                if r.chunk.source not in seen:
                    seen.append(r.chunk.source)
            ranks.append(seen.index(gold) + 1 if gold in seen else None)
        hit = {k: np.mean([r is not None and r <= k for r in ranks]) for k in (1, 3, 5)}
        mrr = np.mean([1 / r if r is not None and r <= 10 else 0 for r in ranks])
        print(f"| {size} | {overlap} | {len(chunks)} | {hit[1]:.3f} | {hit[3]:.3f} | {hit[5]:.3f} | {mrr:.3f} | {seconds:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
