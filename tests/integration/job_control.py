"""Ctrl-Z and fg of a program, as a terminal does them: the program runs in
a process group of its own inside our session (a shell's job), gets SIGTSTP
sent to its group, is held stopped, then gets SIGCONT.

    job_control.py EVENTS HOLD_S -- PROGRAM ARGS...

EVENTS is the file the blocks' commands append "start ID" and "end ID"
lines to. The program is stopped once a block has started, held HOLD_S
seconds, then continued. Prints one line per check ("ok: ..." or
"FAIL: ..."), then the program's exit status; exits 1 if a check failed.
"""
import os
import signal
import subprocess
import sys
import time


def states(pgids):
    """Process states (ps STAT first letters) of every process in pgids."""
    out = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and int(parts[0]) in pgids:
            rows.append((parts[1][0], parts[2]))
    return rows


def children_groups(pid):
    """Process groups of pid's descendants (the workers lead their own)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,pgid="], capture_output=True,
                         text=True).stdout
    table = [tuple(map(int, l.split())) for l in out.splitlines() if l.strip()]
    groups, frontier = set(), {pid}
    while frontier:
        nxt = {p for p, pp, _ in table if pp in frontier}
        groups |= {g for p, _, g in table if p in nxt}
        frontier = nxt
    return groups


def lines(path):
    try:
        with open(path) as f:
            return f.read().split("\n")
    except FileNotFoundError:
        return []


def main():
    events, hold = sys.argv[1], float(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]
    if os.fork():                   # the test's shell must not be our session
        _, status = os.wait()
        sys.exit(os.waitstatus_to_exitcode(status))
    os.setsid()
    p = subprocess.Popen(argv, process_group=0)
    failed = False

    def check(ok, what):
        nonlocal failed
        failed |= not ok
        print(("ok: " if ok else "FAIL: ") + what, flush=True)

    deadline = time.monotonic() + 30
    while not any(l.startswith("start") for l in lines(events)) and time.monotonic() < deadline:
        time.sleep(0.05)
    groups = {p.pid} | children_groups(p.pid)
    os.killpg(p.pid, signal.SIGTSTP)
    # Everything of the run stops: the program, its workers, the commands.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        groups |= children_groups(p.pid)
        running = [a for s, a in states(groups) if s not in "TtZ"]
        if not running:
            break
        time.sleep(0.05)
    check(not running, "Ctrl-Z stops the program, its workers and their commands"
          + ("" if not running else f" (still running: {running})"))
    before = len(lines(events))
    time.sleep(hold)
    check(len(lines(events)) == before, "nothing runs while it is stopped")
    os.killpg(p.pid, signal.SIGCONT)
    rc = p.wait(timeout=120)
    starts = [l for l in lines(events) if l.startswith("start")]
    check(len(starts) == len(set(starts)), "after fg, no block ran twice")
    print(rc, flush=True)
    sys.exit(1 if failed else 0)


main()
