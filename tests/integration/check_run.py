#!/usr/bin/env python3
"""Checks a run's block records against the plan.

Usage: check_run.py PLAN.jsonl RECORDS [--serial SERIAL_RECORDS]

RECORDS holds one line per finished block, written by the block's command:
"task block_id attempt start_ns end_ns read_offset read_shape write_offset
write_shape". Every block of the plan must appear exactly once, and start
only after each of its upstream blocks ended (dependency order). With
--serial, the blocks and their ROIs must equal those of a serial run.
Exits 0 when all holds, printing what does not otherwise."""
import json
import sys


def load_records(path):
    records = {}
    problems = []
    for line in open(path):
        task, block_id, attempt, start, end, ro, rs, wo, ws = line.split()
        key = (task, int(block_id))
        if key in records:
            problems.append(f"block {key} finished twice")
        records[key] = (int(start), int(end), ro, rs, wo, ws)
    return records, problems


def main():
    plan = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    records, problems = load_records(sys.argv[2])
    for block in plan:
        key = (block["task"], block["block_id"])
        if key not in records:
            problems.append(f"block {key} never finished")
            continue
        start = records[key][0]
        for up in block["upstream"]:
            up_key = (up[0], up[1])
            if up_key in records and records[up_key][1] > start:
                problems.append(f"block {key} started before upstream {up_key} ended")
    extra = set(records) - {(b["task"], b["block_id"]) for b in plan}
    if extra:
        problems.append(f"blocks not in the plan: {sorted(extra)[:5]}")
    if len(sys.argv) > 4 and sys.argv[3] == "--serial":
        serial, _ = load_records(sys.argv[4])
        for key, rec in records.items():
            if key in serial and serial[key][2:] != rec[2:]:
                problems.append(f"block {key} has other ROIs than in the serial run")
        if set(serial) != set(records):
            problems.append("the serial run finished other blocks")
    for p in problems[:10]:
        print(p)
    print(f"{len(plan)} blocks in the plan, {len(records)} finished, {len(problems)} problems")
    return 1 if problems else 0


sys.exit(main())
