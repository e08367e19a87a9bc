"""plan() is pure: the same desired workers and code list always give the same Plan."""

from __future__ import annotations

from pathlib import Path

from ironship.deploy.diff import (
    diff_files,
    plan,
    plan_worker,
    setting_changes,
)
from ironship.deploy.models import FileChanges, LocalWorker, SettingChange, WorkerPlan
from ironship.deploy.settings import content_digest, files_digest
from ironship.deploy.stamps import FILES_KEY
from ironship.iron.types import Code
from ironship.packaging.fileset import FileEntry, FileSet
from ironship.secrets import Secret

SETTINGS = {"name": "fib", "runtime": "python", "file_name": "fib.py", "env_vars": {}}


def desired(files: dict[str, str], settings: dict[str, object] | None = None) -> LocalWorker:
    """The desired side of worker ``fib`` with these files (path -> content sha)."""
    entries = tuple(
        FileEntry(p, False, sha, 1, Path("/nowhere") / p) for p, sha in sorted(files.items())
    )
    s = dict(settings or SETTINGS)
    fs = FileSet("fib", Path("/nowhere"), entries)
    return LocalWorker(fs, s, content_digest(entries, s), files_digest(entries))


def code(fs: LocalWorker, **over: object) -> Code:
    """The code as the server would list it after ironship uploaded ``fs``."""
    fields: dict[str, object] = {
        "id": "a" * 24,
        "name": "fib",
        "rev": 3,
        "latest_checksum": "0" * 32,
        "runtime": "python",
        "file_name": "fib.py",
        "env_vars": {FILES_KEY: fs.files_digest},
    }
    fields.update(over)
    return Code(**fields)  # type: ignore[arg-type]


def test_new_worker_is_created() -> None:
    """A worker missing on the server is planned as a create with its file count."""
    fs = desired({"fib.py": "1"})
    assert plan_worker(fs, None) == WorkerPlan(
        "fib", "create", ("new worker (1 file)",), code_changed=True, local=fs
    )


def test_same_stamp_and_settings_is_unchanged() -> None:
    """A stamp equal to the local files digest and equal settings mean no change."""
    fs = desired({"fib.py": "1"})
    assert plan_worker(fs, code(fs)) == WorkerPlan("fib", "unchanged", local=fs, remote=code(fs))


def test_file_changes_are_named() -> None:
    """With the server's file index, the plan names added, removed and changed files."""
    old = desired({"fib.py": "1", "a.py": "1"})
    new = desired({"fib.py": "2", "b.py": "1"})
    remote_files = {f.path: (f.executable, f.sha256) for f in old.files}
    assert plan_worker(new, code(old), remote_files=remote_files) == WorkerPlan(
        "fib",
        "update",
        ("+ b.py", "- a.py", "~ fib.py"),
        code_changed=True,
        files=FileChanges(added=("b.py",), removed=("a.py",), changed=("fib.py",)),
        local=new,
        remote=code(old),
    )


def test_settings_change_shows_before_and_after() -> None:
    """Changed scalar settings read 'key: before → after'; code stays as it is."""
    fs = desired({"fib.py": "1"}, {**SETTINGS, "max_concurrency": 10})
    remote = code(fs, max_concurrency=5)
    assert plan_worker(fs, remote) == WorkerPlan(
        "fib",
        "update",
        ("max_concurrency: 5 → 10",),
        settings=(SettingChange("max_concurrency", 5, 10),),
        local=fs,
        remote=remote,
    )


def test_env_and_config_values_are_never_shown() -> None:
    """Env and config changes name the key only, so secrets stay out of plans."""
    wanted = {**SETTINGS, "env_vars": {"KEY": "new-secret"}, "config": '{"a":1}'}
    remote = code(desired({"fib.py": "1"}), env_vars={"KEY": "old-secret"}, config='{"a": 2}')
    text = " ".join(c.describe() for c in setting_changes(wanted, remote))
    assert text == "config changed env.KEY changed"
    assert "secret" not in text


def test_stamps_are_not_settings() -> None:
    """IRONSHIP_* env vars on the server are stamps, never reported as env changes."""
    fs = desired({"fib.py": "1"})
    remote = code(fs)
    assert setting_changes(fs.settings, remote) == ()


def test_unlimited_concurrency_spellings_are_equal() -> None:
    """-1 from the server and 'not set' in the manifest both mean unlimited."""
    fs = desired({"fib.py": "1"})
    assert plan_worker(fs, code(fs, max_concurrency=-1)).action == "unchanged"


def test_foreign_package_compares_by_checksum() -> None:
    """Without a stamp, the local zip MD5 against latest_checksum decides."""
    fs = desired({"fib.py": "1"})
    foreign = code(fs, env_vars={}, latest_checksum="f" * 32)
    assert plan_worker(fs, foreign, local_md5="f" * 32).action == "unchanged"
    changed = plan_worker(fs, foreign, local_md5="e" * 32)
    assert changed.action == "update" and changed.code_changed


def test_force_uploads_unchanged_code() -> None:
    """--force turns an unchanged worker into a code upload, with the reason."""
    fs = desired({"fib.py": "1"})
    wp = plan_worker(fs, code(fs), force=True)
    assert wp.action == "update" and wp.code_changed
    assert wp.reasons == ("--force: upload again",)


def test_orphans_are_listed_and_deleted_only_with_prune() -> None:
    """Codes not in the manifest are orphans, or deletes when pruning; sorted by name."""
    fs = desired({"fib.py": "1"})
    stray = Code(id="b" * 24, name="aaa-stray", rev=1)
    kept = plan([plan_worker(fs, code(fs))], [code(fs), stray])
    assert [(w.name, w.action) for w in kept.workers] == [
        ("aaa-stray", "orphan"),
        ("fib", "unchanged"),
    ]
    assert not kept.has_changes
    pruned = plan([plan_worker(fs, code(fs))], [code(fs), stray], prune=True)
    assert pruned.workers[0].action == "delete" and pruned.has_changes
    assert pruned.summary == {"create": 0, "update": 0, "delete": 1, "unchanged": 1, "orphan": 0}


def test_diff_files_counts_exec_bit_as_a_change() -> None:
    """Flipping the exec bit alone changes the file."""
    assert diff_files({"a": (True, "x")}, {"a": (False, "x")}).changed == ("a",)


def test_a_changed_secret_shows_as_a_change_by_name_only() -> None:
    """A secret env value or config differing from the server's is a change; no value shown."""
    wanted = {
        **SETTINGS,
        "env_vars": {"API_KEY": Secret("new-s3cr3t")},
        "config": Secret('{"password":"new-pw"}'),
    }
    remote = code(
        desired({"fib.py": "1"}),
        env_vars={"API_KEY": "old-s3cr3t"},
        config='{"password": "old-pw"}',
    )
    changes = setting_changes(wanted, remote)
    assert changes == (
        SettingChange("config", None, None, sensitive=True),
        SettingChange("env.API_KEY", None, None, sensitive=True),
    )
    assert "s3cr3t" not in repr(changes) and "pw" not in repr(changes)


def test_an_unchanged_secret_is_no_change() -> None:
    """The same secret as the server's (config by its JSON meaning) plans nothing."""
    wanted = {
        **SETTINGS,
        "env_vars": {"API_KEY": Secret("s3cr3t")},
        "config": Secret('{"a":1,"password":"pw"}'),
    }
    remote = code(
        desired({"fib.py": "1"}),
        env_vars={"API_KEY": "s3cr3t"},
        config='{"password": "pw", "a": 1}',
    )
    assert setting_changes(wanted, remote) == ()


def test_env_var_added_or_removed_reads_as_such() -> None:
    """An env var added or removed is described as that, not as 'added changed'."""
    assert SettingChange("env.API added", None, None, sensitive=True).describe() == "env.API added"
    assert SettingChange("env.OLD removed", None, None, sensitive=True).describe() == (
        "env.OLD removed"
    )
    assert SettingChange("env.API", None, None, sensitive=True).describe() == "env.API changed"
