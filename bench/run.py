#!/usr/bin/env python3
"""steward benchmarks: runs every scenario on the machine at hand and
writes BENCHMARKS.md (and bench/results.json, the per-scenario results it
is made from).

    cargo build --release --examples --bins
    python3 bench/run.py                 # full: about 74 minutes of wall time (below)
    python3 bench/run.py --quick         # 20-25 minutes; every section says it is quick
    python3 bench/run.py --only tui,scale   # just those; the other sections are kept

Full mode's wall time: about 74 minutes on a quiet 2-core machine, up to
~90 when it is shared (start-ups slow down and the disk's discards stretch
the sweep). Per scenario, in minutes, from --quick runs scaled up: idle 20
(200 and 1,000 accounts x 3 runs x (60 s settle + 120 s window)), tui 12
(3 side-by-side idle windows; keys, q and start at 10/100/1,000 x 5 runs),
startup 1-2, shutdown 3-4, scale 5 (3,000 accounts, 3 runs), sweep 5-12
(3 runs per file system), scan 1, crash 1-2, peers 5-8 (shutdown by
reaping, steward and supervisord interleaved, 3 runs; pm2), control 8
(60 s settle, 3 pairs of 60 s windows), attach 11 (5 runs of each
dashboard; 60 s settle, 3 pairs of 60 s windows; measured on a shared
machine), metrics 15 (3 runs x (60 s settle + 2 x 120 s windows)).
BENCHMARKS.md states the minutes each scenario took. `--quick`
takes 25-30 minutes (attach 2-3 of them).

`--only NAME,...` runs those scenarios only; their sections and goal rows
replace the same ones of the last run (kept in bench/results.json), so the
file can be regenerated piecewise. Each section says when, at which commit
and in which mode it was measured.

Every figure of steward is measured next to a floor (a plain script doing
the same kernel work) or a peer tool doing the same job, in the same run
(interleaved, or side by side in the same window), with the ratio and the
goal; every section says what its figures do not show. Scenarios:

 idle      `steward run --headless` with 200 and 1,000 accounts on `sleep
           86400` workers: CPU from every thread's schedstat (ns) over a
           120 s window after a 60 s settle, the busiest 10 s, RSS/PSS;
           steward, its output keeper and its aria2c, each and together;
           supervisord and pm2 with the same 200 workers in the same window;
 tui       the TUI in a pty (bench/tui_pty.py): idle window beside htop,
           btop and mprocs (the same windows), keys, q until every process
           of the instance is gone, start-up;
 startup   exec to every worker running, 1,000 accounts, vs posix_spawn of
           as many process groups;
 scale     3,000 accounts: start vs floor, stop vs floor and floor + rmdir,
           RSS, `status --json` time and size, q with aria2c running;
 shutdown  10/100/500 workers and 500 with 50 ignoring SIGTERM (2 s
           stop_timeout), vs killpg(TERM) + waitpid + an rmdir per worker
           (the goal: steward removes every TMPDIR) and without the rmdir;
 sweep     100,000 old untracked temp files in 1,000 dirs vs as many
           `find -delete`s as the sweep has threads (and one); temp stats
           vs `du -s`, cold and warm;
 scan      `proc::find_by_comm` vs a bare Rust loop over /proc/*/stat;
           `flock_holders` vs the same work in Python (/proc/locks, then
           every /proc/PID/fd); `open_file_holders` vs `fuser`;
 crash     SIGKILL steward with 100 workers and 10,000 temp files, start
           again, until the workers run again and the old temp is gone;
 control   the control socket: bytes per second a subscribed client receives
           at idle (200 accounts) and steward's CPU with 5 idle subscribed
           clients vs none (windows interleaved on one instance); connect to
           the first full snapshot frame at 1,000 accounts;
 attach    `steward attach` in a pty (bench/tui_pty.py's) on a headless
           instance of 1,000 accounts: spawn to the full first frame, j/k
           latency attached vs the embedded dashboard (runs interleaved),
           the instance's CPU with 5 idle attached dashboards vs none
           (windows interleaved) and the dashboards' own;
 metrics   `[metrics] listen` with 1,000 accounts: 200 scrapes of GET
           /metrics (median, p99, steward's CPU per scrape), and steward's
           CPU in a window scraped once a second vs one not scraped;
 peers     supervisord's shutdown of the same workers, timed like
           steward's to every worker reaped; `pm2 kill`
           (each peer when installed, see bench/install-peers.sh).

Everything it starts is stopped on every exit path (Ctrl+C, SIGTERM, SIGHUP,
errors): steward instances by pid, the groups it spawned, and any process
whose environment or command line names the bench root. Standard library
only.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import peers_section, pump_all, tui_idle_section  # noqa: E402
from tui_pty import (  # noqa: E402
    COLUMNS,
    FOOTER_MARK,
    KEY_QUIET_S,
    QUIET_S,
    ROWS,
    BenchError,
    Tui,
    key_latencies,
    percentile,
    wait_full_frame,
    wait_started,
)

from common import (  # noqa: E402
    MAYBE_IGNORE,
    SLEEP,
    ControlClient,
    CpuWatch,
    Reaper,
    Series,
    Steward,
    alive,
    all_pids,
    comm,
    config,
    cpu_method,
    exec_children,
    fmt_num,
    fmt_series,
    first_snapshot_seconds,
    fs_type,
    install_signal_handlers,
    machine,
    pss_bytes,
    ratio,
    read_file,
    reap_all,
    rss_bytes,
    running_workers,
    spawn_groups,
    status_file,
    table,
    wait_until,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# supervisord and pm2 supervise this many workers beside steward (issue 7's idle goal size).
PEER_WORKERS = 200
# The control scenario: idle subscribed clients against none, and the
# fleet whose first full snapshot frame is timed.
CONTROL_CLIENTS = 5
CONTROL_FIRST_FRAME_ACCOUNTS = 1000
# The attached-dashboard scenario (issue 15): the fleet every figure of it
# is taken on, the `steward attach`es timed per instance, the idle dashboards
# against none, and the j/k presses per run.
ATTACH_ACCOUNTS = 1000
ATTACHES_PER_RUN = 5
ATTACH_DASHBOARDS = 5
ATTACH_KEYS = 200
# Once a dashboard's screen is up and before its keys, in both modes alike:
# start-up's last snapshots and repaints out of the way.
ATTACH_KEY_SETTLE_S = 2.0
# Patience for a detached `steward attach` to exit.
DETACH_TIMEOUT_S = 10.0
# The metrics scenario: accounts behind the endpoint, and scrapes timed one after the other.
METRICS_ACCOUNTS = 1000
METRICS_SCRAPES = 200
# Threads steward's sweep measures and removes on (src/orphans, SWEEP_THREADS).
SWEEP_THREADS = 4
# The groups of processes the idle scenario measures that are steward's own.
OWN_PROCESSES = ("steward", "keeper", "aria2c", "footprint")
# Writes 100 files of 1 KiB into its TMPDIR, then sleeps.
WRITE_100 = (
    '["sh", "-c", "s=$(printf %1024s x); i=0; while [ $i -lt 100 ]; do '
    'printf %s \\"$s\\" > \\"$TMPDIR/f$i\\"; i=$((i+1)); done; exec sleep 86400"]'
)


def goal_cell(ok):
    if ok is None:
        return "no goal"
    return "**pass**" if ok else "**miss**"



def aria2c_of(data_dir):
    """The aria2c of the steward on `data_dir` (its command line names the data dir)."""
    want = os.fsencode(str(data_dir))
    for pid in all_pids():
        if comm(pid) != "aria2c":
            continue
        if want in (read_file(f"/proc/{pid}/cmdline", "rb") or b"") and alive(pid):
            return pid
    return None


def py_flock_holders(path):
    """The pids whose descriptors hold a flock on `path`: /proc/locks, then
    every /proc/PID/fd link to it and its fdinfo (what `flock_holders` does)."""
    st = os.stat(path)
    ino = str(st.st_ino)
    if not any(" FLOCK " in ln and ln.split()[5].rsplit(":", 1)[-1] == ino
               for ln in (read_file("/proc/locks") or "").splitlines()):
        return []
    real = os.path.realpath(path)
    out = []
    for pid in all_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") != real:
                    continue
            except OSError:
                continue
            info = read_file(f"/proc/{pid}/fdinfo/{fd}") or ""
            if any(ln.startswith("lock:") and " FLOCK " in ln and ln.split()[6].endswith(":" + ino)
                   for ln in info.splitlines()):
                out.append(pid)
    return out


def keeper_of(data_dir):
    """The output keeper of the steward on `data_dir`, by its command line."""
    want = os.fsencode(str(data_dir))
    for pid in all_pids():
        args = (read_file(f"/proc/{pid}/cmdline", "rb") or b"").split(b"\0")
        if b"output-keeper" in args and want in args and alive(pid):
            return pid
    return None


def private_rss_bytes(pid):
    """VmRSS and RssAnon (what is not shared file pages) of a process, in bytes."""
    text = read_file(f"/proc/{pid}/status") or ""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            out[key] = int(rest.split()[0]) * 1024
    return out.get("VmRSS"), out.get("RssAnon")

class Bench:
    def __init__(self, args, reaper):
        self.args = args
        self.reaper = reaper
        self.root = reaper.root
        self.st = Steward(args.binary, reaper)
        self.runs = args.runs
        self.sections = []  # markdown
        self.goals = []  # (scenario, goal, figure, pass/miss)
        self.notes = []
        self.figures = {}  # steward's own figures of this run, for the peers section

    def log(self, msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def dir(self, name):
        path = os.path.join(self.root, name)
        shutil.rmtree(path, ignore_errors=True)
        return path

    def template(self, name, accounts, cfg, prefix="acc"):
        """A data dir with `accounts` accounts, made once and copied per run."""
        path = os.path.join(self.root, "templates", name)
        if not os.path.isdir(path):
            per_add = self.st.make_data_dir(path, accounts, cfg, prefix)
            self.log(f"template {name}: {accounts} accounts, {per_add:.1f} ms per `account add`")
        return path

    def fresh(self, template, name):
        path = self.dir(name)
        shutil.copytree(template, path)
        return path

    def start_and_wait(self, data_dir, accounts, timeout=120):
        """Starts headless steward; waits until its snapshot shows every worker running."""
        p = self.st.start(data_dir)
        ok, _ = wait_until(
            lambda: len(running_workers(status_file(data_dir))) >= accounts or p.poll() is not None,
            timeout,
            0.02,
        )
        if p.poll() is not None or not ok:
            raise RuntimeError(f"steward in {data_dir} did not get {accounts} workers running")
        return p

    # ------------------------------------------------------------ 1. idle

    def idle_peers(self, n):
        """supervisord and pm2 supervising `n` sleeps, started beside steward
        for the same idle window (when installed): [(label, [pids], stop)]."""
        if n != PEER_WORKERS or self.args.no_peers:
            return []
        from peers import Peers

        peers = Peers(self)
        out = []
        if shutil.which("supervisord"):
            sp = peers.supervisord(n)
            out.append((f"supervisord ({n} programs)", [sp.pid], lambda: peers.stop(sp)))
        if shutil.which("pm2"):
            env, pid = peers.pm2(n)
            out.append((f"pm2 God daemon ({n} apps)", [pid], lambda: peers.pm2_kill(env)))
        return out

    def idle(self):
        sizes = [int(s) for s in self.args.idle_accounts.split(",") if s]
        rows, peer_rows = [], []
        for n in sizes:
            tpl = self.template(f"idle{n}", n, config(SLEEP, aria2=self.args.aria2_idle))
            f = {}  # figure name -> Series

            def add(key, value):
                f.setdefault(key, Series()).add(value)

            for run in range(self.args.idle_runs):
                d = self.fresh(tpl, "idle")
                p = self.start_and_wait(d, n)
                peers = []
                try:
                    peers = self.idle_peers(n)
                    # The settle starts once everything measured is running.
                    time.sleep(self.args.settle)
                    k, a = keeper_of(d), aria2c_of(d)
                    groups = {"steward": [p.pid], "keeper": [k], "aria2c": [a], "footprint": [p.pid, k, a]}
                    for label, pids, _ in peers:
                        groups[label] = pids
                    cpu = CpuWatch(groups).start()
                    time.sleep(self.args.idle_seconds)
                    res = cpu.stop()
                    for name, pids in groups.items():
                        rss = [rss_bytes(x)[0] for x in pids]
                        pss = [pss_bytes(x) for x in pids]
                        if not pids or None in rss:
                            continue
                        add((name, "cpu"), res[name]["pct"])
                        add((name, "busiest"), res[name]["busiest_pct"])
                        add((name, "rss"), sum(rss) / 1e6)
                        if None not in pss:
                            add((name, "pss"), sum(pss) / 1e6)
                    add(("steward", "hwm"), rss_bytes(p.pid)[1] / 1e6)
                finally:
                    self.st.stop(p)
                    for _, _, stop in peers:
                        stop()
                self.log(f"idle {n}: run {run + 1}: steward cpu {res['steward']['pct']:.4f} % "
                         f"(busiest 10 s {res['steward']['busiest_pct']:.4f} %), footprint "
                         f"{res['footprint']['pct']:.4f} %, {f[('footprint', 'rss')].values[-1]:.1f} MB")

            def s(name, what):
                return f.get((name, what), Series())

            cpu, rss = s("steward", "cpu"), s("steward", "rss")
            self.figures[("idle", n)] = (cpu, rss)
            self.figures[("idle-footprint", n)] = (s("footprint", "cpu"), s("footprint", "rss"),
                                                   s("footprint", "pss"))
            ok = None
            if n == PEER_WORKERS:
                ok = cpu.median is not None and cpu.median < 0.05 and rss.median < 20
                self.goals.append(
                    ("1 idle headless, 200 accounts: steward's own process (issue 7's goal)",
                     "< 0.05 % CPU and < 20 MB RSS",
                     f"{fmt_num(cpu.median)} % (busiest 10 s {fmt_num(s('steward', 'busiest').median)} %), "
                     f"{fmt_num(rss.median)} MB", goal_cell(ok)))
                fp_cpu, fp_rss = s("footprint", "cpu"), s("footprint", "rss")
                sv = list(dict.fromkeys(name for name, _ in f if name not in OWN_PROCESSES))
                versus = "; ".join(
                    f"{lab}: {fmt_num(s(lab, 'cpu').median)} %, {fmt_num(s(lab, 'rss').median)} MB" for lab in sv)
                self.goals.append(
                    ("1 idle headless, 200 accounts: steward + output keeper + aria2c (what it costs to run)",
                     "none set; supervisord and pm2 in the same window shown",
                     f"{fmt_num(fp_cpu.median)} %, {fmt_num(fp_rss.median)} MB"
                     + (f" vs {versus}" if versus else ""), goal_cell(None)))
                for lab in sv:
                    peer_rows.append([lab, fmt_series(s(lab, "cpu"), " %"), fmt_series(s(lab, "busiest"), " %"),
                                      fmt_series(s(lab, "rss"), " MB"),
                                      ratio(fp_cpu.median, s(lab, "cpu").median),
                                      ratio(fp_rss.median, s(lab, "rss").median)])
                if sv:
                    peer_rows.insert(0, ["steward + keeper + aria2c", fmt_series(fp_cpu, " %"),
                                         fmt_series(s("footprint", "busiest"), " %"), fmt_series(fp_rss, " MB"),
                                         "", ""])
            rows.append([n, fmt_series(cpu, " %"), fmt_series(s("steward", "busiest"), " %"),
                         fmt_series(rss, " MB"), fmt_series(s("steward", "hwm"), " MB"),
                         fmt_series(s("aria2c", "cpu"), " %"), fmt_series(s("aria2c", "rss"), " MB"),
                         fmt_series(s("keeper", "cpu"), " %"), fmt_series(s("keeper", "rss"), " MB"),
                         fmt_series(s("footprint", "cpu"), " %"), fmt_series(s("footprint", "busiest"), " %"),
                         fmt_series(s("footprint", "rss"), " MB"), fmt_series(s("footprint", "pss"), " MB"),
                         "< 0.05 % / < 20 MB (steward)" if n == PEER_WORKERS else "—",
                         goal_cell(ok) if n == PEER_WORKERS else "—"])
        text = (
            "## 1. Idle cost, headless\n\n"
            + self.quick_warning()
            + f"`steward run --headless`, every worker `sleep 86400`, aria2 "
            f"{'enabled (aria2c running and polled)' if self.args.aria2_idle else 'disabled'}. "
            f"Each run: start, wait until every worker runs, settle {self.args.settle:g} s, then a window of "
            f"{self.args.idle_seconds:g} s. {cpu_method(self.args.idle_seconds)} RSS = VmRSS at the end of the "
            "window (MB = 10^6 bytes), peak = steward's VmHWM. steward runs two helper processes: the output "
            "keeper (`steward output-keeper`, a second read end of every worker's pipes) and aria2c; "
            "\"footprint\" is the three together: CPU summed, RSS summed (shared pages of the steward binary "
            "counted twice) and PSS summed (shared pages split: the honest total).\n\n"
            + table(["accounts", "steward CPU", "busiest 10 s", "steward RSS", "peak RSS", "aria2c CPU",
                     "aria2c RSS", "keeper CPU", "keeper RSS", "footprint CPU", "footprint busiest 10 s",
                     "footprint RSS", "footprint PSS", "goal", "result"], rows)
        )
        if peer_rows:
            text += (
                f"\n\n### Peers idle beside it, {PEER_WORKERS} sleeping workers each, same window\n\n"
                "supervisord and pm2 were started with the same number of `sleep` workers in the same runs, "
                "after steward's workers were all running and before the settle, and measured by the same "
                "sampler over the same window (the machine's noise is the same for all three). supervisord "
                "captures each child's output to log files (its default), as steward captures its workers'. "
                "pm2's figure is its daemon's alone (not the CLI). Ratio = steward's footprint ÷ the peer. "
                "Neither peer runs a download daemon: steward's footprint without aria2c is its steward + "
                "keeper columns above.\n\n"
                + table(["", "CPU % of one core", "busiest 10 s", "RSS", "CPU ratio", "RSS ratio"], peer_rows)
            )
        text += (
            "\n\nDoes not show: the cost of workers that print (every worker here is silent), of downloads "
            "in progress (aria2c is idle), of a TUI attached (section 1–3), or of the machine's other load; "
            "a median of few runs hides the run-to-run spread, which the min–max keeps."
        )
        self.sections.append(text)

    def quick_warning(self):
        if not self.args.quick and self.args.idle_seconds >= 120 and self.args.settle >= 60:
            return ""
        return (
            f"**{'Quick run (`--quick`)' if self.args.quick else 'Short window'}**: "
            f"{self.args.idle_runs} run(s), settle {self.args.settle:g} s, window "
            f"{self.args.idle_seconds:g} s: too short to catch the once-a-minute repaint and too few runs "
            "for a stable median. Not for comparison with a full run.\n\n"
        )

    # ------------------------------------------------------------ TUI

    def tui(self):
        script = os.path.join(REPO, "bench", "tui_pty.py")
        if not os.path.exists(script):
            self.sections.append(
                "## 1–3. TUI: idle cost, terminal output, key latency\n\n"
                "Not measured in this run: `bench/tui_pty.py` (written in another branch) is not in "
                "this tree. When it is, `bench/run.py` calls it with the same binary, runs and idle "
                "window and includes its tables here."
            )
            return
        helptext = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True).stdout
        flag = "--binary" if "--binary" in helptext else "--steward"
        medians = os.path.join(self.root, "tui.json")
        cmd = [sys.executable, script, flag, self.args.binary, "--runs", str(self.runs),
               "--idle-accounts", "", "--json", medians]
        self.log("TUI: " + " ".join(cmd))
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        try:
            with open(medians) as f:
                self.figures["tui"] = {int(k): v for k, v in json.load(f).items()}
        except (OSError, ValueError):
            pass
        idle_text, idle = tui_idle_section(self)
        big = dict(self.figures.get("tui", {}).get(1000) or {})
        big.update({"cpu_pct": idle.get("cpu"), "busiest_cpu_pct": idle.get("busiest"), "rss_mb": idle.get("rss"),
                    "idle_bps": idle.get("bps"), "busiest_bps": idle.get("busiest_bps")})
        if big:
            cpu, rss = big.get("cpu_pct"), big.get("rss_mb")
            bps, p99 = big.get("idle_bps"), big.get("key_p99_ms")
            self.goals += [
                ("1 idle TUI, 1000 accounts: steward's own process (issue 7's goal)",
                 "< 0.2 % CPU and < 25 MB RSS",
                 f"{fmt_num(cpu)} % (busiest 10 s {fmt_num(big.get('busiest_cpu_pct'))} %), {fmt_num(rss)} MB",
                 goal_cell(cpu is not None and rss is not None and cpu < 0.2 and rss < 25)),
                ("2 TUI output at idle, 1000 accounts: bytes to the pty over the window", "< 20 B/s",
                 f"{fmt_num(bps)} B/s (busiest 10 s {fmt_num(big.get('busiest_bps'))} B/s)",
                 goal_cell(bps is not None and bps < 20)),
                ("3 key latency p99, 1000 rows: key written to first byte back", "< 30 ms", f"{fmt_num(p99)} ms",
                 goal_cell(p99 is not None and p99 < 30)),
            ]
        # tui_pty.py's own report, under this section's headings.
        body = "\n".join(line.replace("### TUI,", "#### TUI,", 1) for line in out.stdout.strip().splitlines()
                         if not line.startswith("## ")).strip() or "(no output)"
        if out.returncode != 0:
            body += f"\n\n`tui_pty.py` exited with {out.returncode}: {out.stderr.strip()[-500:]}"
        self.sections.append(
            "## 1–3. TUI: idle cost, terminal output, key latency (bench/tui_pty.py)\n\n"
            + idle_text + "\n\n### Keys, q and start-up (bench/tui_pty.py)\n\n" + body
            + "\n\nDoes not show: a user's terminal (the pty here is read as fast as it is written, so "
            "the output figure is what steward writes, not what a slow SSH link would cost); the idle window "
            "runs only at 1,000 accounts (above); key latency is to the first byte of the answer, not to the last "
            "byte of the frame. \"q to every process of it gone\" includes aria2c's exit, which a user waits "
            "for before starting steward again; \"q to steward's exit\" alone flatters it.")

    # ------------------------------------------------------------ 4. startup

    def startup(self):
        n = self.args.startup_accounts
        tpl = self.template(f"idle{n}", n, config(SLEEP, aria2=self.args.aria2_idle))
        execd, reported, floor = Series(), Series(), Series()
        for run in range(self.runs):
            d = self.fresh(tpl, "startup")
            t0 = time.monotonic()
            p = self.st.start(d)
            _, a = wait_until(lambda: exec_children(p.pid, "sleep", n), 120, 0.005)
            _, b = wait_until(lambda: len(running_workers(status_file(d))) >= n, 120, 0.005)
            b = time.monotonic() - t0 if b is not None else None
            self.st.stop(p)
            execd.add(a)
            reported.add(b)
            # Floor: posix_spawn the same number of process groups.
            t0 = time.monotonic()
            pids = spawn_groups(self.reaper, ["sleep", "86400"], n)
            floor.add(time.monotonic() - t0)
            for pid in pids:
                os.killpg(pid, signal.SIGKILL)
            reap_all(self.reaper, pids)
            self.log(f"startup {n}: run {run + 1}: exec {a} s, snapshot {b} s, floor {floor.values[-1]:.3f} s")
        self.sections.append(
            "## 4. Startup, headless\n\n"
            f"{n} accounts in the store (aria2 {'enabled' if self.args.aria2_idle else 'disabled'}), "
            "from spawning `steward run --headless` until every worker has exec'd `sleep` (its "
            "children, polled every 5 ms), and until steward's own snapshot (`status.json`) shows "
            "them all running. Floor: a script that `posix_spawn`s as many `sleep` process groups. "
            "Each worker also costs steward a session file + flock, a registered TMPDIR (a row and a "
            "directory) and a worker row in SQLite. Issue 7 sets no goal for this one.\n\n"
            + table(
                ["", "steward (s)", "floor (s)", "ratio"],
                [
                    ["all workers exec'd", fmt_series(execd), fmt_series(floor), ratio(execd.median, floor.median)],
                    ["snapshot shows all running", fmt_series(reported), fmt_series(floor),
                     ratio(reported.median, floor.median)],
                ],
            )
            + "\n\nDoes not show: a start that must first reconcile a crashed run (section 8), workers "
            "slower to exec than `sleep`, or 3,000 accounts (section 4b, with its goal). The floor's figure "
            "starts at its first spawn, steward's at its own exec (its start-up, store open and lock included)."
        )

    # ------------------------------------------------------------ 5. shutdown

    def floor_shutdown(self, n, ignoring, grace, tmpdirs=None):
        """TERM to n groups, wait for all. With `tmpdirs` (a dir on the bench's
        file system), each group also gets an empty dir there, removed once
        its group is reaped: what steward's temp registry promises for every
        worker's TMPDIR, done by the plainest script."""
        dirs = {}
        envs = []
        for i in range(n):
            e = dict(os.environ)
            e["STEWARD_ACCOUNT"] = ("ign" if i < ignoring else "acc") + str(i)
            envs.append(e)
        argv = ["sh", "-c", "case $STEWARD_ACCOUNT in ign*) trap '' TERM;; esac; exec sleep 86400"]
        if ignoring == 0:
            argv, envs = ["sleep", "86400"], None
        pids = spawn_groups(self.reaper, argv, n, envs=envs)
        wait_until(lambda: all(comm(p) == "sleep" for p in pids), 30, 0.01)
        if tmpdirs:
            shutil.rmtree(tmpdirs, ignore_errors=True)
            os.makedirs(tmpdirs)
            for pid in pids:
                dirs[pid] = os.path.join(tmpdirs, f"worker-{pid}")
                os.mkdir(dirs[pid])
        left = set(pids)
        timer = None

        def force():
            for pid in list(left):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass

        t0 = time.monotonic()
        for pid in pids:
            os.killpg(pid, signal.SIGTERM)
        if ignoring:
            timer = threading.Timer(grace, force)
            timer.start()
        while left:
            pid, _ = os.waitpid(-1, 0)
            left.discard(pid)
            self.reaper.forget_group(pid)
            if pid in dirs:
                os.rmdir(dirs[pid])
        elapsed = time.monotonic() - t0
        if timer:
            timer.cancel()
        return elapsed

    def shutdown(self):
        # The last case puts the data dir (so every worker's TMPDIR) on tmpfs,
        # where removing a dir waits on no disk: steward's own work shows.
        shm = None
        if os.path.isdir("/dev/shm") and fs_type("/dev/shm") == "tmpfs":
            shm = tempfile.mkdtemp(prefix="steward-bench-", dir="/dev/shm")
        cases = [(10, 0, None), (100, 0, None), (500, 0, None), (500, 50, None)]
        if shm:
            cases.append((500, 0, shm))
        rows = []
        try:
            self.shutdown_cases(cases, rows)
        finally:
            if shm:
                shutil.rmtree(shm, ignore_errors=True)
        self.sections.append(self.shutdown_section(rows))

    def shutdown_template(self, n, ignoring):
        """The data dir with `n` sleeping workers, `ignoring` of them deaf to
        SIGTERM: made once, shared by steward's shutdown rows and the peers'."""
        tpl = os.path.join(self.root, "templates", f"shutdown{n}-{ignoring}")
        if not os.path.isdir(tpl):
            cmd = MAYBE_IGNORE if ignoring else SLEEP
            self.st.make_data_dir(tpl, n - ignoring, config(cmd), prefix="acc")
            for i in range(ignoring):
                self.st.run(tpl, "account", "add", f"ign{i:04d}")
        return tpl

    def shutdown_cases(self, cases, rows):
        for n, ign, place in cases:
            tpl = self.shutdown_template(n, ign)
            total, phase, floor, floor_rm = Series(), Series(), Series(), Series()
            for run in range(self.runs):
                if place:
                    d = os.path.join(place, "shutdown")
                    shutil.rmtree(d, ignore_errors=True)
                    shutil.copytree(tpl, d)
                else:
                    d = self.fresh(tpl, "shutdown")
                p = self.start_and_wait(d, n)
                # Let the first temp walk and sample pass.
                time.sleep(0.5)
                t0 = time.monotonic()
                p.send_signal(signal.SIGTERM)
                p.wait()
                total.add(time.monotonic() - t0)
                self.reaper.stewards.remove(p)
                status = self.st.status_json(d) or {}
                for ph in (status.get("shutdown") or {}).get("phases", []):
                    if ph.get("name") == "stop workers" and ph.get("ended_ms"):
                        phase.add((ph["ended_ms"] - ph["started_ms"]) / 1000)
                floor.add(self.floor_shutdown(n, ign, 2.0))
                floor_tmp = os.path.join(place, "floor-tmp") if place else self.dir("floor-tmp")
                floor_rm.add(self.floor_shutdown(n, ign, 2.0, tmpdirs=floor_tmp))
                self.log(f"shutdown {n}/{ign}: run {run + 1}: steward {total.values[-1]:.3f} s, "
                         f"floor {floor.values[-1]:.3f} s, floor + rmdir {floor_rm.values[-1]:.3f} s")
            # The tmpfs case is steward's alone: the peers table compares
            # the cases on the bench's own file system.
            if not place:
                self.figures[("shutdown", n, ign)] = total
            # Like with like: steward removes every worker's TMPDIR before it
            # exits, so its goal is the floor that also removes a dir each.
            ok = total.median is not None and floor_rm.median is not None and total.median <= floor_rm.median + 0.050
            label = f"{n} workers" + (f", {ign} ignore TERM" if ign else "") + (", data dir on tmpfs" if place else "")
            rows.append([label, fmt_series(total), fmt_series(phase), fmt_series(floor),
                         ratio(total.median, floor.median),
                         f"{(total.median - floor.median) * 1000:+.0f} ms" if total and floor else "n/a",
                         fmt_series(floor_rm),
                         f"{(total.median - floor_rm.median) * 1000:+.0f} ms" if total and floor_rm else "n/a",
                         "≤ floor + rmdir + 50 ms", goal_cell(ok)])
            self.goals.append((f"5 shutdown, {label}: SIGTERM to exit vs killpg + waitpid + an rmdir per worker",
                               "≤ floor + rmdir + 50 ms",
                               f"{fmt_num(total.median)} s vs {fmt_num(floor_rm.median)} s (without rmdir "
                               f"{fmt_num(floor.median)} s)", goal_cell(ok)))

    def shutdown_section(self, rows):
        return (
            "## 5. Shutdown\n\n"
            "`steward run --headless` with every worker running, aria2 disabled, `stop_timeout = 2s`. "
            "steward = SIGTERM to steward until its process exited (the whole ordered plan: stop intake, "
            "cancel tasks, save downloads, stop workers, stop aria2, clean temp, close store); "
            "\"stop workers\" = that phase's started→ended from the report in `status --json`. "
            "Floor = a script that starts as many process groups (the same `sleep`, the same "
            "`trap '' TERM` for the ignoring ones), `killpg(TERM)`s each, waits with `waitpid`, "
            "and SIGKILLs what is left after 2 s; measured right after steward in the same run. "
            "\"floor + rmdir\" = the same script, but each group also has an empty dir in the bench's "
            "file system, `rmdir`ed as soon as its group is reaped: the work steward's temp registry "
            "promises for every worker's TMPDIR (gone before steward exits), done the plainest way. "
            "It is the like-for-like floor, so the goal is set against it; it shows how much of steward's "
            "figure is that file-system work (on a disk mounted with `discard`, each `rmdir` waits for the "
            "device). The last row has the data dir, and so every TMPDIR, on tmpfs (`/dev/shm`), its "
            "floors' dirs too.\n\n"
            + table(["case", "steward (s)", "stop workers phase (s)", "floor (s)", "ratio", "over floor",
                     "floor + rmdir (s)", "over floor + rmdir", "goal", "result"], rows)
            + "\n\nDoes not show: workers that need time to exit after TERM (ours exit at once or never), "
            "aria2c's stop (disabled here; section 4b and the TUI's q have it), or downloads being saved. "
            "The goal is set against \"floor + rmdir\", which does what steward must (every TMPDIR gone "
            "before it exits); issue 7 set it against the plain floor, which does less."
        )

    # ------------------------------------------------------------ 3,000 accounts

    def scale(self):
        """Start, RSS, status --json, stop and q at `--scale-accounts` (3,000)."""
        from tui_pty import Tui, press_q

        n = self.args.scale_accounts
        tpl = self.template(f"idle{n}", n, config(SLEEP, aria2=True))
        names = ["start", "floor_start", "rss", "json_ms", "json_mb", "stop", "floor_stop", "floor_rm",
                 "q_exit", "q_all"]
        f = {k: Series() for k in names}
        runs = 1 if self.args.quick else min(self.runs, 3)
        for run in range(runs):
            d = self.fresh(tpl, "scale")
            t0 = time.monotonic()
            p = self.st.start(d)
            ok, _ = wait_until(lambda: exec_children(p.pid, "sleep", n) or p.poll() is not None, 300, 0.02)
            if p.poll() is not None or not ok:
                raise RuntimeError(f"scale: steward did not get {n} workers running")
            f["start"].add(time.monotonic() - t0)
            wait_until(lambda: len(running_workers(status_file(d))) >= n, 60, 0.5)
            time.sleep(2)  # past start-up's last writes
            f["rss"].add(rss_bytes(p.pid)[0] / 1e6)
            for _ in range(5):
                t1 = time.monotonic()
                out = self.st.run(d, "status", "--json")
                f["json_ms"].add((time.monotonic() - t1) * 1000)
            f["json_mb"].add(len(out.stdout) / 1e6)
            t1 = time.monotonic()
            self.st.stop(p, timeout=120)
            f["stop"].add(time.monotonic() - t1)
            # Floors right after, same run: spawn as many sleeps, stop them.
            t1 = time.monotonic()
            pids = spawn_groups(self.reaper, ["sleep", "86400"], n)
            wait_until(lambda: all(comm(x) == "sleep" for x in pids), 60, 0.01)
            f["floor_start"].add(time.monotonic() - t1)
            for pid in pids:
                os.killpg(pid, signal.SIGKILL)
            reap_all(self.reaper, pids)
            f["floor_stop"].add(self.floor_shutdown(n, 0, 2.0))
            f["floor_rm"].add(self.floor_shutdown(n, 0, 2.0, tmpdirs=self.dir("floor-tmp")))
            # q in the TUI with aria2c running, until every process of it is gone.
            d = self.fresh(tpl, "scale")
            tui = Tui([self.args.binary, "--data-dir", d], d)
            try:
                end = time.monotonic() + 300
                while time.monotonic() < end and tui.alive():
                    tui.pump_until(time.monotonic() + 0.5)
                    if len(running_workers(status_file(d))) >= n and aria2c_of(d):
                        break
                tui.wait_quiet(0.5, 30)
                q = press_q(tui, d)
                f["q_exit"].add(q["shutdown_s"])
                f["q_all"].add(q["all_gone_s"])
            finally:
                tui.stop()
            self.log(f"scale {n}: run {run + 1}: " + ", ".join(
                f"{k} {fmt_num(v.values[-1])}" for k, v in f.items() if v))

        def m(k):
            return f[k].median

        goals = [
            (f"start to every worker exec'd, {n:,} accounts, vs a script spawning {n:,} `sleep`s",
             "≤ 1.5x floor", m("start"), f"{fmt_num(m('start'))} s vs {fmt_num(m('floor_start'))} s "
             f"({ratio(m('start'), m('floor_start'))})",
             m("start") is not None and m("floor_start") and m("start") <= 1.5 * m("floor_start")),
            (f"stop (SIGTERM to exit), {n:,} workers, vs a script stopping as many and removing a dir each",
             "≤ floor + rmdir + 0.1 s", m("stop"),
             f"{fmt_num(m('stop'))} s vs {fmt_num(m('floor_rm'))} s (floor without rmdir "
             f"{fmt_num(m('floor_stop'))} s)",
             m("stop") is not None and m("floor_rm") is not None and m("stop") <= m("floor_rm") + 0.1),
            (f"RSS of steward's process, {n:,} workers running", "≤ 40 MB", m("rss"), f"{fmt_num(m('rss'))} MB",
             m("rss") is not None and m("rss") <= 40),
            (f"`steward status --json`, {n:,} accounts, the whole command", "≤ 20 ms", m("json_ms"),
             f"{fmt_num(m('json_ms'))} ms, {fmt_num(m('json_mb'))} MB of JSON",
             m("json_ms") is not None and m("json_ms") <= 20),
            (f"q in the TUI, {n:,} accounts, aria2c running: until every process of it is gone",
             "≤ 0.3 s", m("q_all"), f"{fmt_num(m('q_all'))} s (steward's own exit {fmt_num(m('q_exit'))} s)",
             m("q_all") is not None and m("q_all") <= 0.3),
        ]
        for what, goal, _, figure, ok in goals:
            self.goals.append((f"4b {what}", goal, figure, goal_cell(bool(ok))))
        rows = [
            ["start to every worker exec'd", fmt_series(f["start"], " s"), fmt_series(f["floor_start"], " s")
             + " (posix_spawn, until all exec'd)", ratio(m("start"), m("floor_start")), "≤ 1.5x"],
            ["stop: SIGTERM to exit", fmt_series(f["stop"], " s"), fmt_series(f["floor_rm"], " s")
             + " (killpg + waitpid + rmdir); " + fmt_series(f["floor_stop"], " s") + " without rmdir",
             ratio(m("stop"), m("floor_rm")), "≤ floor + rmdir + 0.1 s"],
            ["RSS, steward, all running", fmt_series(f["rss"], " MB"), "", "", "≤ 40 MB"],
            ["`status --json`, whole command", fmt_series(f["json_ms"], " ms"),
             f"{fmt_num(m('json_mb'))} MB of JSON", "", "≤ 20 ms"],
            ["q to steward's exit (TUI, aria2 on)", fmt_series(f["q_exit"], " s"), "", "", "—"],
            ["q to every process of it gone", fmt_series(f["q_all"], " s"), "", "", "≤ 0.3 s"],
        ]
        self.sections.append(
            f"## 4b. {n:,} accounts: start, footprint, status, stop, q\n\n"
            + (f"**Quick run**: {runs} run. " if self.args.quick else "")
            + f"{n:,} accounts on `sleep 86400` workers, aria2 enabled, {runs} run(s); in each, steward first, "
            "then the floors. Start = from spawning `steward run --headless` until every worker has exec'd "
            f"(its children, polled every 20 ms); floor = a Python script `posix_spawn`ing {n:,} `sleep` process "
            "groups until all have exec'd. RSS = steward's VmRSS 2 s after all run (aria2c and the output "
            "keeper not included: section 1 has them). `status --json` = the whole CLI command, 5 times per "
            "run. Stop = SIGTERM to exit (the whole plan); floors as in section 5, with and without an "
            "`rmdir` per worker. q = the TUI on a fresh copy of the same data dir, pressed once every worker "
            "runs and aria2c is up, timed until steward exited and until every process naming the data dir "
            "(workers, aria2c, the keeper) is gone.\n\n"
            + table(["", "steward", "floor", "ratio", "goal"], rows)
            + "\n\nDoes not show: a fleet whose workers write output or hold downloads (aria2c here has none "
            "to save), start-up with leftovers of a crashed run to reconcile (section 8), or memory of the "
            "workers themselves. The floors are Python scripts; their interpreter start is not in them."
        )

    # ------------------------------------------------------------ 6. sweep

    def build_tree(self, root, dirs, files, size, old=True):
        """`dirs` dirs of `files` files of `size` bytes each; mtimes 2 days back."""
        data = b"x" * size
        past = time.time() - 2 * 86400
        os.makedirs(root, exist_ok=True)
        for i in range(dirs):
            d = os.path.join(root, f"orphan-{i:04d}")
            os.mkdir(d)
            for j in range(files):
                path = os.path.join(d, f"f{j:03d}")
                with open(path, "wb") as f:
                    f.write(data)
                if old:
                    os.utime(path, (past, past))
            if old:
                os.utime(d, (past, past))

    def drop_caches(self):
        """Empties the kernel's dentry and inode caches (and so the page cache
        of those inodes), for a cold walk; False when it cannot."""
        path = "/proc/sys/vm/drop_caches"
        if not self.args.drop_caches or not os.access(path, os.W_OK):
            return False
        subprocess.run(["sync"])
        try:
            with open(path, "w") as f:
                f.write("2\n")
        except OSError:
            return False
        return True

    def stats_vs_du(self, d, f, cold=True):
        """Temp stats' first walk in a process vs `du -s` on the same tree,
        cold (caches dropped before each) and warm; the walker's cached
        later walks, which no peer has."""
        example = os.path.join(os.path.dirname(self.args.binary), "examples", "temp_stats")
        tmp = os.path.join(d, "tmp")

        def stats():
            out = subprocess.run([example, d, "--iterations", "3"], capture_output=True, text=True)
            if out.returncode != 0:
                return None, None
            v = json.loads(out.stdout)
            return v["first_ms"] / 1000, v["repeat_ms"]["median"] / 1000

        def du():
            t0 = time.monotonic()
            subprocess.run(["du", "-s", tmp], capture_output=True)
            return time.monotonic() - t0

        if not os.path.exists(example):
            return
        if cold and self.drop_caches():
            f["stats_cold"].add(stats()[0])
            self.drop_caches()
            f["du_cold"].add(du())
        first, repeat = stats()
        f["stats_warm"].add(first)
        f["stats_cached"].add(repeat)
        f["du_warm"].add(du())

    def sweep_on(self, base, runs):
        """Sweep vs find on identical trees under `base`; alternates which goes first."""
        dirs, files = self.args.sweep_dirs, self.args.sweep_files
        f = {k: Series() for k in ("sweep", "find", "find4", "stats_cold", "du_cold", "stats_warm", "du_warm",
                                   "stats_cached")}
        swept = None
        for run in range(runs):
            d = os.path.join(base, "sweep")
            floor_tree = os.path.join(base, "sweep-floor")
            floor4_tree = os.path.join(base, "sweep-floor4")
            for x in (d, floor_tree, floor4_tree):
                shutil.rmtree(x, ignore_errors=True)
            self.st.make_data_dir(d, 0, config(SLEEP))
            self.log(f"sweep on {fs_type(base)}: building 3 trees of {dirs * files} files")
            self.build_tree(os.path.join(d, "tmp"), dirs, files, 1024)
            self.build_tree(floor_tree, dirs, files, 1024)
            self.build_tree(floor4_tree, dirs, files, 1024)
            subprocess.run(["sync"])
            self.stats_vs_du(d, f, cold=fs_type(base) != "tmpfs")

            def steward_sweep():
                nonlocal swept
                t0 = time.monotonic()
                out = self.st.run(d, "sweep", "--json", check=False)
                f["sweep"].add(time.monotonic() - t0)
                try:
                    swept = json.loads(out.stdout)["summary"]
                except (ValueError, KeyError):
                    swept = {"error": out.stderr.decode(errors="replace")[-300:]}

            def find_delete():
                t0 = time.monotonic()
                subprocess.run(["find", floor_tree, "-mindepth", "1", "-delete"])
                f["find"].add(time.monotonic() - t0)

            def find_delete_parallel():
                # The same parallelism as steward's sweep: its top-level
                # entries split over SWEEP_THREADS `find -delete`s at once.
                entries = sorted(os.path.join(floor4_tree, e) for e in os.listdir(floor4_tree))
                t0 = time.monotonic()
                procs = [subprocess.Popen(["find", *entries[k::SWEEP_THREADS], "-delete"])
                         for k in range(SWEEP_THREADS) if entries[k::SWEEP_THREADS]]
                for proc in procs:
                    proc.wait()
                f["find4"].add(time.monotonic() - t0)

            # Rotate the order: the disk's own state (writeback, discard) favours none.
            steps = [steward_sweep, find_delete, find_delete_parallel]
            for step in steps[run % 3:] + steps[: run % 3]:
                step()
            left = sum(len(fs) for _, _, fs in os.walk(os.path.join(d, "tmp")))
            self.log(f"sweep: run {run + 1}: steward {f['sweep'].values[-1]:.2f} s ({left} files left), "
                     f"find {f['find'].values[-1]:.2f} s, {SWEEP_THREADS} finds {f['find4'].values[-1]:.2f} s")
            for x in (d, floor_tree, floor4_tree):
                shutil.rmtree(x, ignore_errors=True)
        return f, swept

    def sweep(self):
        dirs, files = self.args.sweep_dirs, self.args.sweep_files
        runs = max(1, self.args.sweep_runs)
        places = [("bench dir", self.root)]
        shm = None
        if os.path.isdir("/dev/shm") and fs_type("/dev/shm") == "tmpfs":
            shm = tempfile.mkdtemp(prefix="steward-bench-", dir="/dev/shm")
            places.append(("tmpfs", shm))
        rows, swept = [], None
        try:
            for label, base in places:
                f, swept = self.sweep_on(base, runs)

                def m(k):
                    return f[k].median

                ok = m("sweep") is not None and m("find4") is not None and m("sweep") <= 1.1 * m("find4")
                where = f"{label} ({fs_type(base)})"
                rows.append([f"sweep {dirs * files:,} files, {where}", fmt_series(f["sweep"]),
                             fmt_series(f["find4"]) + f" ({SWEEP_THREADS} `find -delete` at once)",
                             ratio(m("sweep"), m("find4")), "≤ 1.1x", goal_cell(ok)])
                rows.append(["", "", fmt_series(f["find"]) + " (one `find -delete`, one thread)",
                             ratio(m("sweep"), m("find")), "—", "—"])
                cold = "n/a: caches not dropped" if not f["stats_cold"] else None
                if label == "tmpfs":
                    cold = "n/a: tmpfs has no disk to be cold against"
                rows.append([f"temp stats, first walk in a process, cold caches, {where}",
                             cold or fmt_series(f["stats_cold"]), cold or fmt_series(f["du_cold"]) + " (`du -s`)",
                             "" if cold else ratio(m("stats_cold"), m("du_cold")), "—", "—"])
                rows.append([f"temp stats, first walk in a process, warm caches, {where}",
                             fmt_series(f["stats_warm"]), fmt_series(f["du_warm"]) + " (`du -s`)",
                             ratio(m("stats_warm"), m("du_warm")), "—", "—"])
                rows.append([f"temp stats, later walks (the walker's own cache), {where}",
                             fmt_series(f["stats_cached"]), "none: `du` keeps no cache between runs", "", "—", "—"])
                self.goals.append((f"6 sweep, {dirs * files:,} files, {where}: vs the same parallelism",
                                   f"≤ 1.1x {SWEEP_THREADS} `find -delete` at once",
                                   f"{fmt_num(m('sweep'))} s vs {fmt_num(m('find4'))} s "
                                   f"(one `find`: {fmt_num(m('find'))} s)", goal_cell(ok)))
        finally:
            if shm:
                shutil.rmtree(shm, ignore_errors=True)
        opts = ""
        for line in (read_file("/proc/mounts") or "").splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[1] == "/":
                opts = parts[3]
        self.sections.append(
            "## 6. Sweep and temp stats\n\n"
            + (f"**Quick run**: {runs} run(s).\n\n" if self.args.quick else "")
            + f"{dirs * files:,} files of 1 KiB in {dirs:,} dirs under `<data-dir>/tmp`, untracked "
            "(no rows) and last modified 2 days ago, i.e. past `max_age` (24 h): what `steward sweep` "
            "removes as `temp-untracked`. steward = the whole `steward sweep --json` command (process "
            "start, plan with every kind — which measures each entry —, apply with its re-checks, JSON); "
            f"it measures and removes on {SWEEP_THREADS} threads. Floor = {SWEEP_THREADS} `find ENTRY... "
            "-delete` at once over the same top-level entries split in as many parts (the same parallelism); "
            "one `find DIR -mindepth 1 -delete` (one thread) is shown too. Each on an identical tree built "
            "the same way in the same run; the three rotate which goes first. Measured in the bench dir and "
            "on tmpfs (`/dev/shm`), where no disk is involved and only the work of each tool shows. "
            f"Root filesystem mount options here: `{opts}`. Last sweep summary: `{json.dumps(swept)}`.\n\n"
            + table(["", "steward (s)", "floor (s)", "ratio", "goal", "result"], rows)
            + "\n\nTemp stats = `TempRegistry::refresh_stats` timed in-process by `examples/temp_stats.rs` "
            "on the same tree right before the sweep, vs `du -s` (a process start included, about 1 ms). "
            "Cold = `sync` and `echo 2 > /proc/sys/vm/drop_caches` (dentries and inodes) right before each "
            "of the two; warm = run again at once. The walker's later walks reuse what it cached of unchanged "
            "directories: that is what a running instance does every `stats_interval`, and no peer does it, "
            "so it has no ratio.\n\nDoes not show: trees with deep nesting or big files (1 KiB files in "
            "flat dirs here), a sweep racing live writers, or a disk other than this one (ext4 with "
            "`discard` makes every unlink wait for the device, so the ext4 figures are mostly the disk's)."
        )

    # ------------------------------------------------------------ 7. process scan

    def scan(self):
        n = self.args.scan_processes
        bindir = os.path.join(self.root, "bin")
        os.makedirs(bindir, exist_ok=True)
        fake = os.path.join(bindir, "aria2c")
        if not os.path.exists(fake):
            os.symlink(shutil.which("sleep") or "/bin/sleep", fake)
        self.log(f"scan: spawning {n} sleep processes and one named aria2c")
        pids = spawn_groups(self.reaper, ["sleep", "86400"], n)
        pids += spawn_groups(self.reaper, [fake, "86400"], 1)
        held = os.path.join(self.root, "held.session")
        open(held, "w").close()
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl,sys,time\nf=open(sys.argv[1],'r+')\nfcntl.flock(f,fcntl.LOCK_EX)\n"
             "print('ok',flush=True)\ntime.sleep(86400)", held],
            stdout=subprocess.PIPE, process_group=0)
        self.reaper.group(holder.pid)
        holder.stdout.readline()
        try:
            wait_until(lambda: all(comm(p) in ("sleep", "aria2c") for p in pids), 30, 0.02)
            total = len([p for p in os.listdir("/proc") if p.isdigit()])
            iters = 15 if self.args.quick else 51
            example = os.path.join(os.path.dirname(self.args.binary), "examples", "proc_scan")
            find, bare, flock, openh, lst = Series(), Series(), Series(), Series(), Series()
            res = {}
            for _ in range(self.runs):
                out = subprocess.run([example, "--iterations", str(iters), "--file", held],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    raise RuntimeError(f"proc_scan failed: {out.stderr}")
                res = json.loads(out.stdout)
                find.add(res["find_by_comm_ms"]["median"])
                bare.add(res["bare_loop_ms"]["median"])
                lst.add(res["list_processes_ms"]["median"])
                flock.add(res["flock_holders_ms"]["median"])
                openh.add(res["open_file_holders_ms"]["median"])

            def external(argv, reps):
                if not shutil.which(argv[0]):
                    return None
                s = Series()
                for _ in range(reps):
                    t0 = time.monotonic()
                    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    s.add((time.monotonic() - t0) * 1000)
                return s

            reps = 5 if self.args.quick else 21
            pgrep = external(["pgrep", "-x", "aria2c"], reps)
            true = external(["true"], reps)
            fuser = external(["fuser", held], reps)
            lsof = external(["lsof", held], reps)
            pyloop = Series()
            for _ in range(reps):
                t0 = time.monotonic()
                for p in os.listdir("/proc"):
                    if p.isdigit():
                        text = read_file(f"/proc/{p}/stat")
                        if text and text[text.find("(") + 1 : text.rfind(")")] == "aria2c":
                            pass
                pyloop.add((time.monotonic() - t0) * 1000)
            # What flock_holders does, in Python: stat the file, read
            # /proc/locks once; it is locked, so walk every /proc/PID/fd for
            # a descriptor of it whose fdinfo shows the flock.
            pylocks = Series()
            for _ in range(reps):
                t0 = time.monotonic()
                py_flock_holders(held)
                pylocks.add((time.monotonic() - t0) * 1000)
        finally:
            holder.kill()
            holder.wait()
            self.reaper.forget_group(holder.pid)
            for pid in pids:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            reap_all(self.reaper, pids)

        def ni(s):
            return fmt_series(s, " ms") if s is not None else "not installed"

        ok_find = find.median <= 1.3 * bare.median
        ok_flock = flock.median < 5
        self.goals.append(("7 find leftover aria2c: in-process, vs a bare Rust loop over /proc/*/stat",
                           "≤ 1.3x bare loop",
                           f"{fmt_num(find.median)} ms vs {fmt_num(bare.median)} ms", goal_cell(ok_find)))
        self.goals.append(("7 holder of a flocked file: /proc/locks, then every process's descriptors",
                           "< 5 ms (issue 7); shown vs the same work in Python",
                           f"{fmt_num(flock.median)} ms vs {fmt_num(pylocks.median)} ms", goal_cell(ok_flock)))
        self.sections.append(
            "## 7. Process scan and file holders\n\n"
            f"{total} processes on the machine during the run ({n} `sleep`s spawned for it, one of them "
            "exec'd through a symlink named `aria2c`, so there is exactly one of ours to find; aria2c processes found on the machine: "
            f"{res.get('found')}). In-process figures come from `examples/proc_scan.rs` "
            f"(median of {iters} calls after a warm-up, then the median over {self.runs} runs); external "
            f"tools are timed from spawn to exit over {reps} runs (a bare `true` costs "
            f"{fmt_num(true.median if true else None)} ms of that).\n\n"
            + table(["what", "steward", "floor / peer", "ratio", "goal", "result"], [
                ["find aria2c: `proc::find_by_comm`", fmt_series(find, " ms"),
                 fmt_series(bare, " ms") + " (bare Rust loop over /proc/*/stat)",
                 ratio(find.median, bare.median), "≤ 1.3x", goal_cell(ok_find)],
                ["", "", ni(pgrep) + " (`pgrep -x aria2c`)",
                 ratio(find.median, pgrep.median if pgrep else None), "", ""],
                ["", "", fmt_series(pyloop, " ms") + " (Python loop over /proc/*/stat)",
                 ratio(find.median, pyloop.median), "", ""],
                ["all processes: `proc::list_processes`", fmt_series(lst, " ms"), fmt_series(bare, " ms"),
                 ratio(lst.median, bare.median), "—", "—"],
                ["flock holder: `proc::flock_holders`", fmt_series(flock, " ms"),
                 fmt_series(pylocks, " ms") + " (the same work in Python: /proc/locks, then every "
                 "/proc/PID/fd link and the fdinfo of the matches)",
                 ratio(flock.median, pylocks.median), "< 5 ms", goal_cell(ok_flock)],
                ["open-file holders: `proc::open_file_holders`", fmt_series(openh, " ms"),
                 ni(fuser) + " (`fuser FILE`: every /proc/PID/fd, and cwd, root, exe, maps)",
                 ratio(openh.median, fuser.median if fuser else None), "—", "—"],
                ["", "", ni(lsof) + " (`lsof FILE`: more still)",
                 ratio(openh.median, lsof.median if lsof else None), "", ""],
            ])
            + "\n\nLike with like: `find_by_comm` and `list_processes` against the bare Rust loop (same "
            "process, same reads); `flock_holders` (one read of /proc/locks and, as the file is locked, a "
            "pass over every /proc/PID/fd, since /proc/locks names the process that took a lock, which may "
            "have died and left it to a child) against the same work in Python, whose interpreter makes it "
            "slower than a Rust floor would be: the ratio flatters steward; `open_file_holders` against "
            "`fuser`, which walks every process's descriptors too (and a few links more), with its process "
            "start in it. Does not show: a machine with many flocks (the read of /proc/locks grows with "
            "them) or processes with thousands of descriptors; an unlocked file costs only the read of "
            "/proc/locks."
            + f"\n\nHolders found: flock {res.get('flock_holders')}, open {res.get('open_file_holders')} "
            f"(the holder is pid {holder.pid})."
        )

    # ------------------------------------------------------------ 8. crash recovery

    def crash(self):
        n, per = 100, 100
        tpl = self.template("crash", n, config(WRITE_100, aria2=True, stop_timeout="2s"))
        rec, floor = Series(), Series()
        detail = ""
        for run in range(self.runs):
            d = self.fresh(tpl, "crash")
            tmp = os.path.join(d, "tmp")
            p = self.st.start(d)

            def written():
                if len(running_workers(status_file(d))) < n:
                    return False
                return sum(len(fs) for _, _, fs in os.walk(tmp)) >= n * per

            ok, _ = wait_until(written, 120, 0.05)
            if not ok:
                raise RuntimeError("crash: workers did not write their files")
            old_dirs = [os.path.join(tmp, e) for e in os.listdir(tmp)]
            old_pids = set(running_workers(status_file(d)).values())
            # The restarted run's workers just sleep, as the floor's do: new
            # workers writing files would take the CPU the recovery is timed on.
            with open(os.path.join(d, "steward.toml"), "w") as f:
                f.write(config(SLEEP, aria2=True, stop_timeout="2s"))
            self.st.kill9(p)
            p = self.st.start(d)

            def recovered():
                if any(os.path.lexists(x) for x in old_dirs):
                    return False
                w = running_workers(status_file(d))
                return len(w) >= n and not (set(w.values()) & old_pids)

            ok, secs = wait_until(recovered, 120, 0.01)
            left = [x for x in old_dirs if os.path.lexists(x)]
            old_alive = [x for x in old_pids if alive(x)]
            self.st.stop(p)
            if not ok:
                detail = f"run {run + 1} did not recover in 120 s: {len(left)} old dirs left, {len(old_alive)} old workers alive"
                self.log(detail)
                continue
            rec.add(secs)
            floor.add(self.floor_crash(n, per))
            self.log(f"crash: run {run + 1}: steward {secs:.2f} s, floor {floor.values[-1]:.2f} s")
        self.sections.append(
            "## 8. Crash recovery\n\n"
            f"{n} accounts whose worker writes {per} files of 1 KiB into its TMPDIR and then sleeps "
            f"({n * per:,} temp files), aria2 enabled. SIGKILL to steward (its workers and aria2c live on), "
            "then `steward run --headless` again at once, configured with workers that only sleep (like the "
            "floor's new processes); timed until every old worker dir is gone and "
            "the snapshot shows all workers running with new pids. That covers the instance lock, "
            "reconciliation (stopping the crashed run's workers through their recorded identities, "
            "and the leftover aria2c), the automatic sweep of dead owners' temp entries, and starting "
            "the workers again. Floor = a script doing the same kernel work: `killpg(TERM)` "
            f"{n} groups and wait until gone, `find -delete` on an identical {n * per:,}-file tree, "
            f"`posix_spawn` {n} new groups. No goal in issue 7.\n\n"
            + table(["", "steward (s)", "floor (s)", "ratio"],
                    [["SIGKILL, restart → recovered", fmt_series(rec), fmt_series(floor),
                      ratio(rec.median, floor.median)]])
            + (f"\n\n{detail}" if detail else "")
            + "\n\nDoes not show: how quickly a user sees the recovered state (`status.json` is written at "
            "most once a second, and the figure waits for it), or a crash with downloads in flight."
        )

    def floor_crash(self, n, per):
        tree = self.dir("crash-floor")
        self.build_tree(tree, n, per, 1024, old=False)
        pids = spawn_groups(self.reaper, ["sleep", "86400"], n)
        wait_until(lambda: all(comm(p) == "sleep" for p in pids), 30, 0.01)
        t0 = time.monotonic()
        for pid in pids:
            os.killpg(pid, signal.SIGTERM)
        reap_all(self.reaper, pids)
        subprocess.run(["find", tree, "-mindepth", "1", "-delete"])
        new = spawn_groups(self.reaper, ["sleep", "86400"], n)
        elapsed = time.monotonic() - t0
        for pid in new:
            os.killpg(pid, signal.SIGKILL)
        reap_all(self.reaper, new)
        return elapsed

    # ------------------------------------------------------------ 9. control socket

    def control(self):
        """The control socket: bytes a subscribed client receives at idle
        and steward's CPU with idle subscribed clients against none
        (PEER_WORKERS accounts, windows interleaved on one instance), and
        connect to the first full snapshot frame at 1,000 accounts."""
        n, w = PEER_WORKERS, self.args.control_seconds
        tpl = self.template(f"idle{n}", n, config(SLEEP, aria2=self.args.aria2_idle))
        cpu = {"none": Series(), "clients": Series()}
        bps, kinds = Series(), {}
        d = self.fresh(tpl, "control")
        p = self.start_and_wait(d, n)
        try:
            time.sleep(self.args.settle)
            for pair in range(self.args.idle_runs):
                # Alternate which comes first, so a drift of the machine's
                # load does not always favour the same one.
                for which in (("none", "clients") if pair % 2 == 0 else ("clients", "none")):
                    clients = []
                    try:
                        if which == "clients":
                            clients = [ControlClient(d, f"bench idle {i}").follow()
                                       for i in range(CONTROL_CLIENTS)]
                            for c in clients:
                                if not c.first_snapshot.wait(30):
                                    raise RuntimeError("control: no first snapshot within 30 s")
                            time.sleep(1)  # past the first frames' writes
                        before = [c.counts() for c in clients]
                        watch = CpuWatch({"steward": [p.pid]}).start()
                        time.sleep(w)
                        res = watch.stop()["steward"]
                        cpu[which].add(res["pct"])
                        for c, (b0, k0) in zip(clients, before):
                            b1, k1 = c.counts()
                            bps.add((b1 - b0) / res["seconds"])
                            for kind, count in k1.items():
                                kinds[kind] = kinds.get(kind, 0) + count - k0.get(kind, 0)
                    finally:
                        for c in clients:
                            c.close()
                    self.log(f"control {n}: window {pair + 1} {which}: steward cpu {res['pct']:.4f} %"
                             + (f", {bps.values[-1]:.1f} B/s per client" if clients else ""))
        finally:
            self.st.stop(p)

        # Connect to the first full snapshot frame, on an idle instance.
        m = CONTROL_FIRST_FRAME_ACCOUNTS
        tpl = self.template(f"idle{m}", m, config(SLEEP, aria2=self.args.aria2_idle))
        first, later, size = Series(), Series(), Series()
        d = self.fresh(tpl, "control")
        p = self.start_and_wait(d, m)
        try:
            time.sleep(2)  # past start-up's last snapshots
            for i in range(self.runs * 10):
                secs, nbytes = first_snapshot_seconds(d)
                (first if i == 0 else later).add(secs * 1000)
                size.add(nbytes / 1e6)
                time.sleep(0.2)
        finally:
            self.st.stop(p)
        self.log(f"control {m}: first frame {fmt_num(first.median)} ms (first connection), "
                 f"{fmt_num(later.median)} ms (median of the rest), {fmt_num(size.median)} MB")

        none, with_clients = cpu["none"], cpu["clients"]
        noise = None
        if none:
            noise = max(none.hi - none.lo, 0.1 * none.median)
        cpu_ok = None if noise is None or not with_clients else with_clients.median <= none.median + noise
        bytes_ok = bps.median is not None and bps.median == 0
        frames = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "no frames"
        all_ms = Series(first.values + later.values)
        p90 = sorted(all_ms.values)[int(0.9 * (len(all_ms.values) - 1))] if all_ms else None
        frame_ok = all_ms.median is not None and all_ms.median < 100
        self.goals += [
            (f"9 control socket at idle, {n} accounts: bytes a subscribed client (snapshots + log lines) "
             "receives per second", "0 B/s when nothing changes",
             f"{fmt_num(bps.median)} B/s per client ({frames} in all windows)", goal_cell(bytes_ok)),
            (f"9 control socket at idle, {n} accounts: steward's CPU with {CONTROL_CLIENTS} idle subscribed "
             "clients vs none, same instance, windows interleaved", "no more than with none, within noise",
             f"{fmt_num(with_clients.median)} % vs {fmt_num(none.median)} % (noise {fmt_num(noise)} %)",
             goal_cell(cpu_ok)),
            (f"9 control socket, {m:,} accounts: connect to the first full snapshot frame read", "< 100 ms",
             f"{fmt_num(all_ms.median)} ms (p90 {fmt_num(p90)} ms, first connection {fmt_num(first.median)} ms), "
             f"{fmt_num(size.median)} MB frame", goal_cell(frame_ok)),
        ]
        rows = [
            [f"steward CPU, {n} accounts, no client", fmt_series(none, " %"), "—"],
            [f"steward CPU, {n} accounts, {CONTROL_CLIENTS} subscribed clients", fmt_series(with_clients, " %"),
             f"≤ no client + noise ({fmt_num(noise)} %): {goal_cell(cpu_ok)}"],
            [f"bytes per second per subscribed client, {n} accounts", fmt_series(bps, " B/s"),
             f"0: {goal_cell(bytes_ok)}"],
            [f"connect to first snapshot frame, {m:,} accounts", fmt_series(all_ms, " ms") + f", p90 {fmt_num(p90)} ms",
             f"< 100 ms: {goal_cell(frame_ok)}"],
            ["… of which the first connection after start", fmt_series(first, " ms"), "—"],
            ["snapshot frame size", fmt_series(size, " MB"), "—"],
        ]
        self.sections.append(
            "## 9. Control socket\n\n"
            + (f"**Quick run (`--quick`)**: {self.args.idle_runs} pair(s) of {w:g} s windows, settle "
               f"{self.args.settle:g} s. Not for comparison with a full run.\n\n" if self.args.quick else "")
            + f"`steward run --headless`, every worker `sleep 86400`, aria2 "
            f"{'enabled' if self.args.aria2_idle else 'disabled'}. Idle: {n} accounts; after every worker runs "
            f"and a settle of {self.args.settle:g} s, {self.args.idle_runs} pair(s) of {w:g} s windows on the "
            f"same instance, one with no client and one with {CONTROL_CLIENTS} clients connected as an attached "
            "dashboard connects (hello as `view`, subscribe with log lines), each reading everything on a "
            "Python thread, the order alternating between pairs; the clients connect and read their first "
            "(full) snapshot before their window starts. "
            + cpu_method(w)
            + " Noise = the spread (max − min) of the no-client windows, at least 10 % of their median. "
            "Bytes = everything a client received in its window (all frames, whole), per client. "
            f"First frame: {m:,} accounts, idle; from `connect()` on the socket to the last byte of the "
            "subscription's first snapshot frame read, the subscribe sent once the welcome is read (as "
            f"`link::Client` does), {self.runs * 10} connections 0.2 s apart; the first connection after "
            "start encodes the snapshot, the later ones find it encoded while it does not change.\n\n"
            + table(["", "figure", "goal"], rows)
            + "\n\nDoes not show: a client's own cost (decoding the frame: Python's `json.loads` is not "
            "steward's, so it is left out), an attached dashboard's drawing (attach to first screen is the "
            "socket part here plus the TUI's first frame), a fleet that changes (every change is one snapshot "
            "frame to every subscribed client), or clients over a slow link (the socket is local)."
        )

    # ------------------------------------------------------------ 9b. attached dashboard

    def attach(self):
        """The attached dashboard (`steward attach` in a pty) on a headless
        instance of ATTACH_ACCOUNTS accounts: spawn to the first full frame,
        j/k latency against the embedded dashboard on the same data dir (runs
        interleaved), and the instance's CPU with ATTACH_DASHBOARDS idle
        attached dashboards against none (windows interleaved)."""
        m = ATTACH_ACCOUNTS
        tpl = self.template(f"idle{m}", m, config(SLEEP, aria2=self.args.aria2_idle))
        got = {k: Series() for k in ("frame", "frame_first", "first_byte", "exec_floor", "detach",
                                      "attached_p50", "attached_p99", "embedded_p50", "embedded_p99")}
        try:
            for run in range(self.runs):
                # Alternate which comes first, so a drift of the machine's
                # load does not always favour the same one.
                for mode in (("attached", "embedded") if run % 2 == 0 else ("embedded", "attached")):
                    latencies = self.attached_run(tpl, m, got) if mode == "attached" else self.embedded_run(tpl, m)
                    got[f"{mode}_p50"].add(percentile(latencies, 0.5))
                    got[f"{mode}_p99"].add(percentile(latencies, 0.99))
                    self.log(f"attach {m}: run {run + 1} {mode}: keys p50 {got[mode + '_p50'].values[-1]:.2f} ms, "
                             f"p99 {got[mode + '_p99'].values[-1]:.2f} ms"
                             + (f"; first full frames {got['frame_first'].values[-1]:.0f}, "
                                + ", ".join(f"{v:.0f}" for v in got["frame"].values[1 - ATTACHES_PER_RUN:]) + " ms"
                                if mode == "attached" else ""))
            idle = self.attach_idle(tpl, m)
        except BenchError as e:
            raise RuntimeError(f"attach: {e}") from e
        self.attach_report(m, got, idle)

    def attach_marks(self, pid, m):
        """What the full first frame of a dashboard attached to `pid` shows:
        the header, every account running, the pane's count, the footer."""
        return [f"attached to pid {pid}".encode(), f"{m}/{m}".encode(), f"Accounts ({m})".encode(), FOOTER_MARK]

    def attach_one(self, d, pid, m):
        """`steward attach` spawned in a 120x40 pty, once its first full
        frame is on the screen and the screen went quiet: (Tui, seconds from
        the spawn to the first byte, to the full frame)."""
        t = Tui(self.st.cmd(d, "attach"), None)
        try:
            first, frame = wait_full_frame(t, self.attach_marks(pid, m))
        except BaseException:
            t.stop()
            raise
        return t, first, frame

    def detach(self, t):
        """q in an attached dashboard: seconds until it exited, which must be
        with 0 and its "detached" line."""
        t0 = time.monotonic()
        t.write(b"q")
        while t.alive() and time.monotonic() - t0 < DETACH_TIMEOUT_S:
            t.read(0.002)
        if t.alive():
            raise RuntimeError(f"attach: still running {DETACH_TIMEOUT_S:.0f} s after q")
        took = time.monotonic() - t0
        t.wait_quiet(0.05, 1)
        if t.proc.returncode != 0 or b"detached; steward pid" not in t.tail:
            raise RuntimeError(f"attach: q ended it with {t.proc.returncode}, not a detach: {t.tail[-300:]!r}")
        return took

    def attached_run(self, tpl, m, got):
        """A headless instance on a fresh copy of `tpl`; ATTACHES_PER_RUN
        attaches, one after the other, each timed to its first full frame and
        detached with q (timed); the last one presses the keys first.
        Returns its key latencies (ms, sorted)."""
        d = self.fresh(tpl, "attach")
        p = self.start_and_wait(d, m)
        try:
            time.sleep(ATTACH_KEY_SETTLE_S)  # past start-up's last snapshots
            for i in range(ATTACHES_PER_RUN):
                # The floor of the spawn: the same binary exec'd to its exit
                # (`--version`: no runtime, no socket, no terminal).
                t0 = time.monotonic()
                subprocess.run([self.args.binary, "--version"], stdout=subprocess.DEVNULL, check=True)
                got["exec_floor"].add((time.monotonic() - t0) * 1000)
                t, first, frame = self.attach_one(d, p.pid, m)
                try:
                    got["frame_first" if i == 0 else "frame"].add(frame * 1000)
                    got["first_byte"].add(first * 1000)
                    if i == ATTACHES_PER_RUN - 1:
                        t.pump_until(time.monotonic() + ATTACH_KEY_SETTLE_S)
                        t.wait_quiet(QUIET_S, 30)
                        latencies = key_latencies(t, ATTACH_KEYS)
                        t.wait_quiet(QUIET_S, 30)
                    got["detach"].add(self.detach(t) * 1000)
                finally:
                    t.stop()
        finally:
            self.st.stop(p)
        return latencies

    def embedded_run(self, tpl, m):
        """The embedded dashboard (plain `steward`) on a fresh copy of `tpl`,
        as bench/tui_pty.py runs it: every worker running, the screen quiet,
        then the keys. Returns their latencies (ms, sorted)."""
        d = self.fresh(tpl, "attach-embedded")
        t = Tui(self.st.cmd(d), d)
        try:
            wait_started(t, self.args.binary, d, m)
            t.pump_until(time.monotonic() + ATTACH_KEY_SETTLE_S)
            t.wait_quiet(QUIET_S, 30)
            return key_latencies(t, ATTACH_KEYS)
        finally:
            left = t.stop()
            if left:
                self.log(f"attach: {left} process(es) outlived the embedded dashboard and were killed")

    def attach_idle(self, tpl, m):
        """One headless instance: after a settle, pairs of windows, one with
        no dashboard and one with ATTACH_DASHBOARDS attached ones (each up
        with its full first frame before the window), the order alternating;
        every pty is read throughout. Returns Series by name."""
        w = self.args.control_seconds
        out = {k: Series() for k in ("none", "dashboards", "dash_cpu", "dash_busiest", "dash_bps", "dash_rss")}
        d = self.fresh(tpl, "attach-idle")
        p = self.start_and_wait(d, m)
        try:
            time.sleep(self.args.settle)
            for pair in range(self.args.idle_runs):
                for which in (("none", "dashboards") if pair % 2 == 0 else ("dashboards", "none")):
                    tuis = {}
                    try:
                        if which == "dashboards":
                            for i in range(ATTACH_DASHBOARDS):
                                tuis[i], _, _ = self.attach_one(d, p.pid, m)
                            # Past the first frames' writes (the ones attached
                            # first waited unread while the later ones came up).
                            pump_all(tuis, time.monotonic() + 1, {i: {} for i in tuis})
                        else:
                            time.sleep(1)  # the same pause before both kinds of window
                        groups = {"steward": [p.pid]}
                        if tuis:
                            groups["dashboards"] = [t.pid for t in tuis.values()]
                        counts = {i: {} for i in tuis}
                        watch = CpuWatch(groups).start()
                        if tuis:
                            pump_all(tuis, time.monotonic() + w, counts)
                        else:
                            time.sleep(w)
                        res = watch.stop()
                        if p.poll() is not None:
                            raise RuntimeError(f"attach: the instance exited with {p.returncode} in an idle window")
                        out[which].add(res["steward"]["pct"])
                        if tuis:
                            gone = [t.pid for t in tuis.values() if not t.alive()]
                            if gone:
                                raise RuntimeError(f"attach: dashboard(s) {gone} exited in the idle window")
                            out["dash_cpu"].add(res["dashboards"]["pct"])
                            out["dash_busiest"].add(res["dashboards"]["busiest_pct"])
                            out["dash_bps"].add(sum(sum(c.values()) for c in counts.values())
                                                / res["steward"]["seconds"] / len(tuis))
                            out["dash_rss"].add(sum(rss_bytes(t.pid)[0] for t in tuis.values()) / len(tuis) / 1e6)
                    finally:
                        for t in tuis.values():
                            t.stop()
                    self.log(f"attach {m}: window {pair + 1} {which}: steward cpu {res['steward']['pct']:.4f} %"
                             + (f", {ATTACH_DASHBOARDS} dashboards {res['dashboards']['pct']:.4f} %, "
                                f"{out['dash_bps'].values[-1]:.1f} B/s each to their ptys" if tuis else ""))
        finally:
            self.st.stop(p)
        return out

    def attach_report(self, m, got, idle):
        frames = Series(got["frame_first"].values + got["frame"].values)
        p90 = percentile(sorted(frames.values), 0.9) if frames else None
        frame_ok = frames.median is not None and frames.median < 100
        att, emb = got["attached_p99"], got["embedded_p99"]
        keys_ok = None if not att or not emb else att.median <= emb.median + 5
        none, dash = idle["none"], idle["dashboards"]
        noise = max(none.hi - none.lo, 0.1 * none.median) if none else None
        cpu_ok = None if noise is None or not dash else dash.median <= none.median + noise
        per_dash = Series([v / ATTACH_DASHBOARDS for v in idle["dash_cpu"].values])
        self.goals += [
            (f"9b attach, {m:,} accounts: spawn `steward attach` in a {COLUMNS}x{ROWS} pty to its full first "
             "frame written", "< 100 ms",
             f"{fmt_num(frames.median)} ms (p90 {fmt_num(p90)} ms; first attach after start "
             f"{fmt_num(got['frame_first'].median)} ms; exec'ing the binary alone "
             f"{fmt_num(got['exec_floor'].median)} ms)", goal_cell(frame_ok)),
            (f"9b key latency p99, {m:,} rows: attached vs embedded dashboard, same data dir, runs interleaved",
             "attached ≤ embedded + 5 ms",
             f"{fmt_num(att.median)} ms vs {fmt_num(emb.median)} ms (p50 {fmt_num(got['attached_p50'].median)} "
             f"vs {fmt_num(got['embedded_p50'].median)} ms)", goal_cell(keys_ok)),
            (f"9b steward's CPU with {ATTACH_DASHBOARDS} idle attached dashboards vs none, {m:,} accounts, "
             "same instance, windows interleaved", "no more than with none, within noise",
             f"{fmt_num(dash.median)} % vs {fmt_num(none.median)} % (noise {fmt_num(noise)} %); the dashboards "
             f"themselves {fmt_num(idle['dash_cpu'].median)} % together", goal_cell(cpu_ok)),
        ]
        rows = [
            [f"spawn `steward attach` to its full first frame, {m:,} accounts",
             fmt_series(frames, " ms") + f", p90 {fmt_num(p90)} ms", f"< 100 ms: {goal_cell(frame_ok)}"],
            ["… of which the first attach after the instance started", fmt_series(got["frame_first"], " ms"), "—"],
            ["spawn to its first byte on the pty", fmt_series(got["first_byte"], " ms"), "—"],
            ["floor: spawn `steward --version` to its exit, before each attach", fmt_series(got["exec_floor"], " ms"),
             "—"],
            ["q to the detached `steward attach` exited", fmt_series(got["detach"], " ms"), "—"],
            ["key latency p50, attached", fmt_series(got["attached_p50"], " ms"), "—"],
            ["key latency p50, embedded", fmt_series(got["embedded_p50"], " ms"), "—"],
            ["key latency p99, attached", fmt_series(att, " ms"),
             f"≤ embedded + 5 ms: {goal_cell(keys_ok)}"],
            ["key latency p99, embedded", fmt_series(emb, " ms"), "—"],
            [f"steward CPU, {m:,} accounts, no dashboard", fmt_series(none, " %"), "—"],
            [f"steward CPU, {m:,} accounts, {ATTACH_DASHBOARDS} idle attached dashboards", fmt_series(dash, " %"),
             f"≤ none + noise ({fmt_num(noise)} %): {goal_cell(cpu_ok)}"],
            [f"the {ATTACH_DASHBOARDS} dashboards' own CPU, together", fmt_series(idle["dash_cpu"], " %")
             + f", busiest 10 s {fmt_num(idle['dash_busiest'].median)} %", "—"],
            ["… per dashboard", fmt_series(per_dash, " %"), "—"],
            ["output per dashboard to its pty at idle", fmt_series(idle["dash_bps"], " B/s"), "—"],
            ["RSS per dashboard", fmt_series(idle["dash_rss"], " MB"), "—"],
        ]
        w = self.args.control_seconds
        self.sections.append(
            "## 9b. Attached dashboard (`steward attach`)\n\n"
            + (f"**Quick run (`--quick`)**: {self.runs} run(s) of each mode, {self.args.idle_runs} pair(s) of "
               f"{w:g} s windows, settle {self.args.settle:g} s. Not for comparison with a full run.\n\n"
               if self.args.quick else "")
            + f"`steward run --headless` with {m:,} accounts, every worker `sleep 86400`, aria2 "
            f"{'enabled' if self.args.aria2_idle else 'disabled'}; every dashboard in its own {COLUMNS}x{ROWS} "
            "pty (bench/tui_pty.py's), read as fast as it writes. "
            f"First frame: {self.runs} instance(s), each after every worker runs and {ATTACH_KEY_SETTLE_S:g} s; "
            f"{ATTACHES_PER_RUN} `steward attach`es one after the other, each timed from its spawn to the read "
            f"that completed its full first frame (the header's \"attached to pid N\", \"{m}/{m}\" running, "
            f"\"Accounts ({m})\" and the footer, the last row), the screen then quiet for {QUIET_S:g} s; "
            "then q, timed to its exit (with 0 and its \"detached\" line). The floor: the same binary's "
            "`--version` spawned and waited for just before each attach (what exec'ing it costs; the socket's "
            "own part is section 9's connect to the first snapshot frame). "
            f"Keys: {ATTACH_KEYS} j/k presses per run, alternating, each after {1000 * KEY_QUIET_S:g} ms of "
            "quiet, timed from the write to the first byte back (as bench/tui_pty.py times them); attached on the last "
            "attach of each instance, embedded in plain `steward` on a fresh copy of the same data dir once "
            f"every worker runs, both after {ATTACH_KEY_SETTLE_S:g} s more; {self.runs} run(s) of each, the order "
            "alternating; p50 and p99 per run, median (min–max) over runs. "
            f"CPU: one instance; after a settle of {self.args.settle:g} s, {self.args.idle_runs} pair(s) of "
            f"{w:g} s windows, one with no dashboard and one with {ATTACH_DASHBOARDS} `steward attach`es on the "
            "Accounts pane (each showing its full first frame before the window starts), the order alternating; "
            + cpu_method(w)
            + " Noise = the spread (max − min) of the no-dashboard windows, at least 10 % of their median.\n\n"
            + table(["", "figure", "goal"], rows)
            + "\n\nDoes not show: a terminal's drawing (the frame time is to the last byte written to the pty, "
            "and it includes exec'ing the steward binary, from the page cache); an attach to a fleet that "
            "changes (the snapshot is encoded once while nothing changes: the first attach after start pays "
            "for it) or over SSH (the link's round trips come on top); the latency of an action key (j/k move "
            "the cursor inside the dashboard, attached or not: `s`, `R` and the other actions go to the "
            "instance and back over the socket and are not timed here); key latency to the last byte of the "
            "redraw; the p99 of a machine shared with other work is noisy (runs interleaved share the noise, "
            "they do not remove it); dashboards on another pane than Accounts, or with a filter, a dialog or "
            "the log pane scrolling; with windows under a minute (`--quick`), an idle dashboard's "
            "once-a-minute repaint (its uptime), which may fall outside them (0 % and 0 B/s then)."
        )

    # ------------------------------------------------------------ report

    # ------------------------------------------------------------ metrics

    def metrics(self):
        """The Prometheus endpoint on 1,000 accounts: scrape latency, and
        steward's CPU scraped once a second vs not scraped."""
        import socket

        n, scrapes = METRICS_ACCOUNTS, METRICS_SCRAPES

        def free_port():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]

        def scrape(port):
            """One GET /metrics on its own connection: (seconds, bytes of the answer)."""
            t0 = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"GET /metrics HTTP/1.1\r\nHost: steward\r\n\r\n")
                raw = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    raw += chunk
            took = time.perf_counter() - t0
            if not raw.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"/metrics answered {raw[:40]!r}")
            return took, len(raw)

        tpl = self.template(f"metrics{n}", n, config(SLEEP))
        latency, cpu_per_scrape, size = Series(), Series(), Series()
        # Scrapes once a second: each snapshot's first scrape encodes it, the next ones reuse the text.
        paced = Series()
        quiet, scraped = Series(), Series()
        for run in range(self.args.idle_runs):
            d = self.fresh(tpl, "metrics")
            port = free_port()
            with open(os.path.join(d, "steward.toml"), "a") as f:
                f.write(f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
            p = self.start_and_wait(d, n)
            try:
                time.sleep(self.args.settle)
                # Latency, and steward's CPU per scrape over the same scrapes.
                cpu = CpuWatch({"steward": [p.pid]}).start()
                t0 = time.monotonic()
                times = []
                for _ in range(scrapes):
                    took, length = scrape(port)
                    times.append(took)
                span = time.monotonic() - t0
                res = cpu.stop()["steward"]
                times.sort()
                latency.add(statistics.median(times) * 1000)
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
                self.figures.setdefault("metrics-p99", Series()).add(p99)
                size.add(length / 1000)
                # CPU seconds over the scrapes, less what the idle loop used meanwhile (taken from
                # the quiet window below), per scrape.
                cpu_per_scrape.add(res["pct"] / 100 * span / scrapes * 1000)
                # Alternating windows: not scraped, then scraped once a second.
                for label, series, scraping in (("quiet", quiet, False), ("scraped", scraped, True)):
                    stop = threading.Event()

                    def scraper():
                        while not stop.wait(1.0):
                            paced.add(scrape(port)[0] * 1000)

                    thread = threading.Thread(target=scraper, daemon=True) if scraping else None
                    cpu = CpuWatch({"steward": [p.pid]}).start()
                    if thread:
                        thread.start()
                    time.sleep(self.args.idle_seconds)
                    stop.set()
                    if thread:
                        thread.join()
                    series.add(cpu.stop()["steward"]["pct"])
                self.log(f"metrics {n}: run {run + 1}: scrape median {latency.values[-1]:.2f} ms, "
                         f"p99 {p99:.2f} ms, {size.values[-1]:.0f} kB, 1/s scrapes median {fmt_num(paced.median)} "
                         f"ms max {fmt_num(paced.hi)} ms, steward CPU per scrape "
                         f"{cpu_per_scrape.values[-1]:.3f} ms; steward CPU quiet {quiet.values[-1]:.4f} %, "
                         f"scraped every second {scraped.values[-1]:.4f} %")
            finally:
                self.st.stop(p)
        p99s = self.figures.get("metrics-p99", Series())
        # Per scrape, net of the idle loop's own use during the scrapes.
        idle_ms_per_scrape = None
        if quiet.median is not None and latency.median is not None:
            idle_ms_per_scrape = quiet.median / 100 * latency.median
        per_scrape = cpu_per_scrape.median
        net_per_scrape = None if per_scrape is None or idle_ms_per_scrape is None else max(
            0.0, per_scrape - idle_ms_per_scrape)
        added_direct = None if net_per_scrape is None else net_per_scrape / 1000 * 100
        added_window = None if scraped.median is None or quiet.median is None else scraped.median - quiet.median
        ok_latency = latency.median is not None and latency.median < 5 and p99s.median is not None and p99s.median < 5
        ok_cpu = added_direct is not None and added_direct < 0.05
        self.goals.append((f"metrics: GET /metrics with {n:,} accounts", "< 5 ms (median and p99)",
                           f"median {fmt_num(latency.median)} ms, p99 {fmt_num(p99s.median)} ms",
                           goal_cell(ok_latency)))
        self.goals.append((f"metrics: steward's CPU scraped every second, {n:,} accounts", "< 0.05 % added",
                           f"{fmt_num(added_direct)} % (CPU per scrape {fmt_num(net_per_scrape)} ms); "
                           f"windows: {fmt_num(scraped.median)} % scraped vs {fmt_num(quiet.median)} % not",
                           goal_cell(ok_cpu)))
        rows = [[n, fmt_series(latency, " ms"), fmt_series(p99s, " ms"),
                 f"{fmt_num(paced.median)} ms (max {fmt_num(paced.hi)} ms, {len(paced.values)} scrapes)",
                 fmt_series(size, " kB"),
                 fmt_series(cpu_per_scrape, " ms"), fmt_num(added_direct) + " %",
                 fmt_series(quiet, " %"), fmt_series(scraped, " %"), fmt_num(added_window) + " %"]]
        text = (
            "## Metrics endpoint\n\n"
            + self.quick_warning()
            + f"`steward run --headless` with {n:,} accounts (`sleep` workers, aria2 disabled) and "
            "`[metrics] listen` on loopback. Latency: {scrapes} scrapes one after the other, each on its own "
            "connection (connect, `GET /metrics`, read to the close), timed by the client (Python, so its own "
            "overhead is in the figure). The server keeps the text of the latest snapshot (by its seq) and "
            "encodes only the clock-dependent family per scrape, so back-to-back scrapes mostly reuse it; the "
            "once-a-second scrapes of the scraped window meet every new snapshot (an idle fleet publishes every "
            "few seconds), and their max is a scrape that encoded all of it. CPU per scrape: steward's CPU over those scrapes ÷ their number "
            "(net: less the idle loop's own rate over the same time). Added CPU at one scrape a second = net "
            "CPU per scrape ÷ 1 s. The windows: steward's CPU over "
            f"{self.args.idle_seconds:g} s not scraped, then {self.args.idle_seconds:g} s scraped once a second "
            f"(their difference is within the idle loop's own noise). {cpu_method(self.args.idle_seconds)}\n\n"
            + table(["accounts", "scrape median", "scrape p99", "scrapes 1/s: median (max)", "answer",
                     "steward CPU per scrape",
                     "added at 1 scrape/s", "CPU not scraped", "CPU scraped 1/s", "window difference"], rows)
            + "\n\nDoes not show: a Prometheus server's own cost, TLS or a proxy in front (none is built in), "
            "or scrapes while the fleet is busy: then every scrape meets a new snapshot and encodes all of it "
            "(the 1/s max above), and \"added at 1 scrape/s\", measured on scrapes that mostly reuse the text, "
            "is below what such scrapes cost."
        )
        self.sections.append(text.replace("{scrapes}", str(scrapes)))

    def report(self, state, commit):
        """BENCHMARKS.md from every scenario's latest result in `state`
        (this run's, and with `--only` the earlier runs' of the others)."""
        m = machine()
        aria2 = subprocess.run(["aria2c", "--version"], capture_output=True, text=True).stdout.splitlines()
        done = [(n, state["scenarios"][n]) for n in SCENARIOS if n in state["scenarios"]]
        when = table(["scenario", "measured", "commit", "mode", "runs (short / idle)", "took"], [
            [n, r["when"], f"`{r['commit']}`", "**quick**" if r["quick"] else (
                "full" if r["runs"] >= 5 and r["idle_runs"] >= 3 else "full windows, **fewer runs**"),
             f"{r['runs']} / {r['idle_runs']}", f"{r['minutes']} min"] for n, r in done])
        minutes = sum(r["minutes"] for _, r in done)
        quick = any(r["quick"] for _, r in done)
        head = [
            "# steward benchmarks",
            "",
            "Generated by `python3 bench/run.py` (release build). Do not edit by hand: run it again, whole "
            "or piecewise with `--only NAME,...` (which replaces those scenarios' sections and goal rows and "
            f"keeps the others, from `bench/results.json`). Every section below was measured as this table "
            f"says; together they took {minutes:.0f} min.",
            "",
            when,
            "",
            f"- machine: {m['cores']} cores ({m['model']}), {m['memory']}, Linux {m['kernel']}; shared with "
            "other work while measured, so every ratio below is of figures measured in the same run, "
            "interleaved or side by side",
            f"- bench dir filesystem: {fs_type(self.root)}",
            "- figures: median (min–max) over the runs; ratio = steward ÷ floor or peer, medians",
            f"- aria2c: {aria2[0] if aria2 else 'not installed'}",
        ]
        if quick:
            head.append("- **some sections come from `--quick` runs**: short windows and 1–2 runs, for checking "
                        "the bench, not for quoting")
        head += [
            "",
            "## Goals",
            "",
            "Each goal row compares like with like and names what is compared; the sections say what each "
            "figure does not show.",
            "",
            table(["scenario: what is compared", "goal", "steward (vs floor or peer)", "result"],
                  [g for _, r in done for g in r["goals"]]),
        ]
        parts = ["\n".join(head)] + [sec for _, r in done for sec in r["sections"]]
        extra = os.path.join(REPO, "bench", "ANALYSIS.md")
        if os.path.exists(extra):
            with open(extra) as f:
                parts.append(f.read().strip())
        return "\n\n".join(parts) + "\n"

    # ------------------------------------------------------------ peers

    def peers(self):
        peers_section(self)


SCENARIOS = ["idle", "tui", "startup", "scale", "shutdown", "sweep", "scan", "crash", "control", "attach", "metrics", "peers"]


def state_path(output):
    """Where the per-scenario results behind `output` are kept, so that a
    run with `--only` replaces its scenarios' sections and goal rows and
    keeps the others'."""
    if os.path.abspath(output) == os.path.join(REPO, "BENCHMARKS.md"):
        return os.path.join(REPO, "bench", "results.json")
    return output + ".json"


def load_state(path):
    try:
        with open(path) as f:
            state = json.load(f)
        return state if isinstance(state, dict) and isinstance(state.get("scenarios"), dict) else {"scenarios": {}}
    except (OSError, ValueError):
        return {"scenarios": {}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(REPO, "target", "release", "steward"))
    parser.add_argument("--quick", action="store_true",
                        help="short windows and 1-2 runs (20-25 minutes); says so in every section it writes")
    parser.add_argument("--runs", type=int, help="runs per short figure (default 5, --quick 2)")
    parser.add_argument("--idle-runs", type=int,
                        help="runs per idle window (idle, TUI idle, peers; default 3, --quick 1)")
    parser.add_argument("--idle-seconds", type=float, help="idle window (default 120, --quick 15)")
    parser.add_argument("--settle", type=float, help="wait before the idle window (default 60, --quick 5)")
    parser.add_argument("--idle-accounts", default="200,1000")
    parser.add_argument("--control-seconds", type=float,
                        help="each control-socket idle window, with and without clients (default 60, --quick 20)")
    parser.add_argument("--no-aria2-idle", dest="aria2_idle", action="store_false",
                        help="idle and startup with aria2 disabled")
    parser.add_argument("--no-peers", action="store_true", help="no peer beside steward in the idle windows")
    parser.add_argument("--startup-accounts", type=int, default=1000)
    parser.add_argument("--scale-accounts", type=int, default=3000)
    parser.add_argument("--sweep-dirs", type=int, default=1000)
    parser.add_argument("--sweep-files", type=int, default=100)
    parser.add_argument("--sweep-runs", type=int,
                        help="runs of the sweep per file system (default 3, --quick 1): on a disk mounted "
                        "with discard one `find -delete` alone may take minutes")
    parser.add_argument("--scan-processes", type=int, default=1000)
    parser.add_argument("--no-drop-caches", dest="drop_caches", action="store_false",
                        help="skip the cold-cache temp stats (they drop the kernel's dentry/inode caches)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}: their sections and "
                        "goal rows replace the same ones in --output, the others are kept from the last run")
    parser.add_argument("--work-dir", help="where the data dirs go (default: a new dir in $TMPDIR)")
    parser.add_argument("--output", default=os.path.join(REPO, "BENCHMARKS.md"))
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args()
    args.runs = args.runs or (2 if args.quick else 5)
    args.idle_runs = args.idle_runs or (1 if args.quick else 3)
    args.sweep_runs = args.sweep_runs or (1 if args.quick else 3)
    args.idle_seconds = args.idle_seconds or (15.0 if args.quick else 120.0)
    args.settle = args.settle if args.settle is not None else (5.0 if args.quick else 60.0)
    args.control_seconds = args.control_seconds or (20.0 if args.quick else 60.0)
    args.binary = os.path.abspath(args.binary)
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"run.py: {args.binary} not found: run `cargo build --release --examples --bins` first")
    chosen = args.only.split(",") if args.only else SCENARIOS
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        sys.exit(f"run.py: unknown scenario(s) {', '.join(sorted(unknown))}")
    for ex, needed_by in (("proc_scan", "scan"), ("temp_stats", "sweep")):
        built = os.path.exists(os.path.join(os.path.dirname(args.binary), "examples", ex))
        if needed_by in chosen and not built:
            sys.exit(f"run.py: examples/{ex} not built: run `cargo build --release --examples --bins` first")

    install_signal_handlers()
    root = tempfile.mkdtemp(prefix="steward-bench-", dir=args.work_dir)
    reaper = Reaper(root)
    bench = Bench(args, reaper)
    spath = state_path(args.output)
    state = load_state(spath) if args.only else {"scenarios": {}}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    # Uncommitted changes to the code or the bench: the commit alone does not say what ran.
    if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src", "bench", "examples", "Cargo.toml",
                       ":(exclude)bench/results.json"],
                      cwd=REPO).returncode == 1:
        commit += "+changes"
    t_all = time.monotonic()
    try:
        for name in SCENARIOS:
            if name not in chosen:
                continue
            bench.log(f"scenario {name}")
            sections, goals, t0 = len(bench.sections), len(bench.goals), time.monotonic()
            try:
                getattr(bench, name)()
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                bench.log(f"scenario {name} failed: {e}")
                bench.sections.append(f"## {name}\n\nFailed in this run: {e}")
            finally:
                reaper.stop_stewards()
                reaper.kill_marked()
            state["scenarios"][name] = {
                "sections": bench.sections[sections:],
                "goals": bench.goals[goals:],
                "when": f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
                "commit": commit,
                "quick": args.quick,
                "runs": args.runs,
                "idle_runs": args.idle_runs,
                "minutes": round((time.monotonic() - t0) / 60, 1),
            }
            bench.log(f"scenario {name}: {state['scenarios'][name]['minutes']} min")
        bench.log(f"all chosen scenarios: {(time.monotonic() - t_all) / 60:.1f} min")
        with open(args.output, "w") as f:
            f.write(bench.report(state, commit))
        with open(spath, "w") as f:
            json.dump(state, f, indent=1, ensure_ascii=False)
            f.write("\n")
        bench.log(f"wrote {args.output} and {spath}")
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the bench started", file=sys.stderr)
        return 130
    finally:
        reaper.cleanup(remove_root=not args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
