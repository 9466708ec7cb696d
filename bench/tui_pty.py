#!/usr/bin/env python3
"""The steward dashboard through a real pty: idle output, idle CPU/RSS, key
latency and shutdown time, with 10, 100 and 1,000 accounts (issue 7,
scenarios 1-3, the TUI half).

A benchmark, not a test: it prints figures and compares them with the goals,
it does not fail on them. It builds nothing; build first:

    cargo build --release
    python3 bench/tui_pty.py   # 5 runs; the idle window (60 s settle + 120 s) at 1,000 only
    python3 bench/tui_pty.py --runs 1 --settle 5 --idle-seconds 15 --accounts 10,1000

Per account count N it makes one data dir whose `steward.toml` runs
`sleep 86400` as every worker, adds N accounts with `steward account add`
(timed), and per run copies that dir (so every run starts from the same
store), then:

1. starts the TUI in a 120x40 pty (TERM=xterm-256color) and times until every
   worker is running (`steward status --json`) and the screen went quiet;
2. for the counts in --idle-accounts, in the first --idle-runs runs: waits
   --settle seconds (60), then counts the bytes the TUI writes during an
   idle window (120 s) and the busiest 10 s of it, steward's CPU from every
   thread's schedstat (ns; and the busiest 10 s), its RSS, and the same with
   its aria2c and output keeper;
3. presses j/k alternately (Accounts pane) and times each from the write to
   the first byte of output after it, waiting for the screen to go quiet
   before the next key;
4. presses q and times until steward has exited, and until every process
   of the instance (workers, aria2c, output keeper) is gone.

`bench/run.py` runs it without idle windows: its TUI idle window is shared
with htop, btop and mprocs (bench/peers.py).

Every process it started is stopped on every exit path, Ctrl+C included:
steward by pid, its workers by process group (found through the data dir
path in their environment). Standard library only.
"""

import argparse
import datetime
import fcntl
import json
import os
import platform
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CpuWatch, cpu_method  # noqa: E402

COLUMNS, ROWS = 120, 40
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Issue 7's goals for the TUI (stated for 1,000 accounts).
GOALS = {
    "idle_bps": 20.0,  # bytes/s written to the pty at idle
    "cpu_pct": 0.2,  # % of one core at idle
    "rss_mb": 25.0,  # MB (10^6 bytes)
    "key_p99_ms": 30.0,
}

# Drawn in the footer, the last row: a frame is written top to bottom, so
# once this is out the whole first frame is on the screen.
FOOTER_MARK = b"start/stop"

# How long the pty must stay silent to count as "the screen went quiet".
QUIET_S = 0.5
# Between key presses: silence needed before the next press.
KEY_QUIET_S = 0.03
# Patience for things that should happen promptly.
STARTUP_TIMEOUT_S = 120.0
KEY_TIMEOUT_S = 2.0
SHUTDOWN_TIMEOUT_S = 60.0


class BenchError(Exception):
    """A run could not be completed (steward failed, timed out, ...)."""


class Interrupted(Exception):
    """SIGTERM/SIGHUP to the script: unwinds like Ctrl+C so cleanup runs."""


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


# -- the data dir ---------------------------------------------------------


def make_template(steward, accounts, root):
    """A data dir with the sleep worker configured and `accounts` accounts;
    returns (path, seconds the adds took)."""
    data_dir = os.path.join(root, f"template-{accounts}")
    os.makedirs(data_dir)
    with open(os.path.join(data_dir, "steward.toml"), "w") as f:
        f.write('[worker]\ncommand = ["sleep", "86400"]\n')
    started = time.monotonic()
    for n in range(accounts):
        subprocess.run(
            [steward, "--data-dir", data_dir, "account", "add", f"acct-{n:04d}"],
            check=True,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
    return data_dir, time.monotonic() - started


# -- processes ------------------------------------------------------------


def proc_cpu_ticks(pid):
    """utime + stime of `pid` in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Fields after the command name, which may contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def proc_rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def pids_mentioning(path):
    """Pids of processes whose command line or environment names `path`
    (steward gets --data-dir; its workers get STEWARD_SESSION_FILE and TMPDIR
    inside the data dir)."""
    needle = path.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{part}", "rb") as f:
                    if needle in f.read():
                        found.append(int(entry))
                        break
            except OSError:
                continue
    return found


def kill_leftovers(path):
    """SIGKILLs every process (and its process group) that names `path`;
    returns how many processes. Never our own group."""
    pids = pids_mentioning(path)
    for pid in pids:
        try:
            group = os.getpgid(pid)
            if group != os.getpgrp():
                os.killpg(group, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(pids)


class Shielded:
    """Holds off SIGINT/SIGTERM/SIGHUP while cleanup runs, so a second Ctrl+C
    cannot leave processes behind; the signal is re-raised afterwards."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.saved = {s: signal.getsignal(s) for s in self.SIGNALS}
        self.caught = []
        for s in self.SIGNALS:
            signal.signal(s, lambda signum, _frame: self.caught.append(signum))
        return self

    def __exit__(self, *exc):
        for s, handler in self.saved.items():
            signal.signal(s, handler)
        if self.caught and exc[0] is None:
            os.kill(os.getpid(), self.caught[0])
        return False


def running_workers(steward, data_dir):
    """How many workers `steward status --json` reports running (None if no answer yet)."""
    result = subprocess.run(
        [steward, "--data-dir", data_dir, "status", "--json"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        return None
    try:
        snapshot = json.loads(result.stdout)
    except ValueError:
        return None
    running = 0
    for account in snapshot.get("accounts", []):
        state = account.get("worker", {}).get("state")
        if isinstance(state, dict):
            state = state.get("state")
        if state == "running":
            running += 1
    return running


# -- the pty --------------------------------------------------------------


class Tui:
    """A terminal program (steward's dashboard, `steward attach`, or a peer in
    bench/peers.py) on a pty we hold the master side of, started from `argv`.
    `mark` is a path every process it starts names in its command line or
    environment, so all of them can be found and stopped; None for a program
    that starts none of its own (`steward attach`: its data dir also names the
    instance it is attached to, which must outlive it), so `stop()` stops it
    alone. `env` adds to (and overrides) the environment."""

    def __init__(self, argv, mark, env=None):
        self.mark = mark
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS), **(env or {})}
        env.pop("NO_COLOR", None)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            # After setsid: make the pty this session's controlling terminal.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            close_fds=True,
        )
        os.close(slave)
        self.total_bytes = 0
        self.tail = b""

    @property
    def pid(self):
        return self.proc.pid

    def read(self, timeout):
        """Bytes written by the TUI within `timeout` seconds (b"" if none or it is gone)."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the slave side is closed, steward is gone
            return b""
        self.total_bytes += len(data)
        self.tail = (self.tail + data)[-4096:]
        return data

    def pump_until(self, deadline, per_second=None):
        """Reads (and discards) output until `deadline` (monotonic); returns
        the byte count. `per_second` (a dict) gets the bytes of each whole
        second since the call."""
        count = 0
        t0 = time.monotonic()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return count
            data = self.read(left)
            if not data and self.proc.poll() is not None:
                return count
            count += len(data)
            if per_second is not None and data:
                second = int(time.monotonic() - t0)
                per_second[second] = per_second.get(second, 0) + len(data)

    def wait_quiet(self, quiet, timeout):
        """Reads until no output for `quiet` seconds; False if that never happened within `timeout`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.read(quiet):
                return True
        return False

    def write(self, data):
        os.write(self.master, data)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Whatever state it is in: q, then SIGTERM, then SIGKILL; then
        whatever names `mark` (its workers); returns how many of those."""
        if self.alive():
            for step in ("q", "term", "kill"):
                try:
                    if step == "q":
                        self.write(b"q")
                    elif step == "term":
                        self.proc.send_signal(signal.SIGTERM)
                    else:
                        self.proc.kill()
                except OSError:
                    pass
                end = time.monotonic() + (15 if step != "kill" else 5)
                while self.alive() and time.monotonic() < end:
                    self.read(0.05)
                if not self.alive():
                    break
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.close(self.master)
        except OSError:
            pass
        return kill_leftovers(self.mark) if self.mark else 0


def comm_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def cmdline_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def busiest_rate(per_second, elapsed, span=10):
    """The most bytes written in any `span` consecutive seconds of the window, per second."""
    if elapsed <= span:
        return sum(per_second.values()) / max(elapsed, 1e-9)
    return max(sum(per_second.get(s + i, 0) for i in range(span)) for s in range(int(elapsed) - span + 1)) / span


def press_q(tui, data_dir):
    """Presses q; returns the seconds until steward exited and until every
    process naming `data_dir` (found just before the key) is gone."""
    instance = {p: start_of(p) for p in pids_mentioning(data_dir)}
    instance = {p: t for p, t in instance.items() if t is not None}
    pressed = time.monotonic()
    tui.write(b"q")
    end = pressed + SHUTDOWN_TIMEOUT_S
    exited = None
    while time.monotonic() < end:
        if exited is None and not tui.alive():
            exited = time.monotonic() - pressed
        instance = {p: t for p, t in instance.items() if start_of(p) == t}
        if exited is not None and not instance:
            break
        tui.read(0.002)
    if exited is None:
        raise BenchError(f"steward still running {SHUTDOWN_TIMEOUT_S:.0f} s after q")
    if instance:
        raise BenchError(f"{len(instance)} process(es) of the instance still there {SHUTDOWN_TIMEOUT_S:.0f} s after q")
    if tui.proc.returncode != 0:
        raise BenchError(f"steward exited with {tui.proc.returncode} after q")
    return {"shutdown_s": exited, "all_gone_s": time.monotonic() - pressed}


def start_of(pid):
    """Start time of `pid` (clock ticks since boot), None once it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def wait_started(tui, steward, data_dir, accounts):
    """Until the embedded dashboard in `tui` runs every one of `accounts`
    workers (`steward status --json`), then the screen quiet: seconds from
    the spawn to every worker running, to the first byte and to the first
    full frame (the footer out)."""
    first_output = first_frame = None
    end = tui.started + STARTUP_TIMEOUT_S
    next_poll = 0.0
    while True:
        now = time.monotonic()
        if now > end:
            raise BenchError(f"not all {accounts} workers running after {STARTUP_TIMEOUT_S:.0f} s")
        if not tui.alive():
            raise BenchError(f"steward exited with {tui.proc.returncode}: {tui.tail[-400:]!r}")
        if tui.read(0.05):
            if first_output is None:
                first_output = time.monotonic() - tui.started
            if first_frame is None and FOOTER_MARK in tui.tail:
                first_frame = time.monotonic() - tui.started
        if now >= next_poll:
            next_poll = now + 0.25
            if running_workers(steward, data_dir) == accounts:
                break
    figures = {
        "all_running_s": time.monotonic() - tui.started,
        "first_output_s": first_output,
        "first_frame_s": first_frame,
    }
    if not tui.wait_quiet(QUIET_S, 30):
        print("  (screen never went quiet for 0.5 s before the idle window)", file=sys.stderr)
    return figures


def wait_full_frame(tui, marks, timeout=STARTUP_TIMEOUT_S):
    """Until every one of `marks` (bytes) has been written to the pty since
    the spawn and the screen then went quiet: (seconds from the spawn to the
    first byte, to the read that completed the marks). A frame is written top
    to bottom, so with the footer among the marks that read ends the frame;
    the quiet after it shows no second frame was needed to complete it."""
    seen = b""
    missing = list(marks)
    first_output = None
    end = tui.started + timeout
    while missing:
        if time.monotonic() > end:
            raise BenchError(f"no full frame within {timeout:.0f} s: {[m.decode() for m in missing]} "
                             f"never shown; last output {tui.tail[-300:]!r}")
        data = tui.read(0.05)
        if not data:
            if not tui.alive():
                raise BenchError(f"exited with {tui.proc.returncode} before its first full frame: "
                                 f"{tui.tail[-400:]!r}")
            continue
        if first_output is None:
            first_output = time.monotonic() - tui.started
        # Keep enough of the previous reads for a mark split between two.
        seen = seen[-256:] + data
        missing = [m for m in missing if m not in seen]
    frame = time.monotonic() - tui.started
    if not tui.wait_quiet(QUIET_S, 30):
        raise BenchError("the screen never went quiet after the first full frame")
    return first_output, frame


def key_latencies(tui, keys):
    """Presses j/k alternately (the Accounts pane) `keys` times, each after
    the screen went quiet; returns the milliseconds from each write to the
    first byte of output after it, sorted."""
    latencies = []
    for n in range(keys):
        tui.wait_quiet(KEY_QUIET_S, 5)
        key = b"j" if n % 2 == 0 else b"k"
        pressed = time.monotonic()
        tui.write(key)
        if not tui.read(KEY_TIMEOUT_S):
            raise BenchError(f"no output within {KEY_TIMEOUT_S} s of key {key!r}")
        latencies.append((time.monotonic() - pressed) * 1e3)
    latencies.sort()
    return latencies


def percentile(ordered, fraction):
    """The value below which `fraction` of the sorted list `ordered` lies (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# -- one run --------------------------------------------------------------


def one_run(steward, template, accounts, args, scratch, run_index):
    data_dir = os.path.join(scratch, f"run-{accounts}-{run_index}")
    shutil.copytree(template, data_dir)
    tui = Tui([steward, "--data-dir", data_dir], data_dir)
    figures = {}
    try:
        # 1. Startup: every worker running, then the screen quiet.
        figures.update(wait_started(tui, steward, data_dir, accounts))

        # 2. Idle window: after a settle, so start-up work is over and the
        # window holds the steady state (a minute or more catches the
        # once-a-minute uptime repaint).
        if accounts in args.idle_counts and run_index < args.idle_runs:
            tui.pump_until(time.monotonic() + args.settle)
            aria2c = next((p for p in pids_mentioning(data_dir) if comm_of(p) == "aria2c"), None)
            keeper = next((p for p in pids_mentioning(data_dir) if b"output-keeper" in cmdline_of(p)), None)
            groups = {"steward": [tui.pid], "footprint": [x for x in (tui.pid, aria2c, keeper) if x]}
            watch = CpuWatch(groups).start()
            started = time.monotonic()
            per_second = {}
            idle_bytes = tui.pump_until(started + args.idle_seconds, per_second)
            elapsed = time.monotonic() - started
            cpu = watch.stop()
            figures["idle_bps"] = idle_bytes / elapsed
            figures["busiest_bps"] = busiest_rate(per_second, elapsed)
            figures["cpu_pct"] = cpu["steward"]["pct"]
            figures["busiest_cpu_pct"] = cpu["steward"]["busiest_pct"]
            figures["footprint_cpu_pct"] = cpu["footprint"]["pct"]
            figures["rss_mb"] = proc_rss_bytes(tui.pid) / 1e6
            figures["footprint_rss_mb"] = sum(proc_rss_bytes(x) for x in groups["footprint"]) / 1e6
            figures["aria2c_rss_mb"] = proc_rss_bytes(aria2c) / 1e6 if aria2c else None

        # 3. Key latency: j/k alternately, each after the screen went quiet.
        latencies = key_latencies(tui, args.keys)
        figures["key_p50_ms"] = statistics.median(latencies)
        figures["key_p99_ms"] = percentile(latencies, 0.99)

        # 4. Shutdown: q until steward has exited, and until every process
        # of the instance (workers, aria2c, output keeper) is gone: the
        # second is what a user waits for before the next start can run.
        tui.wait_quiet(KEY_QUIET_S, 5)
        figures.update(press_q(tui, data_dir))
    finally:
        with Shielded():
            left = tui.stop()
            if left:
                print(f"  warning: {left} process(es) outlived steward and were killed", file=sys.stderr)
            shutil.rmtree(data_dir, ignore_errors=True)
    return figures


# -- report ---------------------------------------------------------------

ROWS_SHOWN = [
    ("idle_bps", "idle output (B/s)", "{:.1f}"),
    ("busiest_bps", "idle output, busiest 10 s (B/s)", "{:.1f}"),
    ("cpu_pct", "idle CPU, steward (% of one core)", "{:.3f}"),
    ("busiest_cpu_pct", "idle CPU, steward, busiest 10 s (%)", "{:.3f}"),
    ("footprint_cpu_pct", "idle CPU, steward + aria2c + keeper (%)", "{:.3f}"),
    ("rss_mb", "RSS, steward (MB)", "{:.1f}"),
    ("aria2c_rss_mb", "RSS, aria2c (MB)", "{:.1f}"),
    ("footprint_rss_mb", "RSS, steward + aria2c + keeper (MB)", "{:.1f}"),
    ("key_p50_ms", "key latency p50 (ms)", "{:.2f}"),
    ("key_p99_ms", "key latency p99 (ms)", "{:.2f}"),
    ("shutdown_s", "q to steward's exit (s)", "{:.3f}"),
    ("all_gone_s", "q to every process of it gone (s)", "{:.3f}"),
    ("all_running_s", "start to all workers running (s)", "{:.2f}"),
    ("first_output_s", "start to first output (s)", "{:.3f}"),
    ("first_frame_s", "start to first full frame (s)", "{:.3f}"),
]


def table(accounts, runs, add_seconds, args):
    lines = [
        f"### TUI, {accounts} accounts ({len(runs)} run(s)"
        + (f", {args.idle_seconds:g} s idle window" if accounts in args.idle_counts else "")
        + f", {args.keys} keys; {accounts} adds via the CLI took {add_seconds:.1f} s)",
        "",
        "| metric | median | min–max | goal | median / goal |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, label, fmt in ROWS_SHOWN:
        values = [r[key] for r in runs if r.get(key) is not None]
        if not values:
            continue
        median = statistics.median(values)
        goal = GOALS.get(key)
        goal_text = f"< {goal:g}" if goal is not None else ""
        ratio = f"{median / goal:.2f}x" if goal else ""
        lines.append(
            f"| {label} | {fmt.format(median)} | {fmt.format(min(values))}–{fmt.format(max(values))} "
            f"| {goal_text} | {ratio} |"
        )
    if accounts in args.idle_counts:
        lines += [
            "",
            f"Idle window (the first {min(args.idle_runs, args.runs)} run(s)): {args.idle_seconds:g} s after a settle of {args.settle:g} s"
            + (" (shorter than 120 s after 60 s: it may miss the once-a-minute repaint)"
               if args.idle_seconds < 120 or args.settle < 60 else "")
            + f". {cpu_method(args.idle_seconds)} aria2 is enabled (the default): aria2c runs and is polled.",
        ]
    else:
        lines += ["", "No idle window at this count (`--idle-accounts`)."]
    lines.append("")
    return "\n".join(lines)


def machine():
    kernel = platform.release()
    return (
        f"{os.cpu_count()} cores, Linux {kernel}, Python {platform.python_version()}, "
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steward", default="target/release/steward", help="the binary (default: %(default)s)")
    parser.add_argument("--accounts", default="10,100,1000", help="comma-separated counts (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="runs per count (default: %(default)s)")
    parser.add_argument("--idle-seconds", type=float, default=120.0, help="idle window (default: %(default)s)")
    parser.add_argument("--settle", type=float, default=60.0, help="wait before the idle window (default: %(default)s)")
    parser.add_argument("--idle-accounts",
                        help="counts that get an idle window (default: the largest of --accounts)")
    parser.add_argument("--idle-runs", type=int, help="runs with an idle window (default: --runs); the "
                        "other runs time keys, q and start only")
    parser.add_argument("--keys", type=int, default=200, help="key presses per run (default: %(default)s)")
    parser.add_argument("--json", help="also write the medians per account count to this file")
    args = parser.parse_args()
    steward = os.path.abspath(args.steward)
    if not os.access(steward, os.X_OK):
        parser.error(f"{steward} is not an executable (cargo build --release first, or --steward PATH)")
    if args.runs < 1 or args.keys < 1 or args.idle_seconds <= 0:
        parser.error("--runs and --keys must be at least 1, --idle-seconds above 0")
    counts = [int(c) for c in args.accounts.split(",") if c.strip()]
    args.idle_runs = args.idle_runs or args.runs
    args.idle_counts = set([max(counts)] if args.idle_accounts is None
                           else [int(c) for c in args.idle_accounts.split(",") if c.strip()])

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    scratch = tempfile.mkdtemp(prefix="steward-tui-bench-")
    print(f"## steward TUI in a pty ({COLUMNS}x{ROWS})\n\n{machine()}; binary {steward}\n")
    failed = False
    medians = {}
    try:
        for accounts in counts:
            template, add_seconds = make_template(steward, accounts, scratch)
            print(f"  {accounts} accounts added via the CLI in {add_seconds:.1f} s", file=sys.stderr)
            runs = []
            for run_index in range(args.runs):
                try:
                    figures = one_run(steward, template, accounts, args, scratch, run_index)
                except BenchError as err:
                    failed = True
                    print(f"  run {run_index + 1} with {accounts} accounts failed: {err}", file=sys.stderr)
                    continue
                runs.append(figures)
                print(f"  run {run_index + 1}/{args.runs}, {accounts} accounts: "
                      + ", ".join(f"{k} {v:.3f}" for k, v in figures.items() if v is not None),
                      file=sys.stderr)
            if runs:
                print(table(accounts, runs, add_seconds, args))
                medians[accounts] = {
                    key: statistics.median(v) for key in runs[0]
                    if (v := [r[key] for r in runs if r.get(key) is not None])
                }
            shutil.rmtree(template, ignore_errors=True)
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; cleaning up", file=sys.stderr)
        failed = True
    finally:
        with Shielded():
            left = kill_leftovers(scratch)
            if left:
                print(f"killed {left} leftover process(es)", file=sys.stderr)
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(medians, f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
