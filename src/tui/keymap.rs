//! The one keymap table: (keys, context, action, description). The dispatcher,
//! the `?` help overlay and the footer are all generated from it, so they cannot drift.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::link::Attachment;
use super::pane::Pane;

/// Who has the keyboard right now; decides which contexts of the table apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shutdown,
    Help,
    Confirm,
    Form,
    Details,
    Filter,
    /// The sweep preview, its progress, then its results.
    Sweep,
    Pane(Pane),
}

/// Where a binding applies. A mode consults several contexts, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Every mode, even while typing.
    Anywhere,
    /// Any pane, no dialog up.
    Main,
    /// Panes made of rows (Accounts, Tasks, Aria2's downloads and foreign aria2c, Temp's owners).
    Rows,
    /// Rows with a details view (accounts, tasks, downloads).
    Openable,
    Accounts,
    Tasks,
    Aria2,
    Logs,
    Help,
    Details,
    Confirm,
    Form,
    Filter,
    Sweep,
    Shutdown,
}

impl Context {
    /// The heading of this context's section in the help overlay.
    pub fn heading(self) -> &'static str {
        match self {
            Context::Anywhere => "Everywhere",
            Context::Main => "Any pane",
            Context::Rows => {
                "Lists (Accounts, Tasks, Aria2 downloads and foreign aria2c, Temp owners)"
            }
            Context::Openable => "Lists with details (Accounts, Tasks, Aria2 downloads)",
            Context::Accounts => "Accounts pane",
            Context::Tasks => "Tasks pane",
            Context::Aria2 => "Aria2 pane",
            Context::Logs => "Logs pane",
            Context::Help => "This help",
            Context::Details => "Details view",
            Context::Confirm => "Confirm dialog",
            Context::Form => "Add forms (account, download)",
            Context::Filter => "Filter line",
            Context::Sweep => "Sweep preview and results",
            Context::Shutdown => "Shutdown progress",
        }
    }

    /// Every context, in the order the help overlay lists them.
    pub const ALL: [Context; 15] = [
        Context::Anywhere,
        Context::Main,
        Context::Rows,
        Context::Openable,
        Context::Accounts,
        Context::Tasks,
        Context::Aria2,
        Context::Logs,
        Context::Details,
        Context::Confirm,
        Context::Form,
        Context::Filter,
        Context::Sweep,
        Context::Help,
        Context::Shutdown,
    ];
}

/// A key as the table names it. Shift is carried by the character itself
/// (`G`, `C`, `R`) or by the key code (`BackTab`), so only Ctrl is a modifier here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

impl Key {
    /// How the key is written in the help and the footer.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if self.ctrl => c.to_ascii_uppercase().to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift+Tab".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl+{base}")
        } else {
            base
        }
    }

    fn matches(&self, event: &KeyEvent) -> bool {
        self.code == event.code && self.ctrl == event.modifiers.contains(KeyModifiers::CONTROL)
    }
}

/// One row of the keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub context: Context,
    pub action: Action,
    pub description: &'static str,
    /// The short word shown in the footer; `None` keeps the binding out of the footer.
    pub footer: Option<&'static str>,
}

const fn bind(
    keys: &'static [Key],
    context: Context,
    action: Action,
    description: &'static str,
    footer: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        context,
        action,
        description,
        footer,
    }
}

use Context as C;

/// Every key the UI understands. Order within a context is the order of the help.
/// Columns: keys, context, action, description (help), footer word.
#[rustfmt::skip]
pub static KEYMAP: &[Binding] = &[
    bind(&[ctrl('c')],                                       C::Anywhere, Action::Quit,                      "shut down gracefully; again: force (SIGKILL now)", None),
    bind(&[ch('q')],                                         C::Main,     Action::Quit,                      "shut down gracefully; again: force (SIGKILL now)", Some("quit")),
    bind(&[ctrl('c')],                                       C::Anywhere, Action::Detach,                    "detach: the fleet keeps running",                  None),
    bind(&[ch('q')],                                         C::Main,     Action::Detach,                    "detach: the fleet keeps running (`steward` attaches again)", Some("detach")),
    bind(&[ch('Q')],                                         C::Main,     Action::ShutdownInstance,          "shut the instance down, every worker (asks first)", Some("shut down")),
    bind(&[ch('?')],                                         C::Main,     Action::ToggleHelp,                "show this help",                                   Some("help")),
    bind(&[key(KeyCode::Tab)],                               C::Main,     Action::NextPane,                  "next pane (the tab bar shows the digits)",         None),
    bind(&[key(KeyCode::BackTab)],                           C::Main,     Action::PrevPane,                  "previous pane",                                    None),
    bind(&[ch('1')],                                         C::Main,     Action::FocusPane(Pane::Accounts), "Accounts pane",                                    None),
    bind(&[ch('2')],                                         C::Main,     Action::FocusPane(Pane::Tasks),    "Tasks pane",                                       None),
    bind(&[ch('3')],                                         C::Main,     Action::FocusPane(Pane::Aria2),    "Aria2 pane",                                       None),
    bind(&[ch('4')],                                         C::Main,     Action::FocusPane(Pane::Temp),     "Temp pane",                                        None),
    bind(&[ch('5')],                                         C::Main,     Action::FocusPane(Pane::Logs),     "Logs pane",                                        None),
    bind(&[key(KeyCode::Esc)],                               C::Main,     Action::Back,                      "clear the filter, or dismiss the notice",          None),
    bind(&[ch('o')],                                         C::Main,     Action::Sweep,                     "sweep orphans: preview the plan, y applies it",    Some("sweep")),
    bind(&[ch('k'), key(KeyCode::Up)],                       C::Rows,     Action::MoveUp,                    "move up",                                          None),
    bind(&[ch('j'), key(KeyCode::Down)],                     C::Rows,     Action::MoveDown,                  "move down",                                        None),
    bind(&[key(KeyCode::PageUp)],                            C::Rows,     Action::PageUp,                    "page up",                                          None),
    bind(&[key(KeyCode::PageDown)],                          C::Rows,     Action::PageDown,                  "page down",                                        None),
    bind(&[ch('g'), key(KeyCode::Home)],                     C::Rows,     Action::Top,                       "first row",                                        None),
    bind(&[ch('G'), key(KeyCode::End)],                      C::Rows,     Action::Bottom,                    "last row",                                         None),
    bind(&[ch('/')],                                         C::Rows,     Action::StartFilter,               "filter rows by substring (Esc clears)",            Some("filter")),
    bind(&[key(KeyCode::Enter)],                             C::Openable, Action::OpenDetails,               "details of the selected row",                      Some("open")),
    bind(&[ch('s')],                                         C::Accounts, Action::ToggleWorker,              "start the worker, or stop it if it runs",          Some("start/stop")),
    bind(&[ch('R')],                                         C::Accounts, Action::RestartWorker,             "restart the worker",                               Some("restart")),
    bind(&[ch('a')],                                         C::Accounts, Action::AddAccount,                "add an account",                                   Some("add")),
    bind(&[ch('d')],                                         C::Accounts, Action::RemoveAccount,             "remove the account (asks first)",                  Some("remove")),
    bind(&[ch('c')],                                         C::Tasks,    Action::CancelTask,                "cancel the selected task (with a deadline)",       Some("cancel")),
    bind(&[ch('C')],                                         C::Tasks,    Action::ForceCancelTask,           "force-cancel the selected task",                   Some("force-cancel")),
    bind(&[ch('r')],                                         C::Aria2,    Action::RestartAria2,              "restart aria2c, keeping its session (asks first)", Some("restart")),
    bind(&[ch('x'), key(KeyCode::Delete)],                   C::Aria2,    Action::RemoveDownload,            "remove the selected download (asks first)",        Some("remove")),
    bind(&[ch('a')],                                         C::Aria2,    Action::AddDownload,               "add a download (URL, optional account)",           Some("add")),
    bind(&[ch('K')],                                         C::Aria2,    Action::StopForeignAria2,          "stop the selected foreign aria2c (asks first)",    Some("stop foreign")),
    bind(&[ch('l')],                                         C::Logs,     Action::CycleLogLevel,             "change the lowest level shown",                    Some("level")),
    bind(&[key(KeyCode::Esc), key(KeyCode::Enter), ch('q')], C::Details,  Action::Back,                      "close the details",                                Some("close")),
    bind(&[key(KeyCode::Enter), ch('y')],                    C::Confirm,  Action::Accept,                    "do it",                                            Some("confirm")),
    bind(&[key(KeyCode::Esc), ch('n')],                      C::Confirm,  Action::Back,                      "do not do it",                                     Some("back")),
    bind(&[ch('y'), key(KeyCode::Enter)],                    C::Sweep,    Action::Accept,                    "apply the previewed plan; on the results: close",  Some("apply/close")),
    bind(&[key(KeyCode::Esc), ch('n')],                      C::Sweep,    Action::Back,                      "back out, nothing applied; on the results: close",  Some("back")),
    bind(&[ch('k'), key(KeyCode::Up)],                       C::Sweep,    Action::MoveUp,                    "scroll up",                                        None),
    bind(&[ch('j'), key(KeyCode::Down)],                     C::Sweep,    Action::MoveDown,                  "scroll down",                                      Some("scroll")),
    bind(&[key(KeyCode::PageUp)],                            C::Sweep,    Action::PageUp,                    "page up",                                          None),
    bind(&[key(KeyCode::PageDown)],                          C::Sweep,    Action::PageDown,                  "page down",                                        None),
    bind(&[ch('g'), key(KeyCode::Home)],                     C::Sweep,    Action::Top,                       "first line",                                       None),
    bind(&[ch('G'), key(KeyCode::End)],                      C::Sweep,    Action::Bottom,                    "last line",                                        None),
    bind(&[key(KeyCode::Enter)],                             C::Form,     Action::Accept,                    "add the account or download",                      Some("add")),
    bind(&[key(KeyCode::Tab), key(KeyCode::BackTab)],        C::Form,     Action::NextField,                 "next field",                                       Some("field")),
    bind(&[key(KeyCode::Backspace)],                         C::Form,     Action::DeleteChar,                "delete a character",                               None),
    bind(&[key(KeyCode::Esc)],                               C::Form,     Action::Back,                      "close the form without adding",                    Some("back")),
    bind(&[key(KeyCode::Enter)],                             C::Filter,   Action::Accept,                    "keep the filter and go back to the rows",          Some("keep")),
    bind(&[key(KeyCode::Backspace)],                         C::Filter,   Action::DeleteChar,                "delete a character",                               None),
    bind(&[key(KeyCode::Esc)],                               C::Filter,   Action::Back,                      "clear the filter",                                 Some("clear")),
    bind(&[ch('k'), key(KeyCode::Up)],                       C::Help,     Action::MoveUp,                    "scroll up",                                        None),
    bind(&[ch('j'), key(KeyCode::Down)],                     C::Help,     Action::MoveDown,                  "scroll down",                                      None),
    bind(&[key(KeyCode::PageUp)],                            C::Help,     Action::PageUp,                    "page up",                                          None),
    bind(&[key(KeyCode::PageDown)],                          C::Help,     Action::PageDown,                  "page down",                                        None),
    bind(&[ch('g'), key(KeyCode::Home)],                     C::Help,     Action::Top,                       "first line",                                       None),
    bind(&[ch('G'), key(KeyCode::End)],                      C::Help,     Action::Bottom,                    "last line",                                        None),
    bind(&[key(KeyCode::Esc), ch('?'), ch('q')],             C::Help,     Action::Back,                      "close the help",                                   Some("close")),
    bind(&[ch('q'), ctrl('c')],                              C::Shutdown, Action::Quit,                      "force: SIGKILL what is still running",             Some("force")),
    bind(&[ch('q'), ctrl('c')],                              C::Shutdown, Action::Detach,                    "detach; the shutdown goes on",                     Some("detach")),
    bind(&[ch('Q')],                                         C::Shutdown, Action::ShutdownInstance,          "force: SIGKILL what is still running",             Some("force")),
];

/// Whether a binding is offered to a dashboard attached so: `q` shuts the
/// fleet down only where it lives (embedded); attached, it detaches and `Q`
/// shuts down; read-only, nothing that acts is offered.
pub fn offered(binding: &Binding, attachment: Attachment) -> bool {
    match (binding.action, attachment) {
        (Action::Detach | Action::ShutdownInstance, Attachment::Embedded) => false,
        (Action::Quit, Attachment::Attached { .. }) => false,
        (action, Attachment::Attached { read_only: true }) => !action.acts(),
        _ => true,
    }
}

/// The bindings offered to `attachment`, in table order.
fn bindings(attachment: Attachment) -> impl Iterator<Item = &'static Binding> {
    KEYMAP.iter().filter(move |b| offered(b, attachment))
}

/// The contexts a mode consults, most specific first.
pub fn contexts(mode: Mode) -> &'static [Context] {
    match mode {
        Mode::Shutdown => &[C::Shutdown, C::Anywhere],
        Mode::Help => &[C::Help, C::Anywhere],
        Mode::Confirm => &[C::Confirm, C::Anywhere],
        Mode::Form => &[C::Form, C::Anywhere],
        Mode::Details => &[C::Details, C::Anywhere],
        Mode::Filter => &[C::Filter, C::Anywhere],
        Mode::Sweep => &[C::Sweep, C::Anywhere],
        Mode::Pane(Pane::Accounts) => &[C::Accounts, C::Rows, C::Openable, C::Main, C::Anywhere],
        Mode::Pane(Pane::Tasks) => &[C::Tasks, C::Rows, C::Openable, C::Main, C::Anywhere],
        Mode::Pane(Pane::Aria2) => &[C::Aria2, C::Rows, C::Openable, C::Main, C::Anywhere],
        Mode::Pane(Pane::Logs) => &[C::Logs, C::Main, C::Anywhere],
        Mode::Pane(Pane::Temp) => &[C::Rows, C::Main, C::Anywhere],
    }
}

/// Whether typed characters go into a text field in this mode.
fn takes_text(mode: Mode) -> bool {
    matches!(mode, Mode::Form | Mode::Filter)
}

/// The dispatcher: what a key press means in `mode`, if anything.
pub fn action_for(mode: Mode, attachment: Attachment, event: &KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    for context in contexts(mode) {
        if let Some(binding) = bindings(attachment)
            .filter(|b| b.context == *context)
            .find(|b| b.keys.iter().any(|k| k.matches(event)))
        {
            return Some(binding.action);
        }
    }
    let plain = !event
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match event.code {
        KeyCode::Char(c) if takes_text(mode) && plain => Some(Action::InputChar(c)),
        _ => None,
    }
}

/// The keys of a binding, joined for display (`j/↓`).
pub fn keys_label(binding: &Binding) -> String {
    binding
        .keys
        .iter()
        .map(Key::label)
        .collect::<Vec<_>>()
        .join("/")
}

/// One line of the help overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpLine {
    Heading(&'static str),
    Key {
        keys: String,
        description: &'static str,
    },
}

/// The whole help overlay, generated from `KEYMAP`: the keys offered to
/// `attachment`, after a line saying how this dashboard is attached.
pub fn help_lines(attachment: Attachment) -> Vec<HelpLine> {
    let mut lines = vec![HelpLine::Heading(match attachment {
        Attachment::Embedded => {
            "Embedded: the fleet lives here; q shuts it down, a hang-up leaves it running"
        }
        Attachment::Attached { read_only: false } => {
            "Attached: q detaches (the fleet keeps running); Q shuts the instance down"
        }
        Attachment::Attached { read_only: true } => {
            "Attached read-only: nothing here acts on the fleet; q detaches"
        }
    })];
    for context in Context::ALL {
        let mut bindings = bindings(attachment)
            .filter(|b| b.context == context)
            .peekable();
        if bindings.peek().is_none() {
            continue;
        }
        lines.push(HelpLine::Heading(context.heading()));
        for binding in bindings {
            lines.push(HelpLine::Key {
                keys: keys_label(binding),
                description: binding.description,
            });
        }
    }
    lines
}

/// One hint of the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterEntry {
    pub keys: String,
    pub word: &'static str,
    /// 0 stays however narrow the footer is (help, quit); when the keys do
    /// not fit, the highest ranks go first.
    pub rank: u8,
}

/// How much a binding's footer hint matters: help and quit always stay;
/// then the keys of this pane or dialog; then the keys of every pane
/// (`o sweep`); the list keys (`/ filter`, `Enter open`) go first.
fn footer_rank(binding: &Binding) -> u8 {
    match (binding.action, binding.context) {
        (Action::ToggleHelp | Action::Quit | Action::Detach, _) => 0,
        (_, C::Rows | C::Openable) => 3,
        (_, C::Main | C::Anywhere) => 2,
        _ => 1,
    }
}

/// The footer for a mode, in the order shown: help and quit first, then
/// the most specific contexts' keys.
pub fn footer_entries(mode: Mode, attachment: Attachment) -> Vec<FooterEntry> {
    let mut entries: Vec<FooterEntry> = contexts(mode)
        .iter()
        .flat_map(|context| bindings(attachment).filter(move |b| b.context == *context))
        .filter_map(|b| {
            b.footer.map(|word| FooterEntry {
                keys: keys_label(b),
                word,
                rank: footer_rank(b),
            })
        })
        .collect();
    // Stable: help, then quit, then the rest in their specific-to-general order.
    entries.sort_by_key(|e| match e.word {
        "help" => 0,
        _ if e.rank == 0 => 1,
        _ => 2,
    });
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn action_for_embedded(mode: Mode, event: &KeyEvent) -> Option<Action> {
        action_for(mode, Attachment::Embedded, event)
    }

    #[test]
    fn attached_q_detaches_and_read_only_offers_nothing_that_acts() {
        let attached = Attachment::Attached { read_only: false };
        let read_only = Attachment::Attached { read_only: true };
        let q = press(KeyCode::Char('q'));
        let big_q = press(KeyCode::Char('Q'));
        let accounts = Mode::Pane(Pane::Accounts);
        assert_eq!(action_for(accounts, attached, &q), Some(Action::Detach));
        assert_eq!(
            action_for(Mode::Shutdown, attached, &q),
            Some(Action::Detach)
        );
        assert_eq!(
            action_for(accounts, attached, &big_q),
            Some(Action::ShutdownInstance)
        );
        assert_eq!(action_for(accounts, Attachment::Embedded, &big_q), None);
        assert_eq!(action_for(accounts, read_only, &big_q), None);
        assert_eq!(
            action_for(accounts, read_only, &press(KeyCode::Char('s'))),
            None
        );
        assert_eq!(
            action_for(accounts, read_only, &press(KeyCode::Char('j'))),
            Some(Action::MoveDown)
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            action_for(Mode::Form, read_only, &ctrl_c),
            Some(Action::Detach)
        );
        // Neither the help nor the footer offers what the dispatcher refuses.
        for line in help_lines(read_only) {
            if let HelpLine::Key { description, .. } = line {
                let binding = KEYMAP
                    .iter()
                    .find(|b| b.description == description)
                    .unwrap();
                assert!(!binding.action.acts(), "{description}");
            }
        }
        let footer = footer_entries(accounts, read_only);
        let words: Vec<&str> = footer.iter().map(|e| e.word).collect();
        assert!(
            words.contains(&"detach") && !words.contains(&"remove") && !words.contains(&"quit"),
            "{words:?}"
        );
        let words: Vec<&str> = footer_entries(accounts, attached)
            .iter()
            .map(|e| e.word)
            .collect();
        assert!(
            words.contains(&"shut down") && words.contains(&"remove"),
            "{words:?}"
        );
    }

    #[test]
    fn the_same_key_means_different_things_per_mode() {
        let q = press(KeyCode::Char('q'));
        assert_eq!(
            action_for_embedded(Mode::Pane(Pane::Tasks), &q),
            Some(Action::Quit)
        );
        assert_eq!(action_for_embedded(Mode::Shutdown, &q), Some(Action::Quit));
        assert_eq!(action_for_embedded(Mode::Help, &q), Some(Action::Back));
        assert_eq!(
            action_for_embedded(Mode::Form, &q),
            Some(Action::InputChar('q'))
        );
        assert_eq!(
            action_for_embedded(Mode::Filter, &q),
            Some(Action::InputChar('q'))
        );
        let c = press(KeyCode::Char('c'));
        assert_eq!(
            action_for_embedded(Mode::Pane(Pane::Tasks), &c),
            Some(Action::CancelTask)
        );
        assert_eq!(action_for_embedded(Mode::Pane(Pane::Accounts), &c), None);
    }

    #[test]
    fn ctrl_c_quits_even_while_typing_and_shift_letters_match() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [
            Mode::Form,
            Mode::Filter,
            Mode::Help,
            Mode::Shutdown,
            Mode::Pane(Pane::Logs),
        ] {
            assert_eq!(
                action_for_embedded(mode, &ctrl_c),
                Some(Action::Quit),
                "{mode:?}"
            );
        }
        let shift_r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(
            action_for_embedded(Mode::Pane(Pane::Accounts), &shift_r),
            Some(Action::RestartWorker)
        );
        let back_tab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            action_for_embedded(Mode::Pane(Pane::Temp), &back_tab),
            Some(Action::PrevPane)
        );
    }

    #[test]
    fn releases_are_ignored() {
        let mut q = press(KeyCode::Char('q'));
        q.kind = KeyEventKind::Release;
        assert_eq!(action_for_embedded(Mode::Pane(Pane::Accounts), &q), None);
    }

    #[test]
    fn help_lists_every_binding_under_its_context() {
        let lines = help_lines(Attachment::Embedded);
        let keys = lines
            .iter()
            .filter(|l| matches!(l, HelpLine::Key { .. }))
            .count();
        let embedded = KEYMAP
            .iter()
            .filter(|b| offered(b, Attachment::Embedded))
            .count();
        assert_eq!(keys, embedded);
        assert!(lines.contains(&HelpLine::Heading("Tasks pane")));
        assert!(lines.contains(&HelpLine::Key {
            keys: "C".into(),
            description: "force-cancel the selected task",
        }));
        assert!(lines.contains(&HelpLine::Key {
            keys: "Ctrl+C".into(),
            description: "shut down gracefully; again: force (SIGKILL now)",
        }));
    }

    #[test]
    fn every_footer_key_is_one_the_dispatcher_honours() {
        for mode in [
            Mode::Shutdown,
            Mode::Help,
            Mode::Confirm,
            Mode::Form,
            Mode::Details,
            Mode::Filter,
            Mode::Sweep,
            Mode::Pane(Pane::Accounts),
            Mode::Pane(Pane::Tasks),
            Mode::Pane(Pane::Aria2),
            Mode::Pane(Pane::Temp),
            Mode::Pane(Pane::Logs),
        ] {
            for binding in
                bindings(Attachment::Embedded).filter(|b| contexts(mode).contains(&b.context))
            {
                for key in binding.keys {
                    let modifiers = if key.ctrl {
                        KeyModifiers::CONTROL
                    } else {
                        KeyModifiers::NONE
                    };
                    let event = KeyEvent::new(key.code, modifiers);
                    // A more specific context may shadow a general one, but something must answer.
                    assert!(
                        action_for_embedded(mode, &event).is_some(),
                        "{mode:?} {key:?}"
                    );
                }
            }
        }
        let footer = footer_entries(Mode::Pane(Pane::Accounts), Attachment::Embedded);
        let shown: Vec<(&str, &str)> = footer.iter().map(|e| (e.keys.as_str(), e.word)).collect();
        assert_eq!(shown[..2], [("?", "help"), ("q", "quit")]);
        assert!(shown.contains(&("d", "remove")));
        assert!(!shown.iter().any(|(_, word)| *word == "cancel"));
        // Owners have no details view: Enter is neither offered nor bound there.
        let temp = footer_entries(Mode::Pane(Pane::Temp), Attachment::Embedded);
        assert!(!temp.iter().any(|e| e.word == "open"));
        assert_eq!(
            action_for_embedded(Mode::Pane(Pane::Temp), &press(KeyCode::Enter)),
            None
        );
    }
}
