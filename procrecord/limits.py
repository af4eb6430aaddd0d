"""Limits shared by the loader and the command line (a module light enough for ``--help``)."""

#: Largest JSON file or JSONL line accepted, by default.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
