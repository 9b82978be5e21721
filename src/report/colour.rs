//! Colour for the terminal report, and when to leave it out.
//!
//! Colour is on only when the report goes to a terminal: not into a pipe or a file
//! (`--output`), not with `NO_COLOR` set to anything non-empty (no-color.org), not
//! on `TERM=dumb`. It is plain ANSI SGR, applied after the report is built, so the
//! words and layout are the same with and without it.

use std::io::IsTerminal;

/// A style for one piece of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Headings.
    Bold,
    /// Axes and legends.
    Dim,
    /// Good news: parallelism, nothing lost.
    Good,
    /// Neither: no parallelism.
    Neutral,
    /// Bad news: slower than sequential, lost updates.
    Bad,
    /// The n-th model's colour (by its row in the report).
    Model(usize),
}

/// Whether to colour, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    enabled: bool,
}

/// ANSI colours for models: cyan, magenta, yellow, blue, green, red, then again.
const MODEL_SGR: [&str; 6] = ["36", "35", "33", "34", "32", "31"];

impl Palette {
    /// No colour at all.
    pub fn plain() -> Palette {
        Palette { enabled: false }
    }

    /// Always colour (for tests of the coloured form).
    pub fn ansi() -> Palette {
        Palette { enabled: true }
    }

    /// Colour if the report goes to standard output, it is a terminal, and the
    /// environment does not say otherwise.
    pub fn for_stdout(to_file: bool) -> Palette {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Palette {
            enabled: !to_file && !no_color && !dumb && std::io::stdout().is_terminal(),
        }
    }

    /// Whether this palette colours anything.
    pub fn enabled(self) -> bool {
        self.enabled
    }

    /// `text` in `style` (unchanged when colour is off).
    pub fn paint(self, text: &str, style: Style) -> String {
        if !self.enabled || text.is_empty() {
            return text.to_string();
        }
        let sgr = match style {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Good => "32",
            Style::Neutral => "33",
            Style::Bad => "31",
            Style::Model(i) => MODEL_SGR[i % MODEL_SGR.len()],
        };
        format!("\x1b[{sgr}m{text}\x1b[0m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_is_untouched_and_ansi_wraps() {
        assert_eq!(Palette::plain().paint("gil", Style::Bad), "gil");
        assert_eq!(
            Palette::ansi().paint("gil", Style::Bad),
            "\x1b[31mgil\x1b[0m"
        );
        assert_eq!(Palette::ansi().paint("", Style::Bad), "");
    }
}
