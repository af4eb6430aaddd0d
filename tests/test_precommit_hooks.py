"""The pre-commit hooks procrecord offers its users (.pre-commit-hooks.yaml), and the contributors' config."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FIXTURES, ROOT

pytestmark = pytest.mark.slow


def _hooks() -> dict[str, dict]:
    from pre_commit.clientlib import load_manifest  # pre-commit's own check of a hooks file

    return {hook["id"]: hook for hook in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}


def _run(hook: dict, files: list[Path]) -> subprocess.CompletedProcess:
    """Run a hook's entry the way pre-commit does: entry, then args, then the matching file names."""
    argv = [*shlex.split(hook["entry"]), *hook["args"], *map(str, files)]
    script = shutil.which(argv[0], path=str(Path(sys.executable).parent))
    assert script, f"{argv[0]} is not installed next to {sys.executable}"
    return subprocess.run([script, *argv[1:]], capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path, source: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copyfile(source, target)
    return target


def test_the_hooks_file_declares_both_validators():
    hooks = _hooks()
    assert set(hooks) == {"procrecord-validate", "procrecord-validate-redacted"}
    assert hooks["procrecord-validate-redacted"]["entry"].endswith("--require-level most")
    for hook in hooks.values():
        pattern = re.compile(hook["files"])
        assert pattern.search("runs/train.procrecord.json") and pattern.search("a.procrecord.jsonl")
        assert not pattern.search("package.json") and not pattern.search("procrecord.json.bak")


def test_validate_hook_passes_valid_and_fails_invalid_records(tmp_path):
    hook = _hooks()["procrecord-validate"]
    good = [_copy(tmp_path, FIXTURES / "1.0" / "valid" / "gpu-training.json", "a.procrecord.json"),
            _copy(tmp_path, next((FIXTURES / "0" / "valid").glob("*.json")), "legacy.procrecord.json")]
    assert _run(hook, good).returncode == 0
    bad = _copy(tmp_path, FIXTURES / "1.0" / "invalid" / "argv-as-string.json", "bad.procrecord.json")
    result = _run(hook, [*good, bad])
    assert result.returncode == 1 and "bad.procrecord.json" in result.stdout + result.stderr


def test_redacted_hook_fails_an_unredacted_record(tmp_path):
    hook = _hooks()["procrecord-validate-redacted"]
    redacted = _copy(tmp_path, FIXTURES / "1.0" / "valid" / "gpu-training-redacted-most.json", "r.procrecord.json")
    assert _run(hook, [redacted]).returncode == 0
    raw = _copy(tmp_path, FIXTURES / "1.0" / "valid" / "gpu-training.json", "raw.procrecord.json")
    assert _run(hook, [redacted, raw]).returncode == 1


def test_contributor_config_is_a_valid_pre_commit_config():
    from pre_commit.clientlib import load_config

    hooks = {hook["id"] for repo in load_config(str(ROOT / ".pre-commit-config.yaml"))["repos"] for hook in repo["hooks"]}
    assert {"ruff", "mypy", "schema-metaschema", "schema-checksums", "model-generated"} <= hooks
