"""RO-Crate Process Run Crates: read back with ro-crate-py and checked against the profile's MUST rules."""

from __future__ import annotations

import json
import os

import pytest
from exportdata import CHILD_ID, DIGEST, ROOT_ID, failed, pipeline

from procrecord.exports import ExportOptions, export
from procrecord.exports.rocrate import PROFILE, WFRUN_CONTEXT

rocrate = pytest.importorskip("rocrate.rocrate")

ACTION_TYPES = {"CreateAction", "ActivateAction", "UpdateAction"}
INSTRUMENT_TYPES = {"SoftwareApplication", "SoftwareSourceCode", "ComputationalWorkflow"}
STATUSES = {f"http://schema.org/{s}" for s in ("PotentialActionStatus", "ActiveActionStatus",
                                                "CompletedActionStatus", "FailedActionStatus")}


def _many(value) -> list:
    """A property as a list (RO-Crate 1.1 writes one value without a list)."""
    return value if isinstance(value, list) else [] if value is None else [value]


def _types(entity) -> set[str]:
    kind = entity.type
    return set(kind if isinstance(kind, list) else [kind])


def check_process_run_crate(crate) -> list:
    """The Process Run Crate 0.5 MUST rules (and the SHOULDs this exporter promises); returns the actions."""
    root = crate.root_dataset
    conforms = _many(root.get("conformsTo"))
    assert PROFILE in {c.id if hasattr(c, "id") else c["@id"] for c in conforms}
    profile = crate.get(PROFILE)
    assert profile is not None and "CreativeWork" in _types(profile) and profile["version"] == "0.5"
    actions = [e for e in crate.get_entities() if _types(e) & ACTION_TYPES]
    assert actions
    mentions = {m.id for m in _many(root.get("mentions"))}
    for action in actions:
        assert action.id in mentions  # MUST: the root mentions every action
        instrument = action["instrument"]
        assert instrument is not None and _types(instrument) & INSTRUMENT_TYPES  # MUST: an instrument
        assert action["actionStatus"]["@id"] in STATUSES if isinstance(action["actionStatus"], dict) \
            else action["actionStatus"] in STATUSES
        for prop in ("object", "result"):
            for item in _many(action.get(prop)):
                assert crate.get(item.id) is not None  # referenced entities are in the graph
        if "FailedActionStatus" in str(action["actionStatus"]):
            assert action["error"]  # SHOULD: a failed action says why
    return actions


@pytest.mark.parametrize("name", ["crate", "crate.zip"])
def test_a_crate_of_a_pipeline_follows_the_profile(tmp_path, name):
    root, child = pipeline()
    out = tmp_path / name
    assert export([root, child, failed()], "ro-crate", ExportOptions(output=str(out))) == []
    crate = rocrate.ROCrate(str(out))
    actions = {a.id: a for a in check_process_run_crate(crate)}
    fit = actions[f"#run-{CHILD_ID}"]
    assert fit["startTime"] == child["timing"]["start_time"] and fit["endTime"] == child["timing"]["stop_time"]
    assert fit["agent"]["name"] == "jdoe"
    model = fit["result"]
    assert model.id == "file:///runs/fit/model.pt" and model["sha256"] == "cd" * 32 and model["contentSize"] == "1234"
    objects = {o.id: o for o in _many(fit["object"])}
    assert objects["file:///data/prepared/"]["sha256"] == DIGEST and "Dataset" in _types(objects["file:///data/prepared/"])
    assert "s3://bucket/weights/base.pt" in objects
    # The prepare step's result is the fit step's object: one entity.
    assert actions[f"#run-{ROOT_ID}"]["result"].id == "file:///data/prepared/"
    image = fit["containerImage"]
    assert image["name"] == "ghcr.io/geo/train:1.2" and image["sha256"] == "ef" * 32
    env = {e["name"]: e["value"] for e in _many(fit["environment"])}
    assert env["OMP_NUM_THREADS"] == "8"
    record_file = fit["subjectOf"]
    assert record_file.id == f"records/{CHILD_ID}.json"
    if name == "crate":
        assert json.loads((out / "records" / f"{CHILD_ID}.json").read_text()) == json.loads(json.dumps(child))
        context = json.loads((out / "ro-crate-metadata.json").read_text())["@context"]
        assert WFRUN_CONTEXT in context and "https://w3id.org/ro/crate/1.1/context" in context  # the profile is of RO-Crate 1.1


def test_re_export_replaces_the_crate_without_duplicates(tmp_path):
    root, child = pipeline()
    out = tmp_path / "crate"
    export([root, child], "ro-crate", ExportOptions(output=str(out)))
    findings = export([root, child, child], "ro-crate", ExportOptions(output=str(out)))
    assert [f.kind for f in findings] == ["skipped"]
    crate = rocrate.ROCrate(str(out))
    assert len(check_process_run_crate(crate)) == 2


def _tree(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_that_is_not_an_earlier_crate_is_refused_and_left_as_it_is(tmp_path):
    from procrecord.exports import OutputRefused

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("important")
    out.chmod(0o751)
    with pytest.raises(OutputRefused, match="neither empty nor a crate procrecord wrote"):
        export([pipeline()[0]], "ro-crate", ExportOptions(output=str(out)))
    assert _tree(out) == {"thesis.tex": b"important"} and (out / "sub").is_dir()
    assert out.stat().st_mode & 0o777 == 0o751
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputRefused, match="not a folder"):
        export([pipeline()[0]], "ro-crate", ExportOptions(output=str(tmp_path / "file")))


def test_an_empty_folder_is_written_into_and_keeps_its_mode(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o751)
    export([pipeline()[0]], "ro-crate", ExportOptions(output=str(out)))
    assert out.stat().st_mode & 0o777 == 0o751
    assert f"records/{ROOT_ID}.json" in _tree(out)


def test_a_new_crate_folder_has_the_mode_of_any_new_folder(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        export([pipeline()[0]], "ro-crate", ExportOptions(output=str(tmp_path / "crate")))
        export([pipeline()[0]], "ro-crate", ExportOptions(output=str(tmp_path / "crate.zip")))
    finally:
        os.umask(umask)
    assert (tmp_path / "crate").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
    assert (tmp_path / "crate.zip").stat().st_mode & 0o777 == 0o644


def test_re_export_replaces_only_the_earlier_crates_own_files(tmp_path):
    root, child = pipeline()
    out = tmp_path / "crate"
    export([root, child], "ro-crate", ExportOptions(output=str(out)))
    (out / "README.md").write_text("mine")
    (out / "records" / "notes.txt").write_text("mine too")
    assert export([child], "ro-crate", ExportOptions(output=str(out))) == []
    files = _tree(out)
    assert f"records/{ROOT_ID}.json" not in files  # the earlier crate's record the new one does not name
    assert files["README.md"] == b"mine" and files["records/notes.txt"] == b"mine too"
    assert {a["@id"] for a in check_process_run_crate(rocrate.ROCrate(str(out)))} == {f"#run-{CHILD_ID}"}


def test_the_command_refuses_a_foreign_folder_and_the_current_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from procrecord.cli import cli

    record = tmp_path / "R.json"
    record.write_text(json.dumps(pipeline()[0]))
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("important")
    result = CliRunner().invoke(cli, ["export", "--to", "ro-crate", "-o", f"{out}/", str(record)])
    assert result.exit_code == 2 and "neither empty nor a crate procrecord wrote" in result.output
    assert _tree(out) == {"thesis.tex": b"important"}
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    mode = tmp_path.stat().st_mode
    result = CliRunner().invoke(cli, ["export", "--to", "ro-crate", "-o", ".", "R.json"])
    assert result.exit_code == 2 and _tree(tmp_path) == before and tmp_path.stat().st_mode == mode



@pytest.mark.parametrize("name", ["crate.zip", "crate"])
def test_a_symbolic_link_to_an_earlier_crate_is_refused_and_left_as_it_is(tmp_path, name):
    """As the file targets refuse a link: a link to a crate zip was replaced by a regular file (exit 0, the crate it
    pointed to left stale), and a link to a crate folder named with a trailing slash was written through."""
    from click.testing import CliRunner

    from procrecord.cli import cli
    from procrecord.exports import OutputRefused

    root, child = pipeline()
    real = tmp_path / name
    assert export([root], "ro-crate", ExportOptions(output=str(real))) == []
    before = real.read_bytes() if real.is_file() else _tree(real)
    link = tmp_path / f"link-{name}"
    link.symlink_to(real)
    for output in (str(link), f"{link}/"):
        with pytest.raises(OutputRefused, match="is a symbolic link"):
            export([child], "ro-crate", ExportOptions(output=output))
    record = tmp_path / "child.json"
    record.write_text(json.dumps(child))
    result = CliRunner().invoke(cli, ["export", "--to", "ro-crate", "-o", str(link), str(record)])
    assert result.exit_code == 2 and "is a symbolic link" in result.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real.read_bytes() if real.is_file() else _tree(real)) == before

def _zip(path, members: dict[str, bytes]) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("content", ["foreign", "corrupt", "empty-file"])
def test_an_existing_zip_that_is_not_an_earlier_crate_is_refused_and_left_as_it_is(tmp_path, content):
    from click.testing import CliRunner

    from procrecord.cli import cli
    from procrecord.exports import OutputRefused

    out = tmp_path / "thesis.zip"
    if content == "foreign":
        _zip(out, {"chapter1.tex": b"important"})
    else:
        out.write_bytes(b"PK\x03\x04 not really a zip" if content == "corrupt" else b"")
    before = out.read_bytes()
    with pytest.raises(OutputRefused, match="nothing was written"):
        export([pipeline()[0]], "ro-crate", ExportOptions(output=str(out)))
    record = tmp_path / "R.json"
    record.write_text(json.dumps(pipeline()[0]))
    result = CliRunner().invoke(cli, ["export", "--to", "ro-crate", "-o", str(out), str(record)])
    assert result.exit_code == 2 and str(out) in result.output
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["R.json", "thesis.zip"]


def test_re_export_into_an_earlier_crate_zip_replaces_its_files_and_keeps_other_members(tmp_path):
    import zipfile

    root, child = pipeline()
    out = tmp_path / "crate.zip"
    export([root, child], "ro-crate", ExportOptions(output=str(out)))
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("README.md", b"mine")
    assert export([child, child], "ro-crate", ExportOptions(output=str(out))) == [
        ("66666666-7777-4888-9999-aaaaaaaaaaaa", "skipped", "a record with this id is already in the crate")]
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert archive.read("README.md") == b"mine"
    assert sorted(names) == ["README.md", f"records/{CHILD_ID}.json", "ro-crate-metadata.json"]
    assert {a.id for a in check_process_run_crate(rocrate.ROCrate(str(out)))} == {f"#run-{CHILD_ID}"}
    empty = tmp_path / "empty.zip"
    _zip(empty, {})
    assert export([root], "ro-crate", ExportOptions(output=str(empty))) == []
    assert len(check_process_run_crate(rocrate.ROCrate(str(empty)))) == 1


def test_a_crate_zip_keeps_its_permissions_when_exported_again(tmp_path):
    import stat

    root, child = pipeline()
    out = tmp_path / "crate.zip"
    umask = os.umask(0)
    os.umask(umask)
    export([root], "ro-crate", ExportOptions(output=str(out)))
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # a new file as any other
    out.chmod(0o640)
    assert export([child], "ro-crate", ExportOptions(output=str(out))) == []
    assert stat.S_IMODE(out.stat().st_mode) == 0o640, "a private crate stays private"
    assert len(check_process_run_crate(rocrate.ROCrate(str(out)))) == 1  # the crate of this export
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crate.zip"], "no temporary file left beside it"


def test_a_record_with_integers_outside_int64_is_stored_exactly(tmp_path):
    root = pipeline()[0]
    root["invocation"]["config"] = {"seed": 302196688505940393327012328349340327281}
    root["extra"] = {"neg": -2**63 - 5}
    out = tmp_path / "crate"
    assert export([root], "ro-crate", ExportOptions(output=str(out))) == []
    stored = json.loads((out / "records" / f"{ROOT_ID}.json").read_text())
    assert stored["invocation"]["config"]["seed"] == 302196688505940393327012328349340327281
    assert stored["extra"] == {"neg": -2**63 - 5}


def test_level_most_keeps_the_agent_out(tmp_path):
    root, child = pipeline()
    out = tmp_path / "crate"
    export([child], "ro-crate", ExportOptions(output=str(out)), level="most")
    [action] = check_process_run_crate(rocrate.ROCrate(str(out)))
    assert action.get("agent") is None and action.get("environment") is None



def test_programs_users_images_and_variables_whose_names_share_a_slug_stay_apart(tmp_path, offline_validator):
    """Each action names its own program, user, container image and environment: names that differ only in
    characters outside ``A-Za-z0-9._-`` were one entity (``#software-.py`` for ``训练.py`` and ``测试.py``), so
    the later run was given the earlier run's program, user and image."""
    import copy
    import uuid

    _, child = pipeline()
    names = [("/opt/训练.py", "josé", "ghcr.io/lab/train:1", "A.B"), ("/opt/测试.py", "josè", "ghcr.io/lab/train-1", "A-B"),
             ("/usr/bin/c++", "j doe", "img:v1", "X+"), ("/usr/bin/c--", "j-doe", "img-v1", "X-")]
    records = []
    for program, user, image, variable in names:
        record = copy.deepcopy(child)
        record["id"] = str(uuid.uuid4())
        record.pop("parent"), record.pop("root")
        record["invocation"]["argv"] = [program, "--fast"]
        record["invocation"]["environment"] = {variable: program}
        record["host"]["user"] = user
        record["host"]["container"] = {"runtime": "docker", "image_name": image}
        records.append(record)
    out = tmp_path / "crate"
    assert export(records, "ro-crate", ExportOptions(output=str(out))) == []
    actions = {a.id: a for a in check_process_run_crate(rocrate.ROCrate(str(out)))}
    for record, (program, user, image, variable) in zip(records, names):
        action = actions[f"#run-{record['id']}"]
        assert action["instrument"]["name"] == os.path.basename(program)
        assert action["agent"]["name"] == user
        assert action["containerImage"]["name"] == image
        assert (action["environment"]["name"], action["environment"]["value"]) == (variable, program)
    assert len({a["instrument"].id for a in actions.values()}) == len({a["agent"].id for a in actions.values()}) == 4
    result = offline_validator(out)  # the escaped ids are ones roc-validator takes
    assert result.passed(), _issues(result)

# --- roc-validator, offline -------------------------------------------------------------------------
# roc-validator fetches the crate's JSON-LD contexts over HTTP through its own requests-cache session
# (an SQLite file) and, with ``offline=True``, serves them only from that cache. These machines have no
# network, so the cache is filled through a local transport adapter before validating:
# * the RO-Crate context: ro-crate-py's bundled copy (the 1.3 document; every 1.1 term keeps its IRI
#   in later versions, so it stands in for the 1.1 URL the crate names);
# * the workflow-run context: one term per ``wfrun:`` name the validator's own profile shapes use,
#   each mapped to the workflow-run namespace (what that context document holds).
# The Process Run Crate profile itself ships inside roc-validator (profiles/process-run-crate).

RO_CONTEXT_11 = "https://w3id.org/ro/crate/1.1/context"


def _context_documents() -> dict[str, dict]:
    import pathlib
    import re

    import rocrate as rocrate_pkg
    import rocrate_validator

    from procrecord.exports.rocrate import WFRUN

    bundled = json.loads((pathlib.Path(rocrate_pkg.__file__).parent / "data" / "ro-crate.jsonld").read_text())
    profiles = pathlib.Path(rocrate_validator.__file__).parent / "profiles"
    terms = {t for p in profiles.rglob("*.ttl") for t in re.findall(r"\bwfrun:([A-Za-z][A-Za-z0-9]*)", p.read_text())}
    return {RO_CONTEXT_11: bundled, WFRUN_CONTEXT: {"@context": {t: WFRUN + t for t in sorted(terms)}}}


@pytest.fixture
def offline_validator(tmp_path):
    """roc-validator's HTTP cache filled with the contexts, then validation offline; the requester is reset after."""
    pytest.importorskip("rocrate_validator")
    import io

    from requests.adapters import BaseAdapter, HTTPAdapter
    from rocrate_validator.utils.document_loader import uninstall_document_loader
    from rocrate_validator.utils.http import HttpRequester
    from urllib3.response import HTTPResponse

    documents = _context_documents()
    asked: list[str] = []

    class LocalDocuments(BaseAdapter):
        def send(self, request, **kwargs):
            asked.append(request.url)
            doc = documents.get(request.url)
            body = json.dumps(doc).encode() if doc else b""
            raw = HTTPResponse(body=io.BytesIO(body), headers={"Content-Type": "application/ld+json"},
                               status=200 if doc else 404, preload_content=False, request_url=request.url)
            return HTTPAdapter().build_response(request, raw)

        def close(self):
            pass

    cache = tmp_path / "http-cache"
    HttpRequester.reset()
    requester = HttpRequester.initialize_cache(cache_path=str(cache), offline=False)
    requester.session.mount("http://", LocalDocuments())
    requester.session.mount("https://", LocalDocuments())
    for url in documents:
        assert requester.get(url, headers={"Accept": "application/ld+json"}).status_code == 200
    assert sorted(asked) == sorted(documents)

    def validate(path, severity="REQUIRED"):
        from rocrate_validator import services
        from rocrate_validator.models import Severity, ValidationSettings

        settings = ValidationSettings(rocrate_uri=str(path), profile_identifier="process-run-crate",
                                      requirement_severity=Severity[severity], offline=True, cache_path=cache)
        return services.validate(settings)

    yield validate
    assert sorted(asked) == sorted(documents)  # offline: nothing more was requested
    HttpRequester.reset()
    uninstall_document_loader()


def _issues(result) -> list[tuple[str, str, str]]:
    return [(issue.severity.name, issue.check.identifier, issue.message) for issue in result.get_issues()]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["crate", "crate.zip"])
def test_roc_validator_passes_the_process_run_crate_profile_offline(tmp_path, offline_validator, name):
    root, child = pipeline()
    out = tmp_path / name
    export([root, child, failed()], "ro-crate", ExportOptions(output=str(out)))
    result = offline_validator(out)
    assert result.passed(), _issues(result)


@pytest.mark.slow
def test_roc_validator_finds_none_of_the_recommendations_the_exporter_follows(tmp_path, offline_validator):
    root, child = pipeline()
    out = tmp_path / "crate"
    export([root, child, failed()], "ro-crate", ExportOptions(output=str(out)))
    found = _issues(offline_validator(out, "RECOMMENDED"))
    assert not [i for i in found if i[0] == "REQUIRED"], found
    # actionStatus as text (8.7), error only on failed actions (9.0), a license entity (22.1), no lists of one (24.1)
    followed = {"process-run-crate-0.5_8.7", "process-run-crate-0.5_9.0", "ro-crate-1.1_22.1", "ro-crate-1.1_24.1"}
    assert not [i for i in found if i[1] in followed], found


# --- artifact ids ------------------------------------------------------------------------------------
# RFC 3986: what a URI reference may hold (unreserved, reserved and %XX escapes).
URI_REFERENCE = r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$"


def _artifact_ids(folder) -> dict[str, dict]:
    graph = json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]
    return {e["@id"]: e for e in graph if e.get("@type") in ("File", "Dataset") and e["@id"] != "./"
            and not e["@id"].startswith("records/")}


def test_relative_and_redacted_paths_are_never_resolved_against_the_exporters_folder(tmp_path, monkeypatch):
    """A ``~/`` path (what redaction leaves of a home) or a relative one stays as recorded, in a local id:
    never a ``file://`` URI of the folder the export ran in (a file that never existed, and where it ran)."""
    import re

    root = pipeline()[0]
    root["inputs"] = [{"uri": "~/data/drop8/train.kwcoco.zip", "kind": "file", "sha256": DIGEST},
                      {"uri": "data/rel dir/x#1.pt", "kind": "file"},
                      {"uri": "s3://<redacted:credentials>@lab-models/base/resnet50.pt", "kind": "uri"},
                      {"uri": "s3://AKIAPLANTED:secretplanted@bucket/key.pt", "kind": "uri"}]
    root["outputs"] = [{"uri": "/scratch/<user>/runs/fit-42/metrics", "kind": "folder"}]
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "crate"
    assert export([root], "ro-crate", ExportOptions(output=str(out))) == []
    text = (out / "ro-crate-metadata.json").read_text()
    assert str(tmp_path) not in text and "secretplanted" not in text and "<redacted" not in text
    ids = _artifact_ids(out)
    assert set(ids) == {"#path:~/data/drop8/train.kwcoco.zip", "#path:data/rel%20dir/x%231.pt",
                        "s3://lab-models/base/resnet50.pt", "s3://bucket/key.pt",
                        "file:///scratch/%3Cuser%3E/runs/fit-42/metrics/"}
    for identifier in ids:
        assert re.match(URI_REFERENCE, identifier) and identifier.count("#") <= 1, identifier
    assert ids["#path:~/data/drop8/train.kwcoco.zip"]["identifier"] == "~/data/drop8/train.kwcoco.zip"
    crate = rocrate.ROCrate(str(out))
    [action] = check_process_run_crate(crate)
    home = {o.id: o for o in _many(action["object"])}["#path:~/data/drop8/train.kwcoco.zip"]
    assert home["sha256"] == DIGEST
    # A "#" id names no data entity (RO-Crate 1.2; ro-crate-py reads it so): hasPart lists the others.
    assert {p.id for p in _many(crate.root_dataset["hasPart"])} >= {"s3://bucket/key.pt",
                                                                    "file:///scratch/%3Cuser%3E/runs/fit-42/metrics/"}


def test_the_command_at_level_most_names_no_folder_of_the_exporter(tmp_path):
    """The audit's case: a redacted record's ``~/`` artifacts, exported from some folder."""
    import subprocess
    import sys

    from helpers import ROOT

    fixture = ROOT / "fixtures" / "redact" / "pipeline-artifacts-container" / "input.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "procrecord", "export", "--to", "ro-crate", "--level", "most",
                             "-o", "crate", str(fixture)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "crate" / "ro-crate-metadata.json").read_text()
    assert str(tmp_path) not in text
    ids = _artifact_ids(tmp_path / "crate")
    assert not [i for i in ids if "<" in i or "redacted" in i], ids
    assert "#path:~/data/drop8/train.kwcoco.zip" in ids and "s3://lab-models/base/resnet50.pt" in ids


def test_one_path_with_two_contents_is_two_entities_each_with_its_own_digest(tmp_path):
    """The same file rewritten between runs: each run's action names its own content (an id names one thing)."""
    first, second = pipeline()[0], failed()
    for record, digest, size in ((first, "11" * 32, 10), (second, "22" * 32, 20)):
        record["outputs"] = [{"uri": "/art/model.pt", "kind": "file", "sha256": digest, "size_bytes": size}]
    third = pipeline()[1]  # reads the first run's model: the same content, the same entity
    third["inputs"] = [{"uri": "/art/model.pt", "kind": "file", "sha256": "11" * 32, "size_bytes": 10}]
    third["outputs"] = []
    out = tmp_path / "crate"
    assert export([first, second, third], "ro-crate", ExportOptions(output=str(out))) == []
    crate = rocrate.ROCrate(str(out))
    actions = {a.id: a for a in check_process_run_crate(crate)}
    made = actions[f"#run-{first['id']}"]["result"]
    remade = actions[f"#run-{second['id']}"]["result"]
    assert (made["sha256"], made["contentSize"]) == ("11" * 32, "10")
    assert (remade["sha256"], remade["contentSize"]) == ("22" * 32, "20")
    assert made.id != remade.id and {made.id, remade.id} == {f"#file:/%2F/art/model.pt@sha256-{'11' * 32}",
                                                             f"#file:/%2F/art/model.pt@sha256-{'22' * 32}"}
    assert made["url"] == remade["url"] == "file:///art/model.pt"
    assert actions[f"#run-{third['id']}"]["object"].id == made.id
    assert crate.get("file:///art/model.pt") is None  # no entity claims the path for one content


def test_contents_without_a_digest_are_told_apart_by_size_and_time(tmp_path):
    first, second = pipeline()[0], failed()
    first["outputs"] = [{"uri": "~/model.pt", "kind": "file", "size_bytes": 10}]
    second["outputs"] = [{"uri": "~/model.pt", "kind": "file", "size_bytes": 20}]
    out = tmp_path / "crate"
    export([first, second], "ro-crate", ExportOptions(output=str(out)))
    ids = _artifact_ids(out)
    assert {i: e["contentSize"] for i, e in ids.items()} == {"#path:~/model.pt@v1": "10", "#path:~/model.pt@v2": "20"}
    assert all(e["identifier"] == "~/model.pt" and "url" not in e for e in ids.values())


def test_a_crate_of_many_records_scans_no_entity_list_per_record(tmp_path, monkeypatch):
    """Each record adds a constant amount of work: ro-crate-py's look-up of an id it does not hold scans
    every entity for subcrates (a crate of 20,000 records once took over 10 minutes; 8,000 took 372 s).
    Counted, not timed: how often that scan runs must not grow with the records."""
    import copy
    import uuid

    from rocrate.rocrate import ROCrate

    scans = {"n": 0}
    subcrates = ROCrate.subcrate_entities

    def counted(crate):
        scans["n"] += 1
        return subcrates.fget(crate)

    monkeypatch.setattr(ROCrate, "subcrate_entities", property(counted))
    base = pipeline()[1]

    def records(n):
        for i in range(n):
            record = copy.deepcopy(base)
            record["id"] = str(uuid.UUID(int=i + 1))
            record["outputs"][0]["uri"] = f"/runs/{i}/model.pt"
            yield record

    seen = {}
    for n in (50, 400):
        scans["n"] = 0
        export(records(n), "ro-crate", ExportOptions(output=str(tmp_path / f"c{n}")))
        seen[n] = scans["n"]
    assert seen[400] == seen[50], seen  # before: 205 and 1,605 (four scans of every entity per record)


@pytest.mark.slow
def test_roc_validator_passes_a_crate_with_relative_paths_and_rewritten_files(tmp_path, offline_validator):
    first, second = pipeline()[0], failed()
    first["inputs"] = [{"uri": "~/data/x.zip", "kind": "file"}, {"uri": "s3://<redacted:credentials>@b/k", "kind": "uri"}]
    for record, digest in ((first, "11" * 32), (second, "22" * 32)):
        record["outputs"] = [{"uri": "/art/model.pt", "kind": "file", "sha256": digest}]
    out = tmp_path / "crate"
    export([first, second], "ro-crate", ExportOptions(output=str(out)))
    result = offline_validator(out)
    assert result.passed(), _issues(result)
