"""Per-core speed of redaction, legacy upgrade and diff, as ratios against the parse floor measured in the same run.

Usage: python benchmarks/bench_transforms.py [--records 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import orjson

from _common import ROOT, best_interleaved, best_of, environment, realistic_record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of baseline and subject, run in turn")
    args = parser.parse_args()
    print(f"# bench_transforms ({environment()})")
    from procrecord.operations.comparison import diff
    from procrecord.operations.migration import upgrade
    from procrecord.operations.redaction import redact
    from procrecord.record.schemas import current_version
    from procrecord.record.validation import is_valid, validate

    records = [realistic_record(i) for i in range(args.records)]
    lines = [orjson.dumps(r) for r in records]
    print(f"records: {len(lines)}, mean size {sum(map(len, lines)) / len(lines):.0f} bytes")
    # Garbage collection as ``procrecord redact`` / ``upgrade`` set it for a bulk run (one setting for
    # the floor and the subjects alike).
    from procrecord.bulk.engine import tune_gc

    tune_gc()

    def parse_all(data):
        for raw in data:
            orjson.loads(raw)

    # Redaction vs the floor, two ways: end to end (parse + redact(most) + dump, what a bulk run
    # does per record) and the redaction alone (records already parsed, nothing written).
    from procrecord.operations.redaction import _scrubber
    from procrecord.operations.secretnames import secret_kind

    def cold():
        # Start cold each time, as a fresh ``procrecord redact`` does: the scrubbers' caches of strings
        # already seen would otherwise make the later repetitions unrealistically fast.
        _scrubber.cache_clear()
        secret_kind.cache_clear()

    def redact_all():
        cold()
        for raw in lines:
            orjson.dumps(redact(orjson.loads(raw), "most"))

    def redact_only() -> float:
        cold()
        parsed = [orjson.loads(raw) for raw in lines]  # fresh objects, as a real run has; not timed
        start = time.perf_counter()
        for record in parsed:
            redact(record, "most")
        return time.perf_counter() - start

    # The same end to end run over one record repeated: every string is then one seen before (a
    # look-up), which is the least this design can cost; the sweep's ~5 new strings a record (run
    # folders, seeds, notes) are what the difference to the line above costs.
    repeated = [lines[0]] * len(lines)

    def redact_repeated():
        cold()
        for raw in repeated:
            orjson.dumps(redact(orjson.loads(raw), "most"))

    best = best_interleaved({"floor": lambda: parse_all(lines), "redact": redact_all, "alone": redact_only,
                             "repeated": redact_repeated}, repeat=args.repeat)
    floor, t, alone, seen = best["floor"], best["redact"], best["alone"], best["repeated"]
    n = len(lines)
    print(f"parse floor: {floor / n * 1e6:.1f} us/record")
    print(f"redact --level most, end to end (parse + redact + dump): {t / n * 1e6:.1f} us/record = {t / floor:.2f}x the parse floor (goal <= 4x)")
    print(f"redact --level most alone (parsed records, no dump): {alone / n * 1e6:.1f} us/record = {alone / floor:.2f}x the parse floor")
    print(f"redact --level most, end to end, one record repeated (no string new): {seen / n * 1e6:.1f} us/record = "
          f"{seen / floor:.2f}x the parse floor")

    # Upgrade of legacy records (parse + upgrade with both validations + dump): the small handmade
    # record as it is (~1.3 KB), and the same record with fit configs of 112, 160 and 280 keys (~4.5,
    # ~6 and ~10 KB). The work of the step is the same for all of them (the config is moved as it
    # is), so the ratio falls as the config grows; the sizes show where it crosses the goal.
    legacy = json.loads((ROOT / "fixtures" / "0" / "valid" / "handmade-gpu-device-info.json").read_text())

    def fit_config(per_group: int) -> dict:
        return {f"{group}.{name}_{k}": (k * 0.5 if k % 3 else f"/data/set_{k}/part.kwcoco.zip")
                for group in ("data", "model", "optimizer", "trainer") for name in ("opt", "arg") for k in range(per_group)}

    for label, config in (("~1.3 KB legacy records", None), ("~5 KB legacy records", fit_config(14)),
                          ("~6 KB legacy records", fit_config(20)), ("~10 KB legacy records", fit_config(35))):
        legacy_lines = []
        for i in range(len(lines)):
            rec = copy.deepcopy(legacy)
            rec["properties"]["uuid"] = f"00000000-0000-4000-8000-{i:012d}"
            if config is not None:
                rec["properties"]["config"] = dict(config, seed=i)
            legacy_lines.append(orjson.dumps(rec))
        def upgrade_all(data=legacy_lines):
            for raw in data:
                orjson.dumps(upgrade(orjson.loads(raw)))

        # What upgrade() costs around the step: the parse, the validation of the input (version 0)
        # and of the output (the current version) that the issue asks for, and the dump; the step itself left out
        # (its outputs are made beforehand).
        upgraded = [upgrade(orjson.loads(raw)) for raw in legacy_lines]

        def around_step(data=legacy_lines, outputs=upgraded):
            for raw, output in zip(data, outputs):
                is_valid(orjson.loads(raw), "0")
                is_valid(output, current_version())
                orjson.dumps(output)

        best = best_interleaved({"floor": lambda data=legacy_lines: parse_all(data), "upgrade": upgrade_all,
                                 "around": around_step}, repeat=args.repeat)
        legacy_floor, t, around = best["floor"], best["upgrade"], best["around"]
        size = sum(map(len, legacy_lines)) / len(legacy_lines)
        print(f"upgrade 0 -> 1.0, {label} ({size:.0f} bytes): {t / len(legacy_lines) * 1e6:.1f} us/record = "
              f"{t / legacy_floor:.2f}x the parse floor ({legacy_floor / len(legacy_lines) * 1e6:.1f} us) (goal <= 4x); "
              f"parse + both validations + dump without the step {around / legacy_floor:.2f}x")

    # Diff of two ~5 KB records (already loaded and current).
    a, b = records[0], copy.deepcopy(records[1])
    b["python"]["packages"][3]["version"] = "9.9.9"
    b["timing"]["duration_s"] *= 1.2
    assert not validate(a) and not validate(b)
    pairs = 2000
    t = best_of(lambda: [diff(a, b, upgrade=False) for _ in range(pairs)])
    t_full = best_of(lambda: [diff(a, b) for _ in range(pairs)])
    print(f"diff of two ~5 KB records: {t / pairs * 1e3:.3f} ms/pair; with validation and version check {t_full / pairs * 1e3:.3f} ms/pair (goal <= 1 ms)")


if __name__ == "__main__":
    main()
