"""Memory of the serving process, from start to thousands of questions.

    python benchmarks/memory.py [--corpus corpus] [--index-dir DIR] [--questions 1000,5000] [--json]

Starts ``hdf-assistant serve`` on a built index (built first when missing),
waits for the page, then asks questions through the REST API (``/api/v1/ask``)
two at a time, each one different (the 105 PIAF questions and the calibration
questions, numbered), and reads the process's resident memory (VmRSS) after
start, after the first question and at each checkpoint, with its peak (VmHWM).
Also the seconds from the command to the page, and to the first answer.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SQUAD = REPO.parent / "shared" / "benchmarks" / "piaf-spf" / "spf_qr_test.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def question_pool() -> list[str]:
    """Real questions (PIAF when it is beside the repository, the calibration sets)."""
    from hdf_assistant.evaluate.questions import load_question_set

    pool: list[str] = []
    if SQUAD.is_file():
        pool += [q.question for q in load_question_set(SQUAD).questions]
    for path in sorted((REPO / "benchmarks" / "questions").glob("*.jsonl")):
        pool += [q.question for q in load_question_set(path).questions]
    return pool


def _ask(url: str, question: str) -> bool:
    """True when the question was answered (an error is counted, not raised)."""
    body = json.dumps({"question": question}).encode()
    request = urllib.request.Request(url + "/api/v1/ask", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
        return True
    except OSError:  # HTTPError included
        return False


def serving_memory(corpus: Path, index_dir: Path, checkpoints: list[int], env_extra: dict[str, str] | None = None,
                   clients: int = 2) -> dict[str, Any]:
    """RSS of a serving process at start, after the first question and at each checkpoint."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")} | (env_extra or {})
    base = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir", str(index_dir)]
    if not (index_dir / "CURRENT").is_file():  # no local index there yet: build it
        subprocess.run(base + ["index"], check=True, capture_output=True, env=env)
    pool = question_pool()
    started = time.perf_counter()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(base + ["serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"serve exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/", timeout=2):
                    break
            except OSError:
                time.sleep(0.05)
        out["page_s"] = round(time.perf_counter() - started, 2)
        out["start_mb"] = _status(proc.pid)["VmRSS"]
        if not _ask(url, pool[0]):
            raise RuntimeError("the first question was not answered")
        out["first_answer_s"] = round(time.perf_counter() - started, 2)
        out["after_1_mb"] = _status(proc.pid)["VmRSS"]
        asked = 1
        with ThreadPoolExecutor(clients) as workers:
            for checkpoint in checkpoints:
                batch = [f"{pool[i % len(pool)]} ({i // len(pool)})" if i >= len(pool) else pool[i]
                         for i in range(asked, checkpoint)]
                out["errors"] = out.get("errors", 0) + sum(not ok for ok in workers.map(lambda q: _ask(url, q), batch))
                asked = checkpoint
                out[f"after_{checkpoint}_mb"] = _status(proc.pid)["VmRSS"]
        out["peak_mb"] = _status(proc.pid)["VmHWM"]
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--questions", default="1000,5000")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    checkpoints = [int(n) for n in args.questions.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        result = serving_memory(args.corpus, index_dir, checkpoints)
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
