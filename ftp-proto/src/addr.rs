//! Data-connection addresses on the control channel: PORT/EPRT arguments and 227/229 replies.
//!
//! Owns the text forms of RFC 959 host-port (`h1,h2,h3,h4,p1,p2`), RFC 2428 EPRT
//! (`|1|132.235.1.2|6275|`) and the 227/229 passive replies: parsing and formatting. It does not
//! decide whether an address is acceptable (bounce protection is session policy).

use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use nom::bytes::complete::tag;
use nom::character::complete::{digit1, space0};
use nom::{IResult, Parser};

use crate::error::AddrError;
use crate::reply::{Reply, ReplyCode};

/// A decimal number, saturating at `u32::MAX` so that 30-digit input cannot overflow.
fn decimal(i: &[u8]) -> IResult<&[u8], u32> {
    let (rest, digits) = digit1(i)?;
    let value = digits.iter().fold(0u32, |acc, d| {
        acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    Ok((rest, value))
}

/// `number *SP "," *SP`, the separator tolerated inside host-port lists.
fn comma_number(i: &[u8]) -> IResult<&[u8], u32> {
    let (i, _) = (space0, tag(&b","[..]), space0).parse(i)?;
    decimal(i)
}

/// host-port = h1 "," h2 "," h3 "," h4 "," p1 "," p2   (RFC 959 section 4.1.2)
fn host_port_numbers(i: &[u8]) -> IResult<&[u8], [u32; 6]> {
    let (i, (a, b, c, d, e, f)) = (
        decimal,
        comma_number,
        comma_number,
        comma_number,
        comma_number,
        comma_number,
    )
        .parse(i)?;
    Ok((i, [a, b, c, d, e, f]))
}

fn host_port_from_numbers(n: [u32; 6]) -> Result<SocketAddrV4, AddrError> {
    let mut bytes = [0u8; 6];
    for (slot, value) in bytes.iter_mut().zip(n) {
        *slot = u8::try_from(value).map_err(|_| AddrError::OutOfRange)?;
    }
    let [a, b, c, d, p1, p2] = bytes;
    Ok(SocketAddrV4::new(
        Ipv4Addr::new(a, b, c, d),
        u16::from_be_bytes([p1, p2]),
    ))
}

/// Parses a PORT argument, `h1,h2,h3,h4,p1,p2` (surrounding spaces tolerated).
///
/// ```
/// use ftp_proto::addr::parse_host_port;
/// let addr = parse_host_port(b"127,0,0,1,4,1").unwrap();
/// assert_eq!(addr.to_string(), "127.0.0.1:1025");
/// assert!(parse_host_port(b"127,0,0,256,4,1").is_err());
/// ```
pub fn parse_host_port(arg: &[u8]) -> Result<SocketAddrV4, AddrError> {
    let arg = arg.trim_ascii();
    match host_port_numbers(arg) {
        Ok((&[], numbers)) => host_port_from_numbers(numbers),
        _ => Err(AddrError::Syntax),
    }
}

/// Formats an address as a PORT argument / the numbers of a 227 reply.
///
/// ```
/// use ftp_proto::addr::format_host_port;
/// assert_eq!(format_host_port("10.0.0.7:50001".parse().unwrap()), "10,0,0,7,195,81");
/// ```
pub fn format_host_port(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

/// Parses a decimal port number 0..=65535.
fn port_number(text: &[u8]) -> Result<u16, AddrError> {
    match decimal(text) {
        Ok((&[], n)) => u16::try_from(n).map_err(|_| AddrError::OutOfRange),
        _ => Err(AddrError::Syntax),
    }
}

/// Parses an EPRT argument (RFC 2428 section 2):
///
/// `<d><net-prt><d><net-addr><d><tcp-port><d>` where `d` is any ASCII character 33..=126 and
/// net-prt is 1 (IPv4) or 2 (IPv6).
///
/// ```
/// use ftp_proto::addr::parse_eprt;
/// assert_eq!(parse_eprt(b"|2|::1|5282|").unwrap().to_string(), "[::1]:5282");
/// assert_eq!(parse_eprt(b"!1!132.235.1.2!6275!").unwrap().to_string(), "132.235.1.2:6275");
/// assert!(parse_eprt(b"|3|x|1|").is_err()); // unknown protocol: answer 522
/// ```
pub fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, AddrError> {
    let arg = arg.trim_ascii();
    let (&delim, _) = arg.split_first().ok_or(AddrError::Syntax)?;
    if !(33..=126).contains(&delim) || delim.is_ascii_digit() {
        return Err(AddrError::Syntax);
    }
    let mut parts = arg.split(|&b| b == delim);
    let (Some(b""), Some(proto), Some(addr), Some(port), Some(b""), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AddrError::Syntax);
    };
    let port = port_number(port)?;
    let ip = parse_ip_for_protocol(proto, addr)?;
    Ok(SocketAddr::new(ip, port))
}

fn parse_ip_for_protocol(proto: &[u8], addr: &[u8]) -> Result<IpAddr, AddrError> {
    let text = core::str::from_utf8(addr).map_err(|_| AddrError::InvalidIp)?;
    match proto {
        b"1" => text
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| AddrError::InvalidIp),
        b"2" => text
            .parse::<core::net::Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| AddrError::InvalidIp),
        p if !p.is_empty() && p.iter().all(u8::is_ascii_digit) => {
            Err(AddrError::UnsupportedProtocol)
        }
        _ => Err(AddrError::Syntax),
    }
}

/// Formats an EPRT argument with `|` delimiters.
///
/// ```
/// use ftp_proto::addr::format_eprt;
/// assert_eq!(format_eprt("[2001:db8::1]:2121".parse().unwrap()), "|2|2001:db8::1|2121|");
/// assert_eq!(format_eprt("127.0.0.1:2121".parse().unwrap()), "|1|127.0.0.1|2121|");
/// ```
pub fn format_eprt(addr: SocketAddr) -> String {
    let proto = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{proto}|{}|{}|", addr.ip(), addr.port())
}

/// Finds the address in the text of a 227 reply: six comma-separated numbers anywhere, with or
/// without parentheses (`227 Entering Passive Mode (127,0,0,1,4,1).`, `227 =127,0,0,1,4,1`).
///
/// Clients should not trust the IP it carries (it may be private, or a bounce target); see the
/// client session's policy. Numbers above 255 are an error, not skipped.
///
/// ```
/// use ftp_proto::addr::parse_pasv_reply;
/// let a = parse_pasv_reply(b"Entering Passive Mode (192,168,1,2,19,137).").unwrap();
/// assert_eq!(a.to_string(), "192.168.1.2:5001");
/// assert_eq!(parse_pasv_reply(b"Passive 10,0,0,1,0,21").unwrap().port(), 21);
/// ```
pub fn parse_pasv_reply(text: &[u8]) -> Result<SocketAddrV4, AddrError> {
    let mut prev_digit = false;
    for (i, &b) in text.iter().enumerate() {
        let digit = b.is_ascii_digit();
        if digit
            && !prev_digit
            && let Ok((_, numbers)) = host_port_numbers(text.get(i..).unwrap_or_default())
        {
            return host_port_from_numbers(numbers);
        }
        prev_digit = digit;
    }
    Err(AddrError::Syntax)
}

/// Finds the port in the text of a 229 reply, `(<d><d><d>port<d>)` with any delimiter
/// character (RFC 2428 section 3; IBM i uses `!`).
///
/// ```
/// use ftp_proto::addr::parse_epsv_reply;
/// assert_eq!(parse_epsv_reply(b"Entering Extended Passive Mode (|||6446|)"), Ok(6446));
/// assert_eq!(parse_epsv_reply(b"Entering Extended Passive Mode (!!!6446!)"), Ok(6446));
/// assert!(parse_epsv_reply(b"Entering Extended Passive Mode (|||70000|)").is_err());
/// ```
pub fn parse_epsv_reply(text: &[u8]) -> Result<u16, AddrError> {
    let mut found = Err(AddrError::Syntax);
    for (i, window) in text.windows(4).enumerate() {
        let &[d1, d2, d3, first] = window else {
            continue;
        };
        let delim_ok = (33..=126).contains(&d1) && !d1.is_ascii_digit();
        if !(delim_ok && d1 == d2 && d2 == d3 && first.is_ascii_digit()) {
            continue;
        }
        let Ok((rest, port)) = decimal(text.get(i + 3..).unwrap_or_default()) else {
            continue;
        };
        if rest.first() != Some(&d1) {
            continue;
        }
        found = u16::try_from(port).map_err(|_| AddrError::OutOfRange);
        break;
    }
    found
}

/// The 227 reply announcing a passive listener.
///
/// ```
/// use ftp_proto::addr::pasv_reply;
/// let r = pasv_reply("127.0.0.1:1025".parse().unwrap());
/// assert_eq!(r.to_bytes(), b"227 Entering Passive Mode (127,0,0,1,4,1).\r\n");
/// ```
pub fn pasv_reply(addr: SocketAddrV4) -> Reply {
    Reply::new(
        ReplyCode::ENTERING_PASSIVE_MODE,
        format!("Entering Passive Mode ({}).", format_host_port(addr)),
    )
}

/// The 229 reply announcing an extended passive listener.
///
/// ```
/// use ftp_proto::addr::epsv_reply;
/// assert_eq!(epsv_reply(6446).to_bytes(), b"229 Entering Extended Passive Mode (|||6446|)\r\n");
/// ```
pub fn epsv_reply(port: u16) -> Reply {
    Reply::new(
        ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE,
        format!("Entering Extended Passive Mode (|||{port}|)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_known_answers() {
        for (wire, addr) in [
            (&b"127,0,0,1,4,1"[..], "127.0.0.1:1025"),
            (b"0,0,0,0,0,0", "0.0.0.0:0"),
            (b"255,255,255,255,255,255", "255.255.255.255:65535"),
            (b" 10, 1,2 ,3,0,21 ", "10.1.2.3:21"),
            (b"010,001,002,003,000,021", "10.1.2.3:21"),
        ] {
            let parsed = parse_host_port(wire).unwrap();
            assert_eq!(parsed.to_string(), addr);
            assert_eq!(
                parse_host_port(format_host_port(parsed).as_bytes()),
                Ok(parsed)
            );
        }
    }

    #[test]
    fn host_port_errors() {
        assert_eq!(
            parse_host_port(b"127,0,0,1,4,256"),
            Err(AddrError::OutOfRange)
        );
        assert_eq!(
            parse_host_port(b"1000,0,0,1,4,1"),
            Err(AddrError::OutOfRange)
        );
        assert_eq!(
            parse_host_port(b"999999999999999999999999999999,0,0,1,4,1"),
            Err(AddrError::OutOfRange)
        );
        for bad in [
            &b""[..],
            b"127,0,0,1,4",
            b"127,0,0,1,4,1,5",
            b"127.0.0.1,4,1",
            b"-1,0,0,1,4,1",
            b"a,b,c,d,e,f",
            b"127,0,0,1,4,,1",
            b"127,0,0,1,4,1x",
        ] {
            assert_eq!(
                parse_host_port(bad),
                Err(AddrError::Syntax),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    #[test]
    fn eprt_known_answers() {
        for (wire, addr) in [
            (&b"|1|132.235.1.2|6275|"[..], "132.235.1.2:6275"),
            (
                b"|2|1080::8:800:200C:417A|5282|",
                "[1080::8:800:200c:417a]:5282",
            ),
            (b"#2#::ffff:127.0.0.1#65535#", "[::ffff:127.0.0.1]:65535"),
            (b"~1~127.0.0.1~0~", "127.0.0.1:0"),
        ] {
            let parsed = parse_eprt(wire).unwrap();
            assert_eq!(parsed.to_string(), addr);
            assert_eq!(parse_eprt(format_eprt(parsed).as_bytes()), Ok(parsed));
        }
    }

    #[test]
    fn eprt_errors() {
        assert_eq!(
            parse_eprt(b"|3|1.2.3.4|21|"),
            Err(AddrError::UnsupportedProtocol)
        );
        assert_eq!(
            parse_eprt(b"|3|1.2.3.4|21|").unwrap_err().reply_code(),
            ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED
        );
        assert_eq!(parse_eprt(b"|1|::1|21|"), Err(AddrError::InvalidIp));
        assert_eq!(parse_eprt(b"|2|1.2.3.4|21|"), Err(AddrError::InvalidIp));
        assert_eq!(parse_eprt(b"|1|1.2.3.256|21|"), Err(AddrError::InvalidIp));
        assert_eq!(parse_eprt(b"|1|1.2.3.4|65536|"), Err(AddrError::OutOfRange));
        assert_eq!(
            parse_eprt(b"|1|1.2.3.4|123456789012345678901234567890|"),
            Err(AddrError::OutOfRange)
        );
        for bad in [
            &b""[..],
            b"|",
            b"|1|1.2.3.4|21",
            b"|1|1.2.3.4|21|x",
            b"|1|1.2.3.4||",
            b"1|1|1.2.3.4|21|",
            b"|1|1.2.3.4|-21|",
            b"||1.2.3.4|21|",
            b"\x7f1\x7f1.2.3.4\x7f21\x7f",
        ] {
            assert_eq!(
                parse_eprt(bad),
                Err(AddrError::Syntax),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    #[test]
    fn pasv_reply_known_answers() {
        let addr: SocketAddrV4 = "127.0.0.1:1025".parse().unwrap();
        for text in [
            &b"Entering Passive Mode (127,0,0,1,4,1)."[..],
            b"Entering Passive Mode 127,0,0,1,4,1",
            b"=127,0,0,1,4,1",
            b"Entering Passive Mode (127, 0, 0, 1, 4, 1)",
            b"Mode 3 then (127,0,0,1,4,1)",
        ] {
            assert_eq!(parse_pasv_reply(text), Ok(addr), "{}", text.escape_ascii());
        }
        let formatted = pasv_reply(addr);
        assert_eq!(parse_pasv_reply(formatted.text().as_bytes()), Ok(addr));
        assert_eq!(
            parse_pasv_reply(b"(127,0,0,1,4,300)"),
            Err(AddrError::OutOfRange)
        );
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode"),
            Err(AddrError::Syntax)
        );
        assert_eq!(parse_pasv_reply(b"(127,0,0,1,4)"), Err(AddrError::Syntax));
    }

    #[test]
    fn epsv_reply_known_answers() {
        assert_eq!(
            parse_epsv_reply(b"Entering Extended Passive Mode (|||6446|)"),
            Ok(6446)
        );
        assert_eq!(parse_epsv_reply(b"ok (###1#)"), Ok(1));
        assert_eq!(parse_epsv_reply(b"|||65535|"), Ok(65535));
        assert_eq!(parse_epsv_reply(b"(|||65536|)"), Err(AddrError::OutOfRange));
        assert_eq!(parse_epsv_reply(b"(||6446|)"), Err(AddrError::Syntax));
        assert_eq!(parse_epsv_reply(b"(|||6446!)"), Err(AddrError::Syntax));
        assert_eq!(parse_epsv_reply(b"(111222|)"), Err(AddrError::Syntax));
        let r = epsv_reply(50000);
        assert_eq!(parse_epsv_reply(r.text().as_bytes()), Ok(50000));
    }
}
