"""Limits shared by the loader and the command line (a module light enough for ``--help``)."""

#: Largest JSON file or JSONL line accepted, by default.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

#: Deepest nesting of a record every command reads (orjson reads 1,024 levels but writes only 255;
#: the writer keeps configs to 100 levels, and an upgrade adds a few).
MAX_DEPTH = 128
