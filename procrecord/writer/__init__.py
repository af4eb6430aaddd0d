"""The writer side: the Recorder a job wraps itself in, ``procrecord run``, the legacy-compatible class."""
