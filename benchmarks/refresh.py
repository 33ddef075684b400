"""Incremental refresh speed on the 3,588 Service-Public fiches (about 10,000 passages).

    python benchmarks/refresh.py                          # this checkout
    python benchmarks/refresh.py --baseline /tmp/base/src # and, side by side, the code in another src/ tree

For each code tree, as a user runs it (``hdf-assistant index`` in a new process, wall time of the whole
command: start-up, hashing 3,588 files, loading the model and the index, embedding, writing the new state):
a full build, a run with nothing changed, then ``--runs`` runs after one sentence is appended to one fiche.
The fiches come from ``../shared/benchmarks/piaf-spf/service_public_fiches_txt_v2.zip``; nothing is copied
into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ZIP = REPO.parent / "shared" / "benchmarks" / "piaf-spf" / "service_public_fiches_txt_v2.zip"


def index_run(corpus: Path, index_dir: Path, src: Path | None, *extra: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``hdf-assistant index --json`` and what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDF_")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [sys.executable, "-m", "hdf_assistant", "--corpus", str(corpus), "--index-dir", str(index_dir),
               "index", "--json", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, json.loads(done.stdout)


def measure(corpus: Path, index_dir: Path, src: Path | None, runs: int, label: str) -> dict[str, Any]:
    full_s, full = index_run(corpus, index_dir, src, "--full")
    print(f"[{label}] full build: {full_s:.1f} s, {full['chunks']} passages", file=sys.stderr, flush=True)
    same_s, _ = index_run(corpus, index_dir, src)
    target = sorted(corpus.glob("*.txt"))[len(list(corpus.glob("*.txt"))) // 2]
    original = target.read_text(encoding="utf-8")
    times, embedded = [], []
    try:
        for run in range(runs):
            target.write_text(original + f"\nPhrase ajoutée pour la mesure numéro {run}.\n", encoding="utf-8")
            seconds, report = index_run(corpus, index_dir, src)
            assert report["updated"] == [target.name], report["updated"]
            times.append(seconds)
            embedded.append(report["embedded_chunks"])
            print(f"[{label}] one file changed: {seconds:.2f} s ({report['embedded_chunks']} passages embedded)",
                  file=sys.stderr, flush=True)
    finally:
        target.write_text(original, encoding="utf-8")
    return {"passages": full["chunks"], "documents": full["documents"], "full_build_s": round(full_s, 1),
            "no_change_s": round(same_s, 2), "one_file_s": [round(t, 2) for t in times],
            "one_file_median_s": round(statistics.median(times), 2), "embedded_passages": embedded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a src/ directory of another version, measured the same way")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hdf-refresh-") as tmp:
        work = Path(tmp)
        with zipfile.ZipFile(args.zip) as archive:
            archive.extractall(work)
        corpus = next(p.parent for p in work.rglob("*.txt"))
        trees: list[tuple[str, Path | None]] = [("this checkout", None)]
        if args.baseline is not None:
            trees.insert(0, ("baseline", args.baseline.resolve()))
        for label, src in trees:
            result[label] = measure(corpus, work / f"index-{len(result)}", src, args.runs, label)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
