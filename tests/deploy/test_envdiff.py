"""revdiff.compare_environments: pure comparison of what two environments run for a worker."""

from __future__ import annotations

from ironship.deploy.models import SettingChange
from ironship.deploy.revdiff import Deployed, EnvironmentDiff, compare_environments
from ironship.deploy.stamps import DIGEST_KEY, FILES_KEY, GIT_SHA_KEY, SMOKE_KEY
from ironship.iron.types import Code

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
SECRET = "staging-only-secret-8e1f"


def code(rev: int = 1, checksum: str = "c" * 32, **settings: object) -> Code:
    """fib as deployed by ironship from commit SHA (settings override the defaults)."""
    env = {
        DIGEST_KEY: f"sha256:d{rev}",
        FILES_KEY: "sha256:files",
        GIT_SHA_KEY: SHA,
        "MODE": "x",
    }
    values: dict[str, object] = {
        "runtime": "python",
        "file_name": "fib.py",
        "max_concurrency": 2,
        "env_vars": env,
    }
    values.update(settings)
    return Code(id="i", name="fib", rev=rev, latest_checksum=checksum, **values)  # type: ignore[arg-type]


def diff(before: Code | None, after: Code | None) -> EnvironmentDiff:
    (only,) = compare_environments(
        ["fib"], ("staging", [before] if before else []), ("production", [after] if after else [])
    )
    return only


def test_same_bytes_and_settings_are_the_same() -> None:
    """Equal checksums and settings: same, whatever the digests and revisions say."""
    d = diff(code(4), code(2))
    assert d == EnvironmentDiff(
        "fib", Deployed("staging", code(4)), Deployed("production", code(2)), "same", ()
    )
    assert d.same and d.before.label == "staging rev 4 = a1b2c3d"


def test_settings_are_named_and_env_values_never() -> None:
    """Concurrency shows its values; env and config changes only their names."""
    after_env = {**code().env_vars, "MODE": "y", "API_KEY": SECRET}
    d = diff(code(), code(max_concurrency=10, env_vars=after_env, config='{"a": 1}'))
    assert d.package == "same" and not d.same
    assert d.settings == (
        SettingChange("max_concurrency", 2, 10),
        SettingChange("config", None, None, sensitive=True),
        SettingChange("env.API_KEY added", None, None, sensitive=True),
        SettingChange("env.MODE", None, None, sensitive=True),
    )
    assert SECRET not in repr(d.settings)


def test_stamps_are_not_settings_and_unlimited_is_unset() -> None:
    """Other stamps and -1 against no concurrency at all differ in nothing."""
    after_env = {**code().env_vars, GIT_SHA_KEY: "f" * 40, "IRONSHIP_SMOKE_PASSED": "s"}
    assert diff(code(max_concurrency=None), code(max_concurrency=-1, env_vars=after_env)).same


def test_packages_same_files_or_different() -> None:
    """Other bytes with the same files stamp are 'same-files'; other files are 'different'."""
    assert diff(code(), code(checksum="d" * 32)).package == "same-files"
    other = {**code().env_vars, FILES_KEY: "sha256:other"}
    assert diff(code(), code(checksum="d" * 32, env_vars=other)).package == "different"


def test_smoke_tests_differing_count_as_a_setting() -> None:
    """Different smoke digests: a 'smoke tests' change, named only."""
    after_env = {**code().env_vars, SMOKE_KEY: "sha256:s"}
    d = diff(code(), code(env_vars=after_env))
    assert d.settings == (SettingChange("smoke tests", None, None, sensitive=True),)


def test_a_missing_side_has_no_verdict() -> None:
    """Not deployed on one side (or both): no package verdict, no settings, never the same."""
    for before, after in ((code(), None), (None, code()), (None, None)):
        d = diff(before, after)
        assert (d.package, d.settings, d.same) == (None, (), False)
    assert Deployed("production", None).label == "production: not deployed"
    foreign = code(env_vars={"MODE": "x"})
    assert Deployed("staging", foreign).label == "staging rev 1 = not uploaded by ironship"
