"""The provenance stamps: git, ironship's version, the CI run, who deployed; and reading them."""

from __future__ import annotations

import pytest

from ironship.deploy.stamps import (
    BY_KEY,
    CI_URL_KEY,
    DIGEST_KEY,
    GIT_DIRTY_KEY,
    GIT_REF_KEY,
    GIT_SHA_KEY,
    VERSION_KEY,
    Provenance,
    ci_url,
    deployer,
    git_stamps,
    in_ci,
    origin_stamps,
    read_stamps,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("yes", True), ("", False), ("false", False), ("0", False)],
)
def test_ci_is_any_value_but_empty_false_or_zero(value: str, expected: bool) -> None:
    """CI=true (or any other value) means CI; empty, false and 0 mean not."""
    assert in_ci({"CI": value}) is expected
    assert in_ci({}) is False


def test_the_ci_run_url_of_each_service() -> None:
    """GitHub Actions' run URL is built from its three variables; GitLab and Jenkins give one."""
    github = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_RUN_ID": "42",
        "BUILD_URL": "https://jenkins/job/1/",
    }
    assert ci_url(github) == "https://github.com/acme/app/actions/runs/42"
    gitlab = "https://gitlab.com/acme/app/-/jobs/7"
    assert ci_url({"CI_JOB_URL": gitlab}) == gitlab
    assert ci_url({"BUILD_URL": "https://jenkins/job/1/"}) == "https://jenkins/job/1/"
    assert ci_url({"GITHUB_RUN_ID": "42"}) is None


def test_who_deployed_prefers_the_ci_user() -> None:
    """The CI actor wins over the local user; nothing known gives no stamp."""
    assert deployer({"USER": "me", "GITHUB_ACTOR": "octo"}) == "octo"
    assert deployer({"USER": "me", "GITLAB_USER_LOGIN": "lab"}) == "lab"
    assert deployer({"USER": "me"}) == "me"
    assert origin_stamps("9.9", {}) == {VERSION_KEY: "9.9"}
    assert origin_stamps("9.9", {"USER": "me", "BUILD_URL": "u"}) == {
        VERSION_KEY: "9.9",
        CI_URL_KEY: "u",
        BY_KEY: "me",
    }


def test_git_stamps_in_and_out_of_a_repository() -> None:
    """A commit gives sha, dirty and ref; a never-committed folder is dirty; outside git none."""
    assert git_stamps("abc", False, "main") == {
        GIT_SHA_KEY: "abc",
        GIT_DIRTY_KEY: "0",
        GIT_REF_KEY: "main",
    }
    assert git_stamps(None, True, "main") == {GIT_DIRTY_KEY: "1", GIT_REF_KEY: "main"}
    assert git_stamps(None, False) == {}


def test_reading_stamps_back() -> None:
    """Stamps read back as a Provenance; a package with no digest was not uploaded by ironship."""
    env = {DIGEST_KEY: "sha256:d", GIT_SHA_KEY: "a1b2c3d4e5", GIT_DIRTY_KEY: "1", "USER_VAR": "x"}
    assert read_stamps(env) == Provenance(
        by_ironship=True, digest="sha256:d", git_sha="a1b2c3d4e5", git_dirty=True
    )
    assert read_stamps(env).short_sha == "a1b2c3d"
    assert read_stamps({"USER_VAR": "x"}) == Provenance(by_ironship=False)
