"""The peers of issue 7, measured in the same run as steward (bench/run.py
scenario `peers`): supervisord and pm2 supervising the same `sleep` workers
(idle CPU and RSS; supervisord's shutdown of the same process counts), and
htop, btop and mprocs in the same 120x40 pty as steward's TUI (idle output,
CPU, RSS).

A peer that is not installed is reported as such, never guessed at;
`bench/install-peers.sh` installs them all on Debian. Standard library only.
"""

import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time

from common import (
    CpuWatch,
    Series,
    SLEEP as STEWARD_SLEEP,
    children,
    comm,
    config,
    cpu_method,
    exec_children,
    start_ticks as start_of,
    fmt_num,
    fmt_series,
    ratio,
    rss_bytes,
    table,
    wait_until,
)
from tui_pty import COLUMNS, ROWS, Tui

# Between "every worker exec'd" and SIGTERM, for steward and supervisord
# alike: both finish recording their start-up (supervisord moves each process
# from STARTING to RUNNING on its next tick) before the stop is timed.
STOP_SETTLE_S = 2.0
# The sleep every peer supervises or shows, the same as steward's workers.
SLEEP = ["sleep", "86400"]
IGNORE_TERM = ["sh", "-c", "trap '' TERM; exec sleep 86400"]


def mprocs_binary():
    """npm's mprocs is a node wrapper around a static binary: measure the binary."""
    found = glob.glob("/usr/lib/node_modules/mprocs/mprocs-*-linux-x86_64*/mprocs") + glob.glob(
        "/usr/local/lib/node_modules/mprocs/mprocs-*-linux-x86_64*/mprocs"
    )
    return found[0] if found else shutil.which("mprocs")


def version(argv, env=None):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    # pm2 prints a banner first: the line with a version number in it.
    lines = [x.strip() for x in (out.stdout or out.stderr).splitlines() if x.strip()]
    return next((x for x in lines if re.search(r"\d+\.\d+", x)), lines[0] if lines else None)


class Peers:
    """Runs the peers with the bench's reaper, runs per figure and idle window."""

    def __init__(self, bench):
        self.bench = bench
        self.reaper = bench.reaper
        self.runs = bench.runs
        self.window = bench.args.idle_seconds
        self.settle = bench.args.settle

    # ------------------------------------------------------------ supervisord

    def supervisord_conf(self, d, prompt, ignoring):
        """supervisord.conf with `prompt` sleeps and `ignoring` TERM-ignoring
        ones; stop deadline 2 s like steward's; output captured to files as
        steward captures its workers' (supervisord's default)."""
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        # The bench root in every child's environment: the reaper finds them by it.
        env = f'environment=BENCH_ROOT="{self.reaper.root}"'
        sections = [
            "[supervisord]\nnodaemon=true\nlogfile=%(here)s/supervisord.log\n"
            "pidfile=%(here)s/supervisord.pid\nchildlogdir=%(here)s/logs\nloglevel=warn\n"
            "minfds=4096\n"
        ]
        for name, argv, count in (("w", SLEEP, prompt), ("ign", IGNORE_TERM, ignoring)):
            if count:
                command = " ".join(a if " " not in a else f'"{a}"' for a in argv)
                sections.append(
                    f"[program:{name}]\ncommand={command}\nprocess_name=%(program_name)s_%(process_num)04d\n"
                    f"numprocs={count}\nautostart=true\nautorestart=true\nstartsecs=0\n"
                    f"stopwaitsecs=2\nstopasgroup=true\nkillasgroup=true\n{env}\n"
                )
        path = os.path.join(d, "supervisord.conf")
        with open(path, "w") as f:
            f.write("\n".join(sections))
        return path

    def supervisord(self, n, ignoring=0):
        """A running supervisord with `n` children exec'd; its Popen."""
        d = self.bench.dir("supervisord")
        conf = self.supervisord_conf(d, n - ignoring, ignoring)
        log = open(os.path.join(d, "stdout.log"), "ab")
        try:
            p = subprocess.Popen(["supervisord", "-n", "-c", conf], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, process_group=0)
        finally:
            log.close()
        self.reaper.steward(p)  # stopped like a steward on every exit path
        ok, _ = wait_until(lambda: exec_children(p.pid, "sleep", n) or p.poll() is not None, 120, 0.02)
        if p.poll() is not None or not ok:
            raise RuntimeError(f"supervisord did not get {n} children running (see {d})")
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p in self.reaper.stewards:
            self.reaper.stewards.remove(p)
        self.reaper.kill_marked()

    def supervisord_shutdown(self, n, ignoring):
        """SIGTERM to supervisord: seconds until every child is reaped, and until it exited."""
        p = self.supervisord(n, ignoring)
        kids = children(p.pid)
        return timed_stop(p, kids, self.reaper)

    # ------------------------------------------------------------ pm2

    def pm2(self, n):
        """A pm2 daemon (its own PM2_HOME) running `n` sleeps; (env, daemon pid)."""
        d = self.bench.dir("pm2")
        os.makedirs(d)
        env = dict(os.environ, PM2_HOME=os.path.join(d, "home"), BENCH_ROOT=self.reaper.root)
        apps = [{"name": f"w{i:04d}", "script": "sleep", "args": "86400", "interpreter": "none",
                 "autorestart": True, "kill_timeout": 2000} for i in range(n)]
        eco = os.path.join(d, "ecosystem.config.js")
        with open(eco, "w") as f:
            f.write("module.exports = " + json.dumps({"apps": apps}) + ";\n")
        subprocess.run(["pm2", "start", eco], env=env, capture_output=True, timeout=300, check=True)
        pidfile = os.path.join(env["PM2_HOME"], "pm2.pid")
        pid = int(open(pidfile).read().strip())
        ok, _ = wait_until(lambda: exec_children(pid, "sleep", n), 120, 0.05)
        if not ok:
            self.pm2_kill(env)
            raise RuntimeError(f"pm2 did not get {n} children running")
        return env, pid

    def pm2_kill(self, env):
        subprocess.run(["pm2", "kill"], env=env, capture_output=True, timeout=120)
        self.reaper.kill_marked()

    # ------------------------------------------------------------ TUIs in a pty

    def mprocs_config(self, n):
        d = self.bench.dir("mprocs")
        os.makedirs(d)
        path = os.path.join(d, "mprocs.yaml")
        # YAML is a superset of JSON: no YAML writer needed.
        procs = {f"w{i:04d}": {"cmd": SLEEP, "env": {"BENCH_ROOT": self.reaper.root}} for i in range(n)}
        with open(path, "w") as f:
            json.dump({"procs": procs}, f)
        return d, path


def pty_env(home):
    """A clean HOME (no user config read or written) and a UTF-8 locale (btop needs one)."""
    os.makedirs(home, exist_ok=True)
    return {"HOME": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _cell(series, unit="", digits=None):
    return fmt_series(series, unit, digits) if series else "n/a"


def _ratio_to(steward_median, peer):
    return ratio(steward_median, peer.median) if steward_median is not None and peer else "—"


def pump_all(tuis, deadline, counts):
    """Reads every pty until `deadline`; `counts[name]` gets the bytes per whole second."""
    t0 = time.monotonic()
    by_fd = {t.master: name for name, t in tuis.items()}
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select(list(by_fd), [], [], left)
        for fd in ready:
            name = by_fd[fd]
            data = tuis[name].read(0)
            if data:
                second = int(time.monotonic() - t0)
                counts[name][second] = counts[name].get(second, 0) + len(data)
            elif not tuis[name].alive():
                del by_fd[fd]


def timed_stop(p, workers, reaper):
    """The one stop timing for steward and supervisord alike: settle, then
    SIGTERM, until every worker is reaped and until the supervisor exited."""
    time.sleep(STOP_SETTLE_S)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    reaped = wait_reaped(p.pid, workers)
    p.wait()
    exited = time.monotonic() - t0
    reaper.stewards.remove(p)
    reaper.kill_marked()
    return reaped, exited


def wait_reaped(parent, pids, timeout=60):
    """Seconds until none of `pids` exists any more (reaped by `parent`, or
    by init once `parent` is gone). Polls `parent`'s children list, which is
    cheap, and only then the pids themselves."""
    t0 = time.monotonic()
    ids = {p: start_of(p) for p in pids}
    while time.monotonic() - t0 < timeout:
        if not set(ids) & set(children(parent)):
            ids = {p: t for p, t in ids.items() if t is not None and start_of(p) == t}
            if not ids:
                return time.monotonic() - t0
        time.sleep(0.002)
    return None


def tuis_side_by_side(bench, peers, have, n):
    """steward's TUI (n accounts), htop, btop and mprocs (n processes of its
    own), each in its own 120x40 pty, in the same idle windows."""
    home = os.path.join(bench.root, "peer-home")
    tpl = bench.template(f"idle{n}", n, config(STEWARD_SLEEP, aria2=True))
    names = ["steward"] + [x for x in ("htop", "btop", "mprocs") if have[x]]
    got = {name: {k: Series() for k in ("start", "bps", "busiest_bps", "cpu", "busiest", "rss")} for name in names}
    for run in range(bench.args.idle_runs):
        d = bench.fresh(tpl, "peers-tui")
        tuis, mprocs_dir = {}, None
        try:
            tuis["steward"] = Tui([bench.args.binary, "--data-dir", d], d)
            for name in ("htop", "btop"):
                if have[name]:
                    tuis[name] = Tui([have[name]], home, env=pty_env(home))
            if have["mprocs"]:
                mprocs_dir, cfg = peers.mprocs_config(n)
                tuis["mprocs"] = Tui([have["mprocs"], "--config", cfg], home, env=pty_env(home))
            # Started: every worker (steward) or process (mprocs) running.
            counts = {name: {} for name in tuis}
            pending = {"steward", "mprocs"} & set(tuis)
            end = time.monotonic() + 120
            while pending and time.monotonic() < end:
                pump_all(tuis, time.monotonic() + 0.05, counts)
                for name in list(pending):
                    if exec_children(tuis[name].pid, "sleep", n):
                        got[name]["start"].add(time.monotonic() - tuis[name].started)
                        pending.discard(name)
            if pending:
                raise RuntimeError(f"peers: {', '.join(sorted(pending))} did not get {n} processes running")
            pump_all(tuis, time.monotonic() + bench.args.settle, counts)
            watch = CpuWatch({name: [t.pid] for name, t in tuis.items()}).start()
            counts = {name: {} for name in tuis}
            t0 = time.monotonic()
            pump_all(tuis, t0 + bench.args.idle_seconds, counts)
            elapsed = time.monotonic() - t0
            cpu = watch.stop()
            for name, t in tuis.items():
                if not t.alive():
                    bench.log(f"peers: {name} exited early: {t.tail[-300:]!r}")
                    continue
                total = sum(counts[name].values())
                got[name]["bps"].add(total / elapsed)
                per10 = [sum(counts[name].get(s + i, 0) for i in range(10)) / 10
                         for s in range(max(1, int(elapsed) - 9))]
                got[name]["busiest_bps"].add(max(per10) if elapsed > 10 else total / elapsed)
                got[name]["cpu"].add(cpu[name]["pct"])
                got[name]["busiest"].add(cpu[name]["busiest_pct"])
                got[name]["rss"].add(rss_bytes(t.pid)[0] / 1e6)
            bench.log("peers: TUIs run {}: ".format(run + 1) + ", ".join(
                f"{name} {got[name]['bps'].values[-1]:.0f} B/s {got[name]['cpu'].values[-1]:.3f} %"
                for name in tuis if got[name]["bps"]))
        finally:
            for t in tuis.values():
                t.stop()
            if mprocs_dir:
                shutil.rmtree(mprocs_dir, ignore_errors=True)
            bench.reaper.kill_marked()
    return got


def installed(bench):
    """{peer: path or None} and {peer: version or None}."""
    # `pm2 --version` starts pm2's daemon when none runs: give it a home in
    # the bench root, whose processes the reaper stops.
    pm2_env = dict(os.environ, PM2_HOME=os.path.join(bench.root, "pm2-version"), BENCH_ROOT=bench.root)
    have = {name: shutil.which(name) for name in ("supervisord", "pm2", "htop", "btop")}
    have["mprocs"] = mprocs_binary()
    versions = {
        "supervisord": have["supervisord"] and version(["supervisord", "--version"]),
        "pm2": have["pm2"] and version(["pm2", "--version"], pm2_env),
        "htop": have["htop"] and version(["htop", "--version"]),
        "btop": have["btop"] and version(["btop", "--version"]),
        "mprocs": have["mprocs"] and version([have["mprocs"], "--version"]),
    }
    return have, versions


def tui_idle_section(bench, n=1000):
    """steward's TUI idle, with htop, btop and mprocs (when installed and not
    `--no-peers`) in the same windows: (markdown, steward's medians)."""
    have, versions = installed(bench)
    if bench.args.no_peers:
        have = {name: None for name in have}
    got = tuis_side_by_side(bench, Peers(bench), have, n)
    st = got["steward"]
    rows = []
    for name, g in got.items():
        if not g["bps"]:
            continue
        g["start"] = g["start"] if name in ("steward", "mprocs") else None
        label = {"steward": f"steward (Accounts pane, {n} accounts, aria2 on)",
                 "mprocs": f"{versions['mprocs'] or 'mprocs'} ({n} processes of its own)"}.get(
                     name, versions.get(name) or name)
        mine = name == "steward"
        rows.append([label, _cell(g["start"]), _cell(g["bps"]), _cell(g["busiest_bps"]), _cell(g["cpu"], " %"),
                     _cell(g["busiest"], " %"), _cell(g["rss"], " MB"),
                     "" if mine else _ratio_to(st["bps"].median, g["bps"]),
                     "" if mine else _ratio_to(st["cpu"].median, g["cpu"])])
    quieter = [name for name, g in got.items() if name != "steward" and g["cpu"] and st["cpu"]
               and g["cpu"].median < st["cpu"].median and g["bps"].median <= st["bps"].median]
    missing = [name for name in ("htop", "btop", "mprocs") if not have[name]]
    text = (
        f"### Idle, {n} accounts, {COLUMNS}x{ROWS} pty, beside htop, btop and mprocs\n\n"
        + bench.quick_warning()
        + f"steward's TUI with {n} accounts (aria2 on), htop, btop and mprocs (supervising {n} `sleep`s of "
        "its own), each in its own pty (TERM=xterm-256color; the peers with a fresh HOME, so no user "
        f"config), all running at once, so the machine holds {2 * n} `sleep`s, which htop and btop list. "
        "\"started\" = from each program's start until all its processes run (steward: its workers; mprocs: "
        f"its processes). The settle ({bench.args.settle:g} s) starts once both are; then one window "
        f"({bench.args.idle_seconds:g} s) for all, {bench.args.idle_runs} run(s). Output = bytes written to "
        "each pty over the window; busiest 10 s likewise. " + cpu_method(bench.args.idle_seconds)
        + " Ratio = steward ÷ peer."
        + (f" Not measured (not installed or `--no-peers`): {', '.join(missing)}." if missing else "")
        + (f" Once started, {' and '.join(quieter)} idled quieter than steward here (less CPU, no more "
           "output): steward's figures are not the floor." if quieter else "")
        + "\n\n"
        + table(["", "started (s)", "idle output (B/s)", "busiest 10 s (B/s)", "CPU % of one core",
                 "busiest 10 s", "RSS", "output ratio", "CPU ratio"], rows)
        + "\n\nDoes not show: the same work. htop and btop show every process of the machine and refresh on "
        "a timer, steward shows its accounts and repaints on change, mprocs keeps a terminal emulator per "
        "process; they share the screen size only. Start-up is not in the idle figures, and steward's "
        "aria2c and output keeper are not in its row (section 1 has them)."
    )
    return text, {k: v.median for k, v in st.items()}


def peers_section(bench):
    """Measures every installed peer's shutdown and appends the section to `bench`."""
    peers = Peers(bench)
    have, versions = installed(bench)
    missing = sorted(name for name, path in have.items() if not path)
    parts = [
        "## Peers: shutdown\n\n"
        "The peers issue 7 names, on this machine, each measured in the same run as steward and by the "
        "same method, interleaved run by run. (supervisord and pm2 idle beside steward in section 1; htop, "
        "btop and mprocs beside steward's TUI in section 1–3.) Installed: "
        + (", ".join(f"{n} ({v})" for n, v in versions.items() if v) or "none")
        + ". "
        + (f"Not installed, so not measured: {', '.join(missing)} (`bench/install-peers.sh`). " if missing else "")
        + "process-compose is not measured: it is packaged neither for Debian nor on npm, the registries "
        "this machine reaches."
    ]

    # Shutdown, by reaping, steward and supervisord interleaved.
    if have["supervisord"]:
        rows = []
        for count, ign in [(10, 0), (200, 0), (1000, 0), (500, 50)]:
            label = f"{count} workers" + (f", {ign} ignore TERM" if ign else "")
            mine, mine_exit, peer, peer_exit = Series(), Series(), Series(), Series()
            for run in range(min(bench.runs, 3)):
                a, b = steward_stop_by_reaping(bench, count, ign)
                mine.add(a)
                mine_exit.add(b)
                a, b = peers.supervisord_shutdown(count, ign)
                peer.add(a)
                peer_exit.add(b)
                bench.log(f"peers: stop {label}: run {run + 1}: reaped: steward {fmt_num(mine.values[-1])} s, "
                          f"supervisord {fmt_num(peer.values[-1])} s; exited: steward "
                          f"{fmt_num(mine_exit.values[-1])} s, supervisord {fmt_num(peer_exit.values[-1])} s")
            rows.append([label, _cell(mine), _cell(peer), _ratio_to(mine.median, peer),
                         _cell(mine_exit), _cell(peer_exit), _ratio_to(mine_exit.median, peer_exit)])
            bench.goals.append((f"peers: stop {label}, until every worker is reaped", "none set (shown)",
                                f"{fmt_num(mine.median)} s vs supervisord {fmt_num(peer.median)} s "
                                f"({_ratio_to(mine.median, peer)})", "no goal"))
        parts.append(
            "### Shutdown, until every worker is reaped\n\n"
            f"SIGTERM to the supervisor {STOP_SETTLE_S:g} s after every worker exec'd, timed until every "
            "worker it had has been reaped (gone from /proc; "
            "the supervisor's children list polled every 2 ms), and until the supervisor itself exited. "
            "supervisord: `stopwaitsecs=2`, `stopasgroup`, `killasgroup` (the same 2 s deadline and group "
            "signals as steward's `stop_timeout`); steward headless with aria2 disabled. steward and "
            "supervisord alternate, run by run. The reaping column is the like-for-like one: after its "
            "workers steward still stops aria2, removes each worker's TMPDIR and closes its store, and "
            "supervisord exits on its own timer.\n\n"
            + table(["case", "steward: reaped (s)", "supervisord: reaped (s)", "ratio", "steward: exited (s)",
                     "supervisord: exited (s)", "ratio"], rows)
            + "\n\nDoes not show: stopping workers that take time to exit on TERM (only the 50 that ignore "
            "it, killed at the deadline), or output still being written while they stop."
        )
    if have["pm2"]:
        kill = Series()
        for run in range(min(bench.runs, 3)):
            env, _ = peers.pm2(PM2_WORKERS)
            t0 = time.monotonic()
            peers.pm2_kill(env)
            kill.add(time.monotonic() - t0)
        parts.append(
            f"### pm2\n\n`pm2 kill` with {PM2_WORKERS} apps, from the CLI's start to its exit (pm2 stops "
            f"two apps at a time): {_cell(kill)} s. Not comparable with the rows above (the CLI's own start "
            "is in it), so no ratio."
        )
    bench.sections.append("\n\n".join(parts))


PM2_WORKERS = 200


def steward_stop_by_reaping(bench, n, ignoring):
    """steward headless with `n` workers (`ignoring` of them ignore TERM):
    SIGTERM, seconds until every worker is reaped and until steward exited."""
    d = bench.fresh(bench.shutdown_template(n, ignoring), "peers-stop")
    p = bench.start_and_wait(d, n)
    workers = [k for k in children(p.pid) if comm(k) == "sleep"]
    return timed_stop(p, workers, bench.reaper)
