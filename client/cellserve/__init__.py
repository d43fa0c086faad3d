"""Python client for a cellserve server; the ``cellserve`` command is in ``cellserve.cli``."""

from cellserve.api import ApiError, Client

__all__ = ["ApiError", "Client"]
