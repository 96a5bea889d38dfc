"""The backup format: the contract between ``pydump`` (writes) and ``pyrestore`` (reads).

A backup directory is read by programs written at other times than the one that wrote it
(an older or newer pyrestore, psql, a person). Each of its rules lives here once, and both
tools import them from here, so the writer and the reader cannot drift apart:

- :mod:`dumper.format.layout`: the directory (name, ``.partial`` while written), file names,
  format version, the entry marker line of the script;
- :mod:`dumper.format.toc`: ``toc.json``: :class:`~dumper.format.toc.TocEntry` (one class
  writes and reads an entry) and :class:`~dumper.format.toc.Kind`;
- :mod:`dumper.format.names`: identifier quoting as the server does it, table keys, CSV names;
- :mod:`dumper.format.manifest`: checksums, ``row_counts.json``, ``metadata.json``.

Nothing here touches a database or imports the rest of either tool. docs/FORMAT.md is the
prose version of the same rules.
"""
