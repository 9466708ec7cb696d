#!/usr/bin/env python3
"""Makes assets/dashboard.svg and assets/dashboard.cast from the real binary.

It starts a steward with 20 demo accounts (the built-in demo worker, two
accounts disabled) on a fresh data dir outside the repo, inside a private tmux server at
120x36, waits until every enabled worker runs and shows its figures, renders
`tmux capture-pane -e` of the Accounts pane to SVG (the small renderer below:
cells, 256 colours and true colour, bold, dim, italic, underline, reverse),
then presses 2, 3, 5, ?, Esc, 1 while capturing a frame every 200 ms into an
asciinema v2 cast. Then it stops steward in order (`steward stop`, forced if
that fails), ends the tmux server and removes the data dir, on every exit
path (an error, Ctrl+C, SIGTERM or SIGHUP included).

Run as root, steward runs as `nobody` (setpriv), as a dedicated user should:
the picture then shows the dashboard an operator sees, without the warning
about running as root.

Usage: python3 assets/make-pictures.py [--binary PATH] [--out-dir DIR]
Without --binary it builds `cargo build --release --bin steward` first.
Needs Python 3 (stdlib only) and tmux. What differs between two runs is only
what the product shows live: pids, ports, clock times in the Logs pane,
figures such as rss, any other aria2c on the machine, and in the cast the
frame a live update (a new log line) lands in.
"""

import argparse
import html
import json
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 120, 36
# A fixed path, so the header (which shows the data dir) is the same in every
# run; created with mkdir, so a leftover or someone else's dir is never reused.
DATA_DIR = Path("/tmp/steward-demo")
FRAME_EVERY = 0.2
# (id, display name, enabled): a small fleet, two accounts switched off.
ACCOUNTS = [
    ("alice", "Support desk", True),
    ("bob", "EU shop", True),
    ("carol", "Newsletter", True),
    ("dave", "Price watch", True),
    ("erin", "Backups", True),
    ("frank", "On holiday", False),
    ("grace", "Media bot", True),
    ("heidi", "Order sync", True),
    ("ivan", "Invoices", True),
    ("judy", "Reviews", True),
    ("mallory", "Fraud checks", True),
    ("niaj", "Stock alerts", True),
    ("olivia", "Catalogue", True),
    ("peggy", "Returns", False),
    ("rupert", "Courier feed", True),
    ("sybil", "Translations", True),
    ("trent", "Reports", True),
    ("victor", "Promotions", True),
    ("walter", "Archive", True),
    ("zoe", "Community", True),
]
# (key for tmux send-keys, seconds shown after it) for the recording.
KEYS = [(None, 1.6), ("2", 1.4), ("3", 1.6), ("5", 1.8), ("?", 1.8), ("Escape", 1.0), ("1", 1.2)]


class Stop(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived: unwind through the cleanup."""


def on_signal(signum, _frame):
    raise Stop(f"signal {signum}")


def run(argv, check=True, timeout=60, **kw):
    return subprocess.run(argv, check=check, timeout=timeout, text=True, capture_output=True, **kw)


class Demo:
    """Everything the script starts, so `close` can stop all of it."""

    def __init__(self, binary: Path):
        self.binary = binary
        self.socket = f"steward-pictures-{os.getpid()}"
        self.bin_dir = None  # a copy of the binary `nobody` can run, when root
        self.made_data_dir = False
        self.started = False
        self.pid = None
        self.as_user = []
        self.env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")}
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            self.uid, self.gid = user.pw_uid, user.pw_gid
            self.as_user = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
            self.env["HOME"] = user.pw_dir
            self.env["USER"] = self.env["LOGNAME"] = user.pw_name

    def steward(self, *args):
        return [*self.as_user, str(self.binary), "--data-dir", str(DATA_DIR), *args]

    def tmux(self, *args, check=True):
        return run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], check=check, env=self.env)

    def start(self):
        if self.as_user:
            # The binary may sit where `nobody` cannot reach (a home dir).
            self.bin_dir = Path(tempfile.mkdtemp(prefix="steward-pictures-"))
            os.chmod(self.bin_dir, 0o755)
            copy = self.bin_dir / "steward"
            shutil.copy2(self.binary, copy)
            os.chmod(copy, 0o755)
            self.binary = copy
        try:
            DATA_DIR.mkdir(mode=0o700)
        except FileExistsError:
            sys.exit(f"make-pictures: {DATA_DIR} exists (another run, or a leftover: remove it)")
        self.made_data_dir = True
        # A backstop: should `steward stop` miss it, the hang-up of ending
        # tmux shuts it down instead of leaving it running headless. Written
        # while the dir is still root's, so nothing can swap in a symlink.
        config = DATA_DIR / "steward.toml"
        config.write_text('[ui]\non_hangup = "shutdown"\n')
        if self.as_user:
            os.chown(config, self.uid, self.gid)
            os.chown(DATA_DIR, self.uid, self.gid)
        for account, name, enabled in ACCOUNTS:
            extra = [] if enabled else ["--disabled"]
            run(self.steward("account", "add", account, "--name", name, *extra), env=self.env)
        command = shlex.join(self.steward())
        self.started = True
        self.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", "demo", command)
        # setpriv execs steward, so the pane's process is steward itself.
        self.pid = int(self.tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").stdout)

    def alive(self) -> bool:
        """Whether the pane's steward still runs (a zombie counts as gone)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except (OSError, TypeError):
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def capture(self) -> str:
        return self.tmux("capture-pane", "-e", "-p", "-t", "demo").stdout

    def keys(self, key):
        self.tmux("send-keys", "-t", "demo", key)

    def close(self):
        """Each step runs whatever the one before did: a stop that times out
        still ends the tmux server and removes the dirs."""
        if self.started:
            try:
                stop = run(self.steward("stop"), check=False, timeout=90, env=self.env)
                if stop.returncode != 0 and self.alive():
                    run(self.steward("stop", "--force"), check=False, timeout=60, env=self.env)
            except subprocess.TimeoutExpired:
                print("make-pictures: steward stop timed out", file=sys.stderr)
            # Its hang-up also shuts down (on_hangup = "shutdown") a steward
            # that `stop` could not reach yet, e.g. one still starting.
            self.tmux("kill-server", check=False)
            if self.pid is not None:
                try:
                    wait_until("steward to exit", lambda: not self.alive(), deadline=30)
                except RuntimeError:
                    print(f"make-pictures: steward pid {self.pid} did not exit: SIGKILL", file=sys.stderr)
                    os.kill(self.pid, signal.SIGKILL)
        if self.made_data_dir:
            shutil.rmtree(DATA_DIR, ignore_errors=True)
        if self.bin_dir:
            shutil.rmtree(self.bin_dir, ignore_errors=True)


def wait_until(what, check, deadline=60.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def settled(demo: Demo):
    """The Accounts pane once every enabled worker runs and shows its RSS,
    and the temp walk has counted the workers' scratch files."""
    screen = demo.capture()
    rows = parse(screen)
    text = ["".join(c.ch for c in row) for row in rows]
    enabled = [a for a, _, on in ACCOUNTS if on]
    header = f"accounts {len(enabled)}/{len(ACCOUNTS)} running"
    if not any(header in line for line in text[:3]) or any("temp 0 B" in line for line in text[:3]):
        return None
    for account in enabled:
        line = next((l for l in text if f" {account} " in l and "running" in l), "")
        if "MiB" not in line and "KiB" not in line:
            return None
    return screen


# ---------------------------------------------------------------------------
# ANSI (as tmux capture-pane -e writes it) to a grid of cells

class Style:
    __slots__ = ("fg", "bg", "bold", "dim", "italic", "underline", "reverse")

    def __init__(self):
        self.fg = self.bg = None  # None, ("i", index) or ("rgb", r, g, b)
        self.bold = self.dim = self.italic = self.underline = self.reverse = False

    def copy(self):
        s = Style()
        for k in Style.__slots__:
            setattr(s, k, getattr(self, k))
        return s

    def key(self):
        return tuple(getattr(self, k) for k in Style.__slots__)


class Cell:
    __slots__ = ("ch", "style", "wide")

    def __init__(self, ch, style, wide=False):
        self.ch, self.style, self.wide = ch, style, wide


def sgr(style: Style, params: list):
    i = 0
    params = params or [0]
    while i < len(params):
        p = params[i]
        if p == 0:
            style.__init__()
        elif p == 1:
            style.bold = True
        elif p == 2:
            style.dim = True
        elif p == 3:
            style.italic = True
        elif p == 4:
            style.underline = True
        elif p == 7:
            style.reverse = True
        elif p == 22:
            style.bold = style.dim = False
        elif p == 23:
            style.italic = False
        elif p == 24:
            style.underline = False
        elif p == 27:
            style.reverse = False
        elif 30 <= p <= 37:
            style.fg = ("i", p - 30)
        elif 90 <= p <= 97:
            style.fg = ("i", p - 90 + 8)
        elif 40 <= p <= 47:
            style.bg = ("i", p - 40)
        elif 100 <= p <= 107:
            style.bg = ("i", p - 100 + 8)
        elif p == 39:
            style.fg = None
        elif p == 49:
            style.bg = None
        elif p in (38, 48):
            colour = None
            if params[i + 1 : i + 2] == [5] and i + 2 < len(params):
                colour, i = ("i", params[i + 2]), i + 2
            elif params[i + 1 : i + 2] == [2] and i + 4 < len(params):
                colour, i = ("rgb", *params[i + 2 : i + 5]), i + 4
            if p == 38:
                style.fg = colour
            else:
                style.bg = colour
        i += 1


def parse(text: str):
    rows = []
    for line in text.split("\n")[:HEIGHT]:
        style, row, i = Style(), [], 0
        while i < len(line):
            c = line[i]
            if c == "\x1b" and line[i + 1 : i + 2] == "[":
                j = i + 2
                while j < len(line) and not ("@" <= line[j] <= "~"):
                    j += 1
                if line[j : j + 1] == "m":
                    body = line[i + 2 : j].replace(":", ";")
                    sgr(style, [int(x) if x else 0 for x in body.split(";")] if body else [])
                i = j + 1
                continue
            if unicodedata.combining(c) and row:
                row[-1].ch += c
            elif unicodedata.east_asian_width(c) in ("W", "F"):
                row.append(Cell(c, style.copy(), wide=True))
                row.append(Cell("", style.copy()))
            else:
                row.append(Cell(c, style.copy()))
            i += 1
        row = row[:WIDTH]
        row += [Cell(" ", Style()) for _ in range(WIDTH - len(row))]
        rows.append(row)
    while len(rows) < HEIGHT:
        rows.append([Cell(" ", Style()) for _ in range(WIDTH)])
    return rows


# ---------------------------------------------------------------------------
# Colours

BACKGROUND, FOREGROUND = "#1b1d23", "#d4d4d4"
BASE16 = [
    "#1b1d23", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#d4d4d4",
    "#5c6370", "#ff7b86", "#b5e890", "#ffd68a", "#7cc4ff", "#de93f0", "#6fd3de", "#ffffff",
]


def palette(n: int) -> str:
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    grey = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (grey, grey, grey)


def colour(c, default):
    if c is None:
        return default
    if c[0] == "i":
        return palette(c[1])
    return "#%02x%02x%02x" % tuple(c[1:4])


def colours(style: Style):
    fg = colour(style.fg, FOREGROUND)
    # Bold with a base colour brightens it, as most terminals do.
    if style.bold and style.fg and style.fg[0] == "i" and style.fg[1] < 8:
        fg = palette(style.fg[1] + 8)
    bg = colour(style.bg, BACKGROUND)
    if style.reverse:
        fg, bg = bg, fg
    return fg, bg


# ---------------------------------------------------------------------------
# SVG

CELL_W, CELL_H, FONT, PAD = 8.4, 18, 14, 14

# Light box-drawing characters, drawn as lines rather than glyphs, so borders
# join up whatever font the viewer has: (left, right, up, down) arms.
BOX = {
    "─": (1, 1, 0, 0), "│": (0, 0, 1, 1),
    "┌": (0, 1, 0, 1), "╭": (0, 1, 0, 1), "┐": (1, 0, 0, 1), "╮": (1, 0, 0, 1),
    "└": (0, 1, 1, 0), "╰": (0, 1, 1, 0), "┘": (1, 0, 1, 0), "╯": (1, 0, 1, 0),
    "├": (0, 1, 1, 1), "┤": (1, 0, 1, 1), "┬": (1, 1, 0, 1), "┴": (1, 1, 1, 0),
    "┼": (1, 1, 1, 1),
}


def glyph(cell: Cell) -> str:
    """What the text layer writes for a cell: drawn box characters are blank there."""
    return " " if cell.ch in BOX else cell.ch


def box_paths(rows) -> list:
    """One <path> per colour. Each cell has two halves per direction (the
    arms); consecutive arms of one colour merge into one line. Coordinates
    are in half cells."""
    segments = {}  # colour -> [((x1, y1), (x2, y2))]

    def merge(halves, line):
        # halves: colour or None per half-cell along one row or column.
        start = None
        for i in range(len(halves) + 1):
            here = halves[i] if i < len(halves) else None
            if start is not None and here != halves[start]:
                segments.setdefault(halves[start], []).append(line(start, i))
                start = None
            if here is not None and start is None:
                start = i

    for y, row in enumerate(rows):
        halves = []
        for cell in row:
            arms = BOX.get(cell.ch, (0, 0, 0, 0))
            fg = colours(cell.style)[0]
            halves += [fg if arms[0] else None, fg if arms[1] else None]
        merge(halves, lambda a, b, y=y: ((a, 2 * y + 1), (b, 2 * y + 1)))
    for x in range(WIDTH):
        halves = []
        for row in rows:
            arms = BOX.get(row[x].ch, (0, 0, 0, 0))
            fg = colours(row[x].style)[0]
            halves += [fg if arms[2] else None, fg if arms[3] else None]
        merge(halves, lambda a, b, x=x: ((2 * x + 1, a), (2 * x + 1, b)))
    paths = []
    for fg, segs in segments.items():
        d = "".join(
            f"M{PAD + a[0] * CELL_W / 2:g} {PAD + a[1] * CELL_H / 2:g}"
            f"L{PAD + b[0] * CELL_W / 2:g} {PAD + b[1] * CELL_H / 2:g}"
            for a, b in segs
        )
        paths.append(f'<path d="{d}" stroke="{fg}" stroke-width="1" fill="none"/>')
    return paths


def svg(rows) -> str:
    w, h = WIDTH * CELL_W + 2 * PAD, HEIGHT * CELL_H + 2 * PAD
    classes = {}

    def klass(fg, style):
        key = (fg, style.bold, style.dim, style.italic, style.underline)
        if key not in classes:
            classes[key] = f"c{len(classes)}"
        return classes[key]

    rects, texts = [], []
    for y, row in enumerate(rows):
        top = PAD + y * CELL_H
        # Backgrounds: runs of one colour other than the window's.
        x = 0
        while x < WIDTH:
            bg = colours(row[x].style)[1]
            end = x
            while end < WIDTH and colours(row[end].style)[1] == bg:
                end += 1
            if bg != BACKGROUND:
                rects.append(
                    f'<rect x="{PAD + x * CELL_W:g}" y="{top}" width="{(end - x) * CELL_W:g}" '
                    f'height="{CELL_H}" fill="{bg}"/>'
                )
            x = end
        # Text: runs of one look, spaces inside a run kept, blank runs skipped.
        x = 0
        while x < WIDTH:
            fg = colours(row[x].style)[0]
            k = klass(fg, row[x].style)
            end = x
            while end < WIDTH and klass(colours(row[end].style)[0], row[end].style) == k:
                end += 1
            first, last = x, end
            while first < last and glyph(row[first]) == " ":
                first += 1
            while last > first and glyph(row[last - 1]) == " ":
                last -= 1
            if first < last:
                # A wide character's second cell holds "": the run still spans it.
                body = "".join(glyph(c) for c in row[first:last])
                texts.append(
                    f'<text x="{PAD + first * CELL_W:g}" y="{top + CELL_H * 0.75:g}" class="{k}" '
                    f'textLength="{(last - first) * CELL_W:g}" lengthAdjust="spacingAndGlyphs">'
                    f"{html.escape(body, quote=False)}</text>"
                )
            x = end
    css = [
        f"text{{font-family:'DejaVu Sans Mono','Menlo','Consolas','Liberation Mono',monospace;"
        f"font-size:{FONT}px;white-space:pre}}"
    ]
    for (fg, bold, dim, italic, underline), name in classes.items():
        rules = [f"fill:{fg}"]
        if bold:
            rules.append("font-weight:bold")
        if dim:
            rules.append("opacity:.6")
        if italic:
            rules.append("font-style:italic")
        if underline:
            rules.append("text-decoration:underline")
        css.append(f".{name}{{{';'.join(rules)}}}")
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:g}" height="{h:g}" '
            f'viewBox="0 0 {w:g} {h:g}" xml:space="preserve">',
            "<title>steward dashboard</title>",
            "<style>" + "".join(css) + "</style>",
            f'<rect width="{w:g}" height="{h:g}" rx="8" fill="{BACKGROUND}"/>',
            *rects,
            *box_paths(rows),
            *texts,
            "</svg>",
            "",
        ]
    )


# ---------------------------------------------------------------------------
# asciinema v2

def ansi(rows) -> str:
    """The grid again as ANSI, one SGR per change of look: the frame of a cast event."""
    plain = Style().key()
    out = ["\x1b[2J\x1b[H"]
    for y, row in enumerate(rows):
        # Trailing blanks of the default look are left out: the screen is clear.
        end = len(row)
        while end > 0 and row[end - 1].ch in (" ", "") and row[end - 1].style.key() == plain:
            end -= 1
        look, line = plain, []
        for cell in row[:end]:
            if not cell.ch:
                continue
            if cell.style.key() != look:
                line.append(sgr_of(cell.style))
                look = cell.style.key()
            line.append(cell.ch)
        if look != plain:
            line.append("\x1b[0m")
        out.append("".join(line))
        if y + 1 < len(rows):
            out.append("\r\n")
    return "".join(out)


def sgr_of(style: Style) -> str:
    codes = ["0"]
    for on, code in ((style.bold, "1"), (style.dim, "2"), (style.italic, "3"),
                     (style.underline, "4"), (style.reverse, "7")):
        if on:
            codes.append(code)
    for c, base in ((style.fg, 38), (style.bg, 48)):
        if c is None:
            continue
        if c[0] == "i":
            codes.append(f"{base};5;{c[1]}")
        else:
            codes.append(f"{base};2;{c[1]};{c[2]};{c[3]}")
    return "\x1b[" + ";".join(codes) + "m"


def record(demo: Demo):
    """Frames every FRAME_EVERY seconds while KEYS are pressed. Times are the
    nominal schedule (frame number x interval), and each key's effect is
    waited for before its first frame, so two runs give the same timeline;
    a frame equal to the one before is left out."""
    events, previous, n = [], None, 0
    for key, hold in KEYS:
        if key is not None:
            demo.keys(key)
            wait_until(f"the screen to answer {key}", lambda: ansi(parse(demo.capture())) != previous, 10)
        for _ in range(round(hold / FRAME_EVERY)):
            due = time.monotonic() + FRAME_EVERY
            frame = ansi(parse(demo.capture()))
            if frame != previous:
                events.append([round(n * FRAME_EVERY, 3), "o", frame])
                previous = frame
            n += 1
            time.sleep(max(0.0, due - time.monotonic()))
    header = {
        "version": 2,
        "width": WIDTH,
        "height": HEIGHT,
        "title": "steward: the dashboard (Accounts, Tasks, Aria2, Logs, help)",
        "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
    }
    # The last frame stays up a moment before the player ends.
    events.append([round(n * FRAME_EVERY, 3), "o", ""])
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps(e, ensure_ascii=False) for e in events]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, help="steward binary (default: build target/release/steward)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "assets")
    args = parser.parse_args()
    for tool in ("tmux",):
        if not shutil.which(tool):
            sys.exit(f"make-pictures: {tool} is not on PATH (apt-get install -y {tool})")
    binary = args.binary
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--bin", "steward"], cwd=REPO, check=True)
        binary = REPO / "target" / "release" / "steward"
    binary = binary.resolve()

    # Ctrl+C too: a shell may have started the script with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    demo = Demo(binary)
    try:
        demo.start()
        screen = wait_until("every enabled worker running with its figures", lambda: settled(demo))
        svg_text = svg(parse(screen))
        cast = record(demo)
    finally:
        # No second signal may cut the cleanup short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.close()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "dashboard.svg").write_text(svg_text)
    (args.out_dir / "dashboard.cast").write_text(cast)
    print(f"wrote {args.out_dir / 'dashboard.svg'} ({len(svg_text.encode()) // 1024} KiB) "
          f"and {args.out_dir / 'dashboard.cast'} ({cast.count(chr(10)) - 1} events)")


if __name__ == "__main__":
    try:
        main()
    except Stop as e:
        sys.exit(f"make-pictures: stopped by {e}; everything it started is stopped")
    except subprocess.CalledProcessError as e:
        said = (e.stderr or e.stdout or "").strip()
        sys.exit(f"make-pictures: {' '.join(map(str, e.cmd))} exited {e.returncode}: {said}")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        sys.exit(f"make-pictures: {e}; everything it started is stopped")
