"""The engine's HTTP side: the Starlette app, request parsing, wire shapes and the routes."""
