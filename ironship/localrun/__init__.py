"""Running a worker from the working tree exactly as the engine runs a task (``ironship run``).

``task`` builds the package and the ``RunSpec`` and starts it with the engine's own runner;
``tasks`` offers those runs through the slice of the API the smoke runner uses, so
``run --smoke`` checks them with the same code as ``ironship test``.
"""
