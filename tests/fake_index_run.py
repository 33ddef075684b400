"""Run an index refresh with the fake embedder in its own process (for tests
that kill or race a real indexing process without loading a model).

    python tests/fake_index_run.py CORPUS INDEX_DIR [SECONDS_PER_PASSAGE]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fake_embedder import FakeEmbedder

from hdf_assistant.assistant import refresh_index
from hdf_assistant.config import load_settings

if __name__ == "__main__":
    corpus, index_dir = Path(sys.argv[1]), Path(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=index_dir, progress=False)
    report = refresh_index(settings, lambda: FakeEmbedder(delay))
    print(report.to_dict())
