//! [`Permissions`] as text: the names the users file, the SQL `permissions` column and
//! `ftpd user add --perms` use.
//!
//! Owns the one spelling of each permission (`list`, `read`, `write`, `append`, `delete`,
//! `rename`, `mkdir`) and the shorthands `all`, `read-only` and `none`. It does not decide what
//! a permission allows (see [`Operation`](super::Operation)).

use std::fmt;
use std::str::FromStr;

use super::Permissions;

/// Every permission name, in the canonical order.
pub const PERMISSION_NAMES: [&str; 7] = [
    "list", "read", "write", "append", "delete", "rename", "mkdir",
];

/// A permission name that is not one of [`PERMISSION_NAMES`] or a shorthand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown permission {0:?} (expected list, read, write, append, delete, rename, mkdir, \
     or one of all, read-only, none)"
)]
#[non_exhaustive]
pub struct UnknownPermission(pub String);

impl Permissions {
    /// The names of the allowed operations, in the order of [`PERMISSION_NAMES`].
    ///
    /// ```
    /// use ftp_server_tokio::auth::Permissions;
    /// assert_eq!(Permissions::READ_ONLY.names(), ["list", "read"]);
    /// assert!(Permissions::NONE.names().is_empty());
    /// ```
    pub fn names(&self) -> Vec<&'static str> {
        let flags = [
            self.list,
            self.read,
            self.write,
            self.append,
            self.delete,
            self.rename,
            self.mkdir,
        ];
        PERMISSION_NAMES
            .iter()
            .zip(flags)
            .filter_map(|(name, on)| on.then_some(*name))
            .collect()
    }

    /// Adds the permission called `name` (one of [`PERMISSION_NAMES`]).
    fn grant(&mut self, name: &str) -> Result<(), UnknownPermission> {
        let flag = match name {
            "list" => &mut self.list,
            "read" => &mut self.read,
            "write" => &mut self.write,
            "append" => &mut self.append,
            "delete" => &mut self.delete,
            "rename" => &mut self.rename,
            "mkdir" => &mut self.mkdir,
            other => return Err(UnknownPermission(other.to_owned())),
        };
        *flag = true;
        Ok(())
    }

    /// The permissions named in `names` (each one of [`PERMISSION_NAMES`]; repeats are fine).
    ///
    /// # Errors
    ///
    /// [`UnknownPermission`] for the first name that is not a permission.
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, UnknownPermission> {
        let mut permissions = Permissions::NONE;
        for name in names {
            permissions.grant(name.trim())?;
        }
        Ok(permissions)
    }
}

/// Parses `all`, `read-only`, `none`, or a comma-separated list of names.
///
/// ```
/// use ftp_server_tokio::auth::Permissions;
/// assert_eq!("all".parse(), Ok(Permissions::ALL));
/// assert_eq!("read-only".parse(), Ok(Permissions::READ_ONLY));
/// assert_eq!("list, read".parse(), Ok(Permissions::READ_ONLY));
/// assert!("list,rm".parse::<Permissions>().is_err());
/// ```
impl FromStr for Permissions {
    type Err = UnknownPermission;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "all" => Ok(Permissions::ALL),
            "read-only" => Ok(Permissions::READ_ONLY),
            "none" | "" => Ok(Permissions::NONE),
            list => Permissions::from_names(list.split(',')),
        }
    }
}

/// Comma-separated names (`list,read`), or `none` when nothing is allowed; parses back with
/// [`FromStr`].
impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_sets_exactly_its_flag_and_round_trips() {
        for name in PERMISSION_NAMES {
            let p: Permissions = name.parse().unwrap();
            assert_eq!(p.names(), [name]);
            assert_eq!(p.to_string(), name);
        }
        assert_eq!(Permissions::ALL.names(), PERMISSION_NAMES);
        assert_eq!(Permissions::ALL.to_string().parse(), Ok(Permissions::ALL));
        assert_eq!(Permissions::NONE.to_string().parse(), Ok(Permissions::NONE));
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in ["List", "rw", "read,", "read,,list", "all,read", "*"] {
            assert!(bad.parse::<Permissions>().is_err(), "{bad:?} parsed");
        }
    }
}
