//! IP networks in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`): where a virtual user may
//! log in from.
//!
//! Owns [`IpNetwork`], its parser and the membership test. It does not decide what a refusal
//! means (the authenticator does) and never resolves names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address whose bits past the prefix length are zero.
///
/// Parsed from `ADDR/LEN` or a bare address (a single host, `/32` or `/128`). A peer that
/// connects over IPv6 with an IPv4-mapped address (`::ffff:192.0.2.7`, what a dual-stack
/// listener reports for IPv4 clients) is matched as the IPv4 address it carries.
///
/// ```
/// use ftp_server_tokio::auth::IpNetwork;
/// let lan: IpNetwork = "192.168.1.0/24".parse()?;
/// assert!(lan.contains("192.168.1.77".parse()?));
/// assert!(lan.contains("::ffff:192.168.1.77".parse()?));
/// assert!(!lan.contains("192.168.2.1".parse()?));
/// assert_eq!(lan.to_string(), "192.168.1.0/24");
/// // Host bits set are a typo, not a network.
/// assert!("192.168.1.1/24".parse::<IpNetwork>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

/// Why a text is not an [`IpNetwork`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpNetworkError {
    /// The part before `/` is not an IP address.
    #[error("{0:?} is not an IP address")]
    Address(String),
    /// The prefix length is not a number within the address family's width.
    #[error("{0:?} is not a prefix length (0-32 for IPv4, 0-128 for IPv6)")]
    Prefix(String),
    /// Bits past the prefix length are set (e.g. `10.0.0.1/8`): probably a typo.
    #[error("{0} has bits set past its prefix length; did you mean {1}?")]
    HostBits(String, IpNetwork),
}

impl IpNetwork {
    /// The network of `addr` with `prefix` leading bits, host bits cleared.
    ///
    /// `None` when `prefix` exceeds the address width (32 or 128).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(v4) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
            _ => return None,
        };
        Some(Self { addr, prefix })
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `peer` is inside this network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        match Self::new(peer, self.prefix) {
            Some(net) => net.addr == self.addr,
            None => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = IpNetworkError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| IpNetworkError::Address(addr_text.to_owned()))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => width,
            // Digits only: `u8::from_str` would also take a leading `+`.
            Some(p) => Some(p)
                .filter(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|&n| n <= width)
                .ok_or_else(|| IpNetworkError::Prefix(p.to_owned()))?,
        };
        let net =
            Self::new(addr, prefix).ok_or_else(|| IpNetworkError::Prefix(prefix.to_string()))?;
        if net.addr != addr {
            return Err(IpNetworkError::HostBits(text.to_owned(), net));
        }
        Ok(net)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_membership_at_the_edges() {
        let n = net("10.1.0.0/16");
        assert!(n.contains(ip("10.1.0.0")));
        assert!(n.contains(ip("10.1.255.255")));
        assert!(!n.contains(ip("10.2.0.0")));
        assert!(!n.contains(ip("10.0.255.255")));
        assert!(
            !n.contains(ip("::a01:0")),
            "IPv4-compatible (not mapped) is IPv6"
        );
        assert!(n.contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn ipv6_membership_and_mapped_peers() {
        let n = net("2001:db8::/32");
        assert!(n.contains(ip("2001:db8:ffff::1")));
        assert!(!n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("192.0.2.1")));
        let mapped = net("::ffff:0:0/96");
        // A peer is canonicalised first, so an IPv4-mapped network never matches.
        assert!(!mapped.contains(ip("::ffff:192.0.2.1")));
    }

    #[test]
    fn zero_and_full_prefixes() {
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("0.0.0.0/0").contains(ip("::ffff:203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        assert_eq!(net("192.0.2.7"), net("192.0.2.7/32"));
        assert_eq!(net("2001:db8::7"), net("2001:db8::7/128"));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
    }

    #[test]
    fn malformed_networks_are_errors() {
        for bad in [
            "",
            "/",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "example.org/8",
            "10.0.0.1/8",
            "2001:db8::1/32",
            "10.0.0.0/ 8",
            "10.0.0.0/08a",
            "10.0.0.0/999999999999",
        ] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "192.0.2.0/24",
            "2001:db8::/32",
            "0.0.0.0/0",
            "::/0",
            "::1/128",
        ] {
            assert_eq!(net(s).to_string(), s);
        }
    }
}
