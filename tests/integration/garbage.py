#!/usr/bin/env python3
"""Sends bad frames to a broker's ROUTER socket, as a hostile or broken
client would, and checks that each gets an ERROR reply where there is
someone to answer (protocol version 2, protocol/PROTOCOL.md).

Usage: garbage.py ENDPOINT TASK_ID
Prints one line per probe; exits 0 when every probe that should be answered
was answered with the expected error code, and the greedy client below was
served as it should be."""
import sys
import time

import msgpack
import zmq

VERSION = 2
ERRORS = {1: "truncated", 2: "oversized", 3: "malformed", 4: "bad_version",
          5: "unknown_type", 6: "bad_field", 7: "unknown_task", 8: "unknown_block",
          9: "not_ready", 10: "wrong_run"}
MAX_HELD = 64       # the broker's default cap on the blocks one worker holds


def hello(task, worker_id, run_id=""):
    return [VERSION, 1, task, worker_id, "probe-host", 1, 1, run_id]


def connect(ctx, endpoint, name):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.IDENTITY, f"probe-{name}".encode())
    s.connect(endpoint)
    return s


def probe(ctx, endpoint, name, frames, expect, task=None):
    """Send frames (after a HELLO for `task`, if given) and expect one ERROR
    with code `expect`, or nothing when `expect` is None."""
    s = connect(ctx, endpoint, name)
    if task:
        s.send(msgpack.packb(hello(task, f"probe-{name}")))
        s.poll(5000)
        s.recv()   # welcome
    s.send_multipart(frames)
    ok = True
    if expect is not None:
        if s.poll(5000):
            reply = msgpack.unpackb(s.recv())
            got = ERRORS.get(reply[2]) if reply[1] == 105 else f"type {reply[1]}"
            ok = got == expect
            print(f"{name}: {got} ({reply[3] if reply[1] == 105 else ''})")
        else:
            ok = False
            print(f"{name}: no reply")
    else:
        time.sleep(0.2)
        print(f"{name}: sent")
    s.close()
    return ok


def greedy(ctx, endpoint, task):
    """A client with no run id asks for 1024 blocks and reports a start for
    a block it does not hold: the start is ignored without an answer, and
    the client never holds more than MAX_HELD blocks. It leaves with BYE, so
    the blocks it took go back at no cost."""
    s = connect(ctx, endpoint, "greedy")
    s.send(msgpack.packb(hello(task, "probe-greedy")))
    welcome = msgpack.unpackb(s.recv()) if s.poll(5000) else None
    if not welcome or welcome[1] != 101:
        print(f"greedy: no WELCOME ({welcome})")
        s.close()
        return False
    heartbeat = welcome[3] / 1000.0
    s.send(msgpack.packb([VERSION, 2, 1024]))
    s.send(msgpack.packb([VERSION, 6, 2**64 - 1, 0]))     # STARTED, held by nobody
    blocks, errors = 0, []
    start = last = sent = time.monotonic()
    # Until nothing but heartbeats came for half a second (at most 3 s),
    # heartbeating so as not to be lost meanwhile.
    while time.monotonic() - last < 0.5 and time.monotonic() - start < 3.0:
        if time.monotonic() - sent >= heartbeat / 2:
            s.send(msgpack.packb([VERSION, 4]))
            sent = time.monotonic()
        if not s.poll(50):
            continue
        m = msgpack.unpackb(s.recv())
        if m[1] == 102:
            blocks += len(m[3])
            last = time.monotonic()
        elif m[1] == 105:
            errors.append(f"{ERRORS.get(m[2], m[2])}: {m[3]}")
            last = time.monotonic()
    s.setsockopt(zmq.LINGER, 1000)
    s.send(msgpack.packb([VERSION, 5]))                    # BYE: the blocks go back
    s.close()
    ok = not errors and 0 < blocks <= MAX_HELD
    print(f"greedy: {blocks} blocks for 1024 credits (at most {MAX_HELD}), "
          f"errors {errors or 'none'}")
    return ok


def main():
    endpoint, task = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    good_release = [VERSION, 3, 1, [[123456, 0, 0, 0.1, ""]], []]
    cases = [
        ("garbage", [b"\xc1\xc1\xc1 not msgpack"], "malformed"),
        ("truncated", [msgpack.packb([VERSION, 2, 5])[:-1]], "truncated"),
        ("version_1", [msgpack.packb([1, 1, task, "w", "h", 1, 1])], "bad_version"),
        ("version_3", [msgpack.packb([3, 2, 1])], "bad_version"),
        ("unknown_type", [msgpack.packb([VERSION, 77])], "unknown_type"),
        ("mistyped", [msgpack.packb([VERSION, 2, "many"])], "bad_field"),
        ("hello_of_7", [msgpack.packb([VERSION, 1, task, "w", "h", 1, 1])], "bad_field"),
        ("two_frames", [msgpack.packb([VERSION, 4]), b"extra"], "malformed"),
        ("no_hello", [msgpack.packb([VERSION, 2, 1])], "not_ready"),
        ("unknown_task", [msgpack.packb(hello("no-such-task", "w"))], "unknown_task"),
        ("wrong_run", [msgpack.packb(hello(task, "w", "not-this-run"))], "wrong_run"),
        ("empty", [b""], "truncated"),
    ]
    ok = True
    for name, frames, expect in cases:
        ok &= probe(ctx, endpoint, name, frames, expect)
    # A worker that lies: releases a block it was never given.
    ok &= probe(ctx, endpoint, "liar", [msgpack.packb(good_release)], "unknown_block", task)
    # A RELEASE that says two blocks start at once: a batch over its limit.
    ok &= probe(ctx, endpoint, "two_starts",
                [msgpack.packb([VERSION, 3, 0, [], [[1, 0], [2, 0]]])], "oversized", task)
    # Oversized frames are refused by the socket itself (ZMQ_MAXMSGSIZE):
    # nobody to answer, the broker must just keep serving.
    probe(ctx, endpoint, "oversized", [b"\x00" * (2 << 20)], None)
    ok &= greedy(ctx, endpoint, task)
    ctx.term()
    print("all probes answered as expected" if ok else "some probes were not answered as expected")
    return 0 if ok else 1


sys.exit(main())
