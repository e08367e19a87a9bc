"""The one error type the CLI catches (docs/architecture.md, Conventions 10) and its subclasses."""

from __future__ import annotations


class IronshipError(Exception):
    """A problem the user can fix: printed as ``error: message`` and ``hint: hint``, exit 1."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ManifestError(IronshipError):
    """ironship.yml (or a file it names) is invalid; ``problems`` holds every located message."""

    def __init__(self, problems: list[str], hint: str | None = None) -> None:
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the manifest"
        super().__init__(head + ":\n" + "\n".join(problems), hint)
        self.problems = problems


class ApiError(IronshipError):
    """An IronWorker API call failed; carries the server's ``msg``. Never holds the token."""

    def __init__(self, method: str, path: str, status: int | None, msg: str) -> None:
        where = f"{method} {path}"
        text = f"{where} failed ({status}): {msg}" if status else f"{where} failed: {msg}"
        super().__init__(text)
        self.method = method
        self.path = path
        self.status = status
        self.msg = msg
