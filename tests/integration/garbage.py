#!/usr/bin/env python3
"""Sends bad frames to a broker's ROUTER socket, as a hostile or broken
client would, and checks that each gets an ERROR reply where there is
someone to answer.

Usage: garbage.py ENDPOINT TASK_ID
Prints one line per probe; exits 0 when every probe that should be answered
was answered with the expected error code."""
import sys
import time

import msgpack
import zmq

ERRORS = {1: "truncated", 2: "oversized", 3: "malformed", 4: "bad_version",
          5: "unknown_type", 6: "bad_field", 7: "unknown_task", 8: "unknown_block",
          9: "not_ready"}


def probe(ctx, endpoint, name, frames, expect, hello=None):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.IDENTITY, f"probe-{name}".encode())
    s.connect(endpoint)
    if hello:
        s.send(msgpack.packb(hello))
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


def main():
    endpoint, task = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    hello = [1, 1, task, "probe-liar", "probe-host", 1, 1]
    good_release = [1, 3, 1, [[123456, 0, 0, 0.1, ""]]]
    cases = [
        ("garbage", [b"\xc1\xc1\xc1 not msgpack"], "malformed"),
        ("truncated", [msgpack.packb([1, 2, 5])[:-1]], "truncated"),
        ("wrong_version", [msgpack.packb([2, 2, 1])], "bad_version"),
        ("unknown_type", [msgpack.packb([1, 77])], "unknown_type"),
        ("mistyped", [msgpack.packb([1, 2, "many"])], "bad_field"),
        ("two_frames", [msgpack.packb([1, 4]), b"extra"], "malformed"),
        ("no_hello", [msgpack.packb([1, 2, 1])], "not_ready"),
        ("unknown_task", [msgpack.packb([1, 1, "no-such-task", "w", "h", 1, 1])], "unknown_task"),
        ("empty", [b""], "truncated"),
    ]
    ok = True
    for name, frames, expect in cases:
        ok &= probe(ctx, endpoint, name, frames, expect)
    # A worker that lies: releases a block it was never given.
    ok &= probe(ctx, endpoint, "liar", [msgpack.packb(good_release)], "unknown_block", hello)
    # Oversized frames are refused by the socket itself (ZMQ_MAXMSGSIZE):
    # nobody to answer, the broker must just keep serving.
    probe(ctx, endpoint, "oversized", [b"\x00" * (2 << 20)], None)
    ctx.term()
    print("all probes answered as expected" if ok else "some probes were not answered as expected")
    return 0 if ok else 1


sys.exit(main())
