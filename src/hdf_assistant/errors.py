"""Errors with messages a user can act on. The CLI turns them into one line."""

from __future__ import annotations


class HdfError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(HdfError):
    """A setting is invalid (bad TOML, unknown value, wrong type)."""


class ModelUnavailableError(HdfError):
    """The embedding model cannot be loaded offline."""


class IngestError(HdfError):
    """A corpus file cannot be read; the message says why."""


class IndexMissingError(HdfError):
    """No index exists where one was expected."""


class IndexMismatchError(HdfError):
    """The index on disk was built with other settings than the current ones."""


class IndexCorruptError(HdfError):
    """The index on disk cannot be read (a corrupt or foreign manifest, missing files)."""


class EmptyCorpusError(HdfError):
    """Nothing could be indexed."""


class QuestionError(HdfError):
    """The question cannot be answered as given (empty, for instance)."""


class IndexBusyError(HdfError):
    """Another process is updating the same index."""
