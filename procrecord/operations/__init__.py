"""Per-record operations on plain dicts: redaction and scrubbing, upgrade/downgrade, diff, checks."""
