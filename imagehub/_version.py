"""imagehub's version, in its own module so that any package can read it
without importing the package root (which imports upward)."""

__version__ = "0.1.0"
