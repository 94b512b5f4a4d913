"""Exceptions shared by modules that cannot import one another (``dataset`` imports ``splits``)."""


class DatasetError(ValueError):
    """A SmallMinesDS file or folder is missing, malformed or unreadable."""
