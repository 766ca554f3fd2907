"""The package version, in one place every layer can read."""

__version__ = "0.1.0"
