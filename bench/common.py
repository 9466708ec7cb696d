"""Shared helpers for the steward benchmarks (bench/run.py): statistics,
/proc readers, a registry of every process a benchmark starts (so all of
them are stopped on every exit path, Ctrl+C included), and steward data dirs
built through the real command line.

Standard library only.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- statistics


class Series:
    """A list of measurements of one quantity: median, min, max."""

    def __init__(self, values=None):
        self.values = list(values or [])

    def add(self, value):
        if value is not None:
            self.values.append(value)

    def __bool__(self):
        return bool(self.values)

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    @property
    def lo(self):
        return min(self.values) if self.values else None

    @property
    def hi(self):
        return max(self.values) if self.values else None


def fmt_num(value, digits=None):
    """A number with about three significant digits (or `digits` decimals)."""
    if value is None:
        return "n/a"
    if digits is not None:
        return f"{value:.{digits}f}"
    a = abs(value)
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    if a >= 0.01:
        return f"{value:.3f}"
    return f"{value:.4f}"


def fmt_series(series, unit="", digits=None):
    """`median (min–max) unit`, or `n/a`."""
    if not series:
        return "n/a"
    if len(series.values) == 1:
        return f"{fmt_num(series.median, digits)}{unit}"
    return (
        f"{fmt_num(series.median, digits)}{unit} "
        f"({fmt_num(series.lo, digits)}–{fmt_num(series.hi, digits)})"
    )


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{fmt_num(a / b)}x"


def table(header, rows):
    """A markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------- /proc


def read_file(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def stat_fields(pid):
    """Fields of /proc/PID/stat after the name: [state, ppid, pgrp, ...]."""
    text = read_file(f"/proc/{pid}/stat")
    if not text:
        return None
    return text[text.rfind(")") + 2 :].split()


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (None once it is gone)."""
    f = stat_fields(pid)
    if not f:
        return None
    return int(f[11]) + int(f[12])


def rss_bytes(pid):
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    text = read_file(f"/proc/{pid}/status") or ""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024
    return out.get("VmRSS"), out.get("VmHWM")


def pss_bytes(pid):
    """Proportional set size (smaps_rollup `Pss`): pages shared between
    processes (the steward binary's, in steward and its output keeper) are
    split among them, so the PSS of several processes adds up honestly where
    their RSS counts shared pages twice."""
    text = read_file(f"/proc/{pid}/smaps_rollup") or ""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def start_ticks(pid):
    """Field 22 of /proc/PID/stat: tells a process from a later one with its pid."""
    f = stat_fields(pid)
    return int(f[19]) if f else None


def thread_runtimes(pid):
    """{tid: nanoseconds on a CPU} of every live thread of `pid`, from
    /proc/PID/task/TID/schedstat (the scheduler's own ns count, not ticks)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        text = read_file(f"/proc/{pid}/task/{tid}/schedstat")
        if text:
            out[int(tid)] = int(text.split()[0])
    return out


SCHEDSTAT = read_file("/proc/self/schedstat") is not None
WINDOW_BUSIEST_S = 10.0


class CpuWatch:
    """CPU time of named groups of processes over a window, sampled once a
    second on a thread of its own:

    - `pct`: the sum over samples of each thread's schedstat delta (ns): the
      resolution is far below a clock tick; a thread that ends between two
      samples loses at most its last second;
    - `ticks_pct`: utime+stime from /proc/PID/stat at both ends (counts
      ended threads too), resolution one clock tick over the window;
    - `busiest_pct`: the busiest 10 s of the window (from the samples).

    Where schedstat is missing, `pct` falls back to the ticks."""

    def __init__(self, groups, interval=1.0):
        self.groups = {name: [p for p in pids if p] for name, pids in groups.items()}
        self.interval = interval
        self.samples = []  # (t, {name: cumulative ns})
        self.last = {}  # (name, pid, tid) -> ns at the previous sample
        self.cum = {name: 0 for name in self.groups}
        self.ticks0 = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def sample(self):
        for name, pids in self.groups.items():
            for pid in pids:
                for tid, ns in thread_runtimes(pid).items():
                    key = (name, pid, tid)
                    if key in self.last:
                        self.cum[name] += max(0, ns - self.last[key])
                    elif self.samples:
                        self.cum[name] += ns  # a thread born inside the window
                    self.last[key] = ns
        self.samples.append((time.monotonic(), dict(self.cum)))

    def ticks(self, name):
        values = [cpu_ticks(p) for p in self.groups[name]]
        return None if any(v is None for v in values) else sum(values)

    def start(self):
        self.ticks0 = {name: self.ticks(name) for name in self.groups}
        self.sample()
        self.thread.start()
        return self

    def loop(self):
        while not self.stop_event.wait(self.interval):
            self.sample()

    def stop(self):
        """{name: {"pct", "ticks_pct", "busiest_pct", "seconds"}} (percent of one core)."""
        self.stop_event.set()
        self.thread.join()
        self.sample()
        ticks1 = {name: self.ticks(name) for name in self.groups}
        t0, t1 = self.samples[0][0], self.samples[-1][0]
        span = max(t1 - t0, 1e-9)
        out = {}
        for name in self.groups:
            t_a, t_b = self.ticks0.get(name), ticks1.get(name)
            ticks_pct = (t_b - t_a) / CLK_TCK / span * 100 if t_a is not None and t_b is not None else None
            pct = self.samples[-1][1][name] / 1e9 / span * 100 if SCHEDSTAT else ticks_pct
            busiest = None
            if SCHEDSTAT:
                j = 0
                for i, (ta, ca) in enumerate(self.samples):
                    while j < len(self.samples) and self.samples[j][0] - ta < WINDOW_BUSIEST_S - 0.5:
                        j += 1
                    if j >= len(self.samples):
                        break
                    tb, cb = self.samples[j]
                    rate = (cb[name] - ca[name]) / 1e9 / (tb - ta) * 100
                    busiest = rate if busiest is None else max(busiest, rate)
                if busiest is None:  # the window is shorter than 10 s
                    busiest = pct
            out[name] = {"pct": pct, "ticks_pct": ticks_pct, "busiest_pct": busiest, "seconds": span}
        return out


def cpu_method(window):
    """One sentence on how CPU figures are measured, for the report."""
    tick = 1 / CLK_TCK / window * 100 if window else None
    if SCHEDSTAT:
        return (
            "CPU = the sum of every thread's run time from /proc/PID/task/TID/schedstat (nanoseconds), "
            "sampled once a second over the window; \"busiest 10 s\" is the busiest 10 s stretch of those "
            f"samples (one clock tick over the window would be {tick:.4f} %: schedstat's resolution is far "
            "finer). A thread that ends inside the window loses at most its last second."
        )
    return (
        f"CPU = utime+stime of /proc/PID/stat over the window (schedstat is not available on this kernel); "
        f"one clock tick over the window is {tick:.4f} %, the resolution of the figure; no busiest-10 s figure."
    )


def alive(pid):
    f = stat_fields(pid)
    return bool(f) and f[0] not in ("Z", "X")


def children(pid):
    """Pids of the direct children of `pid` (over all its threads)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        text = read_file(f"/proc/{pid}/task/{tid}/children")
        if text:
            out.extend(int(p) for p in text.split())
    return out


def comm(pid):
    text = read_file(f"/proc/{pid}/comm")
    return text.strip() if text else None


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def machine():
    """Cores, CPU model, kernel, memory: for the report header."""
    model = "unknown CPU"
    for line in (read_file("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = ""
    for line in (read_file("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    return {
        "cores": os.cpu_count(),
        "model": model,
        "kernel": os.uname().release,
        "memory": mem,
    }


def fs_type(path):
    """The filesystem type of the mount holding `path` (from /proc/mounts)."""
    path = os.path.realpath(path)
    best, kind = "", "unknown"
    for line in (read_file("/proc/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1]
        if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
            best, kind = mnt, parts[2]
    return kind


# ---------------------------------------------------------------- cleanup


class Reaper:
    """Everything a benchmark starts is registered here and stopped by
    `cleanup()`: steward instances (SIGTERM, then SIGKILL), process groups
    we spawned, and any process whose environment or command line names the
    bench root (steward's workers and aria2c, even of a crashed instance)."""

    def __init__(self, root):
        self.root = root
        self.stewards = []  # Popen
        self.groups = set()  # pgids we created
        self.pids = set()  # our direct children, to reap

    def steward(self, popen):
        self.stewards.append(popen)
        return popen

    def group(self, pgid):
        self.groups.add(pgid)
        self.pids.add(pgid)

    def forget_group(self, pgid):
        self.groups.discard(pgid)
        self.pids.discard(pgid)

    def kill_marked(self):
        """SIGKILL every process group whose member names the bench root."""
        marker = os.fsencode(self.root)
        me, my_group = os.getpid(), os.getpgrp()
        for pid in all_pids():
            if pid == me:
                continue
            env = read_file(f"/proc/{pid}/environ", "rb") or b""
            cmd = read_file(f"/proc/{pid}/cmdline", "rb") or b""
            if marker not in env and marker not in cmd:
                continue
            try:
                pgid = os.getpgid(pid)
            except OSError:
                continue
            try:
                if pgid not in (my_group, 0, 1):
                    os.killpg(pgid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def stop_stewards(self, grace=5.0):
        for p in self.stewards:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except OSError:
                    pass
        end = time.monotonic() + grace
        for p in self.stewards:
            try:
                p.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.stewards = []

    def cleanup(self, remove_root=True):
        self.stop_stewards()
        for pgid in list(self.groups):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        self.kill_marked()
        for pid in list(self.pids):
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        self.groups.clear()
        self.pids.clear()
        # Reap whatever else we fathered (floor scripts' children).
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if remove_root:
            shutil.rmtree(self.root, ignore_errors=True)


def install_signal_handlers():
    """SIGTERM and SIGHUP end the run like Ctrl+C does (cleanup runs)."""

    def raise_interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)


# ---------------------------------------------------------------- steward

# Every worker of the benchmarks, unless a scenario needs another.
SLEEP = '["sleep", "86400"]'
# Workers whose account id starts with "ign" ignore SIGTERM (SIG_IGN survives exec).
MAYBE_IGNORE = (
    '["sh", "-c", "case $STEWARD_ACCOUNT in ign*) trap \\"\\" TERM;; esac; exec sleep 86400"]'
)


def config(command, aria2=False, stop_timeout="2s"):
    """steward.toml for a benchmark data dir."""
    return (
        f"[worker]\ncommand = {command}\nstop_timeout = \"{stop_timeout}\"\n"
        f"[aria2]\nenabled = {'true' if aria2 else 'false'}\n"
    )


class Steward:
    """The steward binary and a Reaper."""

    def __init__(self, binary, reaper):
        self.binary = binary
        self.reaper = reaper

    def cmd(self, data_dir, *args):
        return [self.binary, "--data-dir", data_dir, *args]

    def run(self, data_dir, *args, check=True):
        env = dict(os.environ)
        env.pop("STEWARD_LOG", None)
        out = subprocess.run(self.cmd(data_dir, *args), capture_output=True, env=env)
        if check and out.returncode != 0:
            raise RuntimeError(
                f"steward {' '.join(args)} failed ({out.returncode}): {out.stderr.decode(errors='replace').strip()}"
            )
        return out

    def make_data_dir(self, path, accounts, config, prefix="acc"):
        """A data dir with `config` as steward.toml and `accounts` accounts
        added through `steward account add` (timed: returns ms per add)."""
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "steward.toml"), "w") as f:
            f.write(config)
        t = time.monotonic()
        for i in range(accounts):
            self.run(path, "account", "add", f"{prefix}{i:04d}")
        return (time.monotonic() - t) * 1000 / max(1, accounts)

    def start(self, data_dir, log_name="headless.out"):
        """`steward run --headless` in its own process group."""
        env = dict(os.environ)
        env.pop("STEWARD_LOG", None)
        log = open(os.path.join(data_dir, log_name), "ab")
        try:
            p = subprocess.Popen(
                self.cmd(data_dir, "run", "--headless"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                process_group=0,
            )
        finally:
            log.close()
        return self.reaper.steward(p)

    def stop(self, popen, timeout=30.0):
        """SIGTERM and wait; SIGKILL after `timeout`. Returns the exit code."""
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
        try:
            code = popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            code = popen.wait()
        if popen in self.reaper.stewards:
            self.reaper.stewards.remove(popen)
        return code

    def kill9(self, popen):
        popen.kill()
        popen.wait()
        if popen in self.reaper.stewards:
            self.reaper.stewards.remove(popen)

    def status_json(self, data_dir):
        out = self.run(data_dir, "status", "--json", check=False)
        if out.returncode != 0:
            return None
        try:
            return json.loads(out.stdout)
        except ValueError:
            return None


def status_file(data_dir):
    """The running instance's latest snapshot (`<data-dir>/status.json`)."""
    text = read_file(os.path.join(data_dir, "status.json"))
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def running_workers(status):
    """{account: pid} of the workers a snapshot shows running."""
    out = {}
    for acc in (status or {}).get("accounts", []):
        w = acc.get("worker") or {}
        if (w.get("state") or {}).get("state") == "running" and w.get("pid"):
            out[acc["id"]] = w["pid"]
    return out


def wait_until(check, timeout, interval=0.005):
    """Polls `check()` until it returns a true value; returns (value, seconds)
    or (None, None) after `timeout`."""
    t0 = time.monotonic()
    end = t0 + timeout
    while True:
        v = check()
        if v:
            return v, time.monotonic() - t0
        if time.monotonic() >= end:
            return None, None
        time.sleep(interval)


def exec_children(pid, want_comm, count):
    """True when `pid` has at least `count` live children named `want_comm`."""
    kids = children(pid)
    if len(kids) < count:
        return False
    n = sum(1 for k in kids if comm(k) == want_comm)
    return n >= count


def spawn_groups(reaper, argv, count, env=None, envs=None):
    """`count` processes via posix_spawn, each the leader of its own group.
    `envs` (a list) gives each its own environment. Returns the pids."""
    path = shutil.which(argv[0]) or argv[0]
    pids = []
    for i in range(count):
        e = envs[i] if envs else (env or os.environ)
        pid = os.posix_spawn(path, argv, e, setpgroup=0)
        reaper.group(pid)
        pids.append(pid)
    return pids


def reap_all(reaper, pids):
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
        reaper.forget_group(pid)


# ---------------------------------------------------------------- control socket


class ControlClient:
    """One connection to a running instance's control socket
    (`<data-dir>/control.sock`), opened as an attached dashboard opens it:
    hello (role `view`), then on `follow()` a subscription with log lines,
    read on a thread of its own that counts every byte and frame received."""

    def __init__(self, data_dir, client="bench"):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(os.path.join(data_dir, "control.sock"))
        self.buf = b""
        self.bytes = 0
        self.frames = {}  # frame kind -> count
        self.first_snapshot = threading.Event()
        self.thread = None
        self.send({"protocol": 1, "role": "view", "client": client})
        welcome = json.loads(self.line())
        if welcome.get("frame") != "welcome":
            raise RuntimeError(f"control socket: no welcome: {welcome}")

    def send(self, value):
        self.sock.sendall(json.dumps(value).encode() + b"\n")

    def line(self):
        """The next whole frame (bytes, without its newline), read here."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("control socket: closed by the instance")
            self.bytes += len(chunk)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def follow(self, logs=True):
        """Subscribes and reads from now on on a thread; `first_snapshot` is
        set once the subscription's first (full) snapshot frame is in."""
        self.send({"id": 1, "ask": "subscribe", "logs": logs})
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self):
        self.sock.settimeout(None)
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.bytes += len(chunk)
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                # The kind is the first key of every frame steward writes
                # from encoded JSON, and a key of the others: parse only small ones.
                if line.startswith(b'{"frame":"snapshot"'):
                    kind = "snapshot"
                    self.first_snapshot.set()
                else:
                    try:
                        kind = json.loads(line).get("frame", "?")
                    except ValueError:
                        kind = "unreadable"
                self.frames[kind] = self.frames.get(kind, 0) + 1

    def counts(self):
        """(bytes, {kind: frames}) received so far."""
        return self.bytes, dict(self.frames)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.thread:
            self.thread.join(5)


def first_snapshot_seconds(data_dir):
    """Connect to the control socket, hello, subscribe, until the first
    snapshot frame is wholly read (seconds), and its size in bytes; as the
    link client does it: the subscribe is sent once the welcome is read."""
    t0 = time.monotonic()
    c = ControlClient(data_dir, "bench first frame")
    try:
        c.send({"id": 1, "ask": "subscribe", "logs": True})
        while True:
            line = c.line()
            if line.startswith(b'{"frame":"snapshot"'):
                return time.monotonic() - t0, len(line) + 1
    finally:
        c.close()
