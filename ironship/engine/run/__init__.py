"""Running tasks: the dispatcher, the process runner and the worker runtime contract."""
