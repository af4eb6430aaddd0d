"""RO-Crate: a Process Run Crate (profile 0.5) with one ``CreateAction`` per record, built with ro-crate-py.

Each action names its instrument (the program run), agent (the user, when the level keeps it),
start and end, status and error, environment, container image, and its ``object``/``result``
(the record's 1.1 input and output artifacts, with their digests). The record itself is stored in
the crate as ``records/<id>.json`` and is the action's ``subjectOf``. Output: a folder, or a zip.

An existing folder is written into only when it is empty or holds a crate this tool wrote earlier
(recognised by its metadata); then only that crate's own files are replaced, never anything else.
The same holds for an existing zip and its members: other members are carried into the new zip.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import tempfile
import zipfile
from typing import Any
from urllib.parse import quote

from procrecord.bulk.jsoncodec import dumps
from procrecord.exports.interface import (
    Exporter,
    ExportError,
    ExportOptions,
    Finding,
    OutputRefused,
    record_id,
    require,
)
from procrecord.exports.lineage import artifacts, file_uri, local_id

PROFILE = "https://w3id.org/ro/wfrun/process/0.5"
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
WFRUN = "https://w3id.org/ro/terms/workflow-run#"
SCHEMA_ORG = "http://schema.org/"
STATUS = {"completed": "CompletedActionStatus", "failed": "FailedActionStatus",
          "interrupted": "FailedActionStatus", "running": "ActiveActionStatus"}
LICENSE = "https://spdx.org/licenses/CC-BY-4.0"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
ROOT_NAME = "procrecord export"  # the root dataset's name: how a crate this tool wrote is recognised
METADATA = "ro-crate-metadata.json"
#: Files ro-crate-py may write beside the records.
FIXED_FILES = (METADATA, "ro-crate-preview.html")


def _slug(text: str) -> str:
    return _SAFE.sub("-", text).strip("-") or "x"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9._-]+")


def _key(text: str) -> str:
    """``text`` as part of a ``#`` id, one id per text: as it is when it holds only ``A-Za-z0-9._-``, else
    percent-escaped (never dashes for what :func:`_slug` replaces: ``训练.py`` and ``测试.py``, ``c++`` and
    ``c--``, ``ghcr.io/a/b:1`` and ``ghcr.io/a-b-1`` made one entity, and the later run named the first's)."""
    return text if _PLAIN_KEY.fullmatch(text) else quote(text, safe="")


class RoCrateExporter(Exporter):
    """All records of a run in one crate, written when the export closes."""

    name = "ro-crate"
    extra = "rocrate"

    def __init__(self, options: ExportOptions) -> None:
        super().__init__(options)
        if not options.output:
            raise ExportError("--to ro-crate needs -o FOLDER (or -o FILE.zip)")
        self.output: str = options.output
        check_output(self.output)  # before any work: a folder that is not ours is never touched
        require("rocrate.rocrate", "rocrate", "ro-crate")
        from rocrate.model.contextentity import ContextEntity
        from rocrate.rocrate import ROCrate

        self.Entity = ContextEntity
        self.crate = ROCrate(version="1.1")  # the Process Run Crate 0.5 profile is a profile of RO-Crate 1.1
        self.crate.metadata.extra_contexts.append(WFRUN_CONTEXT)  # containerImage, ContainerImage
        profile = self.crate.add(ContextEntity(self.crate, PROFILE, properties={
            "@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"}))
        self.crate.root_dataset["conformsTo"] = profile
        self.crate.root_dataset["name"] = ROOT_NAME
        self.crate.root_dataset["description"] = "Process runs recorded by procrecord"
        self.crate.root_dataset["license"] = self.crate.add(ContextEntity(self.crate, LICENSE, properties={
            "@type": "CreativeWork", "name": "CC-BY-4.0", "identifier": "CC-BY-4.0"}))
        self._tmp = tempfile.mkdtemp(prefix="procrecord-crate-")
        self._seen: set[str] = set()
        self._mentions: list[Any] = []
        # Entities by canonical id: ro-crate-py's own lookup of an id it does not hold walks every entity
        # (looking for subcrates), which made a crate of n records take n^2 time.
        self._index: dict[str, Any] = {}
        # Artifacts, made into entities when the crate is written (only then is it known which paths meet
        # with different contents): canonical id -> version -> (id, properties), and the actions' uses.
        self._versions: dict[str, dict[tuple[Any, ...], tuple[str, dict[str, Any]]]] = {}
        self._uses: list[tuple[Any, str, list[tuple[str, tuple[Any, ...]]]]] = []

    def _entity(self, identifier: str, properties: dict[str, Any]) -> Any:
        key = self.crate.resolve_id(identifier)
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = self.crate.add(self.Entity(self.crate, identifier, properties=properties))
        return found

    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Add the record's action and the entities it refers to."""
        rid = record_id(record)
        if rid in self._seen:
            return [Finding(rid, "skipped", "a record with this id is already in the crate")]
        self._seen.add(rid)
        invocation = record.get("invocation") or {}
        program = (invocation.get("argv") or [None])[0] or invocation.get("executable") or record.get("name") or "program"
        instrument = self._entity(f"#software-{_key(os.path.basename(str(program)))}", {
            "@type": "SoftwareApplication", "name": os.path.basename(str(program))})
        props: dict[str, Any] = {"@type": "CreateAction", "name": f"Run of {record.get('name') or program}",
                                 # The profile's examples and roc-validator's shapes take the status as text, not as an @id.
                                 "actionStatus": SCHEMA_ORG + STATUS.get(record.get("status", ""), "PotentialActionStatus")}
        timing = record.get("timing") or {}
        if timing.get("start_time"):
            props["startTime"] = timing["start_time"]
        if timing.get("stop_time"):
            props["endTime"] = timing["stop_time"]
        if invocation.get("argv"):
            props["description"] = " ".join(str(a) for a in invocation["argv"])
        error = (record.get("outcome") or {}).get("error") or {}
        if error:
            props["error"] = ": ".join(p for p in (error.get("type"), error.get("message")) if p)
        elif record.get("status") in ("failed", "interrupted"):
            outcome = record.get("outcome") or {}
            props["error"] = f"signal {outcome['signal']}" if outcome.get("signal") else f"exit code {outcome.get('exit_code')}"
        action = self.crate.add_action(instrument, identifier=f"#run-{_slug(rid)}", properties=props)
        user = (record.get("host") or {}).get("user")
        if user:
            action["agent"] = self._entity(f"#person-{_key(str(user))}", {"@type": "Person", "name": str(user)})
        env = invocation.get("environment") or {}
        if env:
            action["environment"] = _one_or_many([self._entity(f"#env-{_slug(rid)}-{_key(k)}", {
                "@type": "PropertyValue", "name": k, "value": str(v)}) for k, v in env.items()])
        container = (record.get("host") or {}).get("container") or {}
        image = container.get("image_digest") or container.get("image_name")
        if image:
            kind = "SIFImage" if container.get("runtime") in ("singularity", "apptainer") else "DockerImage"
            image_props = {"@type": "ContainerImage", "additionalType": {"@id": WFRUN + kind}}
            if container.get("image_name"):
                image_props["name"] = container["image_name"]
            if container.get("image_digest"):
                image_props["sha256"] = container["image_digest"].split(":", 1)[-1]
            action["containerImage"] = self._entity(f"#container-{_key(image)}", image_props)
        for side, prop in (("inputs", "object"), ("outputs", "result")):
            found = [self._artifact(a) for a in artifacts(record, side)]
            if found:
                self._uses.append((action, prop, found))
        path = os.path.join(self._tmp, f"{_slug(rid)}.json")
        with open(path, "wb") as out:
            out.write(dumps(record, indent=True))  # integers beyond 64 bits as they are
        action["subjectOf"] = self.crate.add_file(path, dest_path=f"records/{_slug(rid)}.json", properties={
            "name": f"procrecord record {rid}", "encodingFormat": "application/json",
            "conformsTo": {"@id": _schema_url(record)}})
        self._mentions.append(action)
        return []

    def _artifact(self, artifact: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """Note one artifact of a record; its (canonical id, version) key."""
        uri = str(artifact["uri"])
        folder = artifact.get("kind") in ("folder", "directory")
        props: dict[str, Any] = {"@type": "Dataset" if folder else "File",
                                 "name": os.path.basename(uri.rstrip("/")) or uri}
        for key, prop in (("size_bytes", "contentSize"), ("sha256", "sha256"), ("media_type", "encodingFormat"),
                          ("mtime", "dateModified")):
            if artifact.get(key) is not None:
                props[prop] = str(artifact[key]) if key == "size_bytes" else artifact[key]
        if artifact.get("role"):
            props["description"] = f"role: {artifact['role']}"
        absolute = file_uri(uri)
        if absolute is None:
            # A relative path (``~/x`` after redaction, ``data/x``): kept as recorded, as a local id, never
            # resolved against the folder of whoever exports.
            identifier = local_id(uri)
            props["identifier"] = uri
        else:
            identifier = absolute
            if folder and not identifier.endswith("/"):
                identifier += "/"  # RO-Crate: a folder's id ends with a slash
        # One entity per content: artifacts that agree on all of these are the same file (or folder).
        version = (props["@type"], props.get("sha256"), props.get("contentSize"), props.get("dateModified"),
                   props.get("encodingFormat"))
        group = self.crate.resolve_id(identifier)
        self._versions.setdefault(group, {}).setdefault(version, (identifier, props))
        return group, version

    def _artifact_entities(self) -> list[Any]:
        """Make the artifacts' entities and link them from their actions; the entities, for ``hasPart``.

        A path met with one content is one entity whose id is the path's URI. A path met with several
        contents (a file rewritten between runs) is one entity per content, each with a ``#`` id naming the
        URI and the content's digest (``#file:/%2F/runs/model.pt@sha256-…``; ``@v2`` and so on for contents
        without a digest of their own) and ``url`` the path: an id names one thing, so no run is given
        another run's digest or size. A relative path has a ``#path:`` id (see :meth:`_artifact`). Entities
        with a ``#`` id are contextual, not data entities (RO-Crate 1.2), so ``hasPart`` leaves them out.
        """
        made: dict[tuple[str, tuple[Any, ...]], Any] = {}
        for group, versions in self._versions.items():
            digests = [version[1] for version in versions]
            for number, (version, (identifier, props)) in enumerate(versions.items(), 1):
                if len(versions) > 1:
                    digest = version[1]
                    tag = f"sha256-{digest}" if digest and digests.count(digest) == 1 else f"v{number}"
                    props = dict(props)
                    if not identifier.startswith("#"):
                        props["url"] = identifier
                    identifier = f"{identifier}@{tag}" if identifier.startswith("#") else \
                        f"{local_id(identifier, prefix='', uri=True)}@{tag}"
                made[group, version] = self._entity(identifier, props)
        for action, prop, keys in self._uses:
            action[prop] = _one_or_many([made[key] for key in keys])
        # A "#" id is not a data entity (RO-Crate 1.2, and ro-crate-py reads it so): not in hasPart.
        return [entity for entity in dict.fromkeys(made.values()) if not entity.id.startswith("#")]

    def close(self) -> list[Finding]:
        """Write the crate (a folder, or a zip replaced as a whole) and remove the staging files."""
        root = self.crate.root_dataset
        root["mentions"] = _one_or_many(self._mentions)
        parts = root.get("hasPart") or []
        root["hasPart"] = _one_or_many((parts if isinstance(parts, list) else [parts]) + self._artifact_entities())
        target = os.path.abspath(self.output)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        try:
            if target.endswith(".zip"):
                from procrecord.atomic import replacing

                earlier = check_output(target)
                handle, tmp = tempfile.mkstemp(prefix="procrecord-crate-", suffix=".zip")
                os.close(handle)
                try:
                    self.crate.write_zip(tmp)
                    if earlier:
                        _carry_members(target, tmp, earlier)
                    # Replaced as every output is: synced, renamed into place, the old file's permissions kept
                    # (a private crate stays private), a new one's as any new file's.
                    with replacing(target) as out, open(tmp, "rb") as made:
                        shutil.copyfileobj(made, out)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            else:
                self._write_folder(target, parent)
        finally:
            self.abort()
        return []

    def _write_folder(self, target: str, parent: str) -> None:
        """A new folder appears whole (renamed into place); an existing one gets the crate's files, and
        the files of the crate it held before that this crate does not have are removed."""
        earlier = check_output(target)
        tmp = tempfile.mkdtemp(prefix=".crate-", dir=parent)
        try:
            self.crate.write(tmp)
            if earlier is None:
                os.chmod(tmp, 0o777 & ~_umask())  # a new folder as any other: mkdtemp makes it private
                os.replace(tmp, target)
                return
            written = set()
            for folder, _, names in os.walk(tmp):
                for name in names:
                    rel = os.path.relpath(os.path.join(folder, name), tmp).replace(os.sep, "/")
                    os.makedirs(os.path.dirname(os.path.join(target, rel)), exist_ok=True)
                    os.replace(os.path.join(folder, name), os.path.join(target, rel))
                    written.add(rel)
            for rel in sorted(earlier - written):
                path = os.path.join(target, *rel.split("/"))
                if os.path.isfile(path):
                    os.unlink(path)
            records = os.path.join(target, "records")
            if os.path.isdir(records) and not os.listdir(records):
                os.rmdir(records)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def abort(self) -> None:
        """Remove the staging files."""
        shutil.rmtree(self._tmp, ignore_errors=True)


def crate_files(metadata: bytes) -> set[str] | None:
    """The files (relative paths) of a crate this tool wrote, from its ``ro-crate-metadata.json``; None
    when the metadata is not of such a crate. Only the metadata, its preview and ``records/`` files count:
    artifacts the crate names (``file://``, ``s3://``) are never its own."""
    try:
        graph = json.loads(metadata)["@graph"]
        root = next(e for e in graph if isinstance(e, dict) and e.get("@id") == "./")
    except (ValueError, KeyError, TypeError, StopIteration):
        return None
    if root.get("name") != ROOT_NAME:
        return None
    files = set(FIXED_FILES)
    for entity in graph:
        ident = entity.get("@id") if isinstance(entity, dict) else None
        if isinstance(ident, str) and ident.startswith("records/") and posixpath.normpath(ident) == ident \
                and "/" not in ident[len("records/"):]:
            files.add(ident)
    return files


def check_output(output: str) -> set[str] | None:
    """Whether the export may write the crate at local ``output``: None for a missing path, the earlier
    crate's files for an empty folder or zip (none) or a crate this tool wrote; else :class:`OutputRefused`."""
    if os.path.islink(output.rstrip(os.sep) or output):  # "link/" too: the crate is written at the path without it
        # The zip is replaced as a whole (a file would take the link's place) and a folder's files are renamed
        # into it: neither would be where the link points, as the file targets refuse links.
        raise OutputRefused(f"{output} is a symbolic link: --to ro-crate would put its crate in the link's place; "
                            "give the link's target (nothing was written)")
    if output.endswith(".zip"):
        if os.path.isdir(output):
            raise OutputRefused(f"{output} is a folder: give a new .zip path")
        if not os.path.lexists(output):
            return None
        return _zip_crate(output)
    if not os.path.lexists(output):
        return None
    if not os.path.isdir(output) or os.path.islink(output):
        raise OutputRefused(f"{output} exists and is not a folder: give a new or empty folder")
    if not os.listdir(output):
        return set()
    metadata = os.path.join(output, METADATA)
    found = None
    if os.path.isfile(metadata):
        with open(metadata, "rb") as handle:
            found = crate_files(handle.read())
    if found is None:
        raise OutputRefused(f"{output} is a folder that is neither empty nor a crate procrecord wrote: "
                            "give a new or empty folder (nothing was written)")
    return found


def _zip_crate(output: str) -> set[str]:
    """The earlier crate's files in the existing zip ``output`` (none for an empty zip); :class:`OutputRefused`
    for a zip holding anything else, and for a file that is not a readable zip."""
    refused = (f"{output} is a zip that is neither empty nor a crate procrecord wrote: "
               "give a new .zip path (nothing was written)")
    try:
        with zipfile.ZipFile(output) as archive:
            names = archive.namelist()
            if not names:
                return set()
            if METADATA not in names:
                raise OutputRefused(refused)
            found = crate_files(archive.read(METADATA))
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
        raise OutputRefused(f"{output} exists and is not a readable zip ({exc}): "
                            "give a new .zip path (nothing was written)") from exc
    if found is None:
        raise OutputRefused(refused)
    return found


def _carry_members(old: str, new: str, earlier: set[str]) -> None:
    """Copy into the zip ``new`` the members of ``old`` that are not the earlier crate's own files (nor in
    ``new``): a zip keeps what else it held, as a crate folder does."""
    with zipfile.ZipFile(old) as source, zipfile.ZipFile(new, "a") as target:
        written = set(target.namelist())
        for info in source.infolist():
            if info.filename in earlier or info.filename in written:
                continue
            if info.is_dir():
                target.writestr(info, b"")
                continue
            with source.open(info) as src, target.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def check_remote_output(url: str) -> set[str]:
    """:func:`check_output` for a folder in object storage: the earlier crate's files (none for an empty prefix)."""
    from procrecord.bulk.storage import filesystem

    fs, path = filesystem(url)
    path = path.rstrip("/")
    if not fs.find(path):
        return set()
    try:
        metadata = fs.cat_file(f"{path}/{METADATA}")
    except FileNotFoundError:
        metadata = b""
    found = crate_files(metadata)
    if found is None:
        raise OutputRefused(f"{url} holds objects and no crate procrecord wrote: "
                            "give a new or empty prefix (nothing was written)")
    return found


def remove_remote(url: str, files: set[str]) -> None:
    """Remove these files (relative paths) of an earlier crate under ``url``, those that are there."""
    from procrecord.bulk.storage import filesystem

    fs, path = filesystem(url)
    path = path.rstrip("/")
    doomed = [f"{path}/{rel}" for rel in sorted(files)]
    doomed = [p for p in doomed if fs.exists(p)]
    if doomed:
        fs.rm(doomed)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _one_or_many(values: list[Any]) -> Any:
    """RO-Crate 1.1 writes a single value, not a list of one."""
    return values[0] if len(values) == 1 else values


def _schema_url(record: dict[str, Any]) -> str:
    from procrecord.record.schemas import schema_id

    return schema_id(str(record.get("schema_version")))
