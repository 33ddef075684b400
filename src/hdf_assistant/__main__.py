"""``python -m hdf_assistant``."""

import sys

from hdf_assistant.cli import main

sys.exit(main())
