"""pydump: a pure-Python PostgreSQL dumper that reads the catalog itself and streams COPY."""

__version__ = "0.1.0"
