"""The command line: wiring only (docs/architecture.md)."""
