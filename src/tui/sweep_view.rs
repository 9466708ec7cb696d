//! The sweep dialog (`o`): "scanning…" until the manager publishes a plan, then
//! every item (what, why, how big, what will be done), `y` applies exactly that
//! plan, then progress, then per-item results until dismissed; or the reason
//! the manager could not scan or apply (`SweepView::error`). Reads all of it
//! from `Snapshot::sweep`; never scans or touches anything itself.

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::model::{
    Command, Snapshot, SweepAction, SweepItem, SweepItemResult, SweepOutcome, SweepTarget,
    SweepView,
};
use crate::time;

use super::format::{self, fit_end, fit_start};
use super::rect::centered;
use super::theme::Theme;

/// Rows of the popup that are not scrolled body lines: the borders (the
/// bottom one carries the keys), the summary line and the column header.
const CHROME_ROWS: u16 = 4;
/// Widest the popup gets.
const MAX_WIDTH: u16 = 110;
/// Columns before the reason / outcome line of an item (under its kind).
const INDENT: usize = 15;

/// The dialog's own state; what it shows comes from `snapshot.sweep`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepDialog {
    /// The plan already in the snapshot when `o` was pressed: an old one,
    /// never shown as this preview's (the new scan replaces it).
    pub stale_plan: Option<u64>,
    /// The plan `y` asked to apply, once it did: a second `y` sends nothing.
    pub applied: Option<u64>,
    /// First body line shown.
    pub scroll: u16,
}

/// Where the sweep is, as the dialog shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage<'s> {
    /// `PreviewSweep` was sent; no plan yet.
    Scanning,
    Preview(&'s SweepView),
    /// `ApplySweep` was sent (or the manager says it runs); no results yet.
    Applying(&'s SweepView),
    Results(&'s SweepView),
    /// The manager could not scan or apply (`SweepView::error`), e.g.
    /// another sweep holds the data dir's sweep lock.
    Failed(&'s SweepView),
}

impl SweepDialog {
    /// A dialog for a preview asked for now, against the current `snapshot`.
    pub fn new(snapshot: &Snapshot) -> SweepDialog {
        SweepDialog {
            stale_plan: snapshot.sweep.as_ref().map(|s| s.plan.id),
            ..SweepDialog::default()
        }
    }

    pub fn stage<'s>(&self, snapshot: &'s Snapshot) -> Stage<'s> {
        let Some(sweep) = snapshot
            .sweep
            .as_ref()
            .filter(|s| Some(s.plan.id) != self.stale_plan)
        else {
            return Stage::Scanning;
        };
        if sweep.error.is_some() {
            Stage::Failed(sweep)
        } else if sweep.finished_ms.is_some() {
            Stage::Results(sweep)
        } else if sweep.applying || self.applied == Some(sweep.plan.id) {
            Stage::Applying(sweep)
        } else {
            Stage::Preview(sweep)
        }
    }

    /// A dialog on the sweep the manager is applying, or has applied and
    /// still holds the results of (the dialog was closed meanwhile); `None`
    /// when there is none and `o` should preview anew.
    pub fn resume(snapshot: &Snapshot) -> Option<SweepDialog> {
        let sweep = snapshot.sweep.as_ref()?;
        let ongoing = sweep.applying || sweep.finished_ms.is_some();
        (ongoing && sweep.error.is_none()).then(|| SweepDialog {
            applied: Some(sweep.plan.id),
            ..SweepDialog::default()
        })
    }

    /// What `y` would send now: applying exactly the plan on screen, if
    /// there is one with something to do and it was not applied already.
    pub fn apply_command(&self, snapshot: &Snapshot) -> Option<Command> {
        match self.stage(snapshot) {
            Stage::Preview(sweep) if sweep.plan.actionable() > 0 => Some(Command::ApplySweep {
                plan_id: sweep.plan.id,
            }),
            _ => None,
        }
    }

    /// The largest useful `scroll` on a `size` (columns, rows) screen.
    pub fn max_scroll(&self, snapshot: &Snapshot, size: (u16, u16)) -> u16 {
        let lines = body_lines(
            self.stage(snapshot),
            snapshot,
            usize::MAX,
            &Theme::new(false),
        );
        let total = u16::try_from(lines.len()).unwrap_or(u16::MAX);
        total.saturating_sub(body_rows(total, size.1))
    }
}

/// Body rows shown for `total` body lines on a screen `screen_rows` high.
fn body_rows(total: u16, screen_rows: u16) -> u16 {
    popup_height(total, screen_rows).saturating_sub(CHROME_ROWS)
}

fn popup_height(total: u16, screen_rows: u16) -> u16 {
    total
        .saturating_add(CHROME_ROWS)
        .min(screen_rows.saturating_sub(2))
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    dialog: &SweepDialog,
    snapshot: &Snapshot,
    theme: &Theme,
) {
    let stage = dialog.stage(snapshot);
    let width = area.width.saturating_sub(4).min(MAX_WIDTH);
    let inner_width = usize::from(width.saturating_sub(2));
    let body = body_lines(stage, snapshot, inner_width, theme);
    let total = u16::try_from(body.len()).unwrap_or(u16::MAX);
    let popup = centered(area, width, popup_height(total, area.height));
    let visible = popup.height.saturating_sub(CHROME_ROWS);
    let scroll = dialog.scroll.min(total.saturating_sub(visible));

    let (title, mut keys) = match stage {
        Stage::Scanning => ("Sweep: scanning…", "Esc back out".to_string()),
        Stage::Preview(sweep) if sweep.plan.actionable() == 0 => {
            ("Sweep preview", "Enter/Esc close".to_string())
        }
        Stage::Preview(_) => ("Sweep preview", "y/Enter apply · Esc back out".to_string()),
        Stage::Applying(_) => (
            "Sweep: applying…",
            "Esc hide (it goes on; o shows it again)".to_string(),
        ),
        Stage::Results(_) => ("Sweep results", "Enter/Esc close".to_string()),
        Stage::Failed(_) => ("Sweep: could not run", "Enter/Esc close".to_string()),
    };
    // Paths in the list are relative to the data dir.
    let title = format!(" {title} · {} ", snapshot.instance.data_dir.display());
    if total > visible {
        keys.push_str(&format!(
            " · j/k scroll · lines {}-{} of {total}",
            scroll + 1,
            (scroll + visible).min(total)
        ));
    }
    let block = Block::bordered()
        .title(Span::styled(title, theme.bold()))
        .title_bottom(Span::styled(format!(" {keys} "), theme.bold()));
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);

    let [summary_area, header_area, body_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(summary(stage, theme)), summary_area);
    frame.render_widget(
        Paragraph::new(Span::styled(column_header(stage), theme.dim())),
        header_area,
    );
    frame.render_widget(Paragraph::new(body).scroll((scroll, 0)), body_area);
}

fn summary(stage: Stage, theme: &Theme) -> Line<'static> {
    match stage {
        Stage::Scanning => Line::from(Span::styled(
            "scanning for orphans… (the plan shows here; nothing is done before y)",
            theme.plain(),
        )),
        Stage::Preview(sweep) | Stage::Applying(sweep) => {
            let plan = &sweep.plan;
            let acting = plan.actionable();
            let left = plan.items.len() - acting;
            let left_text = match left {
                0 => String::new(),
                1 => " · 1 left alone".to_string(),
                n => format!(" · {n} left alone"),
            };
            if acting == 0 {
                return Line::from(Span::styled(
                    format!("✓ nothing to sweep{left_text}"),
                    theme.good(),
                ));
            }
            let verb = if matches!(stage, Stage::Applying(_)) {
                "applying: "
            } else {
                ""
            };
            let noun = if acting == 1 { "item" } else { "items" };
            Line::from(vec![
                Span::styled(format!("{verb}{acting} {noun} to act on"), theme.bold()),
                Span::raw(format!(
                    "{left_text} · {} to free",
                    time::human_bytes(plan.total_bytes),
                )),
            ])
        }
        Stage::Failed(sweep) => {
            let error = sweep.error.as_deref().unwrap_or("no reason given");
            Line::from(Span::styled(
                format!("✗ cannot sweep: {error} · nothing was done"),
                theme.error(),
            ))
        }
        Stage::Results(sweep) => {
            let count = |f: fn(&SweepOutcome) -> bool| {
                sweep.results.iter().filter(|r| f(&r.outcome)).count()
            };
            let done = count(|o| matches!(o, SweepOutcome::Done { .. }));
            let skipped = count(|o| matches!(o, SweepOutcome::Skipped { .. }));
            let failed = count(|o| matches!(o, SweepOutcome::Failed { .. }));
            let freed: u64 = sweep.results.iter().map(|r| r.freed).sum();
            let style = if failed > 0 {
                theme.error()
            } else {
                theme.good()
            };
            let symbol = if failed > 0 { "✗" } else { "✓" };
            Line::from(Span::styled(
                format!(
                    "{symbol} swept: {done} done, {skipped} skipped, {failed} failed · {} freed",
                    time::human_bytes(freed)
                ),
                style,
            ))
        }
    }
}

fn column_header(stage: Stage) -> String {
    match stage {
        Stage::Scanning | Stage::Failed(_) => String::new(),
        Stage::Preview(sweep) | Stage::Applying(sweep) if sweep.plan.items.is_empty() => {
            String::new()
        }
        Stage::Preview(_) | Stage::Applying(_) => {
            format!(
                "{:<6}  {:>5}  {:<20}  target / why",
                "action", "size", "kind"
            )
        }
        Stage::Results(_) => format!(
            "{:<9} {:>5}  {:<20}  target / outcome",
            "result", "freed", "kind"
        ),
    }
}

/// The scrolled part: two lines per item or result, then the plan's notes.
fn body_lines(
    stage: Stage,
    snapshot: &Snapshot,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let data_dir = snapshot.instance.data_dir.as_path();
    let mut lines = Vec::new();
    let sweep = match stage {
        Stage::Scanning | Stage::Failed(_) => return lines,
        Stage::Preview(sweep) | Stage::Applying(sweep) => {
            for item in &sweep.plan.items {
                item_lines(item, data_dir, width, theme, &mut lines);
            }
            sweep
        }
        Stage::Results(sweep) => {
            for result in &sweep.results {
                result_lines(result, data_dir, width, theme, &mut lines);
            }
            sweep
        }
    };
    if !sweep.plan.notes.is_empty() {
        lines.push(Line::from(Span::styled("notes:", theme.bold())));
        for note in &sweep.plan.notes {
            lines.push(Line::from(Span::styled(
                fit_end(&format!("! {note}"), width),
                theme.warn(),
            )));
        }
    }
    lines
}

fn action_style(action: SweepAction, theme: &Theme) -> Style {
    match action {
        SweepAction::Delete | SweepAction::Trash => theme.warn(),
        SweepAction::Stop => theme.error(),
        SweepAction::Leave => theme.dim(),
    }
}

fn item_lines(
    item: &SweepItem,
    data_dir: &Path,
    width: usize,
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    let size = item
        .size
        .map_or_else(|| "-".to_string(), format::short_bytes);
    let head = format!(
        "{:<6}  {size:>5}  {:<20}  ",
        item.action.label(),
        item.kind.label()
    );
    let target = target_text(&item.target, data_dir);
    let room = width.saturating_sub(head.chars().count());
    out.push(Line::from(vec![
        Span::styled(head, action_style(item.action, theme)),
        Span::raw(fit_start(&target, room)),
    ]));
    let mut why = item.reason.clone();
    if item.action == SweepAction::Leave {
        why = match item.holder_pid {
            Some(pid) if !why.contains(&format!("pid {pid}")) => {
                format!("left alone: {why} (held by pid {pid})")
            }
            _ => format!("left alone: {why}"),
        };
    }
    out.push(Line::from(vec![
        Span::raw(" ".repeat(INDENT)),
        Span::styled(
            fit_end(&format!("└ {why}"), width.saturating_sub(INDENT)),
            theme.dim(),
        ),
    ]));
}

fn result_lines(
    result: &SweepItemResult,
    data_dir: &Path,
    width: usize,
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    let (symbol, word, detail, style) = match &result.outcome {
        SweepOutcome::Done { detail } => ("✓", "done", detail, theme.good()),
        SweepOutcome::Skipped { reason } => ("○", "skipped", reason, theme.dim()),
        SweepOutcome::Failed { error } => ("✗", "failed", error, theme.error()),
    };
    let freed = if result.freed > 0 {
        format::short_bytes(result.freed)
    } else {
        "-".to_string()
    };
    let head = format!(
        "{symbol} {word:<7} {freed:>5}  {:<20}  ",
        result.kind.label()
    );
    let target = target_text(&result.target, data_dir);
    let room = width.saturating_sub(head.chars().count());
    out.push(Line::from(vec![
        Span::styled(head, style),
        Span::raw(fit_start(&target, room)),
    ]));
    out.push(Line::from(vec![
        Span::raw(" ".repeat(INDENT)),
        Span::styled(
            fit_end(&format!("└ {detail}"), width.saturating_sub(INDENT)),
            style,
        ),
    ]));
}

/// A path relative to the data dir when it is inside (the summary names the
/// data dir), else the whole path; a process as `pid N` / `pid N (group)`.
fn target_text(target: &SweepTarget, data_dir: &Path) -> String {
    match target {
        SweepTarget::Path { path } => match path.strip_prefix(data_dir) {
            Ok(relative) if !data_dir.as_os_str().is_empty() => relative.display().to_string(),
            _ => path.display().to_string(),
        },
        process => process.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_shown_relative_to_the_data_dir() {
        let dir = Path::new("/srv/steward");
        let inside = SweepTarget::Path {
            path: "/srv/steward/sessions/zed.session".into(),
        };
        let outside = SweepTarget::Path {
            path: "/elsewhere/x".into(),
        };
        let group = SweepTarget::Process {
            pid: 7,
            start_time: 1,
            pgid: 7,
        };
        assert_eq!(target_text(&inside, dir), "sessions/zed.session");
        assert_eq!(target_text(&outside, dir), "/elsewhere/x");
        assert_eq!(target_text(&group, dir), "pid 7 (group)");
    }
}
