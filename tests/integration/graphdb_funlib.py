#!/usr/bin/env python3
"""The funlib.persistence side of graphdb_funlib.sh and graphdb_funlib_pg.sh.

DB is a SQLite file, or a postgresql://user@host:port/dbname URL (funlib's
PgSQLGraphDatabase, which creates the database when it is not there).
PostgreSQL keeps funlib's floats as REAL (float32): there, floats are held
equal when they are the same float32.

read-ours DB     open DB (written by graph_tool) with funlib, check every
                 node, attribute and edge, and that funlib's ROI reads
                 select what the formulas say
write-theirs DB  write a graph with funlib (its types, an undirected edge
                 given high to low, missing values)
compare DB DUMP [ROI]  graph_tool's dump of DB equals funlib's read of it
"""
import json
import struct
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import networkx as nx
from funlib.geometry import Roi
from funlib.persistence.graphs.pgsql_graph_database import PgSQLGraphDatabase
from funlib.persistence.graphs.sqlite_graph_database import SQLiteGraphDataBase
from funlib.persistence.types import Vec

N = 5


def lattice(i):
    """graph_tool's node i (see tests/graph_tool.c)."""
    return {
        "position": (i // (N * N) + 0.5, i // N % N + 0.25, float(i % N)),
        "label": i * 7, "score": i / 4.0, "selected": i % 3 == 0,
        "name": None if i % 10 == 9 else f"n{i}", "normal": (float(i), float(-i), 0.25),
    }


def fail(text):
    sys.exit(f"FAIL: {text}")


def is_pg(spec):
    return spec.startswith(("postgresql://", "postgres://"))


def open_db(spec, mode, **kwargs):
    """funlib's graph database for SPEC: a SQLite path or a PostgreSQL URL."""
    if not is_pg(spec):
        return SQLiteGraphDataBase(Path(spec), "position", mode=mode, **kwargs)
    url = urlsplit(spec)
    return PgSQLGraphDatabase(
        "position", db_name=unquote(url.path.lstrip("/")),
        db_host=url.hostname or "localhost",
        db_user=unquote(url.username) if url.username else None,
        db_password=unquote(url.password) if url.password else None,
        db_port=url.port, mode=mode, **kwargs)


def as_stored(value, pg):
    """VALUE as the database holds it: floats as float32 in PostgreSQL."""
    if isinstance(value, (list, tuple)):
        return [as_stored(v, pg) for v in value]
    if pg and isinstance(value, float):
        return struct.unpack("f", struct.pack("f", value))[0]
    return value


def read_ours(path):
    pg = is_pg(path)
    db = open_db(path, "r")
    graph = db.read_graph()
    if graph.number_of_nodes() != N ** 3:
        fail(f"{graph.number_of_nodes()} nodes")
    for node, data in graph.nodes(data=True):
        want = lattice(node - 1)
        got = {k: as_stored(v, pg) for k, v in data.items()}
        got["selected"] = bool(got["selected"])     # SQLite gives 0/1
        if got != {k: as_stored(v, pg) for k, v in want.items()}:
            fail(f"node {node}: {got} != {want}")
    edges = sorted(graph.edges(data=True))
    want_edges = [(i + 1, i + 1 + N * N) for i in range(N ** 3) if i // (N * N) + 1 < N]
    if [(u, v) for u, v, _ in edges] != want_edges:
        fail(f"edges {[(u, v) for u, v, _ in edges][:5]}...")
    for u, v, data in edges:
        i = u - 1
        if as_stored(data["affinity"], pg) != as_stored(i / 100.0, pg) or bool(data["merged"]) != (i % 2 == 0):
            fail(f"edge {u}-{v}: {data}")
    for offset, shape in [((1, 0, 0), (2, 5, 5)), ((0, 2, 1), (5, 2, 3)), ((2, 2, 2), (1, 1, 1))]:
        roi = Roi(offset, shape)
        got = sorted(n["id"] for n in db.read_nodes(roi))
        want = sorted(i + 1 for i in range(N ** 3)
                      if all(o <= p < o + s for o, s, p in zip(offset, shape, lattice(i)["position"])))
        if got != want:
            fail(f"ROI {roi}: funlib reads {len(got)} nodes, {len(want)} expected")
    print(f"ok - funlib read {N ** 3} nodes and {len(edges)} edges written by daisy")


def write_theirs(path):
    db = open_db(
        path, "w", directed=False,
        node_attrs={"position": Vec(float, 3), "size": int, "tag": str, "good": bool},
        edge_attrs={"weight": float})
    g = nx.Graph()
    for i in range(30):
        g.add_node(i + 10, position=(i % 5 + 0.5, i // 5 % 3 + 0.5, i // 15 * 2.0),
                   size=i * 11, tag=None if i == 4 else f"t{i}", good=i % 2 == 1)
    for i in range(29):
        g.add_edge(i + 11, i + 10, weight=i / 8.0)
    db.write_graph(g)
    print(f"ok - funlib wrote {g.number_of_nodes()} nodes and {g.number_of_edges()} edges")


def add_theirs(path):
    db = open_db(path, "r+")
    g = nx.Graph()
    for i in range(5):
        g.add_node(100 + i, position=(i + 0.5, 1.5, 0.0), size=i, tag="late", good=True)
    # funlib writes every node of the graph it is given (it cannot write one
    # without a position): node 10 again, as it was, which changes nothing.
    g.add_node(10, position=(0.5, 0.5, 0.0), size=0, tag="t0", good=False)
    g.add_edge(100, 10, weight=0.5)
    db.write_graph(g)
    print("ok - funlib added 5 nodes and an edge to a graph daisy indexed")


def compare(path, dump, roi_args):
    pg = is_pg(path)
    db = open_db(path, "r")
    roi = None
    if roi_args:
        v = [int(x) for x in roi_args]
        roi = Roi(v[:3], v[3:])
    theirs_nodes = {n["id"]: n for n in db.read_nodes(roi)}
    theirs_edges = {(e["u"], e["v"]): e for e in db.read_edges(roi)}
    ours_nodes, ours_edges = {}, {}
    for line in open(dump):
        o = json.loads(line)
        if "id" in o:
            ours_nodes[o["id"]] = o
        else:
            ours_edges[(o["u"], o["v"])] = o
    if set(ours_nodes) != set(theirs_nodes):
        fail(f"nodes: daisy {sorted(ours_nodes)[:8]}..., funlib {sorted(theirs_nodes)[:8]}...")
    for k, t in theirs_nodes.items():
        o = {a: as_stored(v, pg) for a, v in ours_nodes[k].items()}
        t = {a: as_stored(v, pg) for a, v in t.items()}
        if t.get("good") is not None:
            t["good"] = bool(t["good"])
        if o != t:
            fail(f"node {k}: daisy {o}, funlib {t}")
    if set(ours_edges) != set(theirs_edges):
        fail(f"edges: daisy {sorted(ours_edges)[:5]}, funlib {sorted(theirs_edges)[:5]}")
    for k, t in theirs_edges.items():
        o = {a: as_stored(v, pg) for a, v in ours_edges[k].items()}
        if o != {a: as_stored(v, pg) for a, v in t.items()}:
            fail(f"edge {k}: daisy {ours_edges[k]}, funlib {t}")
    print(f"ok - daisy read {len(ours_nodes)} nodes and {len(ours_edges)} edges as funlib does")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "read-ours":
        read_ours(sys.argv[2])
    elif cmd == "write-theirs":
        write_theirs(sys.argv[2])
    elif cmd == "add-theirs":
        add_theirs(sys.argv[2])
    else:
        compare(sys.argv[2], sys.argv[3], sys.argv[4:])
