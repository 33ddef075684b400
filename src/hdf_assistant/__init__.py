"""hdf-assistant: offline, cited question answering over French regional documents."""

__version__ = "0.1.0"
