"""The record format: bundled schemas, versions, validation, the schema's policy annotations, the typed model."""
