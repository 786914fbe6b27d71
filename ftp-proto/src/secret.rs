//! `Secret<T>`: a value that must not show up in logs.
//!
//! Owns the wrapper used for PASS, ACCT and ADAT arguments. Its `Debug` and `Display` output is
//! redacted; the only way to the inner value is the explicitly named [`Secret::expose_secret`].
//! Equality is ordinary (not constant-time) comparison, for tests and round trips: verify
//! passwords against a password hash, never by comparing secrets.

use core::fmt;

/// A secret (password, account information, security data) whose `Debug` output is redacted.
///
/// ```
/// use ftp_proto::Secret;
/// let s = Secret::new(b"hunter2".to_vec());
/// assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
/// assert_eq!(s.expose_secret(), b"hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// Gives access to the secret. Call it only where the value is really needed
    /// (authentication, encoding on the wire), never to log it.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new(String::from("p4ssw0rd"));
        let shown = format!("{s:?} {s:#?} {s}");
        assert!(!shown.contains("p4ssw0rd"), "{shown}");
        assert_eq!(s.clone().into_inner(), "p4ssw0rd");
    }
}
