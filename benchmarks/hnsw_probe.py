"""pgvector's HNSW recall on replicated real passage vectors, in a bare table (not through the index).

    python benchmarks/hnsw_probe.py INDEX_DIR 10825 17      # 184,025 vectors: every passage x 17
    python benchmarks/hnsw_probe.py INDEX_DIR 2000 92       # 184,000 vectors: 2,000 passages x 92

INDEX_DIR is a local index built with the default model (for example the PIAF index that
``hdf-assistant eval ../shared/benchmarks/piaf-spf/spf_qr_test.json`` builds in its cache: the path is printed on
stderr). BASE passages are drawn from it and each is copied COPIES times with noise of 0.01 on the vector, as
``benchmarks/run.py`` replicates passages; 100 questions are passages with noise of 0.03. Recall@10 of the HNSW
index (m = 16, ef_construction = 64) against an exact scan, for ef_search 100 and 400, with and without
the version filter and iterative scans the postgres store uses. A PostgreSQL is started in a temporary directory.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hdf_assistant.index import postgres_server as db_server
from hdf_assistant.index.local import LocalBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("base", type=int)
    parser.add_argument("copies", type=int)
    args = parser.parse_args()
    import psycopg2

    index = LocalBackend(args.index_dir).open()
    real = index.vectors_of([c for s in index.sources() for c in index.chunk_ids_of(s)])
    rng = np.random.default_rng(0)
    base = real[rng.choice(len(real), args.base, replace=False)]
    x = np.repeat(base, args.copies, axis=0) + rng.normal(0, 0.01, size=(args.base * args.copies, real.shape[1]))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = real[rng.choice(len(real), 100)] + rng.normal(0, 0.03, size=(100, real.shape[1]))
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    data = Path(tempfile.gettempdir()) / f"hdf-hnsw-probe-{args.base}-{args.copies}"
    url_host = db_server.start(data).split("host=")[1]
    try:
        conn = psycopg2.connect(host=url_host, dbname=db_server.DATABASE, user="postgres")
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(f"CREATE EXTENSION IF NOT EXISTS vector; DROP TABLE IF EXISTS t; "
                    f"CREATE TABLE t (id int, v_from int, v_to int, embedding vector({real.shape[1]}))")
        rows = io.StringIO("".join(f"{i}\t1\t\\N\t[{','.join(map(str, v.tolist()))}]\n" for i, v in enumerate(x)))
        cur.copy_expert("COPY t FROM STDIN", rows)
        started = time.perf_counter()
        cur.execute("SET maintenance_work_mem = '4GB'; "
                    "CREATE INDEX ON t USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)")
        print(f"{len(x)} vectors ({args.base} x {args.copies}); HNSW built in {time.perf_counter() - started:.0f} s")

        def text(v: np.ndarray) -> str:
            return "[" + ",".join(map(str, v.tolist())) + "]"

        cur.execute("SET enable_indexscan = off")
        exact = []
        for v in q:
            cur.execute("SELECT id FROM t ORDER BY embedding <=> %s::vector LIMIT 10", (text(v),))
            exact.append({r[0] for r in cur.fetchall()})
        cur.execute("SET enable_indexscan = on")
        live = "WHERE v_from <= 1 AND (v_to IS NULL OR v_to > 1)"
        print("| iterative scan | version filter | ef_search | recall@10 | p50 ms |\n|---|---|---|---|---|")
        for mode, where in (("off", ""), ("relaxed_order", live), ("strict_order", live)):
            for ef in (100, 400):
                cur.execute(f"SET hnsw.iterative_scan = {mode}; SET hnsw.ef_search = {ef}")
                recall, times = [], []
                for v, truth in zip(q, exact):
                    t0 = time.perf_counter()
                    cur.execute(f"SELECT id FROM t {where} ORDER BY embedding <=> %s::vector LIMIT 10", (text(v),))
                    times.append(time.perf_counter() - t0)
                    recall.append(len({r[0] for r in cur.fetchall()} & truth) / 10)
                print(f"| {mode} | {'yes' if where else 'no'} | {ef} | {np.mean(recall):.3f} | "
                      f"{np.median(times) * 1000:.1f} |")
    finally:
        db_server.stop(data)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
