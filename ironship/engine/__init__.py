"""The local IronWorker-compatible engine: ``server`` wires ``http`` (routes), ``state``
(SQLite and files) and ``run`` (dispatcher and worker processes); ``zipcheck`` vets uploads."""
