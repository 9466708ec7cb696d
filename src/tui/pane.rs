//! `Pane`: the five switchable views of the dashboard and their names.

/// A top-level view; `1`..`5` focus them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pane {
    #[default]
    Accounts,
    Tasks,
    Aria2,
    Temp,
    Logs,
}

impl Pane {
    pub const ALL: [Pane; 5] = [
        Pane::Accounts,
        Pane::Tasks,
        Pane::Aria2,
        Pane::Temp,
        Pane::Logs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Accounts => "Accounts",
            Pane::Tasks => "Tasks",
            Pane::Aria2 => "Aria2",
            Pane::Temp => "Temp",
            Pane::Logs => "Logs",
        }
    }

    /// Position in `ALL`, also the index into per-pane UI state.
    pub fn index(self) -> usize {
        match self {
            Pane::Accounts => 0,
            Pane::Tasks => 1,
            Pane::Aria2 => 2,
            Pane::Temp => 3,
            Pane::Logs => 4,
        }
    }

    /// The digit key that focuses this pane.
    pub fn digit(self) -> char {
        match self {
            Pane::Accounts => '1',
            Pane::Tasks => '2',
            Pane::Aria2 => '3',
            Pane::Temp => '4',
            Pane::Logs => '5',
        }
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }

    /// Whether the pane is a list of selectable, filterable rows.
    pub fn has_rows(self) -> bool {
        matches!(
            self,
            Pane::Accounts | Pane::Tasks | Pane::Aria2 | Pane::Temp
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_prev_wrap_around() {
        assert_eq!(Pane::Logs.next(), Pane::Accounts);
        assert_eq!(Pane::Accounts.prev(), Pane::Logs);
        for pane in Pane::ALL {
            assert_eq!(pane.next().prev(), pane);
            assert_eq!(Pane::ALL[pane.index()], pane);
        }
    }
}
