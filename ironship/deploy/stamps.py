"""Stamps: the ``IRONSHIP_*`` env vars ironship writes on every upload it makes.

They say what was uploaded and from where, and are never settings: the planner ignores them
when it compares settings, and they never feed the content digest (see
docs/architecture.md, Stamps). The digests are computed in ``deploy/settings.py``; the
provenance ones (git, ironship's version, the CI run, who deployed) here, from values and
environment mappings passed in. This module imports nothing of ironship, so every layer may
read the key names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

STAMP_PREFIX = "IRONSHIP_"
DIGEST_KEY = "IRONSHIP_DIGEST"  # digest of the file set and the settings
FILES_KEY = "IRONSHIP_FILES"  # digest of the file set alone (settings excluded)
SMOKE_KEY = "IRONSHIP_SMOKE"  # digest of the worker's smoke tests
GIT_SHA_KEY = "IRONSHIP_GIT_SHA"  # the inputs' commit: the last one touching the worker
GIT_DIRTY_KEY = "IRONSHIP_GIT_DIRTY"  # "1" when the files differed from that commit
GIT_REF_KEY = "IRONSHIP_GIT_REF"  # the tag or branch checked out, "detached", or --ref
VERSION_KEY = "IRONSHIP_VERSION"  # the ironship that uploaded
CI_URL_KEY = "IRONSHIP_CI_URL"  # the CI run that uploaded, when known
BY_KEY = "IRONSHIP_BY"  # who uploaded: the CI actor or the local user


def git_stamps(sha: str | None, dirty: bool, ref: str | None = None) -> dict[str, str]:
    """The git stamps of one upload.

    None at all outside a repository (no commit and no ref). A folder in a repository that
    no commit describes (never committed) is stamped dirty, with its ref but no commit.
    """
    if sha is None and ref is None:
        return {}
    out = {GIT_SHA_KEY: sha} if sha else {}
    out[GIT_DIRTY_KEY] = "1" if dirty else "0"
    if ref:
        out[GIT_REF_KEY] = ref
    return out


def in_ci(env: Mapping[str, str]) -> bool:
    """True when ``CI`` is set to anything but empty, ``false`` or ``0`` (as CI services do)."""
    value = env.get("CI", "").strip().lower()
    return bool(value) and value not in ("false", "0")


def ci_url(env: Mapping[str, str]) -> str | None:
    """The URL of the CI run: GitHub Actions, GitLab CI (``CI_JOB_URL``), Jenkins
    (``BUILD_URL``); None elsewhere."""
    server, repo, run = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return env.get("CI_JOB_URL") or env.get("BUILD_URL") or None


def deployer(env: Mapping[str, str]) -> str | None:
    """Who deploys: the GitHub or GitLab user of a CI run, else the local ``USER``."""
    for key in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER"):
        if env.get(key):
            return env[key]
    return None


def origin_stamps(version: str, env: Mapping[str, str]) -> dict[str, str]:
    """ironship's version, the CI run and who deployed, as far as ``env`` says."""
    out = {VERSION_KEY: version}
    if url := ci_url(env):
        out[CI_URL_KEY] = url
    if who := deployer(env):
        out[BY_KEY] = who
    return out


@dataclass(frozen=True)
class Provenance:
    """What the stamps of one code revision say (all None for a package ironship did not
    upload, or for a key an older ironship did not write)."""

    by_ironship: bool  # carries IRONSHIP_DIGEST
    digest: str | None = None
    files: str | None = None
    git_sha: str | None = None
    git_dirty: bool | None = None
    git_ref: str | None = None
    version: str | None = None
    ci_url: str | None = None
    by: str | None = None

    @property
    def short_sha(self) -> str | None:
        return self.git_sha[:7] if self.git_sha else None


def read_stamps(env: Mapping[str, str]) -> Provenance:
    """The provenance in a revision's ``env_vars``."""
    dirty = env.get(GIT_DIRTY_KEY)
    return Provenance(
        by_ironship=DIGEST_KEY in env,
        digest=env.get(DIGEST_KEY),
        files=env.get(FILES_KEY),
        git_sha=env.get(GIT_SHA_KEY) or None,
        git_dirty=(dirty == "1") if dirty in ("0", "1") else None,
        git_ref=env.get(GIT_REF_KEY) or None,
        version=env.get(VERSION_KEY) or None,
        ci_url=env.get(CI_URL_KEY) or None,
        by=env.get(BY_KEY) or None,
    )
