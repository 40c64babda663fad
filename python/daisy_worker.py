"""daisy_worker - run a Python function per block for the daisy broker

    import daisy_worker

    def process(block):
        data = read(block.read_roi.offset, block.read_roi.shape)
        write(block.write_roi.offset, compute(data))     # raise to fail it

    raise SystemExit(daisy_worker.run(process))

Joins one task of a daisy broker (`daisy run`, `daisy-broker`) and calls
`process(block)` for each block the broker hands out, until the broker says
the task is done. It speaks the wire protocol of protocol/PROTOCOL.md
(version 2) itself, in pure Python over pyzmq and msgpack, so a pipeline's
`worker` may be a Python program that keeps its models, files and caches
open across blocks instead of paying a process start per block as
`daisy-worker --exec` does. Dependencies: the standard library, python3-zmq
and python3-msgpack (Debian), nothing else.

What and why:

- One socket, one owner. The ZeroMQ DEALER socket lives in the thread that
  called run() (normally the main thread, which is also where Python runs
  signal handlers) and is never touched elsewhere. The block function runs
  in one helper thread, one block at a time, so however long a block takes
  the loop keeps heartbeating, reads prefetched BLOCKS, notices a silent
  broker and reconnects. The helper hands each outcome back through a
  queue and rings a pipe that the loop polls next to the socket; the same
  pipe is Python's signal wake-up fd, so SIGTERM wakes the loop whichever
  thread the kernel delivered it to.

- Leases, as the C worker keeps them (worker/io.c). `prefetch` blocks are
  kept in hand: credits asked for and not received plus blocks held (queued,
  running, or finished with the result not sent) stay at `prefetch`, and
  every RELEASE asks for the difference. Starts are reported by rule 4 of
  section 6: a block with nothing queued behind it is reported before it
  runs (STARTED, or the `started` field of the RELEASE going out then); a
  block with blocks queued behind it only once it has run 20 ms (a quarter
  of the heartbeat if shorter), so a window of short blocks costs one
  message per batch and not one per block; a reported block that ended is
  un-reported by the next RELEASE before an unreported one runs. Results
  wait for company (at most half the window or 20 ms) only while blocks are
  queued here, never in lockstep. STATS (CPU time and peak memory from
  getrusage, the helper thread's included) goes ahead of a RELEASE at most
  once a second and before BYE, as the C worker sends it.

- Reconnects keep what is held. After `liveness * heartbeat_ms` of silence
  the socket is closed and reopened with the same routing id
  (`worker_id/run_id`) after a back-off of 1 s doubling to 30 s; queued
  blocks and finished results are kept (the broker keeps the leases of a
  worker that says HELLO again, and refuses stale results harmlessly), and
  results sent shortly before the silence are sent again, since the broker
  may never have read them.

- Leaving. SIGTERM or SIGINT (preemption, scancel, Ctrl-C) starts no new
  block; the running one finishes (a Python thread cannot be interrupted;
  a long block may poll stop_requested() and raise) and is released, a
  failure then being abandoned rather than charged; then BYE gives every
  other held block back at no cost, and run() returns 128 + the signal's
  number, as daisy-worker exits. SHUTDOWN returns 0
  after the running block ends. ERROR wrong_run, unknown_task, bad_version,
  a CurveZMQ key refused, keys on one side only (a socket monitor tells
  these from an unreachable broker), `give_up` seconds without the broker,
  and the death of the broker that started this process (DAISY_BROKER_PID)
  return 1 at once, without waiting for the block. Bad arguments return 2.

- Exceptions in the block function fail the block: the error sent (and
  shown in the broker's summary) is one short line, the exception's type,
  text and innermost source line. Library code prints nothing but a fatal
  message to stderr; failures with their tracebacks, reconnects and the
  end of the run go to the `daisy_worker` logger (logging.basicConfig()
  in the program shows them, in its worker log when `daisy run` started it).

`python3 -m daisy_worker MODULE:FUNCTION` runs a function without writing
a script (--help lists the options, as daisy-worker's).
"""

import argparse
import collections
import importlib
import importlib.util
import logging
import os
import queue
import random
import resource
import signal
import socket
import sys
import threading
import time
import traceback
from typing import NamedTuple, Tuple

import msgpack
import zmq
import zmq.utils.monitor
import zmq.utils.z85

__all__ = ["Block", "Roi", "run", "stop_requested", "main"]

_log = logging.getLogger("daisy_worker")
_log.addHandler(logging.NullHandler())

# The wire (protocol/PROTOCOL.md).
VERSION = 2
# The project's version (meson.build); python_worker.sh checks that it agrees
# with daisy-worker --version.
__version__ = "0.1.0"
HELLO, REQUEST, RELEASE, HEARTBEAT, BYE, STARTED, STATS = 1, 2, 3, 4, 5, 6, 7
WELCOME, BLOCKS, SHUTDOWN, ERROR = 101, 102, 103, 105
SUCCESS, FAILED, SKIPPED = 0, 1, 2
BAD_VERSION, UNKNOWN_TASK, UNKNOWN_BLOCK, NOT_READY, WRONG_RUN = 4, 7, 8, 9, 10
MAX_FRAME = 1 << 20
MAX_BATCH = 1024
MAX_TEXT = 4096
MAX_RUN_ID = 32           # DAISY_MAX_RUN_ID: letters, digits, -_. only

HEARTBEAT_S, LIVENESS = 1.0, 3      # until WELCOME says otherwise
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 30.0
TAKEOVER_S = 0.020                  # a queued block this long is reported started
BATCH_DELAY_S = 0.020               # longest a result waits for company
BATCH_BYTES = MAX_FRAME // 2        # RELEASE size budget
LINGER_MS = 1000                    # to deliver the last RELEASE and BYE
ERROR_BYTES = 1000                  # an error text sent for a failed block
PARENT_POLL_S = 0.25                # DAISY_BROKER_PID: how often to look
RESEND_MAX = 16384                  # results remembered for a resend
STATS_INTERVAL_S = 1.0              # STATS ahead of a RELEASE at most this often

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class Roi(NamedTuple):
    """A region in world units: [offset, offset + shape), one entry per axis."""
    offset: Tuple[int, ...]
    shape: Tuple[int, ...]

    @property
    def end(self):
        return tuple(o + s for o, s in zip(self.offset, self.shape))


class Block:
    """One block to process, as the broker handed it out."""
    __slots__ = ("block_id", "attempt", "level", "task_id", "read_roi", "write_roi")

    def __init__(self, block_id, attempt, level, task_id, read_roi, write_roi):
        self.block_id = block_id        # daisy's block id (int)
        self.attempt = attempt          # 0 on the first try, then 1, 2, ... (logs say attempt + 1)
        self.level = level              # level in the task's dependency order
        self.task_id = task_id
        self.read_roi = read_roi        # Roi: what to read
        self.write_roi = write_roi      # Roi: what to write

    def __repr__(self):
        return (f"Block({self.task_id!r}, id={self.block_id}, attempt={self.attempt}, "
                f"read={self.read_roi.offset}+{self.read_roi.shape}, "
                f"write={self.write_roi.offset}+{self.write_roi.shape})")


_stop = threading.Event()           # the running run() was asked to stop
_stop_signal = [0]                  # the signal that asked, for the exit status


def stop_requested():
    """True once run() was told to leave (SIGTERM, SIGINT, broker gone).

    A long block may poll it and raise: a block that fails while the worker
    stops is given back to the broker without using a retry."""
    return _stop.is_set()


class _Config(Exception):
    """A bad argument: run() returns 2."""


class _Fatal(Exception):
    """The run ends now: run() returns 1."""


def _text(value, limit=MAX_TEXT):
    """A str the broker accepts: no NUL, valid UTF-8, at most `limit` bytes."""
    raw = str(value).replace("\0", "").encode("utf-8", "replace")
    return raw[:limit].decode("utf-8", "ignore")


def _describe(exc):
    """One short line for a failed block: type, text, innermost source line."""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    tb = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else None
    if tb:
        frame = tb[-1]
        line += f" ({os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
    return _text(line, ERROR_BYTES)


def _env(name):
    value = os.environ.get(name)
    return value if value else None


def _check_str(name, value, low, high):
    if not isinstance(value, str):
        raise _Config(f"{name} must be a str, not {type(value).__name__}")
    size = len(value.encode("utf-8", "replace"))
    if not low <= size <= high or "\0" in value:
        raise _Config(f"{name} must be {low} to {high} bytes without NUL: {value[:80]!r}")
    return value


def _check_tcp_endpoint(endpoint):
    """A tcp:// endpoint's port and host, as daisy-worker checks them: a
    host the resolver does not know is a typo, said at once, where libzmq
    would retry it silently for ever. A resolver that cannot answer now
    (no network yet) is not a verdict: the connection retries as usual."""
    if not endpoint.startswith("tcp://"):
        return
    host, sep, port = endpoint[6:].rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _Config(f"broker endpoint '{endpoint}' is not tcp://HOST:PORT, PORT 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        if e.errno == socket.EAI_NONAME:
            raise _Config(f"broker endpoint '{endpoint}': host '{host}' is not known") from None


def _cert_key(path, name):
    """The Z85 key `name = "..."` of a czmq certificate file (daisy keygen)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        raise _Config(f"cannot read key file {path}: {e.strerror}") from None
    for line in lines:
        key, sep, value = line.strip().partition("=")
        value = value.strip().strip('"')
        if sep and key.strip() == name and len(value) == 40:
            try:
                if len(zmq.utils.z85.decode(value)) == 32:
                    return value.encode("ascii")
            except (ValueError, KeyError, UnicodeEncodeError):
                pass
    raise _Config(f"key file {path} has no valid {name}")


def _ancestry(pid):
    """True when `pid` is this process's parent or an ancestor (Linux /proc)."""
    p = os.getppid()
    for _ in range(32):
        if p == pid:
            return True
        if p <= 1:
            return False
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
            p = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


class _ParentWatch:
    """DAISY_BROKER_PID: the broker that started us; we end with it.

    The C worker arms the parent-death signal, which a `worker` program
    started through `sh -c` inherits only when the shell execs it. So the
    broker is looked for among this process's ancestors, the shell in
    between included, every PARENT_POLL_S."""

    def __init__(self):
        self.pid = None
        value = _env("DAISY_BROKER_PID")
        try:
            pid = int(value) if value else 0
        except ValueError:
            pid = 0
        if pid <= 0:
            return
        if _ancestry(pid):
            self.pid = pid
            return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            # Started by a broker that is already gone: nobody serves us.
            raise _Fatal(f"the broker that started this worker (pid {pid}) is gone") from None
        except OSError:
            pass
        # A live process that is not ours: an inherited variable, ignored.

    def gone(self):
        return self.pid is not None and not _ancestry(self.pid)


class _Worker:
    def __init__(self, process, check, endpoint, task_id, worker_id, run_id, prefetch,
                 give_up, keys, parent):
        self.process, self.check = process, check
        self.endpoint, self.task_id = endpoint, task_id
        self.worker_id, self.run_id = worker_id, run_id
        self.prefetch, self.give_up, self.keys, self.parent = prefetch, give_up, keys, parent
        self.host = socket.gethostname() or "localhost"
        # worker id, run id and random bytes of this process (PROTOCOL.md
        # section 1): two processes under one worker id are two workers.
        tail = ("/" + (run_id or "") + "/" + os.urandom(8).hex()).encode("utf-8")
        self.routing_id = worker_id.encode("utf-8")[:255 - len(tail)] + tail
        self.ctx = zmq.Context()
        self.sock = self.monitor = None
        self.poller = None
        self.link = "idle"                   # idle (no socket), hello, ready
        self.heartbeat, self.liveness = HEARTBEAT_S, LIVENESS
        self.backoff = BACKOFF_MIN_S
        self.retry_at = 0.0
        self.last_send = self.last_recv = self.last_answer = 0.0
        self.awake_until = 0.0               # the loop ran, or chose to sleep, until then
        self.resend_left = 0                 # blocks the broker sends again after WELCOME
        self.queue = collections.deque()     # blocks received, not started
        self.current = None                  # the block the helper thread runs
        self.current_start = 0.0
        self.told = False                    # its start reported in this session
        self.marked = False                  # the broker believes a block of ours runs
        self.pending = []                    # results to send: [id, att, st, s, err, resend]
        self.flush_at = 0.0
        self.sent = collections.deque(maxlen=RESEND_MAX)    # (result, time sent)
        self.credits_out = 0                 # credits the broker owes us
        self.held = 0                        # queued + running + results not sent
        self.void_block = None               # running, but the broker gave it to another
        self.stopping = False
        self.finished = False                # SHUTDOWN
        self.processed = self.skipped = 0
        self.last_stats = None
        self.jobs = queue.SimpleQueue()
        self.done = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.idle_poller = zmq.Poller()      # while there is no socket
        self.idle_poller.register(self.wake_r, zmq.POLLIN)
        self.thread = threading.Thread(target=self._helper, name="daisy-block", daemon=True)

    # The helper thread -----------------------------------------------------

    def _helper(self):
        while True:
            block = self.jobs.get()
            if block is None:
                return
            start = time.monotonic()
            status, error = SUCCESS, ""
            done = False
            if self.check is not None:
                try:
                    done = bool(self.check(block))
                except BaseException as e:     # a check that fails says nothing
                    _log.warning("block %d (attempt %d): the check failed, processing "
                                 "the block: %s", block.block_id, block.attempt + 1, _describe(e))
            if done:
                status = SKIPPED
            else:
                try:
                    outcome = self.process(block)
                except BaseException as e:
                    status, error = FAILED, _describe(e)
                    _log.error("block %d (attempt %d) failed: %s", block.block_id,
                               block.attempt + 1, error, exc_info=e)
                else:
                    if outcome is False:
                        status, error = FAILED, "process function returned False"
                    elif outcome is not None and outcome is not True:
                        status, error = FAILED, _text(
                            f"process function returned {outcome!r:.200} (return None or "
                            f"True for success, False or raise for failure)", ERROR_BYTES)
                    if status == FAILED:
                        _log.error("block %d (attempt %d) failed: %s", block.block_id,
                                   block.attempt + 1, error)
            self.done.put((block, status, time.monotonic() - start, error))
            self._ring()

    def _ring(self):
        try:
            os.write(self.wake_w, b"\0")
        except OSError:         # full (the loop is awake anyway) or closed
            pass

    # Messages out ------------------------------------------------------------

    def _send(self, *fields):
        self.last_send = time.monotonic()   # even when dropped: heartbeats move on
        if self.sock is None:
            return False
        try:
            self.sock.send(msgpack.packb([VERSION, *fields], use_bin_type=True), zmq.NOBLOCK)
            return True
        except zmq.ZMQError:    # the pipe is full: liveness deals with the broker
            return False

    def _deficit(self):
        have = self.credits_out + self.held
        if self.stopping or _stop.is_set() or have >= self.prefetch:
            return 0
        return self.prefetch - have

    def _started_field(self):
        if self.current is not None and self.told:
            return [[self.current.block_id, self.current.attempt]]
        return []

    def _stats(self, now, force=False):
        """STATS: CPU time and peak memory so far, this process (every thread)
        and the children it waited for, for the run statistics; ahead of a
        RELEASE at most once a second, and before BYE, as the C worker."""
        if not force and self.last_stats is not None \
                and now - self.last_stats < STATS_INTERVAL_S:
            return
        self.last_stats = now
        me = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
        self._send(STATS, max(0.0, float(cpu)), max(0, me.ru_maxrss, children.ru_maxrss))

    def _release(self, now):
        """One RELEASE with as many pending results as fit, and credits."""
        n, size = 0, 64
        while n < len(self.pending) and n < MAX_BATCH:
            size += 48 + len(self.pending[n][4].encode("utf-8", "replace"))
            if n > 0 and size > BATCH_BYTES:
                break
            n += 1
        batch, self.pending = self.pending[:n], self.pending[n:]
        fresh = sum(1 for r in batch if not r[5])
        self.held = max(0, self.held - fresh)
        self._stats(now)
        credits = self._deficit()
        started = self._started_field()
        if self._send(RELEASE, credits, [r[:5] for r in batch], started):
            self.credits_out += credits
        self.marked = bool(started)
        # Results the broker has surely read (it spoke a heartbeat after they
        # went out) are forgotten; the others are sent again after silence.
        while self.sent and self.sent[0][1] < self.last_recv - self.heartbeat:
            self.sent.popleft()
        for r in batch:
            self.sent.append(([*r[:5], True], now))

    def _flush(self, now):
        """Every pending result, then whatever credits the window lacks."""
        while self.pending:
            self._release(now)
        credits = self._deficit()
        if credits and self._send(REQUEST, credits):
            self.credits_out += credits

    def _maybe_flush(self, now):
        if self.link != "ready" or not self.pending:
            return
        if (self.stopping or not self.queue or len(self.pending) >= max(1, self.prefetch // 2)
                or now >= self.flush_at):
            self._flush(now)

    def _tell(self, now):
        """Report the running block's start (with any results held)."""
        self.told = True
        if self.pending:
            self._flush(now)
        else:
            self._send(STARTED, self.current.block_id, self.current.attempt)
        self.marked = True

    # The socket ----------------------------------------------------------------

    def _connect(self, now):
        self.sock = sock = self.ctx.socket(zmq.DEALER)
        try:
            sock.setsockopt(zmq.ROUTING_ID, self.routing_id)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME)
            sock.setsockopt(zmq.LINGER, 0)
            if self.keys:
                secret, public, server = self.keys
                sock.setsockopt(zmq.CURVE_SERVERKEY, server)
                sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
                sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
            # A broker that refuses our key, or speaks CurveZMQ to us in
            # clear text (or the reverse), only drops the connection: the
            # monitor tells that from a broker that is not there.
            self.monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                                   | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
            sock.connect(self.endpoint)
        except zmq.ZMQError as e:
            self._close(0)
            raise _Fatal(f"cannot connect to {self.endpoint}: {e}") from None
        self.poller = zmq.Poller()
        self.poller.register(self.wake_r, zmq.POLLIN)
        self.poller.register(sock, zmq.POLLIN)
        if self.monitor is not None:
            self.poller.register(self.monitor, zmq.POLLIN)
        self._hello(now)

    def _hello(self, now):
        self.credits_out = 0
        self.resend_left = 0
        self.told = self.marked = False     # a new session knows nothing yet
        self._send(HELLO, self.task_id, self.worker_id, _text(self.host), os.getpid(),
                   self.prefetch, self.run_id)
        self.link = "hello"
        self.last_recv = now                # the broker has liveness intervals to answer

    def _monitor_stop(self):
        if self.monitor is None:
            return
        if self.poller is not None:
            self.poller.unregister(self.monitor)
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(0)
        self.monitor = None

    def _close(self, linger=0):
        if self.sock is None:
            return
        self._monitor_stop()
        self.sock.close(linger)
        self.sock = None
        self.poller = None
        self.link = "idle"

    def _lost(self, now):
        """The broker went silent: close, come back after the back-off."""
        self._close(0)
        self.pending[:0] = [r for r, _ in self.sent]   # it may not have read them
        self.sent.clear()
        self.retry_at = now + self.backoff
        _log.warning("broker at %s silent for %.1f s: reconnecting in %.0f s", self.endpoint,
                     self.heartbeat * self.liveness, self.backoff)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)

    # Messages in ---------------------------------------------------------------

    def _on_message(self, frame, now):
        try:
            msg = msgpack.unpackb(frame, raw=False, unicode_errors="replace",
                                  strict_map_key=False)
            if not isinstance(msg, list) or len(msg) < 2 or msg[0] != VERSION:
                return
            self.last_recv = self.last_answer = now     # any message is a heartbeat
            kind = msg[1]
            if kind == WELCOME:
                self._on_welcome(msg, now)
            elif kind == BLOCKS:
                self._on_blocks(msg)
            elif kind == SHUTDOWN:
                _log.info("the broker says: %s", msg[2])
                self.finished = True
            elif kind == ERROR:
                self._on_error(msg[2], msg[3], now)
        except (ValueError, TypeError, IndexError, KeyError, msgpack.UnpackException):
            pass                                        # not a message of ours

    def _on_welcome(self, msg, now):
        if self.link == "ready":
            # The broker paces heartbeats anew as workers join (PROTOCOL.md
            # section 8): only the interval and liveness change.
            self.heartbeat = max(1, int(msg[3])) / 1000.0
            self.liveness = max(1, int(msg[4]))
            return
        if self.link != "hello":
            return
        if not self.keys:
            # Clear text works: one poll item less from now on. With keys
            # the monitor stays, as a restarted broker may refuse them.
            self._monitor_stop()
        self.heartbeat = max(1, int(msg[3])) / 1000.0
        self.liveness = max(1, int(msg[4]))
        held = int(msg[7]) if len(msg) > 7 else 0
        if held == 0 and (self.held or self.current is not None or self.sent):
            self._void_leases()
        self.resend_left = held             # it sends them all again (PROTOCOL.md, WELCOME)
        self.link = "ready"
        self.backoff = BACKOFF_MIN_S
        _log.info("joined task %s at %s as %s", self.task_id, self.endpoint, self.worker_id)
        # A block that ran while we (re)connected is reported now, riding on
        # the results if there are any.
        self.told = self.current is not None and self.void_block is None
        if self.told and not self.pending:
            self._send(STARTED, self.current.block_id, self.current.attempt)
        self._flush(now)
        self.marked = self.told

    def _void_leases(self):
        """The broker holds none of our blocks (it lost us, or it is a new
        broker of our run) and runs them elsewhere, perhaps now: the queued
        ones are dropped, results it did not acknowledge forgotten, and the
        running block's result will not be sent (a Python function cannot
        be stopped from outside; it runs to its end)."""
        _log.warning("the broker holds none of this worker's blocks (it lost this worker, "
                     "or it restarted): dropping %d queued, %d results%s", len(self.queue),
                     len(self.pending) + len(self.sent),
                     ", and the running block's result" if self.current is not None else "")
        self.queue.clear()
        self.pending.clear()
        self.sent.clear()
        self.held = 0
        self.marked = False
        self.void_block = self.current

    def _holds(self, block_id, attempt):
        """Whether the block and attempt is ours already: queued, running,
        its result waiting or recently sent."""
        key = (block_id, attempt)
        cur = self.current
        return (any((q.block_id, q.attempt) == key for q in self.queue)
                or (cur is not None and (cur.block_id, cur.attempt) == key)
                or any((r[0], r[1]) == key for r in self.pending)
                or any((r[0], r[1]) == key for r, _ in self.sent))

    def _on_blocks(self, msg):
        if msg[2] != self.task_id or not msg[3]:
            return
        blocks = []
        # After a WELCOME holding some, the broker sends every block it holds
        # for us (some may have been lost on the way): keep one of each. Not
        # so other BLOCKS: a new broker of the run may hand out a block and
        # attempt whose result went to the old one, and it must run.
        resent = self.resend_left > 0
        self.resend_left = max(0, self.resend_left - len(msg[3])) if resent else 0
        for b in msg[3]:
            block_id, attempt, level, ro, rs, wo, ws = b
            if resent and self._holds(block_id, attempt):
                continue
            blocks.append(Block(block_id, attempt, level, self.task_id,
                                Roi(tuple(ro), tuple(rs)), Roi(tuple(wo), tuple(ws))))
        self.queue.extend(blocks)
        if not resent:                      # blocks sent again answer no credit
            self.credits_out = max(0, self.credits_out - len(blocks))
        self.held += len(blocks)

    def _on_error(self, code, text, now):
        if code in (UNKNOWN_TASK, BAD_VERSION):
            raise _Fatal(f"broker at {self.endpoint} refused this worker: {text}")
        if code == WRONG_RUN:
            # Another run took our broker's address: its blocks are not ours.
            raise _Fatal(f"broker at {self.endpoint} serves another run, this worker was "
                         f"started for run {self.run_id}: exiting ({text})")
        if code == NOT_READY:
            if self.link == "ready":        # a broker that forgot us: introduce ourselves
                self._hello(now)
        elif code == UNKNOWN_BLOCK:
            pass                            # a stale result after a reconnect: harmless
        elif self.link == "hello":          # our HELLO itself refused
            raise _Fatal(f"broker at {self.endpoint} refused this worker: {text}")

    def _on_monitor(self):
        while self.monitor is not None:
            try:
                event = zmq.utils.monitor.recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            # ZAP status 400 is a refusal; 300 and 500 are the broker's trouble.
            if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH and event["value"] == 400:
                raise _Fatal(f"broker at {self.endpoint} refused this worker's CurveZMQ key "
                             f"(is its public key in the broker's allow list?)")
            if (event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    and event["value"] == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
                if self.keys:
                    raise _Fatal(f"broker at {self.endpoint} speaks clear text and this worker "
                                 f"CurveZMQ (drop curve_secret and broker_key, or start the "
                                 f"broker with its keys)")
                raise _Fatal(f"broker at {self.endpoint} speaks CurveZMQ and this worker clear "
                             f"text (pass curve_secret and broker_key, --curve-secret and "
                             f"--broker-key on the command line: key files as written by "
                             f"`daisy keygen`)")

    def _recv_all(self, now):
        while self.sock is not None and not self.finished:
            try:
                frame = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if self.sock.getsockopt(zmq.RCVMORE):
                continue        # one frame per message: not ours
            self._on_message(frame, now)

    # The loop ------------------------------------------------------------------

    def _timers(self, now):
        # Time this process did not run (stopped by Ctrl-Z with its run, a
        # paused host), beyond a heartbeat interval, is not the broker's
        # silence (PROTOCOL.md section 8). But the broker may have lost us
        # meanwhile and given our queued blocks to others: say hello again,
        # and start none of them until the WELCOME says whether they are
        # still ours.
        gap = now - self.awake_until if self.awake_until else 0.0
        self.awake_until = now
        if gap > self.heartbeat:
            self.last_recv += gap
            self.last_answer += gap
            if self.link == "ready" and self.sock is not None:
                self._hello(now)
        # A broker silent for liveness - 1.5 heartbeats may be about to lose
        # us and give our blocks to others (PROTOCOL.md section 8, holding a
        # block): with blocks queued, say hello again, and start none of
        # them until the WELCOME. The liveness clock runs on. (A running
        # function cannot be paused.)
        if self.link == "ready" and self.queue and now - self.last_recv >= self._hold_after():
            self._recv_all(now)                 # a heartbeat may be waiting unread
            if self.finished:
                return
            if self.link == "ready" and now - self.last_recv >= self._hold_after():
                last_recv = self.last_recv
                self._hello(now)
                self.last_recv = last_recv
        if self.give_up and now - self.last_answer >= self.give_up:
            raise _Fatal(f"broker unreachable at {self.endpoint} "
                         f"(no answer for {self.give_up:g} s)")
        expiry = self.heartbeat * self.liveness
        if self.link != "idle" and now - self.last_recv >= expiry:
            self._recv_all(now)                 # a heartbeat may be waiting unread
            if self.finished:
                return
            if now - self.last_recv >= expiry:
                self._lost(now)
        if self.link == "idle" and now >= self.retry_at:
            self._connect(now)
        if self.link == "ready" and now - self.last_send >= self.heartbeat:
            self._send(HEARTBEAT)

    def _hold_after(self):
        # As the C worker's io_hold_after (worker/io.c).
        if self.liveness >= 3:
            return self.heartbeat * (self.liveness - 1.5)
        return self.heartbeat * 1.25

    def _timeout(self, now):
        due = [self.retry_at if self.link == "idle"
               else self.last_recv + self.heartbeat * self.liveness]
        if self.link == "ready":
            due.append(self.last_send + self.heartbeat)
            if self.queue:
                due.append(self.last_recv + self._hold_after())
            if self.pending:
                due.append(self.flush_at)
            if self.current is not None and not self.told:
                due.append(self.current_start + self._takeover())
        if self.give_up:
            due.append(self.last_answer + self.give_up)
        if self.parent.pid is not None:
            due.append(now + PARENT_POLL_S)
        return max(0, int((min(due) - now) * 1000) + 1)

    def _takeover(self):
        return min(TAKEOVER_S, self.heartbeat / 4)

    def _wait(self, timeout_ms):
        self.awake_until = time.monotonic() + timeout_ms / 1000.0
        poller = self.poller if self.poller is not None else self.idle_poller
        ready = dict(poller.poll(timeout_ms))
        if self.wake_r in ready:
            try:
                while os.read(self.wake_r, 512):
                    pass
            except OSError:
                pass
        now = time.monotonic()
        if self.monitor is not None and self.monitor in ready:
            self._on_monitor()
        if self.sock is not None and self.sock in ready:
            self._recv_all(now)

    def _start_next(self, now):
        self._recv_all(now)      # BLOCKS already here count as queued behind it
        if self.finished:
            return
        block = self.queue.popleft()
        self.current, self.current_start, self.told = block, now, False
        if self.link == "ready":
            if not self.queue and self.prefetch == 1 and self.held == 1 and not self.pending:
                # Window of one, nothing else held: the broker counted it
                # started when it handed it out (PROTOCOL.md section 6, rule 4).
                self.told = self.marked = True
            elif not self.queue:
                self._tell(now)           # nothing behind it: report it before it runs
            elif self.marked:
                self._release(now)        # the block that ended no longer runs
        self.jobs.put(block)

    def _finish_block(self, outcome, now):
        block, status, seconds, error = outcome
        self.current = None
        if self.void_block is block:
            self.void_block = None
            return      # another worker has it now (_void_leases)
        if status == FAILED and (self.stopping or _stop.is_set()):
            return      # failed while we stop: abandoned, given back by BYE at no cost
        if not self.pending:
            self.flush_at = now + BATCH_DELAY_S
        self.pending.append([block.block_id, block.attempt, status, max(0.0, seconds),
                             error, False])
        if status == SKIPPED:
            self.skipped += 1
        else:
            self.processed += 1

    def _leave(self):
        """Stopped: send what finished, say goodbye (held blocks go back)."""
        now = time.monotonic()
        self.stopping = True
        if self.link == "ready":
            self._flush(now)
        if self.sock is not None:       # also after a bare HELLO: the broker may know us
            if self.link == "ready":
                self._stats(now, force=True)
            self._send(BYE)
            self._close(LINGER_MS)
        _log.info("%s: stopped, held blocks given back (%d processed, %d found done)",
                  self.worker_id, self.processed, self.skipped)

    def _wait_for_block(self):
        """After SHUTDOWN: the running block ends before we return."""
        while self.current is not None:
            try:
                self.done.get(timeout=PARENT_POLL_S)
                self.current = None
            except queue.Empty:
                if self.parent.gone():
                    raise _Fatal(f"the broker that started this worker "
                                 f"(pid {self.parent.pid}) is gone") from None

    def loop(self):
        self.thread.start()
        now = time.monotonic()
        self.last_answer = now
        self._connect(now)
        next_parent = now + PARENT_POLL_S
        while True:
            now = time.monotonic()
            if self.finished:
                self._close(0)
                self._wait_for_block()
                _log.info("%s: done (%d processed, %d found done)", self.worker_id,
                          self.processed, self.skipped)
                return EXIT_OK
            if self.parent.pid is not None and now >= next_parent:
                next_parent = now + PARENT_POLL_S
                if self.parent.gone():
                    _stop.set()
                    raise _Fatal(f"the broker that started this worker "
                                 f"(pid {self.parent.pid}) is gone")
            try:
                self._finish_block(self.done.get_nowait(), now)
            except queue.Empty:
                pass
            if _stop.is_set():
                self.stopping = True
                if self.current is None:
                    self._leave()
                    return EXIT_OK
            self._timers(now)
            if self.finished:
                continue
            if self.current is None and self.queue and not self.stopping \
                    and self.link == "ready":     # not while saying hello again
                self._start_next(now)
            elif (self.current is not None and not self.told and self.link == "ready"
                  and self.void_block is None and now - self.current_start >= self._takeover()):
                self._tell(now)         # a queued block that runs long: worth a message
            self._maybe_flush(now)
            self._wait(self._timeout(now))

    def close(self):
        self._close(0)
        self.jobs.put(None)             # the helper ends after its block, if any
        self.ctx.term()
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _signals(worker):
    """SIGTERM/SIGINT stop the run (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum, frame):
        _stop_signal[0] = signum
        _stop.set()

    saved = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    old_fd = signal.set_wakeup_fd(worker.wake_w, warn_on_full_buffer=False)

    def undo():
        signal.set_wakeup_fd(old_fd)
        for s, handler in saved.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
    return undo


def run(process, *, broker=None, task_id=None, worker_id=None, run_id=None, prefetch=None,
        give_up=None, curve_secret=None, broker_key=None, check=None):
    """Process the blocks of one task until the broker says it is done.

    process(block) is called for each block, one at a time, in a thread of
    its own; returning None or True is success, returning False or raising
    fails the block (the exception, on one line, is the error the broker
    reports). check(block), when given, runs first: True means the block is
    already done, and it is reported as skipped without being processed.

    broker, task_id, worker_id and run_id default to $DAISY_BROKER,
    $DAISY_TASK_ID, $DAISY_WORKER_ID (else HOST:PID:RANDOM) and
    $DAISY_RUN_ID (else any run). prefetch: blocks to hold at once, 1 to
    1024 (default $DAISY_PREFETCH, else 1). give_up: seconds without an
    answer from the broker before giving up (default $DAISY_GIVE_UP, else
    None: keep trying; `daisy run` and `daisy-broker` set both for the
    workers they start). curve_secret and broker_key: CurveZMQ key
    files (`daisy keygen`), both or neither.

    Returns the exit status: 0 when the task is done, 128 + the signal's
    number when SIGTERM/SIGINT stopped it (held blocks given back, as
    daisy-worker exits), 1 when the broker
    refused this worker, could not be reached within give_up, or the
    broker that started this process died, 2 for bad arguments. Only a
    fatal message is printed (on stderr); the rest goes to the
    `daisy_worker` logger. Signals are handled when called from the main
    thread.
    """
    worker = None
    undo = None
    try:
        if not callable(process):
            raise _Config("process must be callable")
        if check is not None and not callable(check):
            raise _Config("check must be callable or None")
        broker = broker or _env("DAISY_BROKER")
        if not broker:
            raise _Config("no broker endpoint (pass broker= or set DAISY_BROKER)")
        if "://" not in broker:
            raise _Config(f"broker endpoint '{broker}' is not a ZeroMQ endpoint "
                          f"(e.g. tcp://host:5555)")
        _check_tcp_endpoint(broker)
        task_id = _check_str("task id", task_id or _env("DAISY_TASK_ID") or "", 1, MAX_TEXT)
        worker_id = worker_id or _env("DAISY_WORKER_ID") or (
            f"{socket.gethostname() or 'localhost'}:{os.getpid()}:{random.getrandbits(16):04x}")
        worker_id = _check_str("worker id", worker_id, 1, 255)
        run_id = _check_str("run id", run_id if run_id is not None
                            else (_env("DAISY_RUN_ID") or ""), 0, 64)
        # As daisy-worker and the broker's --run-id: one no broker can
        # have ("a b") would only be refused later, as another run's.
        if run_id and not (len(run_id) <= MAX_RUN_ID and all(
                c.isascii() and (c.isalnum() or c in "-_.") for c in run_id)):
            raise _Config(f"run id {run_id[:64]!r}: expected 1 to {MAX_RUN_ID} letters, "
                          f"digits, '-', '_' or '.' (as the broker's --run-id)")
        if prefetch is None:
            text = _env("DAISY_PREFETCH") or "1"
            prefetch = int(text) if text.isdigit() else text
        if give_up is None and _env("DAISY_GIVE_UP"):
            give_up = _env("DAISY_GIVE_UP")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) \
                or not 1 <= prefetch <= MAX_BATCH:
            raise _Config(f"prefetch takes 1 to {MAX_BATCH}, not {prefetch!r}")
        if give_up is not None:
            try:
                give_up = float(give_up)
            except (TypeError, ValueError):
                raise _Config(f"give_up takes seconds, not {give_up!r}") from None
            if not give_up >= 0 or give_up == float("inf"):
                raise _Config(f"give_up takes seconds (>= 0), not {give_up!r}")
        keys = None
        if (curve_secret is None) != (broker_key is None):
            raise _Config("curve_secret and broker_key go together")
        if curve_secret is not None:
            if not zmq.has("curve"):
                raise _Config("this libzmq was built without CurveZMQ")
            secret = _cert_key(curve_secret, "secret-key")
            server = _cert_key(broker_key, "public-key")
            keys = (secret, zmq.curve_public(secret), server)
        parent = _ParentWatch()
        _stop.clear()
        worker = _Worker(process, check, broker, task_id, worker_id, run_id, prefetch,
                         give_up, keys, parent)
        _stop_signal[0] = 0
        undo = _signals(worker)
        rc = worker.loop()
        #  Stopped by a signal: 128 + its number, as daisy-worker exits (the
        #  launcher then replaces the worker, as it does a C one).
        return 128 + _stop_signal[0] if rc == 0 and _stop_signal[0] else rc
    except _Config as e:
        sys.stderr.write(f"daisy_worker: {e}\n")
        return EXIT_USAGE
    except _Fatal as e:
        sys.stderr.write(f"daisy_worker: {e}\n")
        return EXIT_REFUSED
    finally:
        if undo is not None:
            undo()
        if worker is not None:
            worker.close()


# Command line ------------------------------------------------------------------

def _load(spec, what):
    """MODULE:FUNCTION or FILE.py:FUNCTION -> the function."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise _Config(f"{what} must be MODULE:FUNCTION or FILE.py:FUNCTION, not '{spec}'")
    try:
        if path.endswith(".py") or os.sep in path:
            module_name = os.path.splitext(os.path.basename(path))[0]
            loader = importlib.util.spec_from_file_location(module_name, path)
            if loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader)
            sys.modules.setdefault(module_name, module)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(path)
        fn = getattr(module, name)
    except Exception as e:
        raise _Config(f"cannot load {what} '{spec}': {_describe(e)}") from None
    if not callable(fn):
        raise _Config(f"{what} '{spec}' is not callable")
    return fn


def main(argv=None):
    """`python3 -m daisy_worker [OPTIONS] MODULE:FUNCTION`: returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python3 -m daisy_worker",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Join one task of a daisy broker and call FUNCTION(block) for each of "
                    "its blocks\nuntil the broker says there is no more work (the Python "
                    "counterpart of\ndaisy-worker). FUNCTION is MODULE:NAME or FILE.py:NAME; "
                    "it returns None or True\nfor success and raises (or returns False) "
                    "to fail the block. block has block_id,\nattempt, level, task_id, "
                    "read_roi and write_roi (.offset, .shape: world units).",
        epilog="environment:\n"
               "  DAISY_BROKER, DAISY_TASK_ID, DAISY_WORKER_ID, DAISY_RUN_ID: defaults of\n"
               "  --connect, --task, --worker-id and --run-id (set by daisy run and\n"
               "  daisy-broker for a task's worker); DAISY_BROKER_PID, the broker that\n"
               "  started this process: exit when it dies\n"
               "signals:\n"
               "  SIGINT, SIGTERM: start no new block, finish the running one, give every\n"
               "  other block held back (no retry used) and exit 128 + the signal's number\n"
               "exit status:\n"
               "  0  the broker said there is no more work\n"
               "  1  refused (unknown task, another run, CurveZMQ key not allowed),\n"
               "     no broker within --give-up, or the broker that started it died\n"
               "  2  bad command line\n"
               "  130, 143  stopped by SIGINT, SIGTERM")
    parser.add_argument("function", metavar="MODULE:FUNCTION", help="the block function")
    parser.add_argument("-c", "--connect", metavar="EP", help="broker endpoint "
                        "(default $DAISY_BROKER)")
    parser.add_argument("-t", "--task", metavar="ID", help="task id (default $DAISY_TASK_ID)")
    parser.add_argument("-w", "--worker-id", metavar="ID", help="this worker's unique id "
                        "(default $DAISY_WORKER_ID, else HOST:PID:RANDOM)")
    parser.add_argument("--run-id", metavar="ID", help="work only for this broker run "
                        "(default $DAISY_RUN_ID, else any run)")
    parser.add_argument("-p", "--prefetch", metavar="N", type=int, default=1,
                        help="blocks to hold at once, 1 to 1024 (default 1)")
    parser.add_argument("-g", "--give-up", metavar="SECONDS", type=float,
                        help="exit when no broker answered for this long (default: keep trying)")
    parser.add_argument("--check", metavar="MODULE:FUNCTION", help="completion check: "
                        "True means the block is done (reported as skipped)")
    parser.add_argument("--curve-secret", metavar="FILE", help="this worker's CurveZMQ "
                        "secret key file")
    parser.add_argument("--broker-key", metavar="FILE", help="the broker's CurveZMQ public "
                        "key file (give both or neither)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log failures with "
                        "tracebacks, reconnects and the end of the run to stderr")
    parser.add_argument("--version", action="version",
                        version=f"daisy_worker {__version__}")
    args = parser.parse_args(argv)
    if not args.connect and not _env("DAISY_BROKER"):
        sys.stderr.write("daisy_worker: no broker endpoint (pass --connect EP or set "
                         "DAISY_BROKER)\n")
        return EXIT_USAGE
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    sys.path.insert(0, os.getcwd())
    try:
        process = _load(args.function, "FUNCTION")
        check = _load(args.check, "--check") if args.check else None
    except _Config as e:
        sys.stderr.write(f"daisy_worker: {e}\n")
        return EXIT_USAGE
    return run(process, broker=args.connect, task_id=args.task, worker_id=args.worker_id,
               run_id=args.run_id, prefetch=args.prefetch, give_up=args.give_up,
               curve_secret=args.curve_secret, broker_key=args.broker_key, check=check)


if __name__ == "__main__":
    # `python3 -m daisy_worker` runs this file as __main__: hand over to the
    # module proper, so that block functions importing daisy_worker (for
    # stop_requested) see the same module.
    import daisy_worker as _module
    sys.exit(_module.main())
