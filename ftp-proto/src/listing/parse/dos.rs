//! DOS/Windows LIST lines, as IIS and other Windows servers send them.
//!
//! Owns `MM-DD-YY  HH:MM[AM|PM]  <DIR>|size  name` and its variants: four-digit years,
//! `YYYY-MM-DD`, `/` as the date separator, 24-hour times, a blank before `AM`/`PM` and sizes
//! with thousands separators (`52,113`). The name starts after the blanks that follow the size
//! column: servers pad that column differently, so leading blanks of a name cannot be told
//! from padding and are lost.

use super::{clock, number, small, tokens};
use crate::Timestamp;
use crate::listing::{Entry, EntryKind};

pub(super) fn parse(line: &[u8]) -> Option<Entry> {
    let mut toks = tokens(line);
    let text = |(s, e): (usize, usize)| line.get(s..e).unwrap_or_default();
    let (year, month, day) = date(text(toks.next()?))?;
    let time = text(toks.next()?);
    let mut col = toks.next()?;
    let (time, mut meridiem) = split_meridiem(time);
    if meridiem.is_none() {
        meridiem = meridiem_of(text(col));
        if meridiem.is_some() {
            col = toks.next()?;
        }
    }
    let (hour, minute, second) = clock(time)?;
    let hour = match meridiem {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(Meridiem::Am) => hour % 12,
        Some(Meridiem::Pm) => hour % 12 + 12,
    };
    let size_col = text(col);
    let (kind, size) = if size_col.eq_ignore_ascii_case(b"<DIR>") {
        (EntryKind::Dir, 0)
    } else {
        (EntryKind::File, size(size_col)?)
    };
    let rest = line.get(col.1..)?;
    let name = rest.get(rest.iter().position(|&b| b != b' ' && b != b'\t')?..)?;
    Some(Entry {
        name: name.to_vec(),
        kind,
        size,
        modified: Timestamp::new(year, month, day, hour, minute, second),
        ..Entry::default()
    })
}

#[derive(Clone, Copy)]
enum Meridiem {
    Am,
    Pm,
}

fn meridiem_of(col: &[u8]) -> Option<Meridiem> {
    if col.eq_ignore_ascii_case(b"AM") {
        Some(Meridiem::Am)
    } else if col.eq_ignore_ascii_case(b"PM") {
        Some(Meridiem::Pm)
    } else {
        None
    }
}

/// `12:05PM` into `12:05` and PM.
fn split_meridiem(col: &[u8]) -> (&[u8], Option<Meridiem>) {
    match col
        .len()
        .checked_sub(2)
        .and_then(|at| Some((col.get(..at)?, col.get(at..)?)))
    {
        Some((time, suffix)) => match meridiem_of(suffix) {
            Some(m) => (time, Some(m)),
            None => (col, None),
        },
        None => (col, None),
    }
}

/// `MM-DD-YY`, `MM-DD-YYYY` or `YYYY-MM-DD`, with `-` or `/`.
fn date(col: &[u8]) -> Option<(u16, u8, u8)> {
    let mut parts = col.split(|&b| b == b'-' || b == b'/');
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || [a, b, c].iter().any(|p| p.is_empty() || p.len() > 4) {
        return None;
    }
    let two = |p: &[u8]| {
        (p.len() <= 2)
            .then(|| small(p))
            .flatten()
            .and_then(|n| u8::try_from(n).ok())
    };
    let (year, month, day) = if a.len() == 4 {
        (small(a)?, two(b)?, two(c)?)
    } else {
        let year = match c.len() {
            2 => match small(c)? {
                y @ 0..=69 => 2000 + y,
                y => 1900 + y,
            },
            4 => small(c)?,
            _ => return None,
        };
        (year, two(a)?, two(b)?)
    };
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

/// A size, thousands separators allowed (`52,113`).
fn size(col: &[u8]) -> Option<u64> {
    if col.first() == Some(&b',') || col.len() > 27 {
        return None;
    }
    let digits: Vec<u8> = col.iter().copied().filter(|&b| b != b',').collect();
    number(&digits)
}
