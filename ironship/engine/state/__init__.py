"""The engine's state: repositories over one SQLite ``Db``, assembled in ``EngineState``.

Imports nothing from ``http`` or ``run``; it raises its own errors (``model.StateError``).
"""
