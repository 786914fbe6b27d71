//! FTP timestamps: `YYYYMMDDHHMMSS[.sss]` in UTC (RFC 3659 section 2.3).
//!
//! Owns the time-val type used by MDTM, MFMT and the MLSx `modify` fact: validation, parsing,
//! formatting and conversion to and from Unix time. It never reads a clock.

use core::fmt;

/// The text is not a valid `YYYYMMDDHHMMSS[.sss]` UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp")]
#[non_exhaustive]
pub struct InvalidTimestamp;

/// A UTC time as FTP writes it: `YYYYMMDDHHMMSS` with optional milliseconds.
///
/// Every value is a valid calendar time (second 60 is allowed for leap seconds, as RFC 3659
/// allows it).
///
/// ```
/// use ftp_proto::Timestamp;
/// let t = Timestamp::parse(b"20240229235960.5").unwrap();
/// assert_eq!((t.year(), t.month(), t.day(), t.second(), t.millis()), (2024, 2, 29, 60, Some(500)));
/// assert_eq!(t.to_string(), "20240229235960.500");
/// assert!(Timestamp::parse(b"20230229000000").is_err()); // not a leap year
///
/// let epoch = Timestamp::from_unix(0).unwrap();
/// assert_eq!(epoch.to_string(), "19700101000000");
/// assert_eq!(Timestamp::parse(b"20000101000000").unwrap().to_unix(), 946_684_800);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    millis: Option<u16>,
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Timestamp {
    /// A timestamp from its fields, or `None` if they do not form a valid time
    /// (year 0..=9999, second 0..=60).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        let valid = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second <= 60;
        valid.then_some(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millis: None,
        })
    }

    /// The same time with milliseconds (`None` if `millis >= 1000`).
    pub fn with_millis(self, millis: u16) -> Option<Self> {
        (millis < 1000).then_some(Self {
            millis: Some(millis),
            ..self
        })
    }

    /// Year (0..=9999).
    pub fn year(&self) -> u16 {
        self.year
    }
    /// Month (1..=12).
    pub fn month(&self) -> u8 {
        self.month
    }
    /// Day of the month (1..=31).
    pub fn day(&self) -> u8 {
        self.day
    }
    /// Hour (0..=23).
    pub fn hour(&self) -> u8 {
        self.hour
    }
    /// Minute (0..=59).
    pub fn minute(&self) -> u8 {
        self.minute
    }
    /// Second (0..=60).
    pub fn second(&self) -> u8 {
        self.second
    }
    /// Milliseconds, when the time carried a fraction.
    pub fn millis(&self) -> Option<u16> {
        self.millis
    }

    /// Parses `YYYYMMDDHHMMSS[.f+]`. Fractions beyond milliseconds are truncated.
    ///
    /// time-val = 14DIGIT [ "." 1*DIGIT ]   (RFC 3659 section 2.3)
    pub fn parse(input: &[u8]) -> Result<Self, InvalidTimestamp> {
        let (digits, fraction) = match input.iter().position(|&b| b == b'.') {
            Some(dot) => {
                let (d, f) = input.split_at(dot);
                (d, Some(f.get(1..).unwrap_or_default()))
            }
            None => (input, None),
        };
        if digits.len() != 14 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(InvalidTimestamp);
        }
        let num = |from: usize, to: usize| -> u16 {
            digits
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
        };
        let narrow = |v: u16| u8::try_from(v).map_err(|_| InvalidTimestamp);
        let mut t = Self::new(
            num(0, 4),
            narrow(num(4, 6))?,
            narrow(num(6, 8))?,
            narrow(num(8, 10))?,
            narrow(num(10, 12))?,
            narrow(num(12, 14))?,
        )
        .ok_or(InvalidTimestamp)?;
        if let Some(frac) = fraction {
            if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
                return Err(InvalidTimestamp);
            }
            let mut ms = 0u16;
            for i in 0..3 {
                ms = ms * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
            }
            t.millis = Some(ms);
        }
        Ok(t)
    }

    /// Seconds since the Unix epoch (UTC). A leap second 60 counts as the next minute's 0.
    pub fn to_unix(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The time `secs` seconds after the Unix epoch, if it falls in years 0..=9999.
    pub fn from_unix(secs: i64) -> Option<Self> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let year = u16::try_from(y).ok()?;
        Self::new(
            year,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
            u8::try_from(rem / 3600).ok()?,
            u8::try_from(rem % 3600 / 60).ok()?,
            u8::try_from(rem % 60).ok()?,
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if let Some(ms) = self.millis {
            write!(f, ".{ms:03}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Timestamp {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let year = u.int_in_range(0..=9999)?;
        let month = u.int_in_range(1..=12)?;
        let day = u.int_in_range(1..=days_in_month(year, month))?;
        let t = Self::new(
            year,
            month,
            day,
            u.int_in_range(0..=23)?,
            u.int_in_range(0..=59)?,
            u.int_in_range(0..=60)?,
        )
        .ok_or(arbitrary::Error::IncorrectFormat)?;
        Ok(match u.arbitrary::<Option<u16>>()? {
            Some(ms) => t.with_millis(ms % 1000).unwrap_or(t),
            None => t,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        for (wire, canonical) in [
            (&b"19700101000000"[..], "19700101000000"),
            (b"99991231235959", "99991231235959"),
            (b"20240229120000.1", "20240229120000.100"),
            (b"20240229120000.123456789", "20240229120000.123"),
            (b"20001231235960", "20001231235960"),
        ] {
            let t = Timestamp::parse(wire).unwrap();
            assert_eq!(t.to_string(), canonical);
            assert_eq!(Timestamp::parse(canonical.as_bytes()), Ok(t));
        }
    }

    #[test]
    fn rejects_invalid_times() {
        for bad in [
            &b""[..],
            b"2024",
            b"202402291200000",
            b"2024022912000",
            b"20241301000000",
            b"20240001000000",
            b"20240100000000",
            b"20240431000000",
            b"20240101240000",
            b"20240101006000",
            b"20240101000061",
            b"20240101000000.",
            b"20240101000000.x",
            b"2024010100000a",
            b"-2024010100000",
            b"20240101 00000",
            b"000000000000000000000000000000",
        ] {
            assert_eq!(
                Timestamp::parse(bad),
                Err(InvalidTimestamp),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    #[test]
    fn unix_round_trip() {
        for secs in [
            0,
            1,
            59,
            86_399,
            86_400,
            951_782_400,
            1_700_000_000,
            -1,
            -62_167_219_200,
        ] {
            let t = Timestamp::from_unix(secs).unwrap();
            assert_eq!(t.to_unix(), secs, "{t}");
        }
        assert_eq!(Timestamp::from_unix(-62_167_219_201), None); // year -1
        assert_eq!(Timestamp::from_unix(253_402_300_800), None); // year 10000
        assert_eq!(Timestamp::from_unix(i64::MAX), None);
        assert_eq!(Timestamp::from_unix(i64::MIN), None);
    }
}
