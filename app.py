"""Start the chat on the bundled corpus: ``python app.py`` (builds the index on first run)."""

from hdf_assistant.cli import main

raise SystemExit(main(["serve"]))
