"""What a store can refuse, the same for every engine."""


class StoreBusy(Exception):
    """Another session holds the store: its findings must not vanish under it."""


class StoreError(Exception):
    """The store cannot be written (disk full, I/O error, server gone): the session stops writing it, says so once."""
