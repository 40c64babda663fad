"""daisy2_markers.py - done markers as daisy 2.0 writes them, for tests

Written from reading funkelab/daisy branch v2.0,
daisy-core/src/done_marker.rs (compute_task_hash, compute_grid_shape,
grid_coord, open_or_create) and task.rs (Fit), independently of the C code
in src/markers_daisy2.c, so that the two check each other:

  python3 daisy2_markers.py PIPELINE.json DIR TASK [BLOCK_INDEX ...]
      DIR/TASK as a daisy 2.0 run leaves it, with the blocks at the given
      daisy block indices (comma-separated grid positions, e.g. 3 or 1,2)
      marked done
  python3 daisy2_markers.py --hash PIPELINE.json TASK
      print daisy 2.0's daisy_task_hash of the task
"""
import hashlib
import json
import math
import os
import struct
import sys


def task_of(pipeline, task_id):
    for t in json.load(open(pipeline))["tasks"]:
        if t["id"] == task_id:
            return t
    sys.exit(f"no task {task_id!r} in {pipeline}")


def task_hash(t):
    h = hashlib.sha256(b"daisy-done-marker:v1\n")
    for label in ("total", "read", "write"):
        roi = t[label + "_roi"]
        h.update(label.encode() + b":offset=")
        for v in roi["offset"]:
            h.update(struct.pack("<q", v) + b",")
        h.update(b";shape=")
        for v in roi["shape"]:
            h.update(struct.pack("<q", v) + b",")
        h.update(b";")
    h.update(b"fit=" + t.get("fit", "valid").capitalize().encode())
    return h.hexdigest()


def grid_shape(t):
    total, write = t["total_roi"]["shape"], t["write_roi"]["shape"]
    return [max(1, math.ceil(s / w)) for s, w in zip(total, write)]


def write(pipeline, root, task_id, done):
    t = task_of(pipeline, task_id)
    shape = grid_shape(t)
    path = os.path.join(root, task_id)
    os.makedirs(os.path.join(path, "c", *["0"] * (len(shape) - 1)), exist_ok=True)
    meta = {"zarr_format": 3, "node_type": "array", "shape": shape, "data_type": "uint8",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": shape}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0, "codecs": [{"name": "bytes"}],
            "attributes": {"daisy_task_hash": task_hash(t)}, "storage_transformers": []}
    with open(os.path.join(path, "zarr.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    data = bytearray(math.prod(shape))
    for index in done:
        coord = [int(c) for c in index.split(",")]
        flat = 0
        for c, s in zip(coord, shape):
            flat = flat * s + c
        data[flat] = 1
    with open(os.path.join(path, "c", *["0"] * len(shape)), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    if sys.argv[1] == "--hash":
        print(task_hash(task_of(sys.argv[2], sys.argv[3])))
    else:
        write(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
