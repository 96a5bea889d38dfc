"""Tests of pydump's and pyrestore's pure functions: no PostgreSQL server, no subprocess.

``pytest tests/unit`` runs in seconds on any machine. Nothing here may request ``pg_server``
or a fixture built on it; what needs a server lives one directory up.
"""
