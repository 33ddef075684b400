"""Speed and scale benchmark (first part of issue 10): embedding throughput of
the default backend, query latency at 1k / 10k / 100k chunks (exact FAISS and
HNSW, with HNSW's recall against exact search), and start-up time of ``ask``
with a built index. All in one run so that ratios are meaningful.

    python benchmarks/run.py --quick --json
    python benchmarks/run.py ../shared/benchmarks/piaf-spf/spf_qr_test.json

Not yet measured: other embedding backends (ONNX / OpenVINO int8), full-answer
latency at each size, peak memory of the server.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hdf_assistant.chunking import chunk_document
from hdf_assistant.config import load_settings
from hdf_assistant.embeddings import build_embedder
from hdf_assistant.schema import SourceDocument

DEFAULT_SQUAD = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"


def _percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def embed_throughput(texts: list[str], embedder) -> dict:
    embedder.embed_passages(texts[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed_passages(texts)
    seconds = time.perf_counter() - started
    return {"chunks": len(texts), "seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 1)}


def search_latency(base: np.ndarray, queries: np.ndarray, sizes: list[int], seed: int = 0) -> dict:
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(seed)
    out = {}
    for size in sizes:
        reps = int(np.ceil(size / len(base)))
        data = np.vstack([base + rng.normal(0, 0.01, base.shape).astype(np.float32) for _ in range(reps)])[:size]
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        flat = faiss.IndexFlatIP(data.shape[1])
        flat.add(data)
        hnsw = faiss.IndexHNSWFlat(data.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efSearch = 64
        hnsw.add(data)
        row = {}
        for name, index in (("exact", flat), ("hnsw", hnsw)):
            times = []
            for q in queries:
                started = time.perf_counter()
                index.search(q.reshape(1, -1), 10)
                times.append((time.perf_counter() - started) * 1000)
            p50, p95 = _percentiles(times)
            row[name] = {"retrieve_p50_ms": round(p50, 3), "p95": round(p95, 3)}
        _, exact_ids = flat.search(queries, 10)
        _, hnsw_ids = hnsw.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_ids, hnsw_ids)])
        row["hnsw"]["recall@10_vs_exact"] = round(float(recall), 4)
        out[str(size)] = row
    return out


def startup_seconds(corpus: Path) -> float:
    """Wall time of one ``hdf-assistant ask`` with an index already built."""
    with tempfile.TemporaryDirectory() as tmp:
        common = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir", tmp]
        subprocess.run(common + ["index"], check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run(common + ["ask", "Combien de startups à Lille ?", "--json"], check=True, capture_output=True)
        return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("squad", type=Path, nargs="?", default=DEFAULT_SQUAD)
    parser.add_argument("--quick", action="store_true", help="fewer chunks and sizes (a few minutes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = load_settings()
    data = json.loads(args.squad.read_text(encoding="utf-8"))["data"]
    docs = [SourceDocument(a["title"], "\n\n".join(p["context"] for p in a["paragraphs"]), a["title"]) for a in data]
    chunks = [c.text for d in docs for c in chunk_document(d, settings.chunk_size, settings.chunk_overlap)]
    questions = [qa["question"] for a in data for p in a["paragraphs"] for qa in p.get("qas", [])]
    embedder = build_embedder(settings)
    sample = chunks[: 300 if args.quick else 2000]
    result = {"machine": {"cores": __import__("os").cpu_count()}, "embed": {}, "query": {}}
    result["embed"]["torch-fp32"] = {**embed_throughput(sample, embedder), "speedup": 1.0}
    base = embedder.embed_passages(sample)
    queries = embedder.embed_queries(questions[: 50 if args.quick else 105])
    result["query"] = search_latency(base, queries, [1000, 10000] if args.quick else [1000, 10000, 100000])
    result["startup_ask_s"] = startup_seconds(Path(__file__).resolve().parents[1] / "corpus")
    if args.json:
        print(json.dumps(result))
        return
    print(f"embedding (torch fp32): {result['embed']['torch-fp32']['chunks_per_s']} chunks/s")
    print("| chunks | exact p50 ms | exact p95 ms | HNSW p50 ms | HNSW p95 ms | HNSW recall@10 |")
    print("|---|---|---|---|---|---|")
    for size, row in result["query"].items():
        e, h = row["exact"], row["hnsw"]
        print(f"| {size} | {e['retrieve_p50_ms']} | {e['p95']} | {h['retrieve_p50_ms']} | {h['p95']} | "
              f"{h['recall@10_vs_exact']} |")
    print(f"start-up of `ask` with a built index: {result['startup_ask_s']} s")


if __name__ == "__main__":
    main()
