// Zarr v3 interoperability of daisy_array with zarrita (an independent
// implementation in JavaScript), driven by zarr_v3_interop.sh.
//
//   node zarr_v3_interop.mjs gen DTYPE COUNT SEED OUT
//       OUT: COUNT elements of DTYPE (raw little endian), random, with a
//       run of zeros in the middle third (so some inner chunks are empty).
//   node zarr_v3_interop.mjs read DIR OUT
//       zarrita opens the v3 array DIR, reads all of it into OUT (raw, C
//       order) and prints its metadata as one JSON line.
//   node zarr_v3_interop.mjs write DIR DTYPE SHAPE CHUNKS CODECS FILL DATA
//       zarrita creates the array (SHAPE, CHUNKS comma-separated, CODECS a
//       JSON list, attributes resolution/offset as funlib stores them) and
//       writes DATA (raw, C order) to all of it.
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";
import fs from "node:fs";

const CTORS = {
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  float32: Float32Array, float64: Float64Array,
};

function strides(shape) {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

async function gen(dtype, count, seed, out) {
  const bytes = new Uint8Array(count * CTORS[dtype].BYTES_PER_ELEMENT);
  let x = BigInt(seed) | 1n;
  for (let i = 0; i < bytes.length; i++) {
    x ^= (x << 13n) & 0xffffffffffffffffn; x ^= x >> 7n; x ^= (x << 17n) & 0xffffffffffffffffn;
    bytes[i] = Number(x & 0xffn);
  }
  if (dtype.startsWith("float")) {   // no NaN or infinity: exponents kept small
    const size = CTORS[dtype].BYTES_PER_ELEMENT;
    for (let i = size - 1; i < bytes.length; i += size) bytes[i] &= 0x3f;
  }
  bytes.fill(0, Math.floor(bytes.length / 3), Math.floor((2 * bytes.length) / 3));
  fs.writeFileSync(out, bytes);
}

// The chunk's elements in C order (zarrita returns a transposed array's
// data in its stored order, with strides saying so).
function cOrder(chunk) {
  const { data, shape, stride } = chunk;
  if (JSON.stringify(stride) === JSON.stringify(strides(shape))) return data;
  const out = new data.constructor(data.length);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += idx[d] * stride[d];
    out[i] = data[src];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

async function read(dir, out) {
  const arr = await zarr.open.v3(new FileSystemStore(dir), { kind: "array" });
  const d = cOrder(await zarr.get(arr));
  fs.writeFileSync(out, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  console.log(JSON.stringify({ dtype: arr.dtype, shape: arr.shape, chunks: arr.chunks,
                               attributes: arr.attrs }));
}

async function write(dir, dtype, shapeText, chunksText, codecsText, fillText, data) {
  const shape = shapeText.split(",").map(Number);
  const chunkShape = chunksText.split(",").map(Number);
  const store = new FileSystemStore(dir);
  const fill = ["NaN", "Infinity", "-Infinity"].includes(fillText) ? fillText : Number(fillText);
  const arr = await zarr.create(zarr.root(store), {
    shape, chunkShape, dtype, codecs: JSON.parse(codecsText),
    fillValue: fill,   // a Number even for 64-bit integers (zarrita serializes no BigInt)
    attributes: { resolution: shape.map(() => 3), offset: shape.map(() => -6) },
  });
  const raw = fs.readFileSync(data);
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length);
  await zarr.set(arr, null, { data: new CTORS[dtype](buf), shape, stride: strides(shape) });
}

const [cmd, ...args] = process.argv.slice(2);
const commands = { gen, read, write };
if (!commands[cmd]) {
  console.error("usage: zarr_v3_interop.mjs gen|read|write ...");
  process.exit(2);
}
try {
  await commands[cmd](...args);
} catch (e) {
  console.error(`zarrita: ${e.stack || e}`);
  process.exit(1);
}
