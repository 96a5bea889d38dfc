"""pydump vs pg_dump benchmarks: ``python -m benchmarks.run`` (``make bench SIZE=MB``)."""
