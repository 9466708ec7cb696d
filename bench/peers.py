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
import shutil
import signal
import subprocess
import time

from common import (
    CLK_TCK,
    Series,
    alive,
    children,
    cpu_ticks,
    exec_children,
    fmt_num,
    fmt_series,
    ratio,
    rss_bytes,
    reap_all,
    spawn_groups,
    table,
    wait_until,
)
from tui_pty import COLUMNS, ROWS, Tui

# The sleep every peer supervises or shows, the same as steward's workers.
SLEEP = ["sleep", "86400"]
IGNORE_TERM = ["sh", "-c", "trap '' TERM; exec sleep 86400"]


def mprocs_binary():
    """npm's mprocs is a node wrapper around a static binary: measure the binary."""
    found = glob.glob("/usr/lib/node_modules/mprocs/mprocs-*-linux-x86_64*/mprocs") + glob.glob(
        "/usr/local/lib/node_modules/mprocs/mprocs-*-linux-x86_64*/mprocs"
    )
    return found[0] if found else shutil.which("mprocs")


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


class Peers:
    """Runs the peers with the bench's reaper, runs per figure and idle window."""

    def __init__(self, bench):
        self.bench = bench
        self.reaper = bench.reaper
        self.runs = bench.runs
        self.window = bench.args.idle_seconds
        self.settle = bench.args.settle

    def idle_window(self, pid):
        """CPU % of one core and RSS (MB) of `pid` over the idle window."""
        time.sleep(self.settle)
        t0, c0 = time.monotonic(), cpu_ticks(pid)
        time.sleep(self.window)
        t1, c1 = time.monotonic(), cpu_ticks(pid)
        rss, _ = rss_bytes(pid)
        if c0 is None or c1 is None or rss is None:
            return None, None
        return (c1 - c0) / CLK_TCK / (t1 - t0) * 100, rss / 1e6

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

    def supervisord_idle(self, n):
        cpu, rss = Series(), Series()
        for run in range(self.runs):
            p = self.supervisord(n)
            c, r = self.idle_window(p.pid)
            self.stop(p)
            cpu.add(c)
            rss.add(r)
            self.bench.log(f"peers: supervisord idle {n}: run {run + 1}: cpu {c} %, rss {r} MB")
        return cpu, rss

    def supervisord_shutdown(self, n, ignoring):
        """SIGTERM to supervisord until it exited, having stopped every child."""
        took = Series()
        for run in range(self.runs):
            p = self.supervisord(n, ignoring)
            kids = children(p.pid)
            time.sleep(0.5)
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            p.wait()
            took.add(time.monotonic() - t0)
            left = [k for k in kids if alive(k)]
            self.reaper.stewards.remove(p)
            self.reaper.kill_marked()
            self.bench.log(f"peers: supervisord shutdown {n}/{ignoring}: run {run + 1}: {took.values[-1]:.3f} s"
                           + (f", {len(left)} children outlived it" if left else ""))
        return took

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

    def pm2_idle(self, n):
        cpu, rss, kill = Series(), Series(), Series()
        for run in range(self.runs):
            env, pid = self.pm2(n)
            c, r = self.idle_window(pid)
            t0 = time.monotonic()
            self.pm2_kill(env)
            kill.add(time.monotonic() - t0)
            cpu.add(c)
            rss.add(r)
            self.bench.log(f"peers: pm2 idle {n}: run {run + 1}: cpu {c} %, rss {r} MB, kill {kill.values[-1]:.2f} s")
        return cpu, rss, kill

    # ------------------------------------------------------------ TUIs in a pty

    def pty_idle(self, name, argv, mark, env=None, processes=1000):
        """Output (B/s), CPU % and RSS (MB) of a terminal program in the same
        120x40 pty as steward's TUI, with `processes` sleeps on the machine
        (steward's TUI bench has 1000 workers)."""
        bps, cpu, rss = Series(), Series(), Series()
        for run in range(self.runs):
            pids = spawn_groups(self.reaper, SLEEP, processes) if processes else []
            tui = Tui(argv, mark, env=env)
            try:
                tui.wait_quiet(0.5, max(self.settle, 3))
                t0, c0 = time.monotonic(), cpu_ticks(tui.pid)
                written = tui.pump_until(t0 + self.window)
                t1, c1 = time.monotonic(), cpu_ticks(tui.pid)
                r, _ = rss_bytes(tui.pid)
                if tui.alive() and c0 is not None and c1 is not None and r is not None:
                    bps.add(written / (t1 - t0))
                    cpu.add((c1 - c0) / CLK_TCK / (t1 - t0) * 100)
                    rss.add(r / 1e6)
                    self.bench.log(f"peers: {name}: run {run + 1}: {bps.values[-1]:.0f} B/s, "
                                   f"cpu {cpu.values[-1]:.3f} %, rss {rss.values[-1]:.1f} MB")
                else:
                    self.bench.log(f"peers: {name} exited early: {tui.tail[-300:]!r}")
            finally:
                tui.stop()
                for pid in pids:
                    os.killpg(pid, signal.SIGKILL)
                reap_all(self.reaper, pids)
        return bps, cpu, rss

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


def peers_section(bench):
    """Measures every installed peer and appends the section to `bench`."""
    peers = Peers(bench)
    have = {name: shutil.which(name) for name in ("supervisord", "pm2", "htop", "btop")}
    have["mprocs"] = mprocs_binary()
    missing = sorted(name for name, path in have.items() if not path)
    versions = {
        "supervisord": have["supervisord"] and version(["supervisord", "--version"]),
        "pm2": have["pm2"] and version(["pm2", "--version"]),
        "htop": have["htop"] and version(["htop", "--version"]),
        "btop": have["btop"] and version(["btop", "--version"]),
        "mprocs": have["mprocs"] and version([have["mprocs"], "--version"]),
    }
    parts = [
        "## Peers, measured in the same run\n\n"
        "The peers issue 7 names, on this machine, right after steward's own scenarios, with the "
        f"same runs ({bench.runs}), settle ({bench.args.settle:g} s) and idle window "
        f"({bench.args.idle_seconds:g} s); ratio = steward ÷ peer, medians. Installed: "
        + (", ".join(f"{n} ({v})" for n, v in versions.items() if v) or "none")
        + ". "
        + (f"Not installed, so not measured: {', '.join(missing)} (`bench/install-peers.sh`)." if missing else "")
    ]

    # Idle supervisors, 200 sleeping children, as scenario 1's goal.
    n = 200
    rows = []
    s_cpu, s_rss = bench.figures.get(("idle", n), (Series(), Series()))
    rows.append(["steward run --headless (aria2 on)", _cell(s_cpu, " %"), _cell(s_rss, " MB"), "", ""])
    if have["supervisord"]:
        cpu, rss = peers.supervisord_idle(n)
        rows.append([f"supervisord ({n} programs)", _cell(cpu, " %"), _cell(rss, " MB"),
                     _ratio_to(s_cpu.median, cpu), _ratio_to(s_rss.median, rss)])
    pm2_kill = None
    if have["pm2"]:
        cpu, rss, pm2_kill = peers.pm2_idle(n)
        rows.append([f"pm2 God daemon ({n} apps)", _cell(cpu, " %"), _cell(rss, " MB"),
                     _ratio_to(s_cpu.median, cpu), _ratio_to(s_rss.median, rss)])
    parts.append(
        f"### Idle with {n} sleeping workers\n\n"
        "CPU = utime+stime of the supervising process over the window (pm2: its daemon, not the CLI); "
        "RSS at the end of it. supervisord captures each child's output to log files (its default), "
        "as steward captures its workers'. steward's row is scenario 1 of this run"
        + ("" if s_cpu else " (not run this time)")
        + ".\n\n"
        + table(["", "CPU % of one core", "RSS", "CPU ratio", "RSS ratio"], rows)
    )

    # TUIs in the same pty, with as many processes on the machine as steward's TUI has workers.
    n = 1000
    tui = (bench.figures.get("tui") or {}).get(n, {})
    rows = [["steward (Accounts pane, 1000 accounts)",
             fmt_num(tui.get("idle_bps")), fmt_num(tui.get("cpu_pct")), fmt_num(tui.get("rss_mb")), "", ""]]
    home = os.path.join(bench.root, "peer-home")
    pty_peers = [
        ("htop", [have["htop"]] if have["htop"] else None, n),
        ("btop", [have["btop"]] if have["btop"] else None, n),
    ]
    mprocs_dir = None
    if have["mprocs"]:
        mprocs_dir, cfg = peers.mprocs_config(n)
        pty_peers.append(("mprocs", [have["mprocs"], "--config", cfg], 0))
    for name, argv, extra in pty_peers:
        if not argv:
            continue
        bps, cpu, rss = peers.pty_idle(name, argv, home, env=pty_env(home), processes=extra)
        rows.append([name + (" (1000 procs of its own)" if name == "mprocs" else ""),
                     _cell(bps), _cell(cpu, " %"), _cell(rss, " MB"),
                     _ratio_to(tui.get("idle_bps"), bps) if tui.get("idle_bps") else "—",
                     _ratio_to(tui.get("cpu_pct"), cpu)])
    if mprocs_dir:
        shutil.rmtree(mprocs_dir, ignore_errors=True)
    parts.append(
        f"### Terminal dashboards at idle, {COLUMNS}x{ROWS} pty, {n} processes\n\n"
        f"Each in the same pty as steward's TUI (TERM=xterm-256color, a fresh HOME so no user config), "
        f"with {n} `sleep` processes on the machine (htop and btop list them; mprocs supervises {n} of "
        "its own). Output = bytes written to the pty over the window after the screen first went quiet. "
        "steward's row is the 1000-account TUI run of this bench"
        + ("" if tui else " (not run this time)")
        + ".\n\n"
        + table(["", "idle output (B/s)", "CPU % of one core", "RSS", "output ratio", "CPU ratio"], rows)
    )

    # Shutdown: the same cases as scenario 5.
    if have["supervisord"] or pm2_kill:
        rows = []
        for count, ign in [(10, 0), (100, 0), (500, 0), (500, 50)]:
            label = f"{count} workers" + (f", {ign} ignore TERM" if ign else "")
            mine = bench.figures.get(("shutdown", count, ign), Series())
            peer = peers.supervisord_shutdown(count, ign) if have["supervisord"] else Series()
            rows.append([label, _cell(mine), _cell(peer), _ratio_to(mine.median, peer)])
        if pm2_kill:
            rows.append(["200 workers: `pm2 kill` (CLI start included)", "—", _cell(pm2_kill), "—"])
        parts.append(
            "### Shutdown\n\n"
            "supervisord: SIGTERM to it until it exited, having stopped every child (`stopwaitsecs=2`, "
            "`stopasgroup`, `killasgroup`: the same 2 s deadline and group signals as steward). steward's "
            "column is scenario 5 of this run.\n\n"
            + table(["case", "steward (s)", "supervisord (s)", "ratio"], rows)
        )
    bench.sections.append("\n\n".join(parts))
