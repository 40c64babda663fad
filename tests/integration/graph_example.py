"""The graph example's result against a brute-force computation over the
whole volume (graph_example.sh).

    graph_example.py VOLUME THRESHOLD DISTANCE GRAPH

VOLUME is the Zarr array the example read, GRAPH what it wrote: a SQLite
file (funlib.persistence's layout: position_0.., read with sqlite3) or a
postgresql:// URL (funlib's PostgreSQL layout: position REAL[3], read with
psycopg2). The expected graph is computed here from the volume alone, with
numpy: every voxel above THRESHOLD and above its 26 neighbours inside the
volume is a node (id = C-order voxel index + 1, position = offset + index *
resolution, intensity = its value); every pair of nodes closer than
DISTANCE is an edge (u < v, score = min intensity / distance). Prints the
counts, and every difference (at most 10 of each kind); exit status 1 when
there is one.
"""
import math
import sys

import numpy as np
import zarr


def expected(volume, threshold, distance):
    arr = zarr.open(volume, mode="r")
    v = arr[:]
    assert v.ndim == 3, f"{volume}: {v.ndim}-D, expected 3-D"
    res = np.array(arr.attrs.get("resolution", [1, 1, 1]), dtype=np.int64)
    off = np.array(arr.attrs.get("offset", [0, 0, 0]), dtype=np.int64)
    pad = np.pad(v, 1, constant_values=-np.inf)
    peak = v > threshold
    zs, ys, xs = v.shape
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dz or dy or dx:
                    peak &= v > pad[1 + dz:1 + dz + zs, 1 + dy:1 + dy + ys, 1 + dx:1 + dx + xs]
    idx = np.argwhere(peak)
    ids = np.ravel_multi_index(idx.T, v.shape) + 1
    pos = off + idx * res
    nodes = {int(i): (tuple(float(c) for c in p), float(v[tuple(q)]))
             for i, p, q in zip(ids, pos, idx)}
    edges = {}
    p = pos.astype(np.float64)
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    inten = np.array([nodes[int(i)][1] for i in ids])
    for a, b in zip(*np.nonzero((d < distance) & (d > 0))):
        u, w = int(ids[a]), int(ids[b])
        if u < w:
            edges[(u, w)] = min(inten[a], inten[b]) / d[a, b]
    return nodes, edges


def stored_sqlite(path):
    import sqlite3
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    nodes = {int(i): ((float(z), float(y), float(x)), it) for i, z, y, x, it in db.execute(
        'SELECT id, position_0, position_1, position_2, intensity FROM nodes')}
    edges = [(int(u), int(v), s) for u, v, s in db.execute('SELECT u, v, score FROM edges')]
    db.close()
    return nodes, edges


def stored_postgres(url):
    import psycopg2
    db = psycopg2.connect(url)
    cur = db.cursor()
    cur.execute('SELECT id, position, intensity FROM nodes')
    nodes = {int(i): (tuple(float(c) for c in p), it) for i, p, it in cur.fetchall()}
    cur.execute('SELECT u, v, score FROM edges')
    edges = [(int(u), int(v), s) for u, v, s in cur.fetchall()]
    db.close()
    return nodes, edges


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    volume, threshold, distance, graph = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), \
        sys.argv[4]
    postgres = graph.startswith(("postgresql://", "postgres://"))
    # SQLite keeps the doubles written; PostgreSQL's REAL is a float32.
    rel = 1e-6 if postgres else 1e-12
    want_nodes, want_edges = expected(volume, threshold, distance)
    got_nodes, got_edge_rows = stored_postgres(graph) if postgres else \
        stored_sqlite(graph.removeprefix("sqlite:"))
    problems = []

    def problem(kind, text):
        problems.append((kind, text))

    for i in sorted(want_nodes.keys() - got_nodes.keys()):
        problem("missing node", f"node {i} at {want_nodes[i][0]} is not stored")
    for i in sorted(got_nodes.keys() - want_nodes.keys()):
        problem("extra node", f"node {i} at {got_nodes[i][0]} is no local maximum")
    for i in sorted(want_nodes.keys() & got_nodes.keys()):
        (wp, wi), (gp, gi) = want_nodes[i], got_nodes[i]
        if wp != gp:
            problem("position", f"node {i}: position {gp}, expected {wp}")
        if gi is None or not math.isclose(gi, wi, rel_tol=rel, abs_tol=0):
            problem("intensity", f"node {i}: intensity {gi}, expected {wi}")
    got_edges = {}
    for u, v, s in got_edge_rows:
        if u >= v:
            problem("order", f"edge ({u}, {v}) is not stored as u < v")
        if (u, v) in got_edges or (v, u) in got_edges:
            problem("duplicate", f"edge ({u}, {v}) is stored twice")
        got_edges[(min(u, v), max(u, v))] = s
    for u, v in sorted(e for e in got_edges if not set(e) <= got_nodes.keys()):
        problem("dangling", f"edge ({u}, {v}) joins a node that is not stored")
    for e in sorted(want_edges.keys() - got_edges.keys()):
        problem("missing edge", f"edge {e} is not stored")
    for e in sorted(got_edges.keys() - want_edges.keys()):
        problem("extra edge", f"edge {e} is stored but not in the brute-force graph")
    for e in sorted(want_edges.keys() & got_edges.keys()):
        if got_edges[e] is None or not math.isclose(got_edges[e], want_edges[e], rel_tol=rel,
                                                    abs_tol=0):
            problem("score", f"edge {e}: score {got_edges[e]}, expected {want_edges[e]}")

    print(f"nodes: {len(want_nodes)} expected, {len(got_nodes)} stored; "
          f"edges: {len(want_edges)} expected, {len(got_edge_rows)} stored")
    shown = {}
    for kind, text in problems:
        shown[kind] = shown.get(kind, 0) + 1
        if shown[kind] <= 10:
            print(f"  {text}")
    for kind, n in shown.items():
        if n > 10:
            print(f"  ... {n} {kind} differences in all")
    if problems:
        print(f"{len(problems)} differences")
        return 1
    print("the stored graph is the brute-force graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())
