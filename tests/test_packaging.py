"""The wheel carries the one copy of the schemas, and works outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from helpers import FIXTURES, ROOT, SCHEMA_DIR


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (path,) = out.glob("procrecord-*.whl")
    return path


@pytest.mark.slow
def test_wheel_ships_every_schema(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in SCHEMA_DIR.glob("*.schema.json"):
        assert f"procrecord/schema/{schema.name}" in names
    assert "procrecord/schema/SHA256SUMS" in names


@pytest.mark.slow
def test_wheel_ships_type_information(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "procrecord/py.typed" in names and "procrecord/record/model.py" in names


@pytest.mark.slow
def test_installed_wheel_validates_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    record = elsewhere / "r.json"
    record.write_text((FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text())
    code = ("import procrecord, sys, json; from procrecord.record.schemas import schema_dir; from procrecord.record.validation import validate;"
            "print(json.dumps([procrecord.__file__, str(schema_dir()), validate(json.load(open(sys.argv[1])))]))")
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, "-c", code, str(record)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    module_file, schemas, violations = json.loads(proc.stdout)
    assert module_file.startswith(str(site)) and schemas.startswith(str(site)) and violations == []
    cli = subprocess.run([sys.executable, "-m", "procrecord", "validate", str(record)], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
