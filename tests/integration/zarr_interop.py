#!/usr/bin/python3
"""Zarr interoperability of daisy_array with Python zarr (Debian's python3-zarr).

Usage: zarr_interop.py ARRAY_TOOL

ARRAY_TOOL is the built tests/array_tool (a command line over daisy_array).
For every dtype (u1 u2 u4 u8 i1 i2 i4 i8 f4 f8) and every compressor (none,
zlib, gzip, zstd, blosc-lz4, blosc-zstd), both directions:

  C -> Python: array_tool creates an array (non-unit voxel size, negative
     offset) and writes part of it in unaligned blocks (so partial chunks
     and read-modify-write are exercised, and some chunks stay missing);
     Python zarr opens it and must see the same dtype, shape, chunks,
     compressor, fill value, order, filters and funlib attributes
     (resolution, offset), the same contents, and .zarray/.zattrs
     byte-identical to what Python zarr writes for the same parameters.
  Python -> C: Python zarr writes an array the same way (with missing
     chunks), array_tool reads the whole array and a ROI across chunk
     borders, and must return exactly what zarr returns, with the same
     metadata.

Plus: big-endian arrays, nested chunk keys ("/"), blosc auto-shuffle, other
blosc compressors and a uint64 fill value above 2^63.

And Fortran order (order='F'), in 1 to 4 dimensions with shapes that are
not multiples of the chunks (edge chunks): array_tool writes in unaligned
blocks, and Python zarr must read the same values, find .zarray
byte-identical to its own and every chunk, decoded, byte-identical to the
chunk it writes for the same data (the layout, edge padding included);
Python zarr writes with chunks missing, and array_tool must read what zarr
reads, whole and across chunk borders.

And arrays with a 0 in their shape: each side opens the other's and reads
its (empty) whole ROI; a ROI with voxels is refused as outside the array.

Exits 0 when every case passed, 1 when any failed, and 77 (skip) with the
reason when python3-zarr is not installed; it never passes silently.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    import numcodecs
    import zarr
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: python3-zarr is not available ({e}); install python3-zarr "
          "to run the Zarr interoperability test", flush=True)
    sys.exit(77)

DTYPES = ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f4", "f8"]
NUMPY_NAMES = {"u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64",
               "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64",
               "f4": "float32", "f8": "float64"}

# name -> (numcodecs codec or None, array_tool options)
COMPRESSORS = {
    "none": (None, ["--compressor", "none"]),
    "zlib": (numcodecs.Zlib(level=1), ["--compressor", "zlib", "--level", "1"]),
    "gzip": (numcodecs.GZip(level=5), ["--compressor", "gzip", "--level", "5"]),
    "zstd": (numcodecs.Zstd(level=3), ["--compressor", "zstd", "--level", "3"]),
    "blosc-lz4": (numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1),
                  ["--compressor", "blosc", "--cname", "lz4", "--level", "5", "--shuffle", "1"]),
    "blosc-zstd": (numcodecs.Blosc(cname="zstd", clevel=3, shuffle=2),
                   ["--compressor", "blosc", "--cname", "zstd", "--level", "3", "--shuffle", "2"]),
}

SHAPE = (13, 10, 7)
CHUNKS = (4, 3, 5)
VOXEL = (4, 2, 3)
OFFSET = (-8, 6, -9)
# The part written, in voxels: leaves chunks missing on every side.
REGION = (slice(1, 11), slice(0, 7), slice(2, 7))
BLOCK = (5, 4, 3)

failures = []
passed = 0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def fill_for(dt):
    return float("nan") if dt[0] == "f" else (7 if dt[0] == "u" else -3)


def make_data(dt, shape, seed):
    rng = np.random.default_rng(seed)
    t = np.dtype("<" + dt)
    if t.kind == "f":
        a = (rng.standard_normal(shape) * 1000).astype(t)
        flat = a.reshape(-1)
        flat[::17] = np.nan
        flat[5::23] = np.inf
        flat[7::29] = -np.inf
        flat[3::31] = -0.0
        return a
    info = np.iinfo(t)
    a = rng.integers(info.min, info.max, size=shape, dtype=t, endpoint=True)
    flat = a.reshape(-1)
    flat[::19] = info.min
    flat[1::19] = info.max
    return a


def same_bits(a, b):
    """Equal shapes, dtypes (byte order aside) and bits (so NaN == NaN)."""
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind or a.dtype.itemsize != b.dtype.itemsize:
        return False
    a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<")))
    b = np.ascontiguousarray(b.astype(b.dtype.newbyteorder("<")))
    return a.tobytes() == b.tobytes()


def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return a == b


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def world(region):
    """World-unit ROI text (OFFSET:SHAPE) of a voxel region."""
    off = [OFFSET[d] + region[d].start * VOXEL[d] for d in range(3)]
    shp = [(region[d].stop - region[d].start) * VOXEL[d] for d in range(3)]
    return ",".join(map(str, off)) + ":" + ",".join(map(str, shp))


def c_to_python(tool, work, dt, cname):
    codec, opts = COMPRESSORS[cname]
    path = os.path.join(work, f"c2py_{dt}_{cname}")
    data = make_data(dt, SHAPE, zlib.crc32(f'{dt} {cname} 1'.encode()))
    part = np.ascontiguousarray(data[REGION])
    raw = path + ".raw"
    part.astype("<" + dt).tofile(raw)
    fill = fill_for(dt)
    run([tool, "write", path, "--dtype", NUMPY_NAMES[dt],
         "--shape", ",".join(map(str, SHAPE)), "--chunks", ",".join(map(str, CHUNKS)),
         "--voxel-size", ",".join(map(str, VOXEL)), f"--offset={','.join(map(str, OFFSET))}",
         f"--fill={fill}", f"--roi={world(REGION)}", "--block", ",".join(map(str, BLOCK)),
         "--data", raw] + opts)
    z = zarr.open_array(path, mode="r")
    check(z.dtype == np.dtype("<" + dt), f"dtype {z.dtype}")
    check(z.shape == SHAPE, f"shape {z.shape}")
    check(z.chunks == CHUNKS, f"chunks {z.chunks}")
    check(z.order == "C", f"order {z.order}")
    check(z.filters is None, f"filters {z.filters}")
    want_cfg = codec.get_config() if codec else None
    got_cfg = z.compressor.get_config() if z.compressor else None
    check(got_cfg == want_cfg, f"compressor {got_cfg} != {want_cfg}")
    check(same_value(float(z.fill_value), float(fill)), f"fill_value {z.fill_value}")
    attrs = z.attrs.asdict()
    check(attrs == {"resolution": list(VOXEL), "offset": list(OFFSET)}, f"attrs {attrs}")
    expect = np.full(SHAPE, fill, dtype="<" + dt)
    expect[REGION] = part
    check(same_bits(z[:], expect), "contents differ")
    check(same_bits(z[2:9, 1:8, 0:6], expect[2:9, 1:8, 0:6]), "sub-region differs")
    # Chunks outside the region are missing (never written).
    check(not os.path.exists(os.path.join(path, "3.3.0")), "chunk 3.3.0 was written")
    # Metadata byte-identical to Python zarr's for the same parameters.
    ref = path + "_ref"
    r = zarr.open_array(ref, mode="w", shape=SHAPE, chunks=CHUNKS, dtype="<" + dt,
                        compressor=codec, fill_value=fill)
    r.attrs["resolution"] = list(VOXEL)
    r.attrs["offset"] = list(OFFSET)
    for name in (".zarray", ".zattrs"):
        with open(os.path.join(path, name), "rb") as f1, open(os.path.join(ref, name), "rb") as f2:
            a, b = f1.read(), f2.read()
        check(json.loads(a) == json.loads(b), f"{name} differs: {a!r} vs {b!r}")
        check(a == b, f"{name} not byte-identical: {a!r} vs {b!r}")


def python_to_c(tool, work, dt, cname, byteorder="<", sep=None, codec=None, fill=None,
                label=None):
    if codec is None:
        codec = COMPRESSORS[cname][0]
    path = os.path.join(work, f"py2c_{label or (dt + '_' + cname)}")
    fill = fill_for(dt) if fill is None else fill
    kwargs = {"dimension_separator": sep} if sep else {}
    z = zarr.open_array(path, mode="w", shape=SHAPE, chunks=CHUNKS, dtype=byteorder + dt,
                        compressor=codec, fill_value=fill, **kwargs)
    z.attrs["resolution"] = list(VOXEL)
    z.attrs["offset"] = list(OFFSET)
    data = make_data(dt, SHAPE, zlib.crc32(f'{dt} {cname} 2'.encode()))
    z[REGION] = data[REGION]
    z[12, 9, 6] = data[12, 9, 6]    # a lone edge chunk
    expect = z[:]
    out = path + ".out"
    meta = json.loads(run([tool, "read", path, "--out", out]))
    got = np.fromfile(out, dtype="<" + dt).reshape(SHAPE)
    check(same_bits(got, expect), "contents differ")
    check(meta["dtype"] == NUMPY_NAMES[dt], f"dtype {meta['dtype']}")
    check(tuple(meta["shape"]) == SHAPE and tuple(meta["chunks"]) == CHUNKS,
          f"shape/chunks {meta['shape']} {meta['chunks']}")
    check(tuple(meta["voxel_size"]) == VOXEL and tuple(meta["offset"]) == OFFSET,
          f"voxel_size/offset {meta['voxel_size']} {meta['offset']}")
    check(meta["roi_shape"] == [SHAPE[d] * VOXEL[d] for d in range(3)], f"roi {meta}")
    mf = meta["fill_value"]
    mf = float("nan") if mf == "NaN" else mf
    check(same_value(float(mf), float(z.fill_value)) if dt[0] == "f" else mf == int(z.fill_value),
          f"fill_value {meta['fill_value']} != {z.fill_value}")
    want_comp = "none" if codec is None else codec.codec_id
    check(meta["compressor"] == want_comp, f"compressor {meta['compressor']}")
    # A ROI across chunk borders.
    sub = (slice(3, 10), slice(2, 9), slice(1, 6))
    run([tool, "read", path, "--out", out, f"--roi={world(sub)}"])
    got = np.fromfile(out, dtype="<" + dt).reshape(tuple(s.stop - s.start for s in sub))
    check(same_bits(got, expect[sub]), "sub-ROI contents differ")


def nested_c_to_python(tool, work):
    path = os.path.join(work, "c2py_nested")
    data = make_data("i2", SHAPE, 5)
    raw = path + ".raw"
    data.astype("<i2").tofile(raw)
    run([tool, "write", path, "--dtype", "int16", "--shape", ",".join(map(str, SHAPE)),
         "--chunks", ",".join(map(str, CHUNKS)), "--sep", "/", "--compressor", "zstd",
         "--data", raw])
    check(os.path.exists(os.path.join(path, "3", "3", "1")), "no nested chunk file 3/3/1")
    z = zarr.open_array(path, mode="r")
    check(same_bits(z[:], data), "contents differ")
    check(z._dimension_separator == "/", f"separator {z._dimension_separator}")


def autoshuffle_c_to_python(tool, work):
    path = os.path.join(work, "c2py_autoshuffle")
    data = make_data("u1", SHAPE, 6)
    raw = path + ".raw"
    data.tofile(raw)
    run([tool, "write", path, "--dtype", "uint8", "--shape", ",".join(map(str, SHAPE)),
         "--chunks", ",".join(map(str, CHUNKS)), "--compressor", "blosc", "--cname", "zstd",
         "--shuffle=-1", "--data", raw])
    z = zarr.open_array(path, mode="r")
    check(z.compressor.get_config()["shuffle"] == -1, f"{z.compressor.get_config()}")
    check(same_bits(z[:], data), "contents differ")


# Fortran order: dims -> (shape, chunks, block), none a multiple of the next.
F_CASES = {
    1: ((13,), (4,), (5,)),
    2: ((13, 10), (4, 3), (5, 4)),
    3: ((13, 10, 7), (4, 3, 5), (5, 4, 3)),
    4: ((7, 6, 5, 4), (3, 4, 2, 3), (2, 5, 3, 2)),
}


def f_order_c_to_python(tool, work, dims, dt, cname):
    shape, chunks, block = F_CASES[dims]
    codec, opts = COMPRESSORS[cname]
    path = os.path.join(work, f"c2py_F{dims}_{dt}_{cname}")
    data = make_data(dt, shape, zlib.crc32(f"F {dims} {dt} {cname}".encode()))
    raw = path + ".raw"
    data.astype("<" + dt).tofile(raw)
    fill = fill_for(dt)
    run([tool, "write", path, "--dtype", NUMPY_NAMES[dt], "--order", "F",
         "--shape", ",".join(map(str, shape)), "--chunks", ",".join(map(str, chunks)),
         f"--fill={fill}", "--block", ",".join(map(str, block)), "--data", raw] + opts)
    z = zarr.open_array(path, mode="r")
    check(z.order == "F", f"order {z.order}")
    check(z.shape == shape and z.chunks == chunks, f"shape/chunks {z.shape} {z.chunks}")
    check(same_bits(z[:], data), "contents differ")
    # What Python zarr writes for the same array, in one go.
    ref = path + "_ref"
    r = zarr.open_array(ref, mode="w", shape=shape, chunks=chunks, dtype="<" + dt,
                        compressor=codec, fill_value=fill, order="F")
    r[...] = data
    with open(os.path.join(path, ".zarray"), "rb") as f1, \
            open(os.path.join(ref, ".zarray"), "rb") as f2:
        a, b = f1.read(), f2.read()
    check(a == b, f".zarray not byte-identical: {a!r} vs {b!r}")
    keys = sorted(k for k in os.listdir(ref) if not k.startswith("."))
    mine = sorted(k for k in os.listdir(path) if not k.startswith("."))
    check(keys == mine, f"chunk keys {mine} != {keys}")

    def decoded(d, k):
        with open(os.path.join(d, k), "rb") as f:
            b = f.read()
        return bytes(codec.decode(b)) if codec else b
    for k in keys:
        check(decoded(path, k) == decoded(ref, k), f"chunk {k} differs from Python zarr's")


def f_order_python_to_c(tool, work, dims, dt, cname):
    shape, chunks, _ = F_CASES[dims]
    codec = COMPRESSORS[cname][0]
    path = os.path.join(work, f"py2c_F{dims}_{dt}_{cname}")
    fill = fill_for(dt)
    z = zarr.open_array(path, mode="w", shape=shape, chunks=chunks, dtype="<" + dt,
                        compressor=codec, fill_value=fill, order="F")
    data = make_data(dt, shape, zlib.crc32(f"F {dims} {dt} {cname} 2".encode()))
    # From the second chunk on in every dimension: the first chunks stay
    # missing, the edge chunks are written.
    region = tuple(slice(c, n) for c, n in zip(chunks, shape))
    z[region] = data[region]
    expect = z[:]
    out = path + ".out"
    meta = json.loads(run([tool, "read", path, "--out", out]))
    check(tuple(meta["shape"]) == shape, f"shape {meta['shape']}")
    got = np.fromfile(out, dtype="<" + dt).reshape(shape)
    check(same_bits(got, expect), "contents differ")
    sub = tuple(slice(1, n - 1) for n in shape)
    roi = ",".join(str(s.start) for s in sub) + ":" + ",".join(str(s.stop - s.start)
                                                               for s in sub)
    run([tool, "read", path, "--out", out, f"--roi={roi}"])
    got = np.fromfile(out, dtype="<" + dt).reshape(tuple(s.stop - s.start for s in sub))
    check(same_bits(got, expect[sub]), "sub-ROI contents differ")


ZERO_SHAPES = [(0,), (0, 5), (3, 0, 4)]


def zero_python_to_c(tool, work, shape):
    path = os.path.join(work, "py2c_zero_" + "x".join(map(str, shape)))
    zarr.open_array(path, mode="w", shape=shape, chunks=(2,) * len(shape), dtype="<f4")
    out = path + ".out"
    meta = json.loads(run([tool, "read", path, "--out", out]))
    check(tuple(meta["shape"]) == shape, f"shape {meta['shape']}")
    check(os.path.getsize(out) == 0, f"{os.path.getsize(out)} bytes read")
    roi = ",".join("0" for _ in shape) + ":" + ",".join("1" for _ in shape)
    p = subprocess.run([tool, "read", path, "--out", out, f"--roi={roi}"], capture_output=True,
                       text=True)
    check(p.returncode == 1 and "is outside the array's ROI" in p.stderr,
          f"a ROI with voxels: exit {p.returncode}: {p.stderr.strip()}")


def zero_c_to_python(tool, work, shape):
    path = os.path.join(work, "c2py_zero_" + "x".join(map(str, shape)))
    raw = path + ".raw"
    open(raw, "wb").close()
    chunks = (2,) * len(shape)
    run([tool, "write", path, "--dtype", "float32", "--shape", ",".join(map(str, shape)),
         "--chunks", ",".join(map(str, chunks)), "--data", raw])
    z = zarr.open_array(path, mode="r")
    check(z.shape == shape, f"shape {z.shape}")
    check(z[...].shape == shape, f"read shape {z[...].shape}")
    ref = path + "_ref"
    zarr.open_array(ref, mode="w", shape=shape, chunks=chunks, dtype="<f4", compressor=None)
    with open(os.path.join(path, ".zarray"), "rb") as f1, \
            open(os.path.join(ref, ".zarray"), "rb") as f2:
        a, b = f1.read(), f2.read()
    check(a == b, f".zarray not byte-identical: {a!r} vs {b!r}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = os.path.abspath(sys.argv[1])
    if not os.access(tool, os.X_OK):
        print(f"FAIL: array_tool '{tool}' is not an executable", flush=True)
        return 1
    print(f"# zarr {zarr.__version__}, numcodecs {numcodecs.__version__}, "
          f"numpy {np.__version__}", flush=True)
    work = tempfile.mkdtemp(prefix="daisy-zarr-interop-")
    global passed

    def case(name, fn, *args, **kwargs):
        global passed
        try:
            fn(tool, work, *args, **kwargs)
            passed += 1
            print(f"ok   {name}", flush=True)
        except Exception as e:  # report every failure, keep going
            failures.append(name)
            print(f"FAIL {name}: {e}", flush=True)

    try:
        for dt in DTYPES:
            for cname in COMPRESSORS:
                case(f"C->python {dt} {cname}", c_to_python, dt, cname)
                case(f"python->C {dt} {cname}", python_to_c, dt, cname)
        for dt in ["u2", "i4", "u8", "f4", "f8"]:
            case(f"python->C big-endian >{dt} zstd", python_to_c, dt, "zstd", byteorder=">",
                 label=f"be_{dt}")
        case("python->C nested keys '/'", python_to_c, "u2", "zlib", sep="/", label="nested")
        case("C->python nested keys '/'", nested_c_to_python)
        case("python->C blosc auto-shuffle u1", python_to_c, "u1", "blosc",
             codec=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=-1), label="autoshuffle")
        case("C->python blosc auto-shuffle u1", autoshuffle_c_to_python)
        for bc in ["blosclz", "lz4hc", "zlib"]:
            case(f"python->C blosc-{bc} f8", python_to_c, "f8", "blosc",
                 codec=numcodecs.Blosc(cname=bc, clevel=4, shuffle=2), label=f"blosc_{bc}")
        case("python->C uint64 fill 2^64-1", python_to_c, "u8", "none", fill=2**64 - 1,
             label="u8max")
        case("python->C float fill -inf", python_to_c, "f4", "gzip", fill=float("-inf"),
             label="f4inf")
        for shape in ZERO_SHAPES:
            case(f"python->C shape {shape}", zero_python_to_c, shape)
            case(f"C->python shape {shape}", zero_c_to_python, shape)
        for dims in F_CASES:
            for dt, cname in [("i4", "none"), ("f8", "zstd"), ("u2", "blosc-lz4")]:
                case(f"C->python order F {dims}D {dt} {cname}", f_order_c_to_python, dims, dt,
                     cname)
                case(f"python->C order F {dims}D {dt} {cname}", f_order_python_to_c, dims, dt,
                     cname)
    finally:
        if failures and os.environ.get("KEEP_INTEROP_DIR"):
            print(f"# kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"# {passed} passed, {len(failures)} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
