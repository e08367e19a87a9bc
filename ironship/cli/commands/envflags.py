"""Commands that name two environments: ``diff --env A --env B`` and ``promote --from --to``.

``with_connection`` (``cli/options.py``) gives a command one ``--env``. These variants keep
every other connection option and change that one: ``with_env_list`` lets ``--env`` be given
more than once (the command receives ``envs``; ``conn.env`` is set only when one was given),
``without_env`` drops it (the command names its environments with options of its own).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ironship.cli.options import complete_env, with_connection

EnvListOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        metavar="NAME",
        help="The environment of the manifest to use (its environments: section); given "
        "twice (--env A --env B), compare what the two environments run.",
        envvar="IRONSHIP_ENV",
        autocompletion=complete_env,
    ),
]


def _rewrap(
    inner: Callable[..., None], params: list[inspect.Parameter], call: Callable[..., None]
) -> Callable[..., None]:
    """``call`` advertising ``params`` to typer (as ``with_connection`` does)."""
    functools.update_wrapper(call, inner)
    signature = inspect.signature(inner).replace(parameters=params)
    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    del call.__wrapped__  # type: ignore[attr-defined]
    return call


def with_env_list(command: Callable[..., None]) -> Callable[..., None]:
    """``with_connection`` whose ``--env`` repeats; ``command`` takes ``envs: tuple[str, ...]``."""
    inner = with_connection(command)
    params = [
        p.replace(annotation=EnvListOpt) if p.name == "env" else p
        for p in inspect.signature(inner).parameters.values()
        if p.name != "envs"
    ]

    def call(*args: Any, **kwargs: Any) -> None:
        envs = tuple(kwargs.pop("env", None) or ())
        inner(*args, env=envs[0] if len(envs) == 1 else None, envs=envs, **kwargs)

    return _rewrap(inner, params, call)


def without_env(command: Callable[..., None]) -> Callable[..., None]:
    """``with_connection`` with no ``--env`` (nor ``IRONSHIP_ENV``): ``conn.env`` is None."""
    inner = with_connection(command)
    params = [p for p in inspect.signature(inner).parameters.values() if p.name != "env"]

    def call(*args: Any, **kwargs: Any) -> None:
        inner(*args, **kwargs)

    return _rewrap(inner, params, call)
