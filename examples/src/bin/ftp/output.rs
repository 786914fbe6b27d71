//! What the `ftp` CLI shows: `ls` lines, `ls --json` objects and the transfer progress bar.
//! Owns the formats (they are part of the CLI's interface); it sends nothing to a server.
//!
//! `ls` prints one entry per line, sorted by name:
//!
//! ```text
//! d          0 2024-03-07 12:05 docs
//! -       1234 2024-03-07 12:05 notes.txt
//! l          9 -                latest
//! ```
//!
//! The type (`d` directory, `-` file, `l` symbolic link, `?` anything else), the size in bytes
//! right-aligned in 10 columns (wider when needed), the modification time in UTC as
//! `YYYY-MM-DD HH:MM` (or `-` padded to the same width when the server does not say), and the
//! name (invalid UTF-8 replaced by U+FFFD, control characters by `?`).
//!
//! `ls --json` prints a JSON array with one object per entry:
//! `{"name": "notes.txt", "type": "file", "size": 1234, "modified": "2024-03-07T12:05:00Z",
//! "mode": "0644"}`. `type` is `"file"`, `"dir"`, `"symlink"` or `"other"`; `modified` is
//! RFC 3339 UTC (with milliseconds when the server gave them) or `null`; `mode` is the
//! permission bits in octal or `null`. Names are exact when they are UTF-8 (lossy otherwise).

use std::io::{self, IsTerminal, Write};

use ftp_client_tokio::ftp_proto::Timestamp;
use ftp_client_tokio::ftp_proto::listing::{Entry, EntryKind};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

/// Sorts a listing by name (bytes), the order `ls` prints.
pub(crate) fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
}

/// One `ls` line (without the line end).
pub(crate) fn ls_line(entry: &Entry) -> String {
    let kind = match entry.kind {
        EntryKind::File => '-',
        EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir => 'd',
        EntryKind::Symlink { .. } => 'l',
        _ => '?',
    };
    let time = entry
        .modified
        .map_or_else(|| "-".to_owned(), |t| minute_utc(&t));
    format!(
        "{kind} {:>10} {time:<16} {}",
        entry.size,
        printable(&entry.name)
    )
}

/// `YYYY-MM-DD HH:MM`.
fn minute_utc(t: &Timestamp) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// RFC 3339 UTC: `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm` when known.
fn rfc3339(t: &Timestamp) -> String {
    let millis = t.millis().map(|ms| format!(".{ms:03}")).unwrap_or_default();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{millis}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A name for a terminal: lossy UTF-8, control characters (which could drive the terminal)
/// replaced by `?`.
pub(crate) fn printable(name: &[u8]) -> String {
    printable_text(&String::from_utf8_lossy(name))
}

/// Text for a terminal (a server's reply in an error message, say): control characters
/// (C0 such as ESC and BEL, DEL, C1), which could retitle, clear or reprogram the terminal,
/// replaced by `?`.
pub(crate) fn printable_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// One `ls --json` object.
pub(crate) fn json_entry(entry: &Entry) -> Value {
    let kind = match entry.kind {
        EntryKind::File => "file",
        EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir => "dir",
        EntryKind::Symlink { .. } => "symlink",
        _ => "other",
    };
    json!({
        "name": String::from_utf8_lossy(&entry.name),
        "type": kind,
        "size": entry.size,
        "modified": entry.modified.as_ref().map(rfc3339),
        "mode": entry.unix_mode.map(|m| format!("{:04o}", m & 0o7777)),
    })
}

/// Writes `values` as one JSON array, pretty-printed exactly as `serde_json::to_writer_pretty`
/// prints a `Vec` of them, one value at a time: a listing of millions of entries never has
/// them all as JSON values (hundreds of bytes each) at once.
pub(crate) fn write_json_array(
    out: &mut impl Write,
    values: impl IntoIterator<Item = Value>,
) -> io::Result<()> {
    use serde::Serializer as _;
    // `collect_seq` serializes the values one by one as the iterator yields them.
    let mut serializer = serde_json::Serializer::pretty(out);
    serializer.collect_seq(values)?;
    Ok(())
}

/// A progress bar on standard error, shown only when standard error is a terminal and the
/// user did not ask for quiet; otherwise every method does nothing.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for a transfer of `total` bytes (a spinner with a byte count when unknown),
    /// starting at `start` bytes (a resumed download), labelled `label`.
    pub(crate) fn new(quiet: bool, label: &str, total: Option<u64>, start: u64) -> Self {
        if quiet || !io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
        } else {
            "{msg} {spinner} {bytes} {binary_bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_owned());
        bar.set_position(start);
        Self { bar: Some(bar) }
    }

    /// A callback for [`ftp_client_tokio::TransferOptions::progress`]: `n` bytes moved in
    /// this transfer put the bar at `base + n`.
    pub(crate) fn updater(&self, base: u64) -> impl FnMut(u64) + Send + 'static {
        let bar = self.bar.clone();
        move |n| {
            if let Some(bar) = &bar {
                bar.set_position(base.saturating_add(n));
            }
        }
    }

    /// Removes the bar (success or failure: the result is reported separately).
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(entry: Entry) -> Entry {
        Entry {
            modified: Timestamp::new(2024, 3, 7, 12, 5, 9),
            ..entry
        }
    }

    #[test]
    fn lines() {
        assert_eq!(
            ls_line(&stamped(Entry::dir("docs"))),
            "d          0 2024-03-07 12:05 docs"
        );
        assert_eq!(
            ls_line(&stamped(Entry::file("a b.txt", 1234))),
            "-       1234 2024-03-07 12:05 a b.txt"
        );
        assert_eq!(
            ls_line(&Entry::symlink("l\x1b[2J", None)),
            "l          0 -                l?[2J"
        );
        assert_eq!(
            ls_line(&Entry::file(b"\xffx".to_vec(), 12_345_678_901)),
            "- 12345678901 -                \u{fffd}x"
        );
    }

    #[test]
    fn json_array_is_written_as_serde_json_pretty_prints_it() {
        let values = [
            json_entry(&Entry::dir("d")),
            json!("a \"name\"\nwith a line end"),
            json!({"nested": {"a": [1, 2]}, "empty": []}),
        ];
        for n in 0..=values.len() {
            let some = values.get(..n).unwrap_or_default().to_vec();
            let mut out = Vec::new();
            write_json_array(&mut out, some.clone()).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string_pretty(&some).unwrap()
            );
        }
    }

    #[test]
    fn json_objects() {
        let entry = Entry {
            unix_mode: Some(0o100644),
            ..stamped(Entry::file("résumé \"1\".txt", 3))
        };
        assert_eq!(
            json_entry(&entry),
            json!({"name": "résumé \"1\".txt", "type": "file", "size": 3,
                   "modified": "2024-03-07T12:05:09Z", "mode": "0644"})
        );
        assert!(
            json_entry(&entry)
                .to_string()
                .contains(r#""résumé \"1\".txt""#)
        );
        assert_eq!(
            json_entry(&Entry::dir("d")),
            json!({"name": "d", "type": "dir", "size": 0, "modified": null, "mode": null})
        );
        let with_ms = Timestamp::new(2024, 3, 7, 12, 5, 9).and_then(|t| t.with_millis(7));
        let entry = Entry {
            modified: with_ms,
            ..Entry::file("f", 1)
        };
        assert_eq!(json_entry(&entry)["modified"], "2024-03-07T12:05:09.007Z");
    }
}
