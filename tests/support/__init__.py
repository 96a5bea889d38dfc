"""Test support: one helper per job, shared by the tests and the benchmarks.

``pgtest``            start/stop throwaway PostgreSQL servers, connect, run SQL, fixtures
``registry_servers``  every major 12-18 (and the pg_dump 18 oracle) from registry packages
``helpers``           run pydump/pyrestore as a user does (subprocess, scrubbed env, ``--json``),
                      read backup directories, scratch databases and roles
``oracle``            pg_dump 18 as the reference: schema dumps, table hashes, replays

Nothing here may re-implement a product rule (identifier quoting, table keys): tests that need
one import it from the product, so a wrong rule cannot be hidden by a test copying it.
"""
