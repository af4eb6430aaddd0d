"""Run by tests/test_legacy_readers.py under a scratch interpreter that has kwutil (and geowatch).

Not a test module (pytest does not collect it): it is executed as a script, with a JSON request on
stdin and a JSON answer on stdout, so that neither kwutil nor geowatch is ever imported by the
project's own interpreter.

Requests:
  {"do": "kwutil-records", "job": {...}, "modes": [...], "dir": path}
      kwutil's ProcessContext runs the job once per telemetry mode; answers {mode: obj}, and the
      public names of the class.
  {"do": "read", "dir": path, "cases": {label: {"pred": item, "track": item}}}
      geowatch's mlops readers on each case's items; answers {label: {reader: {"columns": {k: type}}
      or {"error": text}}}.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import warnings


def kwutil_records(request: dict) -> dict:
    from kwutil.process_context import ProcessContext

    job = request["job"]
    out: dict = {}
    for mode in request["modes"]:
        switches = {"none": {}, "most": {"request_most_telemetry": False},
                    "all": {"request_all_telemetry": False}}[mode]
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            ctx = ProcessContext(name=job["name"], args=job["args"], config=job["config"], extra=job["extra"],
                                 track_emissions=job["track_emissions"], **switches)
            ctx.start()
            ctx.add_disk_info(request["dir"])
            try:
                import torch

                ctx.add_device_info(torch.device("cpu"))
            except ImportError:
                pass
            obj = ctx.stop()
        out[mode] = json.loads(json.dumps(obj, default=str))
    public = sorted(n for n in dir(ProcessContext()) if not n.startswith("_"))
    return {"records": out, "public": public}


def _types(value: object, prefix: str = "") -> dict:
    """Flatten a reader's output to {dotted key: type name}."""
    if isinstance(value, dict):
        flat: dict = {}
        for key, sub in value.items():
            flat.update(_types(sub, f"{prefix}{key}." if not isinstance(sub, dict) or sub else f"{prefix}{key}"))
        return flat if flat or not prefix else {prefix.rstrip("."): "dict"}
    return {prefix.rstrip("."): type(value).__name__}


def _call(fn, *args) -> dict:
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn(*args)
    except Exception as exc:  # what the reader does is the answer
        return {"error": f"{type(exc).__name__}: {exc}"}
    if hasattr(result, "to_dict") and not isinstance(result, dict):
        result = dict(result)
    return {"columns": _types(result if isinstance(result, dict) else {"value": result})}


def read(request: dict) -> dict:
    os.environ.setdefault("GEOWATCH_PREIMPORT", "0")
    from geowatch.mlops import aggregate_loader
    from geowatch.mlops import smart_result_parser as srp

    answers: dict = {}
    for label, case in request["cases"].items():
        pred, track = case["pred"], case["track"]
        root = os.path.join(request["dir"], label)
        files = {}
        for node, name, item in (("bas_pxl", "pred.kwcoco.json", pred), ("bas_poly", "poly.kwcoco.json", track)):
            node_dpath = os.path.join(root, "pred", "flat", node, f"{node}_id_0")
            os.makedirs(node_dpath, exist_ok=True)
            files[node] = os.path.join(node_dpath, name)
            with open(files[node], "w") as handle:
                json.dump({"info": [item], "images": [], "annotations": [], "categories": []}, handle)
        found = _call(lambda pred=pred, track=track: {"count": len(list(srp.find_info_items([pred, track], {"process", "process_context"}))),
                               "names": [i["properties"]["name"] for i in srp.find_info_items([pred], {"process", "process_context"})]})
        answers[label] = {
            "find_info_items": found,
            "_handle_process_item": _call(lambda pred=pred: srp._handle_process_item(pred)["properties"]),
            "parse_resource_item": _call(srp.parse_resource_item, pred),
            "new_process_context_parser(pred)": _call(aggregate_loader.new_process_context_parser, pred),
            "new_process_context_parser(track)": _call(aggregate_loader.new_process_context_parser, track),
            "load_result_resolved(bas_pxl)": _call(aggregate_loader.load_result_resolved, os.path.dirname(files["bas_pxl"])),
            "load_result_resolved(bas_poly)": _call(aggregate_loader.load_result_resolved, os.path.dirname(files["bas_poly"])),
            "trace_json_lineage": _call(srp.trace_json_lineage, files["bas_pxl"]),
        }
    return {"answers": answers}


def main() -> None:
    request = json.load(sys.stdin)
    answer = {"kwutil-records": kwutil_records, "read": read}[request["do"]](request)
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
