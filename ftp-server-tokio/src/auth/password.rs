//! Password hashes: argon2id in PHC string form, made and checked with the `argon2` crate.
//!
//! Owns [`HashedPassword`] (a validated PHC string), hashing with a random salt and the
//! argon2 crate's default parameters (argon2id, m = 19 MiB, t = 2, p = 1: the OWASP
//! recommendation), constant-time verification, and the fixed dummy hash an unknown user's
//! password is checked against. It never logs or keeps a password. Hashing and verifying are
//! CPU- and memory-heavy blocking calls: async callers run them on a blocking thread.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// A password hash in PHC string form, e.g. `$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`.
///
/// Only argon2 hashes (`argon2id`, `argon2i`, `argon2d`) are accepted, so that every stored
/// password is verified by the same code. `Debug` does not show the hash.
///
/// ```
/// use ftp_server_tokio::auth::HashedPassword;
/// let hash = HashedPassword::hash(b"s3cret")?;
/// assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert!(hash.verify(b"s3cret"));
/// assert!(!hash.verify(b"S3cret"));
/// // Stored hashes parse back, and garbage is refused.
/// let again: HashedPassword = hash.as_str().parse()?;
/// assert!(again.verify(b"s3cret"));
/// assert!("s3cret".parse::<HashedPassword>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HashedPassword(String);

/// A text that is not a usable argon2 PHC string, or a hash that could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Not an argon2 PHC string.
    #[error("not an argon2 password hash (expected $argon2id$v=19$m=...,t=...,p=...$SALT$HASH)")]
    NotArgon2,
    /// The argon2 crate refused to hash (an empty or oversized input, bad parameters).
    #[error("cannot hash the password: {0}")]
    Hashing(String),
}

/// The hasher every new hash uses: argon2id with the crate's default parameters.
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

impl HashedPassword {
    /// Hashes `password` with argon2id, the argon2 crate's default parameters and a random
    /// 16-byte salt from the operating system.
    ///
    /// This is slow on purpose (tens of milliseconds in a release build): call it from a
    /// blocking thread in async code.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Hashing`] if argon2 refuses the input (longer than 4 GiB).
    pub fn hash(password: &[u8]) -> Result<Self, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password, &salt)
            .map(|hash| Self(hash.to_string()))
            .map_err(|err| PasswordError::Hashing(err.to_string()))
    }

    /// Whether `password` matches, in time that does not depend on where it differs (argon2's
    /// `verify_password` compares the outputs in constant time). The hash's own parameters
    /// are used, so hashes made with other parameters keep working.
    ///
    /// The work area (19 MiB with the default parameters) is its own memory mapping, returned
    /// to the system when the check ends (see the private `work_area`).
    pub fn verify(&self, password: &[u8]) -> bool {
        // `None` is unreachable: the string was checked when this value was made.
        verify_phc(&self.0, password).unwrap_or(false)
    }

    /// The PHC string, for storing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash an unknown user's password is checked against, so that an unknown user costs
    /// the same argon2 work as a wrong password (no user enumeration by timing).
    ///
    /// Its parameters are those [`HashedPassword::hash`] uses (a unit test holds them equal);
    /// its password is unknown and irrelevant: the verification's result is never used.
    pub fn dummy() -> Self {
        Self(DUMMY_HASH.to_owned())
    }
}

/// What argon2's `verify_password` does, with the work area from [`work_area`]: hash
/// `password` with the stored hash's algorithm, version, parameters and salt, and compare the
/// outputs in constant time (`Output`'s `PartialEq`). `None` for a string that is not a usable
/// argon2 hash.
fn verify_phc(text: &str, password: &[u8]) -> Option<bool> {
    let parsed = PasswordHash::new(text).ok()?;
    let (salt, expected) = (parsed.salt?, parsed.hash?);
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version).ok()?,
        None => Version::default(),
    };
    // The output length comes from the stored hash.
    let params = Params::try_from(&parsed).ok()?;
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).ok()?;
    let mut blocks = work_area(params.block_count());
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut blocks)
            .map_err(|_| argon2::password_hash::Error::Password)
    })
    .ok()?;
    Some(computed == expected)
}

/// Allocations at least this large are always served by their own `mmap` in glibc (its
/// `DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit systems is 32 MiB) and unmapped when freed.
const ALWAYS_MAPPED: usize = 33 << 20;

/// An argon2 work area of `blocks` blocks, reserved with a capacity of at least
/// [`ALWAYS_MAPPED`] bytes; only the blocks used are touched, so only they become resident.
///
/// Why: a 19 MiB buffer is below glibc's largest dynamic mmap threshold. Freeing the first one
/// raises the threshold to its size, after which each later one comes from the heap of the
/// blocking thread's malloc arena and stays there when freed. A burst of failed logins spread
/// over the blocking pool's threads then kept gigabytes that were never given back (1.4 GB after
/// 120 wrong passwords, 12 at a time). Above the threshold's ceiling every work area is its own
/// mapping, and the memory goes back to the system as each check ends.
fn work_area(blocks: usize) -> Vec<Block> {
    let mut area = Vec::with_capacity(blocks.max(ALWAYS_MAPPED / Block::SIZE));
    area.resize(blocks, Block::new());
    area
}

/// See [`HashedPassword::dummy`]: made once with [`HashedPassword::hash`].
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$0Kuijc6lXwELCSK73SKAHg$/B8wcuMIXHcWlqR3c24faahq9AGaCjnHxClIzyvpSJE";

/// Largest argon2 memory cost accepted in a stored hash (KiB): 256 MiB.
const MAX_M_COST: u32 = 256 * 1024;
/// Largest argon2 time cost (passes) accepted in a stored hash.
const MAX_T_COST: u32 = 16;
/// Largest argon2 parallelism accepted in a stored hash.
const MAX_P_COST: u32 = 16;

impl FromStr for HashedPassword {
    type Err = PasswordError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let parsed = PasswordHash::new(text).map_err(|_| PasswordError::NotArgon2)?;
        let algorithm = parsed.algorithm.as_str();
        if !matches!(algorithm, "argon2id" | "argon2i" | "argon2d") || parsed.hash.is_none() {
            return Err(PasswordError::NotArgon2);
        }
        // The parameters must be ones argon2 accepts, or every verification would fail, and
        // bounded: a stored hash asking for gigabytes of memory or thousands of passes would
        // let one login exhaust the server (and time differently from the dummy hash).
        match Params::try_from(&parsed) {
            Ok(params)
                if params.m_cost() <= MAX_M_COST
                    && params.t_cost() <= MAX_T_COST
                    && params.p_cost() <= MAX_P_COST => {}
            _ => return Err(PasswordError::NotArgon2),
        }
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Debug for HashedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashedPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_has_the_parameters_new_hashes_get() {
        let fresh = HashedPassword::hash(b"x").unwrap();
        let fresh = PasswordHash::new(fresh.as_str()).unwrap();
        let dummy = HashedPassword::dummy();
        let dummy = PasswordHash::new(dummy.as_str()).unwrap();
        assert_eq!(fresh.algorithm, dummy.algorithm);
        assert_eq!(fresh.version, dummy.version);
        assert_eq!(fresh.params, dummy.params);
        assert_eq!(
            fresh.salt.map(|s| s.len()),
            dummy.salt.map(|s| s.len()),
            "same salt length"
        );
        assert_eq!(fresh.hash.map(|h| h.len()), dummy.hash.map(|h| h.len()));
        // And it is a real hash argon2 can verify against (of some unknown password).
        assert!(!HashedPassword::dummy().verify(b""));
    }

    #[test]
    fn stored_hashes_with_runaway_costs_are_refused() {
        let hash = HashedPassword::hash(b"pw").unwrap();
        let tail = hash.as_str().split_once("$m=19456,t=2,p=1").unwrap().1;
        for params in [
            "m=4194304,t=2,p=1",
            "m=19456,t=1000,p=1",
            "m=19456,t=2,p=64",
        ] {
            let text = format!("$argon2id$v=19${params}{tail}");
            assert_eq!(
                text.parse::<HashedPassword>(),
                Err(PasswordError::NotArgon2),
                "{params}"
            );
        }
        let sane = format!("$argon2id$v=19$m=65536,t=3,p=4{tail}");
        assert!(sane.parse::<HashedPassword>().is_ok());
    }

    #[test]
    fn hashes_made_with_other_argon2_settings_verify() {
        // Other variants, the old version 0x10, other costs and output lengths, as other
        // tools store them: the stored settings are used, not the defaults.
        let salt = SaltString::generate(&mut OsRng);
        for (algorithm, version, params) in [
            (
                Algorithm::Argon2i,
                Version::V0x10,
                Params::new(8192, 3, 2, Some(16)),
            ),
            (
                Algorithm::Argon2d,
                Version::V0x13,
                Params::new(4096, 1, 1, Some(64)),
            ),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(65536, 2, 4, None),
            ),
        ] {
            let argon2 = Argon2::new(algorithm, version, params.unwrap());
            let text = argon2.hash_password(b"pw", &salt).unwrap().to_string();
            let hash: HashedPassword = text.parse().unwrap();
            assert!(hash.verify(b"pw"), "{text}");
            assert!(!hash.verify(b"pW"), "{text}");
            assert!(!hash.verify(b""), "{text}");
        }
    }

    #[test]
    fn salts_differ() {
        let a = HashedPassword::hash(b"same").unwrap();
        let b = HashedPassword::hash(b"same").unwrap();
        assert_ne!(a, b);
        assert!(a.verify(b"same") && b.verify(b"same"));
    }

    #[test]
    fn non_argon2_phc_strings_are_refused() {
        for bad in [
            "",
            "$argon2id$",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "$argon2id$v=19$m=19456,t=2,p=1$9d1Lz3bXRzNTXXCRhbB+Ow",
            "$argon2id$v=19$m=1,t=2,p=1$9d1Lz3bXRzNTXXCRhbB+Ow$5lkNzpo9CyiPP1s0D3wUWpEbjOq3e9L2oy1HdbM23CI",
            "plain text",
        ] {
            assert!(bad.parse::<HashedPassword>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn debug_redacts() {
        let hash = HashedPassword::hash(b"pw").unwrap();
        assert!(!format!("{hash:?}").contains("argon2"));
    }
}
