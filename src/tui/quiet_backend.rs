//! `QuietBackend`: wraps the terminal backend so a frame with nothing new
//! writes nothing. Ratatui diffs cells itself, but after every frame, even an
//! empty diff, the crossterm backend still writes colour/attribute resets and
//! "hide cursor" (25 bytes); a screen that is redrawn but unchanged must stay
//! silent on an SSH link.

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

/// Forwards to `B`, dropping the writes that cannot change what is shown: an
/// empty cell diff, hiding an already hidden cursor, showing a shown one, and
/// moving the cursor where it already is (unless cells were written since).
pub struct QuietBackend<B> {
    inner: B,
    /// `None` until the first call: the terminal's state is unknown then.
    cursor_visible: Option<bool>,
    /// Where the cursor was last put, if nothing was written after that.
    cursor_at: Option<Position>,
}

impl<B: Backend> QuietBackend<B>
where
    B::Error: std::fmt::Display,
{
    pub fn new(inner: B) -> QuietBackend<B> {
        QuietBackend {
            inner,
            cursor_visible: None,
            cursor_at: None,
        }
    }

    /// Shows the cursor on the way out, best effort: the terminal may be gone.
    /// Afterwards the cursor counts as shown, so ratatui's `Terminal` drop does
    /// not try again (it reports a failure with `eprintln!`, which panics when
    /// stderr is the same dead terminal).
    pub fn show_cursor_for_exit(&mut self) {
        if let Err(err) = self.inner.show_cursor() {
            tracing::debug!(error = %err, "cannot show the cursor on exit");
        }
        self.cursor_visible = Some(true);
    }
}

impl<B: Backend> Backend for QuietBackend<B> {
    type Error = B::Error;

    fn draw<'a, I: Iterator<Item = (u16, u16, &'a Cell)>>(
        &mut self,
        content: I,
    ) -> Result<(), B::Error> {
        let mut content = content.peekable();
        if content.peek().is_none() {
            return Ok(());
        }
        // Writing cells moves the terminal's cursor.
        self.cursor_at = None;
        self.inner.draw(content)
    }

    fn hide_cursor(&mut self) -> Result<(), B::Error> {
        if self.cursor_visible != Some(false) {
            self.inner.hide_cursor()?;
            self.cursor_visible = Some(false);
        }
        Ok(())
    }

    fn show_cursor(&mut self) -> Result<(), B::Error> {
        if self.cursor_visible != Some(true) {
            self.inner.show_cursor()?;
            self.cursor_visible = Some(true);
        }
        Ok(())
    }

    fn get_cursor_position(&mut self) -> Result<Position, B::Error> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), B::Error> {
        let position = position.into();
        if self.cursor_at != Some(position) {
            self.inner.set_cursor_position(position)?;
            self.cursor_at = Some(position);
        }
        Ok(())
    }

    fn clear(&mut self) -> Result<(), B::Error> {
        self.cursor_at = None;
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), B::Error> {
        self.cursor_at = None;
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> Result<Size, B::Error> {
        self.inner.size()
    }

    fn window_size(&mut self) -> Result<WindowSize, B::Error> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> Result<(), B::Error> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

    use ratatui::backend::CrosstermBackend;
    use ratatui::layout::Rect;
    use ratatui::widgets::Paragraph;
    use ratatui::{Terminal, TerminalOptions, Viewport};

    use super::*;

    /// The bytes a terminal would receive.
    #[derive(Clone, Default)]
    struct Wire(Arc<Mutex<Vec<u8>>>);

    impl Wire {
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
        }
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn terminal(wire: &Wire) -> Terminal<QuietBackend<CrosstermBackend<Wire>>> {
        let backend = QuietBackend::new(CrosstermBackend::new(wire.clone()));
        let viewport = Viewport::Fixed(Rect::new(0, 0, 20, 2));
        Terminal::with_options(backend, TerminalOptions { viewport }).unwrap()
    }

    fn frame(
        terminal: &mut Terminal<QuietBackend<CrosstermBackend<Wire>>>,
        text: &str,
        cursor: Option<(u16, u16)>,
    ) {
        terminal
            .draw(|frame| {
                frame.render_widget(Paragraph::new(text), frame.area());
                if let Some(at) = cursor {
                    frame.set_cursor_position(at);
                }
            })
            .unwrap();
    }

    #[test]
    fn an_unchanged_frame_writes_nothing() {
        let wire = Wire::default();
        let mut terminal = terminal(&wire);
        frame(&mut terminal, "steward", None);
        let first = wire.take();
        assert!(
            first.contains("steward") && first.contains("\x1b[?25l"),
            "{first:?}"
        );
        frame(&mut terminal, "steward", None);
        assert_eq!(wire.take(), "");
        frame(&mut terminal, "stewart", None);
        let changed = wire.take();
        assert!(
            changed.contains('t') && !changed.contains("\x1b[?25l"),
            "{changed:?}"
        );
    }

    #[test]
    fn a_shown_cursor_is_put_back_after_cells_are_written_and_left_alone_otherwise() {
        let wire = Wire::default();
        let mut terminal = terminal(&wire);
        frame(&mut terminal, "/ali", Some((4, 0)));
        let first = wire.take();
        assert!(first.ends_with("\x1b[?25h\x1b[1;5H"), "{first:?}");
        frame(&mut terminal, "/ali", Some((4, 0)));
        assert_eq!(wire.take(), "");
        frame(&mut terminal, "/alic", Some((5, 0)));
        assert!(wire.take().ends_with("\x1b[1;6H"));
        // Same cursor spot, but a cell elsewhere changed: the cursor moved, put it back.
        frame(&mut terminal, "/alic\nx", Some((5, 0)));
        let text = wire.take();
        assert!(
            text.ends_with("\x1b[1;6H") && !text.contains("\x1b[?25h"),
            "{text:?}"
        );
        frame(&mut terminal, "/alic\nx", None);
        assert_eq!(wire.take(), "\x1b[?25l");
    }
}
