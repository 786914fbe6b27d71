//! Failed logins per client IP address, for the server-wide limit
//! ([`Server::login_failures_per_ip`](super::Server::login_failures_per_ip)).
//!
//! Owns the counts and the decision "this address is blocked now". It makes no protocol
//! decision: the accept loop refuses a blocked address's connections with 421 and the
//! connection task fails its logins without asking the authenticator.
//!
//! Counting is per fixed window: an address's first failure opens a window, every failure in
//! it counts, and once the window has passed the next failure starts a new one. Memory is
//! bounded: at most [`MAX_TRACKED`] addresses are held; when full, lapsed windows are dropped,
//! and if none have lapsed, new addresses are not tracked until some do (the per-connection
//! limit and delay still apply to them).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses whose failures are held at once (about 40 bytes each).
pub(crate) const MAX_TRACKED: usize = 65_536;

/// Failed logins per address, and the limit they are held to.
#[derive(Debug)]
pub(crate) struct LoginFailures {
    /// Failures within `window` that block an address; 0: no limit.
    limit: u32,
    window: Duration,
    by_ip: Mutex<HashMap<IpAddr, Window>>,
}

/// One address's failures: how many since `opened`.
#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    failures: u32,
}

impl LoginFailures {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            by_ip: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one failed login from `ip` (canonical form) at `now`.
    pub(crate) fn record(&self, ip: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let Ok(mut by_ip) = self.by_ip.lock() else {
            return;
        };
        if by_ip.len() >= MAX_TRACKED && !by_ip.contains_key(&ip) {
            by_ip.retain(|_, w| !self.lapsed(w, now));
            if by_ip.len() >= MAX_TRACKED {
                return;
            }
        }
        let window = by_ip.entry(ip).or_insert(Window {
            opened: now,
            failures: 0,
        });
        if self.lapsed(window, now) {
            *window = Window {
                opened: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    /// Whether `ip` (canonical form) has used up its failures in the current window.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let Ok(by_ip) = self.by_ip.lock() else {
            return false;
        };
        by_ip
            .get(&ip)
            .is_some_and(|w| w.failures >= self.limit && !self.lapsed(w, now))
    }

    fn lapsed(&self, window: &Window, now: Instant) -> bool {
        now.saturating_duration_since(window.opened) >= self.window
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.by_ip.lock().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn blocks_at_the_limit_until_the_window_lapses() {
        let failures = LoginFailures::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..2 {
            failures.record(ip(1), t0 + Duration::from_secs(i));
        }
        assert!(!failures.blocked(ip(1), t0 + Duration::from_secs(2)));
        failures.record(ip(1), t0 + Duration::from_secs(2));
        assert!(failures.blocked(ip(1), t0 + Duration::from_secs(3)));
        assert!(
            !failures.blocked(ip(2), t0 + Duration::from_secs(3)),
            "per address"
        );
        assert!(failures.blocked(ip(1), t0 + Duration::from_secs(59)));
        assert!(!failures.blocked(ip(1), t0 + Duration::from_secs(60)));
        // A failure after the window starts a new count.
        failures.record(ip(1), t0 + Duration::from_secs(61));
        assert!(!failures.blocked(ip(1), t0 + Duration::from_secs(62)));
    }

    #[test]
    fn zero_is_no_limit() {
        let failures = LoginFailures::new(0, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..100 {
            failures.record(ip(1), t0);
        }
        assert!(!failures.blocked(ip(1), t0));
        assert_eq!(failures.tracked(), 0);
    }

    #[test]
    fn memory_is_bounded_and_lapsed_windows_make_room() {
        let failures = LoginFailures::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for n in 0..MAX_TRACKED as u32 {
            failures.record(ip(n), t0);
        }
        // Full: a new address is not tracked while every window is open...
        let new = ip(u32::MAX);
        failures.record(new, t0 + Duration::from_secs(1));
        assert!(!failures.blocked(new, t0 + Duration::from_secs(1)));
        assert_eq!(failures.tracked(), MAX_TRACKED);
        // ...and is once they have lapsed (which also frees their memory).
        let later = t0 + Duration::from_secs(61);
        failures.record(new, later);
        assert!(failures.blocked(new, later));
        assert_eq!(failures.tracked(), 1);
    }
}
