//! Which rows a list pane shows (after its filter) and which one is selected.
//! Shared by `App::update` (what a key acts on) and drawing (what is highlighted).

use std::ops::Range;

use crate::model::{
    AccountView, DownloadStatus, DownloadView, ForeignAria2, Snapshot, TaskView, TempOwnerView,
};

use super::format;

/// Selection and filter of one pane. The selection follows a row's key (account
/// id, task id) across snapshots; the index is the fallback when that row is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneState {
    pub selected_key: Option<String>,
    pub selected_index: usize,
    pub filter: String,
}

impl PaneState {
    /// The selected position among `keys` (the visible rows), if there are rows.
    pub fn selected(&self, keys: &[String]) -> Option<usize> {
        if keys.is_empty() {
            return None;
        }
        let by_key = self
            .selected_key
            .as_ref()
            .and_then(|wanted| keys.iter().position(|k| k == wanted));
        Some(by_key.unwrap_or(self.selected_index.min(keys.len() - 1)))
    }

    /// Selects row `index` of `keys`, clamped.
    pub fn select(&mut self, keys: &[String], index: usize) {
        if keys.is_empty() {
            self.selected_key = None;
            self.selected_index = 0;
            return;
        }
        let index = index.min(keys.len() - 1);
        self.selected_index = index;
        self.selected_key = Some(keys[index].clone());
    }
}

fn matches(filter: &str, fields: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let needle = filter.to_lowercase();
    fields.iter().any(|f| f.to_lowercase().contains(&needle))
}

/// Accounts whose id, name or state word contain `filter` (case-insensitive).
pub fn accounts<'s>(snapshot: &'s Snapshot, filter: &str) -> Vec<&'s AccountView> {
    snapshot
        .accounts
        .iter()
        .filter(|a| matches(filter, &[&a.id, &a.name, a.worker.state.word()]))
        .collect()
}

/// Tasks whose id, kind, name, owner or state word contain `filter`.
pub fn tasks<'s>(snapshot: &'s Snapshot, filter: &str) -> Vec<&'s TaskView> {
    snapshot
        .tasks
        .iter()
        .filter(|t| {
            matches(
                filter,
                &[
                    &t.id.to_string(),
                    t.kind.label(),
                    &t.name,
                    t.owner.as_deref().unwrap_or(""),
                    format::task_word(&t.state),
                ],
            )
        })
        .collect()
}

/// Where a download sorts: active, then waiting (and paused), then stopped.
fn download_rank(status: DownloadStatus) -> u8 {
    match status {
        DownloadStatus::Active => 0,
        DownloadStatus::Waiting | DownloadStatus::Paused => 1,
        DownloadStatus::Error | DownloadStatus::Complete | DownloadStatus::Removed => 2,
    }
}

/// aria2's downloads, active first, then waiting, then stopped (each group in
/// the order aria2 listed them), whose gid, name, owner, status or error
/// contain `filter`. Empty when there is no aria2 subsystem.
pub fn downloads<'s>(snapshot: &'s Snapshot, filter: &str) -> Vec<&'s DownloadView> {
    let Some(aria2) = &snapshot.aria2 else {
        return Vec::new();
    };
    let mut rows: Vec<&DownloadView> = aria2
        .downloads
        .iter()
        .filter(|d| {
            matches(
                filter,
                &[
                    &d.gid,
                    &d.name,
                    d.account.as_deref().unwrap_or(""),
                    d.status.label(),
                    d.error.as_deref().unwrap_or(""),
                ],
            )
        })
        .collect();
    rows.sort_by_key(|d| download_rank(d.status));
    rows
}

/// The aria2c processes that are not steward's whose pid, port or command
/// line contain `filter`. Empty when there is no aria2 subsystem.
pub fn foreign<'s>(snapshot: &'s Snapshot, filter: &str) -> Vec<&'s ForeignAria2> {
    let Some(aria2) = &snapshot.aria2 else {
        return Vec::new();
    };
    aria2
        .foreign
        .iter()
        .filter(|f| {
            matches(
                filter,
                &[
                    &f.pid.to_string(),
                    &f.port.map(|p| p.to_string()).unwrap_or_default(),
                    &f.cmdline.join(" "),
                ],
            )
        })
        .collect()
}

/// A selectable row of the Aria2 pane: its downloads come first, then the
/// foreign aria2c processes below them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aria2Row<'s> {
    Download(&'s DownloadView),
    Foreign(&'s ForeignAria2),
}

/// The Aria2 pane's visible rows, in the order the selection moves through them.
pub fn aria2_rows<'s>(snapshot: &'s Snapshot, filter: &str) -> Vec<Aria2Row<'s>> {
    let downloads = downloads(snapshot, filter)
        .into_iter()
        .map(Aria2Row::Download);
    let foreign = foreign(snapshot, filter).into_iter().map(Aria2Row::Foreign);
    downloads.chain(foreign).collect()
}

/// The rows of a `len`-row table that fit on a `page`-line screen: ratatui,
/// given a fresh `TableState` with only a selection, scrolls just far enough
/// that the selected row is on the last line. Drawing builds only these rows
/// and the wake-up timer watches only these, so a long list costs what one
/// page costs.
pub fn on_screen(len: usize, selected: Option<usize>, page: usize) -> Range<usize> {
    let page = page.max(1);
    let start = selected.map_or(0, |s| (s + 1).saturating_sub(page));
    start.min(len)..len.min(start + page)
}

/// The word a temp owner's state reads as (and is filtered by).
pub fn owner_word(owner: &TempOwnerView) -> &'static str {
    if owner.alive { "live" } else { "dead" }
}

/// The temp registry's owners (largest first, as published) whose pid,
/// account or `live`/`dead` contain `filter`. Empty without a temp registry.
pub fn temp_owners<'s>(snapshot: &'s Snapshot, filter: &str) -> Vec<&'s TempOwnerView> {
    let Some(temp) = &snapshot.temp else {
        return Vec::new();
    };
    temp.owners
        .iter()
        .filter(|o| {
            matches(
                filter,
                &[
                    &o.pid.to_string(),
                    o.account.as_deref().unwrap_or(""),
                    owner_word(o),
                ],
            )
        })
        .collect()
}

pub fn account_keys(rows: &[&AccountView]) -> Vec<String> {
    rows.iter().map(|a| a.id.clone()).collect()
}

pub fn task_keys(rows: &[&TaskView]) -> Vec<String> {
    rows.iter().map(|t| t.id.to_string()).collect()
}

/// A download is its gid; a foreign aria2c its process identity (a reused
/// pid is another process, and never the one the operator selected).
pub fn aria2_keys(rows: &[Aria2Row]) -> Vec<String> {
    rows.iter()
        .map(|row| match row {
            Aria2Row::Download(d) => d.gid.clone(),
            Aria2Row::Foreign(f) => format!("foreign:{}:{}", f.pid, f.start_time),
        })
        .collect()
}

/// A temp owner is its process identity (a reused pid is another owner).
pub fn temp_owner_keys(rows: &[&TempOwnerView]) -> Vec<String> {
    rows.iter()
        .map(|o| format!("{}:{}", o.pid, o.start_time))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection_follows_the_row_then_falls_back_to_the_position() {
        let mut state = PaneState::default();
        state.select(&keys(&["a", "b", "c"]), 1);
        assert_eq!(state.selected(&keys(&["x", "a", "b", "c"])), Some(2));
        assert_eq!(state.selected(&keys(&["a", "c"])), Some(1));
        assert_eq!(state.selected(&keys(&["a"])), Some(0));
        assert_eq!(state.selected(&[]), None);
    }

    #[test]
    fn downloads_sort_active_waiting_stopped_and_filter_by_owner() {
        let mut snapshot = crate::tui::fixtures::busy_snapshot();
        let aria2 = snapshot.aria2.as_mut().unwrap();
        aria2.downloads.reverse();
        let statuses: Vec<_> = downloads(&snapshot, "").iter().map(|d| d.status).collect();
        assert_eq!(
            statuses,
            [
                DownloadStatus::Active,
                DownloadStatus::Waiting,
                DownloadStatus::Error
            ]
        );
        let bob: Vec<_> = downloads(&snapshot, "BOB")
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(bob, ["debian-13.iso"]);
        assert!(downloads(&crate::model::Snapshot::default(), "").is_empty());
    }

    #[test]
    fn on_screen_is_the_page_that_ends_at_the_selection() {
        assert_eq!(on_screen(1000, Some(0), 32), 0..32);
        assert_eq!(on_screen(1000, Some(31), 32), 0..32);
        assert_eq!(on_screen(1000, Some(32), 32), 1..33);
        assert_eq!(on_screen(1000, Some(999), 32), 968..1000);
        assert_eq!(on_screen(3, Some(2), 32), 0..3);
        assert_eq!(on_screen(0, None, 32), 0..0);
        assert_eq!(on_screen(5, Some(4), 0), 4..5);
    }
}
