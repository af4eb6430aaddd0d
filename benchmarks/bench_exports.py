"""Exports: each target's cost per record against its own library building and serialising the same
objects (same run, interleaved), table rows per second per core, and peak RSS against the record count.

Usage: python benchmarks/bench_exports.py [--records 2000] [--table-records 8000] [--file-records 2000]
       [--rocrate-records 2000] [--repeat 3] [--rss] [--only tables] [--no-writer-records]   (tables: also the pipeline with an exporter doing nothing)
       python benchmarks/bench_exports.py --only --rss-events [--rss-counts 5000 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import uuid

from _common import DATA, best_interleaved, child_peak_rss_mb, environment, procrecord_cmd, realistic_record, write_jsonl


def prepared(count: int) -> list[dict]:
    """Records as exporters receive them: current version, with 1.1 lineage and artifacts."""
    from procrecord.exports import prepare

    out = []
    for i in range(count):
        record = prepare(realistic_record(i))
        record["root"] = {"id": str(uuid.UUID(int=1, version=4))}
        if i:
            record["parent"] = {"id": str(uuid.UUID(int=i, version=4)), "name": "step"}
        record["inputs"] = [{"uri": f"/data/in/{i}.tif", "role": "data", "kind": "file", "size_bytes": 10, "sha256": "ab" * 32}]
        record["outputs"] = [{"uri": f"/data/out/{i}.tif", "role": "data", "kind": "file", "size_bytes": 10}]
        out.append(record)
    return out


def openlineage_baseline(records: list[dict], out: str) -> None:
    """The same two RunEvents per record, built directly with openlineage-python and serialised by Serde."""
    from openlineage.client import event_v2 as ev
    from openlineage.client import facet_v2 as fc
    from openlineage.client.serde import Serde

    from procrecord.exports.openlineage import _Facets

    facet_cls = _Facets().record_facet
    producer = "https://pypi.org/project/procrecord/0/"
    with open(out, "w") as handle:
        for r in records:
            env = [fc.environment_variables_run.EnvironmentVariable(name=k, value=v)
                   for k, v in r["invocation"]["environment"].items()]
            facets = {"processing_engine": fc.processing_engine_run.ProcessingEngineRunFacet(version="0", name="procrecord"),
                      "procrecord": facet_cls(record=r),
                      "environmentVariables": fc.environment_variables_run.EnvironmentVariablesRunFacet(environmentVariables=env)}
            if "parent" in r:
                facets["parent"] = fc.parent_run.ParentRunFacet(run=fc.parent_run.Run(runId=r["parent"]["id"]),
                                                                job=fc.parent_run.Job(namespace="p", name="step"))
            job = ev.Job(namespace="p", name=r["name"], facets={
                "jobType": fc.job_type_job.JobTypeJobFacet(processingType="BATCH", integration="PROCRECORD", jobType="PROCESS"),
                "sourceCodeLocation": fc.source_code_location_job.SourceCodeLocationJobFacet(
                    type="git", url=r["git"]["remote_url"], version=r["git"]["commit"])})
            run = ev.Run(runId=r["id"], facets=facets)
            inputs = [ev.InputDataset(namespace="file", name=a["uri"]) for a in r["inputs"]]
            outputs = [ev.OutputDataset(namespace="file", name=a["uri"]) for a in r["outputs"]]
            for kind, when in ((ev.RunState.START, r["timing"]["start_time"]), (ev.RunState.COMPLETE, r["timing"]["stop_time"])):
                event = ev.RunEvent(eventType=kind, eventTime=when, run=run, job=job, inputs=inputs, outputs=outputs,
                                    producer=producer)
                handle.write(Serde.to_json(event) + "\n")


def otel_baseline(records: list[dict], out: str) -> None:
    """The same spans (attributes precomputed) as SDK ReadableSpans, encoded and written as OTLP/JSON."""
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, SpanKind

    from procrecord.exports.otel import _sdk, build_span

    sdk = _sdk()
    # The attributes our exporter derives from each record, handed to the SDK ready-made.
    ready = [(s.name, s.context, s.parent, dict(s.resource.attributes), dict(s.attributes), s.status, s.start_time,
              s.end_time) for s in (build_span(r, sdk)[0] for r in records)]
    t0 = time.perf_counter()
    with open(out, "w") as handle:
        batch = []
        for name, ctx, parent, res, attrs, status, start, end in ready:
            batch.append(ReadableSpan(name=name, context=SpanContext(ctx.trace_id, ctx.span_id, False),
                                      parent=parent, resource=Resource(res), attributes=attrs, kind=SpanKind.INTERNAL,
                                      status=status, start_time=start, end_time=end, instrumentation_scope=sdk[-1]))
            if len(batch) == 512:
                handle.write(MessageToJson(encode_spans(batch), indent=None) + "\n")
                batch = []
        if batch:
            handle.write(MessageToJson(encode_spans(batch), indent=None) + "\n")
    return time.perf_counter() - t0


def rocrate_baseline(records: list[dict], folder: str) -> float:
    """The same crate built directly with ro-crate-py: a CreateAction per record with its instrument,
    agent, environment, object/result files and the record as a file, entities shared by id through a
    dict (ro-crate-py's own look-up of an unknown id walks every entity), written as a folder. Returns
    the time of building and writing (the records' JSON staged as files is part of it, as in the export)."""
    import shutil

    import orjson
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    stage = tempfile.mkdtemp(prefix="bench-crate-stage-")
    t0 = time.perf_counter()
    crate = ROCrate(version="1.1")
    crate.metadata.extra_contexts.append("https://w3id.org/ro/terms/workflow-run/context")
    profile = crate.add(ContextEntity(crate, "https://w3id.org/ro/wfrun/process/0.5",
                                      properties={"@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"}))
    crate.root_dataset["conformsTo"] = profile
    crate.root_dataset["name"] = "baseline"
    crate.root_dataset["license"] = crate.add(ContextEntity(crate, "https://spdx.org/licenses/CC-BY-4.0",
                                                            properties={"@type": "CreativeWork", "name": "CC-BY-4.0"}))
    known: dict[str, object] = {}

    def entity(identifier: str, properties: dict):
        if identifier not in known:
            known[identifier] = crate.add(ContextEntity(crate, identifier, properties=properties))
        return known[identifier]

    actions, files = [], []
    for r in records:
        program = os.path.basename(r["invocation"]["argv"][0])
        instrument = entity(f"#software-{program}", {"@type": "SoftwareApplication", "name": program})
        action = crate.add_action(instrument, identifier=f"#run-{r['id']}", properties={
            "@type": "CreateAction", "name": f"Run of {r['name']}",
            "actionStatus": "http://schema.org/CompletedActionStatus",
            "startTime": r["timing"]["start_time"], "endTime": r["timing"]["stop_time"],
            "description": " ".join(r["invocation"]["argv"])})
        action["agent"] = entity(f"#person-{r['host']['user']}", {"@type": "Person", "name": r["host"]["user"]})
        action["environment"] = [entity(f"#env-{r['id']}-{k}", {"@type": "PropertyValue", "name": k, "value": v})
                                 for k, v in r["invocation"]["environment"].items()]
        for side, prop in (("inputs", "object"), ("outputs", "result")):
            made = []
            for a in r[side]:
                props = {"@type": "File", "name": os.path.basename(a["uri"]), "contentSize": str(a["size_bytes"])}
                if a.get("sha256"):
                    props["sha256"] = a["sha256"]
                made.append(entity("file://" + a["uri"], props))
            files.extend(made)
            action[prop] = made[0] if len(made) == 1 else made
        path = os.path.join(stage, f"{r['id']}.json")
        with open(path, "wb") as out:
            out.write(orjson.dumps(r, option=orjson.OPT_INDENT_2))
        action["subjectOf"] = crate.add_file(path, dest_path=f"records/{r['id']}.json", properties={
            "name": f"record {r['id']}", "encodingFormat": "application/json"})
        actions.append(action)
    crate.root_dataset["mentions"] = actions
    crate.root_dataset["hasPart"] = crate.root_dataset["hasPart"] + list(dict.fromkeys(files))
    crate.write(folder)
    took = time.perf_counter() - t0
    shutil.rmtree(stage, ignore_errors=True)
    return took


def rocrate_pair(records: list[dict], tmp: str):
    """The baseline and the export, each into a new folder (removed after, untimed)."""
    import shutil

    count = [0]

    def fresh() -> str:
        count[0] += 1
        return os.path.join(tmp, f"crate{count[0]}")

    def baseline() -> float:
        folder = fresh()
        took = rocrate_baseline(records, folder)
        shutil.rmtree(folder, ignore_errors=True)
        return took

    def subject() -> float:
        folder = fresh()
        t0 = time.perf_counter()
        ours("ro-crate", records, folder)
        took = time.perf_counter() - t0
        shutil.rmtree(folder, ignore_errors=True)
        return took

    return baseline, subject


def ours(target: str, records: list[dict], out: str, **options) -> None:
    from procrecord.exports import ExportOptions, exporter

    subject = exporter(target, ExportOptions(output=out, **options))
    for record in records:
        subject.add(record)
    subject.close()


def mlflow_pair(records: list[dict], folder: str):
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from mlflow.utils import validation

    from procrecord.exports import ExportOptions, exporter
    from procrecord.exports.mlflow import metrics_of, params_of, tags_of

    count = [0]

    def baseline():
        count[0] += 1
        client = MlflowClient(tracking_uri=f"file://{folder}/base{count[0]}")
        exp = client.create_experiment("b")
        ready = [(tags_of(r), params_of(r, validation)[0], metrics_of(r)) for r in records]
        import orjson

        t0 = time.perf_counter()
        for r, (tags, params, metrics) in zip(records, ready):
            run = client.create_run(exp, start_time=0, tags=tags, run_name=r["name"])
            client.log_batch(run.info.run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
                             params=[Param(k, v) for k, v in params.items()])
            client.log_text(run.info.run_id, orjson.dumps(r, option=orjson.OPT_INDENT_2).decode(), "procrecord.json")
            client.set_terminated(run.info.run_id, "FINISHED", end_time=1)
        return time.perf_counter() - t0

    def subject():
        count[0] += 1
        target = exporter("mlflow", ExportOptions(endpoint=f"file://{folder}/ours{count[0]}"))
        t0 = time.perf_counter()
        for r in records:
            target.add(r)
        target.close()
        return time.perf_counter() - t0

    return baseline, subject


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--table-records", type=int, default=8000, help="tables: records in the JSONL inputs")
    parser.add_argument("--file-records", type=int, default=2000, help="tables: records of one file each")
    parser.add_argument("--no-writer-records", action="store_true",
                        help="tables: only the ~5.7 KB sweep records, not also records as the writer writes them")
    parser.add_argument("--mlflow-records", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rss", action="store_true", help="also peak RSS of the CLI at 5k and 20k records")
    parser.add_argument("--rss-events", action="store_true",
                        help="peak RSS of `export --to openlineage` and `--to otel` (fresh process each) at --rss-counts records")
    parser.add_argument("--rss-counts", nargs="*", type=int, default=[5000, 20000])
    parser.add_argument("--rocrate-records", type=int, default=2000)
    parser.add_argument("--only", nargs="*", default=["openlineage", "otel", "mlflow", "rocrate", "tables"],
                        help="parts to run (openlineage otel mlflow rocrate tables)")
    args = parser.parse_args()
    print(f"# bench_exports ({environment()})")
    from procrecord.bulk.engine import tune_gc

    tune_gc()
    records = prepared(args.records)
    tmp = tempfile.mkdtemp(prefix="bench-exports-")
    out = os.path.join(tmp, "out")
    n = len(records)

    if "openlineage" in args.only:
        run_openlineage(records, out, n, args.repeat)
    if "otel" in args.only:
        run_otel(records, out, n, args.repeat)
    if "mlflow" in args.only:
        run_mlflow(records, tmp, n, args)
    if "rocrate" in args.only:
        run_rocrate(records, tmp, args)
    if "tables" in args.only:
        run_tables(args)
    if args.rss:
        run_rss(out)
    if args.rss_events:
        run_rss_events(out, args.rss_counts)


def run_openlineage(records, out, n, repeat):
    times = best_interleaved({"openlineage library": lambda: openlineage_baseline(records, out),
                              "openlineage export": lambda: ours("openlineage", records, out)}, repeat)
    base, mine = times["openlineage library"], times["openlineage export"]
    print(f"openlineage: library {n / base:,.0f} records/s, export {n / mine:,.0f} records/s, ratio {mine / base:.2f}x (goal <= 1.5x)")


def run_otel(records, out, n, repeat):
    times = best_interleaved({"otel library": lambda: otel_baseline(records, out),
                              "otel export": lambda: ours("otel", records, out)}, repeat)
    base, mine = times["otel library"], times["otel export"]
    print(f"otel: SDK {n / base:,.0f} records/s, export {n / mine:,.0f} records/s, ratio {mine / base:.2f}x (goal <= 1.5x)")


def run_mlflow(records, tmp, n, args):
    baseline, subject = mlflow_pair(records[: args.mlflow_records], tmp)
    times = best_interleaved({"mlflow client": baseline, "mlflow export": subject}, args.repeat)
    base, mine = times["mlflow client"], times["mlflow export"]
    m = min(n, args.mlflow_records)
    print(f"mlflow (folder store): client {m / base:,.0f} runs/s, export {m / mine:,.0f} runs/s, ratio {mine / base:.2f}x (goal <= 1.5x)")


def run_rocrate(records, tmp, args):
    subset = records[: args.rocrate_records]
    baseline, subject = rocrate_pair(subset, tmp)
    times = best_interleaved({"ro-crate-py": baseline, "ro-crate export": subject}, args.repeat)
    base, mine = times["ro-crate-py"], times["ro-crate export"]
    m = len(subset)
    print(f"ro-crate (folder, {m} records): ro-crate-py {m / base:,.0f} records/s, export {m / mine:,.0f} records/s, "
          f"ratio {mine / base:.2f}x (goal <= 1.5x)")


TABLES = ("parquet", "csv", "jsonl-flat")


def table_inputs(count: int, files: int, parts: int = 4) -> dict[str, list[str]]:
    """The tables' inputs: ``count`` records as ``parts`` JSONL files, of version 1.1 (current) and 1.0
    (upgraded on the way), and ``files`` 1.1 records one per file."""
    import orjson

    from procrecord.exports import prepare
    from procrecord.record.schemas import current_version

    inputs: dict[str, list[str]] = {"jsonl 1.0": [], f"jsonl {current_version()}": [], "one file each": []}
    source = write_jsonl(DATA / f"exports-{count}.jsonl", count)
    folder = DATA / f"exports-tables-{count}-{current_version()}"
    per = -(-count // parts)
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as lines, contextlib.ExitStack() as stack:
            outs = [stack.enter_context(open(folder / f"v10-{i}.jsonl", "wb")) for i in range(parts)]
            cur = [stack.enter_context(open(folder / f"cur-{i}.jsonl", "wb")) for i in range(parts)]
            for index, line in enumerate(lines):
                outs[index // per].write(line)
                cur[index // per].write(orjson.dumps(prepare(orjson.loads(line))) + b"\n")
        (folder / "done").touch()
    inputs["jsonl 1.0"] = [str(folder / f"v10-{i}.jsonl") for i in range(parts)]
    inputs[f"jsonl {current_version()}"] = [str(folder / f"cur-{i}.jsonl") for i in range(parts)]
    single = DATA / f"exports-tables-files-{files}-{current_version()}"
    if not (single / "done").exists():
        single.mkdir(parents=True, exist_ok=True)
        with open(inputs[f"jsonl {current_version()}"][0], "rb") as lines:
            for index, line in zip(range(files), lines):
                (single / f"{index:06d}.json").write_bytes(line)
        (single / "done").touch()
    inputs["one file each"] = [str(single)]
    return inputs


def writer_config(i: int) -> dict:
    """The config a sweep passes to its Recorder: what varies between runs, and keys only some runs have."""
    config = {"lr": round(0.0001 * (1 + i % 10), 6), "seed": i, "batch_size": 2 ** (4 + i % 4),
              "model": {"arch": ("resnet", "vit", "unet")[i % 3], "depth": 18 + 16 * (i % 3), "pretrained": i % 2 == 0},
              "data": {"train": f"/data/sweep/train-{i % 5}.kwcoco.zip", "chip_dims": [224, 224]},
              "trainer": {"max_epochs": 20 + i % 30, "precision": "16-mixed"}}
    if i % 4 == 0:
        config["dropout"] = 0.1 * (i % 5)
    return config


def _writer_record(i: int, output: str | None = None) -> dict:
    """One record made by the real Recorder with the collectors ``procrecord run`` uses by default."""
    from procrecord import Recorder

    run = f"fit_v{i}"
    recorder = Recorder("fit", argv=["fit", f"--config=configs/{run}.yaml", f"--seed={i}"], config=writer_config(i),
                        output=output, collectors=["invocation", "host", "git", "distributed"], handle_signals=False)
    recorder.start()
    return recorder.stop(exit_code=0 if i % 17 else 1)


def writer_inputs(count: int, files: int, parts: int = 4) -> dict[str, list[str]]:
    """Records as the writer writes them by default (``procrecord run``'s collectors, a config per run):
    ``count`` records in ``parts`` JSONL files and ``files`` records written by the Recorder itself, one per file."""
    import orjson

    from procrecord.record.schemas import current_version

    version = current_version()
    folder = DATA / f"exports-writer-{count}-{version}"
    per = -(-count // parts)
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            outs = [stack.enter_context(open(folder / f"w-{i}.jsonl", "wb")) for i in range(parts)]
            for i in range(count):
                outs[i // per].write(orjson.dumps(_writer_record(i)) + b"\n")
        (folder / "done").touch()
    single = DATA / f"exports-writer-files-{files}-{version}"
    if not (single / "done").exists():
        single.mkdir(parents=True, exist_ok=True)
        for i in range(files):
            _writer_record(i, str(single / f"{i:06d}.json"))
        (single / "done").touch()
    return {f"writer jsonl {version}": [str(folder / f"w-{i}.jsonl") for i in range(parts)],
            "writer one file each": [str(single)]}


def mean_size(sources: list[str]) -> float:
    """Mean bytes per record of ``sources`` (JSONL lines or one-record files)."""
    total = count = 0
    for source in sources:
        if os.path.isdir(source):
            names = [n for n in os.listdir(source) if n.endswith(".json")]
            total += sum(os.path.getsize(os.path.join(source, n)) for n in names)
            count += len(names)
        else:
            total += os.path.getsize(source)
            with open(source, "rb") as handle:
                count += sum(1 for _ in handle)
    return total / max(count, 1)


def parse_cpu(sources: list[str]) -> tuple[float, int]:
    """CPU seconds to read and orjson-parse every record of ``sources`` (the baseline), and the count."""
    import orjson

    start, count = time.process_time(), 0
    for source in sources:
        if os.path.isdir(source):
            for name in sorted(os.listdir(source)):
                if name.endswith(".json"):
                    with open(os.path.join(source, name), "rb") as handle:
                        orjson.loads(handle.read())
                    count += 1
        else:
            with open(source, "rb") as handle:
                for line in handle:
                    orjson.loads(line)
                    count += 1
    return time.process_time() - start, count


def validate_cpu(sources: list[str]) -> float:
    """CPU seconds to read, parse and validate (jsonschema-rs ``is_valid``, against the record's own version)
    every record of ``sources``: what an export must do before any work of its own (its floor)."""
    import orjson

    from procrecord.record.validation import is_valid

    start = time.process_time()
    for source in sources:
        if os.path.isdir(source):
            for name in sorted(os.listdir(source)):
                if name.endswith(".json"):
                    with open(os.path.join(source, name), "rb") as handle:
                        record = orjson.loads(handle.read())
                    assert is_valid(record, record["schema_version"])
        else:
            with open(source, "rb") as handle:
                for line in handle:
                    record = orjson.loads(line)
                    assert is_valid(record, record["schema_version"])
    return time.process_time() - start


def export_cpu(fmt: str, sources: list[str], out: str) -> tuple[float, int]:
    """CPU seconds of the whole bulk export (read, validate, upgrade, flatten, write) with --jobs 1."""
    from procrecord.exports import ExportOptions, exporter
    from procrecord.exports.pipeline import PrepareRecord, run_export

    start = time.process_time()
    target = exporter(fmt, ExportOptions(output=out))
    counts = run_export(sources, target, PrepareRecord(), 1, 1 << 30, lambda o: None, lambda w: None)
    return time.process_time() - start, counts.exported


def _size(record) -> int:
    return len(record)


def pipeline_cpu(sources: list[str]) -> float:
    """CPU seconds of the bulk export's own pipeline with an exporter that does nothing (read, validate,
    upgrade, stage, hand over): what a table export costs before any table work."""
    from procrecord.exports import ExportOptions
    from procrecord.exports.interface import Exporter
    from procrecord.exports.pipeline import PrepareRecord, run_export

    class Nothing(Exporter):
        name = "nothing"

        def add(self, record):
            return []

        def stage(self):
            return _size  # a small staged value: a whole record kept per entry would cost memory the real ones do not

        def add_staged(self, staged):
            return []

    start = time.process_time()
    run_export(sources, Nothing(ExportOptions()), PrepareRecord(), 1, 1 << 30, lambda o: None, lambda w: None)
    return time.process_time() - start


def run_tables(args) -> None:
    """Records/s per core (CPU time) of ``procrecord export --to parquet|csv|jsonl-flat --jobs 1``'s
    work, in this process, with the orjson parse of the same records as the same-run baseline."""
    import pyarrow.csv
    import pyarrow.parquet

    assert pyarrow.csv and pyarrow.parquet  # imported before timing: imports are not what is measured

    import procrecord.exports.tables  # noqa: F401
    from procrecord.record.validation import is_valid

    is_valid({}, "1.0")
    is_valid({}, "1.1")  # compile the validators before timing
    inputs = table_inputs(args.table_records, args.file_records)
    if not args.no_writer_records:
        inputs.update(writer_inputs(args.table_records, args.file_records))
    out = tempfile.mkdtemp(prefix="bench-tables-")
    summary = []
    for name, sources in inputs.items():
        cpu: dict[str, list[float]] = {"parse": [], "floor": [], "pipeline": [], **{fmt: [] for fmt in TABLES}}
        count = 0
        for _ in range(args.repeat):
            seconds, count = parse_cpu(sources)
            cpu["parse"].append(seconds)
            cpu["floor"].append(validate_cpu(sources))
            cpu["pipeline"].append(pipeline_cpu(sources))
            for fmt in TABLES:
                seconds, exported = export_cpu(fmt, sources, os.path.join(out, "t." + fmt))
                assert exported == count, (fmt, exported, count)
                cpu[fmt].append(seconds)
        base = min(cpu["parse"])
        size = mean_size(sources)
        floor = min(cpu["floor"])
        print(f"tables, {name} ({count} records, {size / 1024:.1f} KB each): orjson parse {count / base:,.0f} records/s per core; "
              f"parse + validation (an export's floor) {count / floor:,.0f}/s, {floor / base:.2f}x the parse; "
              f"the bulk pipeline with an exporter doing nothing {count / min(cpu['pipeline']):,.0f}/s, "
              f"{min(cpu['pipeline']) / base:.2f}x")
        for fmt in TABLES:
            best = min(cpu[fmt])
            rate = count / best
            summary.append((name, size, fmt, rate, best / base))
            print(f"  {fmt}: {rate:,.0f} records/s per core (CPU time), {best / base:.2f}x the parse "
                  f"(goal >= 20,000/s: {'met' if rate >= 20000 else 'NOT met'})")
    print("summary (input, KB per record, format, records/s per core, x the orjson parse of the same records):")
    for name, size, fmt, rate, ratio in summary:
        print(f"  {name:24s} {size / 1024:5.1f} KB  {fmt:10s} {rate:9,.0f}/s  {ratio:5.2f}x  {'met' if rate >= 20000 else 'NOT met'}")
    if args.rss:
        for count in (5000, 20000):
            src = write_jsonl(DATA / f"exports-{count}.jsonl", count)
            for fmt in TABLES:
                rss = child_peak_rss_mb([*procrecord_cmd(), "export", "--to", fmt, "--jobs", "1",
                                         "-o", os.path.join(out, "rss." + fmt), str(src)])
                print(f"peak RSS, export --to {fmt} --jobs 1, {count} records (one JSONL file): {rss:.0f} MB")


def run_rss(out):
    for count in (5000, 20000):
        src = write_jsonl(DATA / f"exports-{count}.jsonl", count)
        for target in ("openlineage", "otel"):  # the tables' RSS: run_tables
            rss = child_peak_rss_mb([*procrecord_cmd(), "export", "--to", target, "-o", out + "-rss", str(src)])
            print(f"peak RSS, export --to {target}, {count} records: {rss:.0f} MB")


def run_rss_events(out, counts):
    """Peak RSS of the event exports in a fresh CLI process per target and record count, and its growth."""
    peaks: dict[str, list[float]] = {}
    for count in counts:
        src = write_jsonl(DATA / f"exports-{count}.jsonl", count)
        for target in ("openlineage", "otel"):
            rss = child_peak_rss_mb([*procrecord_cmd(), "export", "--to", target, "-o", out + "-rss-events", str(src)])
            peaks.setdefault(target, []).append(rss)
            print(f"peak RSS, export --to {target}, {count} records: {rss:.0f} MB")
    for target, values in peaks.items():
        print(f"{target}: peak RSS {values[-1] / values[0]:.2f}x for {counts[-1] / counts[0]:.0f}x the records (flat: ~1.0x)")


if __name__ == "__main__":
    main()
