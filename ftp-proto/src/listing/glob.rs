//! Wildcards in the last segment of a LIST, NLST or STAT argument (`NLST *.txt`), as `ls`
//! and the common servers (vsftpd, proftpd) expand them for a client's multiple get.
//!
//! Owns [`glob_match`] and [`has_wildcards`]. Matching is linear in practice and at worst
//! `O(name × pattern)`: no backtracking beyond the last `*`, so no pattern can make it slow.

/// Whether `segment` holds a wildcard (`*`, `?` or `[`).
///
/// ```
/// use ftp_proto::listing::has_wildcards;
/// assert!(has_wildcards(b"*.txt") && has_wildcards(b"a?c") && has_wildcards(b"[ab]*"));
/// assert!(!has_wildcards(b"plain.txt"));
/// ```
pub fn has_wildcards(segment: &[u8]) -> bool {
    segment.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Whether `name` matches `pattern`: `*` any run of bytes, `?` one byte, `[abc]`, `[a-z]`
/// and `[!a-z]` (or `[^a-z]`) one byte of (or not of) a set; everything else itself. As in a
/// shell, a name beginning with `.` is matched only by a pattern beginning with `.`. A name
/// equal to the pattern always matches, so a file literally named `photo [1].jpg` is found by
/// its own name.
///
/// ```
/// use ftp_proto::listing::glob_match;
/// assert!(glob_match(b"*.txt", b"notes.txt"));
/// assert!(!glob_match(b"*.txt", b"notes.txt.bak"));
/// assert!(glob_match(b"f?le[0-9].*", b"file7.gz"));
/// assert!(glob_match(b"[!a]*", b"b") && !glob_match(b"[!a]*", b"a"));
/// assert!(!glob_match(b"*", b".hidden") && glob_match(b".*", b".hidden"));
/// assert!(glob_match(b"photo [1].jpg", b"photo [1].jpg"));
/// ```
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    if pattern == name {
        return true;
    }
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    let (mut p, mut n) = (0, 0);
    // Where to resume after the last `*`: the pattern position after it, and the name
    // position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pattern, p + 1, name[n]) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                // No closing `]`: the `[` is an ordinary byte.
                None => (name[n] == b'[').then_some(p + 1),
            },
            Some(&b) => (b == name[n]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((after, swallowed))) => {
                // Let the last `*` take one more byte and try again from there.
                p = after;
                n = swallowed + 1;
                star = Some((after, swallowed + 1));
            }
            (None, None) => return false,
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

/// A `[...]` class starting at `at` (just after the `[`), tried against `byte`: whether it
/// matched and where the pattern goes on, or `None` if the class is not closed.
fn class(pattern: &[u8], at: usize, byte: u8) -> Option<(bool, usize)> {
    let mut i = at;
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let c = *pattern.get(i)?;
        if c == b']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        match (pattern.get(i + 1), pattern.get(i + 2)) {
            (Some(b'-'), Some(&hi)) if hi != b']' => {
                matched |= (c..=hi).contains(&byte);
                i += 3;
            }
            _ => {
                matched |= c == byte;
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for (pattern, name, want) in [
            (&b"*"[..], &b"a"[..], true),
            (b"*", b"", true),
            (b"a*b*c", b"aXXbYYc", true),
            (b"a*b*c", b"aXXbYY", false),
            (b"*a", b"banana", true),
            (b"**", b"x", true),
            (b"?", b"", false),
            (b"??", b"ab", true),
            (b"[a-c]x", b"bx", true),
            (b"[a-c]x", b"dx", false),
            (b"[]]", b"]", true),
            (b"[a-]", b"-", true),
            (b"[^0-9]", b"5", false),
            (b"[abc", b"[abc", true),
            (b"[abc*", b"[abcdef", true),
            (b"*.TXT", b"a.txt", false),
            (b"caf\xe9*", b"caf\xe9 au lait", true),
        ] {
            assert_eq!(
                glob_match(pattern, name),
                want,
                "{} ~ {}",
                pattern.escape_ascii(),
                name.escape_ascii()
            );
        }
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        // Many stars against a long non-matching name: no exponential backtracking.
        let pattern = b"*a".repeat(200);
        let name = vec![b'a'; 255];
        assert!(glob_match(&pattern, &name[..200]));
        assert!(!glob_match(&pattern, &name[..199]));
        let pattern = [b"*".repeat(1000), b"b".to_vec()].concat();
        assert!(!glob_match(&pattern, &name));
    }
}
