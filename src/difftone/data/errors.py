"""The data stage's error, in a module of its own so that every data module can raise it."""


class DataError(ValueError):
    """A dataset-level problem: unknown instrument folder, checksum mismatch, too few clips."""
