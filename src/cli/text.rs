//! Text that came from outside (names, paths, URLs, worker lines, file names)
//! on its way to a terminal: control characters escaped, cells cut to a
//! width, table columns padded by hand. Every plain-text CLI output goes
//! through here; `--json` output is serde's job.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The widest table cell, in characters (the longest account name: a name
/// stored before the limit existed is cut, never allowed to break a table).
pub const CELL_MAX: usize = crate::accounts::id::NAME_MAX;

/// `s` with every control character (C0, DEL, C1: ESC, CSI, newline, ...)
/// written as a visible escape (`\u{1b}`), so no text can move the cursor,
/// recolour, retitle or clear the terminal, or fake a line of its own.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like [`escape`] for text of several lines: the newlines stay.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.split('\n').map(escape).collect::<Vec<_>>().join("\n"))
}

/// `println!` for plain-text output: the formatted line, control characters
/// escaped (newlines kept). `--json` output goes through [`json_line`]
/// (serde escapes).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::text::println(&format!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes to stdout. A closed stdout (`steward status | head`) is not an
/// error of steward's: the write is dropped, where `print!` would panic.
fn write_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Prints `text` (one or more lines) with its control characters escaped.
pub fn print(text: &str) {
    write_out(&escape_lines(text));
}

/// Prints one line with its control characters escaped.
pub fn println(line: &str) {
    write_out(&format!("{}\n", escape_lines(line)));
}

/// Prints one line of JSON (already escaped by serde) as it is.
pub fn json_line(json: &str) {
    write_out(&format!("{json}\n"));
}

/// Prints `value` as pretty JSON and a newline, streamed: with 3,000
/// accounts the text is about 4 MB, built and copied twice as one string.
/// Like [`write_out`], a failed write (a closed pipe) is not an error; only
/// an encoding failure is.
pub fn json_stream(value: &impl serde::Serialize) -> Result<(), serde_json::Error> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .and_then(|()| out.write_all(b"\n").map_err(serde_json::Error::io));
    let _ = out.flush();
    match written {
        Err(e) if !e.is_io() => Err(e),
        _ => Ok(()),
    }
}

/// Prints compact JSON (as serde_json writes it) laid out the way
/// [`json_stream`] would print the same value: two-space indent, `": "`,
/// empty containers as `{}` / `[]`, strings copied as they are (already
/// escaped by serde), then a newline. A failed write is not an error.
pub fn json_reindent(compact: &[u8]) {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let _ = reindent(compact, &mut out)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

fn reindent(json: &[u8], out: &mut impl std::io::Write) -> std::io::Result<()> {
    let newline = |out: &mut dyn std::io::Write, depth: usize| -> std::io::Result<()> {
        out.write_all(b"\n")?;
        (0..depth).try_for_each(|_| out.write_all(b"  "))
    };
    let (mut i, mut depth) = (0, 0);
    while i < json.len() {
        let c = json[i];
        match c {
            b'"' => {
                let start = i;
                i += 1;
                while i < json.len() {
                    match json[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i = (i + 1).min(json.len());
                out.write_all(&json[start..i])?;
                continue;
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                let next = json[i + 1..].iter().position(|b| !b.is_ascii_whitespace());
                if next.is_some_and(|n| json[i + 1 + n] == close) {
                    out.write_all(&[c, close])?;
                    i += next.map_or(0, |n| n + 2);
                    continue;
                }
                depth += 1;
                out.write_all(&[c])?;
                newline(out, depth)?;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth)?;
                out.write_all(&[c])?;
            }
            b',' => {
                out.write_all(b",")?;
                newline(out, depth)?;
            }
            b':' => out.write_all(b": ")?,
            c if c.is_ascii_whitespace() => {}
            _ => {
                // A number, `true`, `false` or `null`: up to the next structural byte.
                let end = json[i..]
                    .iter()
                    .position(|b| b"{}[],:\" ".contains(b) || b.is_ascii_whitespace())
                    .map_or(json.len(), |n| i + n);
                out.write_all(&json[i..end])?;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    Ok(())
}

/// A table cell: escaped and cut to [`CELL_MAX`] characters (`…` marks the cut).
pub fn cell(s: &str) -> String {
    let s = escape(s);
    if s.chars().count() <= CELL_MAX {
        return s.into_owned();
    }
    let mut cut: String = s.chars().take(CELL_MAX - 1).collect();
    cut.push('…');
    cut
}

/// Rows of cells as aligned columns, two spaces apart, each line trimmed at
/// the end. Pads by hand: a `{:<w$}` width past 65535 panics.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cells: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| cell(h)).collect())
        .chain(rows.iter().map(|row| row.iter().map(|c| cell(c)).collect()))
        .collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            cells
                .iter()
                .filter_map(|row| row.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (c, w) in row.iter().zip(&widths) {
            let _ = write!(line, "{c}");
            line.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reindented_compact_json_is_what_serde_prints_pretty() {
        let value = serde_json::json!({
            "a": [1, -2.5e-7, true, null, [], {}, [[]], {"k": {}}],
            "s": "quote \" back \\ brace { } [ ] , : \u{0001} é",
            "e": {"x": [], "y": [{"z": "w"}], "n": 0},
            "": ""
        });
        let mut out = Vec::new();
        reindent(serde_json::to_string(&value).unwrap().as_bytes(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escape("plain é 🚀"), "plain é 🚀");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny\tz\u{9b}\u{7f}"), "x\\ny\\tz\\u{9b}\\u{7f}");
        assert_eq!(
            escape_lines("one\u{1b}]0;t\u{7}\ntwo\n"),
            "one\\u{1b}]0;t\\u{7}\ntwo\n"
        );
    }

    #[test]
    fn tables_cope_with_any_width_and_cut_long_cells() {
        let long = "n".repeat(70_000);
        let text = table(
            &["ID", "NAME"],
            &[
                vec!["a".into(), long],
                vec!["bb".into(), "x\u{1b}[31m".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "ID  NAME");
        assert!(lines[1].starts_with("a   nnn"));
        assert_eq!(lines[1].chars().count(), 4 + CELL_MAX);
        assert!(lines[1].ends_with('…'));
        assert_eq!(lines[2], "bb  x\\u{1b}[31m");
    }
}
