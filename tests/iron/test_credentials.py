"""Credentials: the Iron config order (docs/ironworker-api.md) with explicit env, cwd and home."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ironship.errors import IronshipError
from ironship.iron.credentials import DEFAULT_HOST, Credentials, TargetLayer, resolve
from ironship.secrets import Secret

SECRET = "tok-SECRET-a1b2c3d4e5f6"


class Sources:
    """A fake home, cwd and environment under tmp_path; ``resolve()`` reads only these."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.cwd = tmp_path / "work"
        self.home.mkdir()
        self.cwd.mkdir()
        self.env: dict[str, str] = {}
        self.config_file: Path | None = None
        self.flags: dict[str, Any] = {}
        self.environment: TargetLayer | None = None

    def home_file(self, data: Any) -> None:
        write(self.home / ".iron.json", data)

    def cwd_file(self, data: Any) -> None:
        write(self.cwd / "iron.json", data)

    def config(self, data: Any) -> None:
        self.config_file = self.cwd / "deploy.json"
        write(self.config_file, data)

    def resolve(self) -> Credentials | None:
        flags = {k: self.flags.get(k) for k in ("token", "project_id", "host", "scheme", "port")}
        return resolve(
            config_file=self.config_file,
            env=self.env,
            cwd=self.cwd,
            home=self.home,
            environment=self.environment,
            **flags,
        )

    def must(self) -> Credentials:
        creds = self.resolve()
        assert creds is not None
        return creds


def write(path: Path, data: Any) -> None:
    path.write_text(data if isinstance(data, str) else json.dumps(data))


@pytest.fixture
def src(tmp_path: Path) -> Sources:
    return Sources(tmp_path)


LAYERS = ["home", "IRON_", "IRON_WORKER_", "cwd", "config", "environment", "flags"]
ENV_LABEL = "ironship.yml environment staging"


def set_layer(src: Sources, layer: str, token: str, pid: str) -> None:
    match layer:
        case "home":
            src.home_file({"token": token, "project_id": pid})
        case "cwd":
            src.cwd_file({"token": token, "project_id": pid})
        case "config":
            src.config({"token": token, "project_id": pid})
        case "flags":
            src.flags.update(token=token, project_id=pid)
        case "environment":
            src.environment = TargetLayer(ENV_LABEL, {"token": Secret(token), "project_id": pid})
        case prefix:
            src.env.update({f"{prefix}TOKEN": token, f"{prefix}PROJECT_ID": pid})


@pytest.mark.parametrize(
    ("present", "winner"),
    [
        *[((layer,), layer) for layer in LAYERS],
        *[(tuple(LAYERS[: i + 1]), LAYERS[i]) for i in range(1, len(LAYERS))],
        (("home", "cwd"), "cwd"),
        (("IRON_WORKER_", "IRON_"), "IRON_WORKER_"),
        (("flags", "home", "config"), "flags"),
        (("environment", "IRON_", "cwd"), "environment"),
    ],
)
def test_precedence(src: Sources, present: tuple[str, ...], winner: str) -> None:
    """Later sources win: ~/.iron.json < IRON_* < IRON_WORKER_* < ./iron.json < --config <
    the environment's target < flags."""
    for layer in present:
        set_layer(src, layer, f"tok-{layer}", f"pid-{layer}")
    creds = src.must()
    assert (creds.token.reveal(), creds.project_id) == (f"tok-{winner}", f"pid-{winner}")


def test_values_mix_across_sources_and_are_described(src: Sources) -> None:
    """Each key comes from its own highest source; describe() names them, never the token."""
    src.home_file({"project_id": "5e0000000000000000000001", "token": "old"})
    src.env["IRON_TOKEN"] = SECRET
    creds = src.must()
    assert creds.token.reveal() == SECRET
    assert creds.sources == ("~/.iron.json", "IRON_TOKEN")
    assert creds.describe() == (
        f"project 5e0000000000000000000001, host https://{DEFAULT_HOST} "
        "(from ~/.iron.json, IRON_TOKEN)"
    )
    assert SECRET not in repr(creds) and SECRET not in creds.describe()


def test_product_object_overrides_top_level(src: Sources) -> None:
    """In one file ``iron_worker`` beats the top-level keys; unknown keys are ignored."""
    src.cwd_file(
        {
            "token": "t-top",
            "project_id": "p-top",
            "host": "mq.example",
            "colour": "blue",
            "iron_worker": {"host": "worker.example", "port": 8443},
        }
    )
    creds = src.must()
    assert (creds.token.reveal(), creds.host, creds.port) == ("t-top", "worker.example", 8443)
    assert creds.base_url == "https://worker.example:8443"


def test_defaults(src: Sources) -> None:
    """Without host settings: https on the default host, API v2, no port, no prefix."""
    src.env.update(IRON_TOKEN="t", IRON_PROJECT_ID="p")
    creds = src.must()
    assert (creds.scheme, creds.host, creds.port, creds.api_version) == (
        "https",
        DEFAULT_HOST,
        None,
        "2",
    )
    assert creds.base_url == f"https://{DEFAULT_HOST}"


def test_cloud_url_sets_scheme_host_port_and_prefix(src: Sources) -> None:
    """IRON_WORKER_CLOUD=http://127.0.0.1:8080/pfx points everything at one URL (PY's ``cloud``)."""
    src.home_file({"token": "t", "project_id": "p", "host": "h.example", "port": 9999})
    src.env["IRON_WORKER_CLOUD"] = "http://127.0.0.1:8080/pfx/"
    creds = src.must()
    assert (creds.scheme, creds.host, creds.port, creds.path_prefix) == (
        "http",
        "127.0.0.1",
        8080,
        "/pfx",
    )
    assert creds.base_url == "http://127.0.0.1:8080/pfx"


def test_cloud_without_port_resets_it_and_flags_still_win(src: Sources) -> None:
    """A cloud URL with no port means the scheme's port; a later --host flag still overrides."""
    src.home_file({"token": "t", "project_id": "p", "port": 9999})
    src.env["IRON_CLOUD"] = "https://iron.example"
    assert src.must().base_url == "https://iron.example"
    src.flags["host"] = "other.example"
    assert src.must().base_url == "https://other.example"


def test_cloud_beats_host_in_the_same_source(src: Sources) -> None:
    """Within one source ``cloud`` wins over host/port, as PY applies it last."""
    src.cwd_file({"token": "t", "project_id": "p", "cloud": "http://a.example:81", "host": "b"})
    assert src.must().base_url == "http://a.example:81"


def test_env_strings_are_coerced(src: Sources) -> None:
    """Env values are strings: a port becomes an int, protocol/scheme lower-cased, scheme wins."""
    src.env.update(
        IRON_TOKEN="t",
        IRON_PROJECT_ID="p",
        IRON_PORT="8080",
        IRON_PROTOCOL="HTTPS",
        IRON_WORKER_SCHEME="http",
        IRON_WORKER_HOST="",  # empty means unset
        IRON_PATH_PREFIX="api/",
    )
    creds = src.must()
    assert creds.base_url == f"http://{DEFAULT_HOST}:8080/api"


def test_default_port_is_left_out(src: Sources) -> None:
    """Port 443 on https is not written into the base URL."""
    src.env.update(IRON_TOKEN="t", IRON_PROJECT_ID="p", IRON_PORT="443")
    assert src.must().base_url == f"https://{DEFAULT_HOST}"


def test_nothing_found_is_none(src: Sources) -> None:
    """No token and no project anywhere means "use the local engine", even with a host set."""
    src.env["IRON_HOST"] = "iron.example"
    src.home_file({"host": "x.example"})
    assert src.resolve() is None


def test_token_without_project_names_both(src: Sources) -> None:
    """Half a set of credentials is an error naming what is missing and where the rest came from."""
    src.env["IRON_TOKEN"] = SECRET
    with pytest.raises(IronshipError) as info:
        src.resolve()
    assert "project id is missing" in info.value.message
    assert "IRON_TOKEN" in info.value.message
    assert info.value.hint is not None and "--project-id" in info.value.hint
    assert SECRET not in str(info.value)


def test_project_without_token(src: Sources) -> None:
    """A project id alone names the missing token and the file the id came from."""
    src.cwd_file({"project_id": "p"})
    with pytest.raises(IronshipError, match=r"token is missing.*\./iron\.json"):
        src.resolve()


def test_malformed_json_names_file_and_location(src: Sources) -> None:
    """A broken iron.json gives file:line:col, the JSON error and a hint, without its content."""
    src.home_file('{\n  "token": "' + SECRET + '",\n  "project_id": "p",\n}\n')
    with pytest.raises(IronshipError) as info:
        src.resolve()
    message = info.value.message
    assert message.startswith("~/.iron.json:4:1: invalid JSON:")
    assert "property name" in message
    assert info.value.hint is not None and "~/.iron.json" in info.value.hint
    assert SECRET not in message
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([1, 2], "expected a JSON object"),
        ({"iron_worker": "x"}, "iron_worker must be an object"),
        ({"token": 5, "project_id": "p"}, "token must be a string"),
        ({"token": "t", "project_id": "p", "port": "http"}, "port must be a number"),
        ({"token": "t", "project_id": "p", "scheme": "ftp"}, "scheme must be http or https"),
        ({"token": "t", "project_id": "p", "api_version": 3}, "api_version '3' is not supported"),
        ({"token": "t", "project_id": "p", "host": "http://x:8080"}, "bare host name"),
        ({"token": "t", "project_id": "p", "cloud": "localhost:8080"}, "cloud must be a URL"),
    ],
)
def test_bad_values_name_the_file(src: Sources, data: Any, match: str) -> None:
    """Wrong shapes and values in a file are errors that start with the file's name."""
    src.config(data)
    with pytest.raises(IronshipError, match=match) as info:
        src.resolve()
    assert info.value.message.startswith(str(src.config_file))


def test_missing_config_file_is_an_error(src: Sources, tmp_path: Path) -> None:
    """--config naming a file that does not exist is an error (./iron.json missing is not)."""
    src.config_file = tmp_path / "nope.json"
    with pytest.raises(IronshipError, match="does not exist"):
        src.resolve()


def test_api_version_two_is_accepted(src: Sources) -> None:
    """api_version 2 (number or string) is fine."""
    src.home_file({"token": "t", "project_id": "p", "api_version": 2})
    src.env["IRON_WORKER_API_VERSION"] = "2"
    assert src.must().api_version == "2"


def test_repr_hides_token() -> None:
    """The dataclass repr leaves the token out."""
    creds = Credentials(token=Secret(SECRET), project_id="p", host="h")
    assert SECRET not in repr(creds) and "project_id='p'" in repr(creds)


def test_an_environment_target_mixes_with_other_sources(src: Sources) -> None:
    """The environment's keys win over IRON_* key by key; its token is used, never shown."""
    src.env.update(IRON_TOKEN="iron-token", IRON_PROJECT_ID="iron-project", IRON_HOST="a.example")
    values = {"token": Secret(SECRET), "host": "127.0.0.1", "port": 8081, "scheme": "http"}
    src.environment = TargetLayer(ENV_LABEL, values)
    creds = src.must()
    assert (creds.token.reveal(), creds.project_id, creds.base_url) == (
        SECRET,
        "iron-project",
        "http://127.0.0.1:8081",
    )
    assert creds.describe() == (
        f"project iron-project, host http://127.0.0.1:8081 (from IRON_PROJECT_ID, {ENV_LABEL})"
    )
    assert SECRET not in repr(creds)


def test_an_environment_target_without_token_or_project_is_an_error(src: Sources) -> None:
    """A target naming only a host must not fall back to the local engine silently."""
    src.environment = TargetLayer(ENV_LABEL, {"host": "worker.example"})
    with pytest.raises(IronshipError, match=f"{ENV_LABEL} sets a target but no token"):
        src.resolve()


def test_an_empty_environment_token_is_refused(src: Sources) -> None:
    """A token variable set to nothing is named, not sent."""
    src.environment = TargetLayer(ENV_LABEL, {"token": Secret(" "), "project_id": "p"})
    with pytest.raises(IronshipError, match=f"{ENV_LABEL}: the token is empty"):
        src.resolve()
