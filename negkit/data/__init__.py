"""Data: the DataSource contract, batch assembly and the built-in shapes world."""

from negkit.data.base import DataSource

__all__ = ["DataSource"]
