"""Serving memory of another version and of this one, on the same indexes, in one run.

    git worktree add /tmp/basewt e59b4be
    python benchmarks/run.py --json --backends onnx-int8 --stores local --work /tmp/bench   # builds the indexes
    python benchmarks/memory_before_after.py --work /tmp/bench --baseline-src /tmp/basewt/src

For the bundled corpus and each scaled index that ``run.py --work`` left (``scaled-100000``,
``scaled-1000000``): ``hdf-assistant serve`` from the other version's source, then from this one,
each asked ``--questions`` different questions (benchmarks/memory.py). Versions before issue 20
read the BM25 passage ids as JSON: that file is written beside the compact one first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from memory import serving_memory  # noqa: E402


def _ids_as_json(index_dir: Path) -> None:
    state = index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    target = state / "bm25" / "chunk_ids.json"
    if not target.is_file():
        ids = [bytes(i).decode("utf-8") for i in np.load(state / "bm25" / "chunk_ids.npy")]
        target.write_text(json.dumps(ids), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="the --work directory of a benchmarks/run.py run")
    parser.add_argument("--baseline-src", type=Path, required=True, help="the other version's src/ (a worktree)")
    parser.add_argument("--questions", default="1000")
    args = parser.parse_args()
    checkpoints = [int(n) for n in args.questions.split(",")]
    targets = {"bundled corpus": (HERE.parent / "corpus", args.work / "bundled-index")}
    targets |= {f"{p.name.removeprefix('scaled-')} chunks": (args.work / "piaf-corpus", p)
                for p in sorted(args.work.glob("scaled-*")) if int(p.name.removeprefix("scaled-")) >= 100_000}
    out = {}
    for name, (corpus, index_dir) in targets.items():
        _ids_as_json(index_dir)
        for label, env in [("before", {"PYTHONPATH": str(args.baseline_src.resolve())}), ("after", {})]:
            out[f"{name}, {label}"] = serving_memory(corpus, index_dir, checkpoints, env)
            print(f"[memory] {name}, {label}: {out[f'{name}, {label}']}", file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
