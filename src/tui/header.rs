//! The two header lines: who and where (version, embedded or attached, pid, uptime at minute
//! granularity, data dir), then the counts and the host (load, memory, free
//! space), and warnings about an unclean previous run, running as root or
//! low disk space.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::{LastShutdown, Snapshot};
use crate::time;

use super::format;
use super::link::Attachment;
use super::theme::Theme;

pub fn render(
    frame: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    attachment: Attachment,
    now_ms: i64,
    theme: &Theme,
) {
    let instance = &snapshot.instance;
    let mut first = vec![Span::styled(
        format!("steward {}", instance.version),
        theme.accent(),
    )];
    // Which dashboard this is decides what q does: say it where the pid is.
    match attachment {
        Attachment::Embedded => {
            first.push(Span::raw(format!(" · embedded · pid {}", instance.pid)))
        }
        Attachment::Attached { read_only } => {
            first.push(Span::styled(
                format!(" · attached to pid {}", instance.pid),
                theme.accent(),
            ));
            if read_only {
                first.push(Span::styled(" · read-only", theme.warn()));
            }
        }
    }
    // Right after who and where, before anything else: it fits 80 columns
    // there, and it asks for action.
    if let Some(host) = snapshot.host.as_ref().filter(|h| h.low_space) {
        let left = host
            .filesystems
            .iter()
            .filter(|f| f.holds.iter().any(|r| r == "downloads" || r == "temp"))
            .map(|f| f.available_bytes)
            .min()
            .unwrap_or(0);
        first.push(Span::styled(
            format!(
                " · ⚠ disk low: {} free, downloads paused",
                format::short_bytes(left)
            ),
            theme.error(),
        ));
    }
    first.push(Span::raw(format!(
        " · up {}",
        format::coarse_age(instance.started_ms, now_ms)
    )));
    if !instance.live {
        first.push(Span::styled(" · not live", theme.warn()));
    }
    // Before the data dir, which is the first thing cut on a narrow screen.
    match snapshot.last_shutdown {
        Some(LastShutdown::Crashed) => {
            first.push(Span::styled(" · ⚠ last run crashed", theme.error()));
        }
        Some(LastShutdown::Forced) => {
            first.push(Span::styled(" · ⚠ last run was forced", theme.warn()));
        }
        Some(LastShutdown::Clean) | None => {}
    }
    if instance.as_root {
        first.push(Span::styled(
            format!(" · ⚠ {}", crate::proc::ROOT_WARNING),
            theme.warn(),
        ));
    }
    first.push(Span::raw(format!(" · {}", instance.data_dir.display())));

    let running = snapshot
        .accounts
        .iter()
        .filter(|a| a.worker.state.is_active())
        .count();
    let live_tasks = snapshot.tasks.iter().filter(|t| t.state.is_live()).count();
    // Short and free of countdowns: the line fits 80 columns and never ticks;
    // the Aria2 pane has the full label.
    let aria2 = match &snapshot.aria2 {
        Some(a) => Span::styled(
            format!(
                "{} {}",
                format::aria2_symbol(&a.state),
                format::aria2_word(&a.state)
            ),
            theme.aria2_state(&a.state),
        ),
        None => Span::raw("n/a"),
    };
    let temp = snapshot
        .temp
        .as_ref()
        .map_or_else(|| "n/a".to_string(), |t| time::human_bytes(t.bytes));
    let mut second = vec![
        Span::raw(format!(
            "accounts {running}/{} running · tasks {live_tasks} live · aria2 ",
            snapshot.accounts.len()
        )),
        aria2,
        Span::raw(format!(" · temp {temp}")),
    ];
    // Last, and short (`3.2G`, as htop writes them): the first thing cut on
    // a narrow screen (the low-space warning is on the first line).
    if let Some(host) = &snapshot.host {
        second.push(Span::raw(format!(
            " · load {:.1} · mem {}/{}",
            host.load_1m,
            format::short_bytes(host.memory_used_bytes),
            format::short_bytes(host.memory_total_bytes)
        )));
        let free: Vec<String> = host
            .filesystems
            .iter()
            .map(|f| format::short_bytes(f.available_bytes))
            .collect();
        if !free.is_empty() {
            second.push(Span::raw(format!(" · free {}", free.join(", "))));
        }
    }
    let second = Line::from(second);
    frame.render_widget(Paragraph::new(vec![Line::from(first), second]), area);
}
