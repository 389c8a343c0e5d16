"""The negkit version: one place, read by the package, the plugin host, the mining cache and pyproject."""

__version__ = "0.1.0"
