//! The client's address, for rate limits, sessions and audit logs.
//!
//! The socket peer, unless the peer is a trusted proxy: then the right-most
//! address in `X-Forwarded-For` that is not itself a trusted proxy (the
//! left-most entries are whatever the client chose to send).

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address given the socket peer and the request headers.
    pub fn client_ip(&self, peer: Option<IpAddr>, req: &HttpRequest) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter_map(parse_hop)
            .collect();
        // Walk from the proxy nearest to us outwards.
        let mut client = peer;
        for hop in forwarded.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        Some(client)
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    raw.parse().ok().or_else(|| {
        let host = raw
            .strip_prefix('[')
            .and_then(|v| v.split_once(']').map(|(h, _)| h))
            .or_else(|| raw.rsplit_once(':').map(|(h, _)| h))?;
        host.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|p| p.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client() {
        let req = TestRequest::default()
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .to_http_request();
        assert_eq!(
            proxies(&[]).client_ip(Some(ip("10.0.0.9")), &req),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(
            proxies(&["10.0.0.1/32"]).client_ip(Some(ip("10.0.0.9")), &req),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn trusted_proxies_pass_on_the_rightmost_untrusted_hop() {
        let req = TestRequest::default()
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2"))
            .to_http_request();
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_ip(Some(ip("10.0.0.1")), &req),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn hops_with_ports_and_garbage() {
        assert_eq!(parse_hop("203.0.113.7:4711"), Some(ip("203.0.113.7")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("unknown"), None);
        let req = TestRequest::default()
            .insert_header(("x-forwarded-for", "garbage"))
            .to_http_request();
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_ip(Some(ip("10.0.0.1")), &req),
            Some(ip("10.0.0.1"))
        );
    }
}
