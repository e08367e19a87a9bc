"""Tokens an HTTP header cannot carry are refused where they are read, without showing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Project, run_cli, write_tree

from ironship.errors import IronshipError
from ironship.iron.client import Client
from ironship.iron.credentials import resolve
from ironship.secrets import Secret

MANIFEST = "version: 1\nworkers:\n  w:\n    root: q\n    entry: main.py\n"
BODY = "SECRETBODY-7f3a9c"
BAD_TOKENS = {
    "newline": f"abc{BODY}\nOAuth-injected",
    "carriage return": f"abc{BODY}\rX",
    "tab": f"abc\t{BODY}",
    "non-latin-1": f"abc{BODY}\u20ac",
}
FORBIDDEN = (BODY, "internal error", "Invalid header value", "Traceback", "UnicodeEncodeError")


def _check_refused(code: int, out: str, err: str, where: str) -> None:
    assert code == 1, (out, err)
    assert f"{where}: the token holds" in err, err
    for text in FORBIDDEN:
        assert text not in out and text not in err, (text, err)


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
@pytest.mark.parametrize("source", ["IRON_TOKEN", "iron.json", "--token"])
def test_a_bad_token_is_refused_at_its_source_and_never_shown(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    source: str,
) -> None:
    """A token with a line break, a control character or a non-Latin-1 character, from the
    environment, iron.json or --token, gives a located error that never holds the token."""
    token = BAD_TOKENS[kind]
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "q/main.py": "print(1)\n"})
    env = {"IRON_WORKER_CLOUD": project.url, "IRON_PROJECT_ID": project.project_id}
    args = ["plan"]
    where = source
    if source == "IRON_TOKEN":
        env["IRON_TOKEN"] = token
    elif source == "iron.json":
        (tmp_path / "iron.json").write_text(json.dumps({"token": token}), encoding="utf-8")
        where = "./iron.json"
    else:
        args += ["--token", token]
    res = run_cli(args, capsys, monkeypatch, env=env, cwd=tmp_path)
    _check_refused(res.code, res.out, res.err, where)


def test_resolved_tokens_are_secrets_masked_in_every_repr() -> None:
    """The resolved token is a Secret: the credentials' repr and str never show it."""
    creds = resolve(
        config_file=None,
        token=None,
        project_id=None,
        host=None,
        scheme=None,
        port=None,
        env={"IRON_TOKEN": f"tok{BODY}", "IRON_PROJECT_ID": "p"},
        cwd=Path("/nonexistent"),
        home=Path("/nonexistent"),
    )
    assert creds is not None and isinstance(creds.token, Secret)
    for shown in (repr(creds), str(creds), f"{creds.token}", repr(creds.token), creds.describe()):
        assert BODY not in shown


def test_the_client_refuses_a_bad_token_without_showing_it() -> None:
    """A Client built straight from a bad string token refuses it, and the message hides it."""
    with pytest.raises(IronshipError) as caught:
        Client("http://127.0.0.1:9", "p", f"x{BODY}\n")
    assert BODY not in str(caught.value) and BODY not in repr(caught.value)
    assert "line break" in str(caught.value)


def test_a_good_token_still_authenticates(project: Project) -> None:
    """A token passed as a Secret reaches the Authorization header and the server accepts it."""
    with Client(project.url, project.project_id, Secret(project.token), retries=0) as client:
        assert client.list_codes() == []
        assert project.token not in repr(client)
