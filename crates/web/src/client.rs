//! Who the client is: its address, taken from `Forwarded` or `X-Forwarded-For` only when the
//! connection comes from a proxy the settings trust (behind a reverse proxy every request has
//! the proxy's address, and the sign-in limits would count a whole office as one client).

use axum::http::HeaderMap;
use std::net::IpAddr;

/// An address or a network (`10.0.0.0/8`, `::1`), as the `trusted_proxies` setting lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("not an IP address or network: {text}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("bad prefix length: {text}"))?
            }
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is in this network (an IPv4 address mapped into IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The addresses a request passed through, nearest last: `Forwarded: for=…` if the request has
/// it, else `X-Forwarded-For`. Entries that are not addresses (`unknown`, obfuscated names)
/// end the list there, as nothing before them can be trusted.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let joined =
        |name: &str| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let forwarded = joined("forwarded");
    if !forwarded.trim().is_empty() {
        return forwarded
            .split(',')
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    if !key.trim().eq_ignore_ascii_case("for") {
                        return None;
                    }
                    parse_node(value.trim().trim_matches('"'))
                })
            })
            .collect();
    }
    joined("x-forwarded-for").split(',').filter(|s| !s.trim().is_empty()).map(|s| parse_node(s.trim())).collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`,
/// `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    text.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// address in the forwarding headers that is not a trusted proxy itself.
pub fn client_addr(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers).into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn networks() {
        let net: IpNet = "10.0.0.0/8".parse().expect("net");
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: IpNet = "127.0.0.1".parse().expect("address");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: IpNet = "2001:db8::/32".parse().expect("v6");
        assert!(v6.contains(ip("2001:db8::1")) && !v6.contains(ip("2001:db9::1")));
        assert!("0.0.0.0/0".parse::<IpNet>().expect("all").contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("proxy".parse::<IpNet>().is_err());
    }

    #[test]
    fn the_client_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1".parse().expect("net"), "10.0.0.0/8".parse().expect("net")];
        let xff = headers(&[("x-forwarded-for", "198.51.100.7, 203.0.113.5, 10.0.0.2")]);
        // The nearest untrusted address: 198.51.100.7 could be written by the client itself.
        assert_eq!(client_addr(&xff, ip("127.0.0.1"), &trusted), ip("203.0.113.5"));
        // From an untrusted peer the headers are ignored (anyone can write them).
        assert_eq!(client_addr(&xff, ip("192.0.2.9"), &trusted), ip("192.0.2.9"));
        assert_eq!(client_addr(&xff, ip("127.0.0.1"), &[]), ip("127.0.0.1"));
        let fwd = headers(&[("forwarded", "for=192.0.2.60;proto=http, for=\"[2001:db8::17]:4711\"")]);
        assert_eq!(client_addr(&fwd, ip("10.9.9.9"), &trusted), ip("2001:db8::17"));
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_addr(&unknown, ip("10.9.9.9"), &trusted), ip("10.9.9.9"));
        let ported = headers(&[("x-forwarded-for", "203.0.113.5:51000")]);
        assert_eq!(client_addr(&ported, ip("127.0.0.1"), &trusted), ip("203.0.113.5"));
        assert_eq!(client_addr(&HeaderMap::new(), ip("127.0.0.1"), &trusted), ip("127.0.0.1"));
    }
}
