//! The allow list: destinations that are always reached for real (DESIGN.md section 3).

use std::fmt;
use std::net::IpAddr;

use mocket_protocols::field::{ascii_host, normalize_host};
use mocket_protocols::host_pattern;

/// The allow list used when neither the mocks file, `MOCKET_ALLOW` nor `--allow` gives one.
pub const DEFAULT_ALLOW: &[&str] = &["localhost", "127.0.0.0/8", "::1"];

/// One `allow` rule: a host, `host:port`, an IP or a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    Host {
        host: String,
        port: Option<u16>,
    },
    Net {
        addr: IpAddr,
        prefix: u8,
        port: Option<u16>,
    },
}

/// Why a text is not an allow rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRuleError {
    /// Not of any rule's form; holds the text as given.
    NotARule(String),
    /// A host name without an ASCII (IDNA) form, or a `*` outside a host pattern; holds why.
    BadHost(String),
}

impl fmt::Display for AllowRuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRuleError::NotARule(text) => write!(
                f,
                "\"{text}\" is not an allow rule: expected a host, host:port, an IP or a CIDR \
                 (for example \"db.internal:5432\" or \"10.0.0.0/8\")"
            ),
            AllowRuleError::BadHost(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for AllowRuleError {}

impl AllowRule {
    pub fn parse(text: &str) -> Result<Self, AllowRuleError> {
        let bad = || AllowRuleError::NotARule(text.to_string());
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(bad());
        }
        if let Some((net, prefix)) = text.split_once('/') {
            let addr: IpAddr = net.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= max).ok_or_else(bad)?;
            return Ok(AllowRule::Net {
                addr,
                prefix,
                port: None,
            });
        }
        if let Ok(addr) = text.parse::<IpAddr>() {
            return Ok(AllowRule::Net {
                addr,
                prefix: full_prefix(addr),
                port: None,
            });
        }
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
                (h, Some(p))
            }
            None => match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            },
        };
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| bad()))
            .transpose()?;
        match host.parse::<IpAddr>() {
            Ok(addr) => Ok(AllowRule::Net {
                addr,
                prefix: full_prefix(addr),
                port,
            }),
            Err(_) if !host.is_empty() && !host.contains([':', '/', '[', ']']) => {
                host_pattern::check(host).map_err(|e| AllowRuleError::BadHost(e.to_string()))?;
                Ok(AllowRule::Host {
                    host: ascii_host(host).map_err(|e| AllowRuleError::BadHost(e.to_string()))?,
                    port,
                })
            }
            Err(_) => Err(bad()),
        }
    }

    /// Whether a connection to `host` (a name, or an IP in text) on `port` is allowed.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        match self {
            AllowRule::Host { host: h, port: p } => {
                host_pattern::covers(h, &normalize_host(host)) && p.is_none_or(|p| p == port)
            }
            AllowRule::Net {
                addr,
                prefix,
                port: p,
            } => {
                p.is_none_or(|p| p == port)
                    && host
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| in_net(ip, *addr, *prefix))
            }
        }
    }

    /// Whether a name lookup of `host` should be answered by the real resolver.
    fn allows_name(&self, host: &str) -> bool {
        matches!(self, AllowRule::Host { host: h, .. } if host_pattern::covers(h, &normalize_host(host)))
    }

    /// Whether the rule names `host` exactly (not by a pattern), on `port` when given.
    fn names_exactly(&self, host: &str, port: Option<u16>) -> bool {
        matches!(self, AllowRule::Host { host: h, port: p }
            if *h == host && (p.is_none() || port.is_none() || *p == port))
    }
}

fn full_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRule::Host { host, port: None } => f.write_str(host),
            AllowRule::Host {
                host,
                port: Some(p),
            } => write!(f, "{host}:{p}"),
            AllowRule::Net { addr, prefix, port } => {
                let bracket = addr.is_ipv6() && port.is_some();
                match (bracket, *prefix == full_prefix(*addr)) {
                    (true, _) => write!(f, "[{addr}]")?,
                    (false, true) => write!(f, "{addr}")?,
                    (false, false) => write!(f, "{addr}/{prefix}")?,
                }
                port.map_or(Ok(()), |p| write!(f, ":{p}"))
            }
        }
    }
}

/// The allow list in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(pub Vec<AllowRule>);

impl AllowList {
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<Self, AllowRuleError> {
        rules
            .iter()
            .map(|r| AllowRule::parse(r.as_ref()))
            .collect::<Result<_, _>>()
            .map(AllowList)
    }

    pub fn default_rules() -> Self {
        AllowList::parse(DEFAULT_ALLOW).expect("the default allow list parses")
    }

    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.0.iter().any(|r| r.allows(host, port))
    }

    /// Whether a rule names `host` (normalized) exactly, on `port` when given: such a rule wins
    /// over an entry's host pattern (an exact host wins over a pattern).
    pub fn names_exactly(&self, host: &str, port: Option<u16>) -> bool {
        self.0.iter().any(|r| r.names_exactly(host, port))
    }

    /// Whether `host` is allowed by name (on some port), so its lookup goes to the real resolver.
    pub fn allows_name(&self, host: &str) -> bool {
        self.0.iter().any(|r| r.allows_name(host))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("nothing");
        }
        let rules: Vec<String> = self.0.iter().map(|r| r.to_string()).collect();
        f.write_str(&rules.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_rules_match_the_ascii_form() {
        let allow = AllowList::parse(&["Bücher.example:443"]).unwrap();
        assert!(allow.allows("xn--bcher-kva.example", 443));
        assert!(allow.allows("bücher.example", 443));
        assert!(allow.allows_name("XN--BCHER-KVA.example."));
        assert_eq!(allow.to_string(), "xn--bcher-kva.example:443");
    }

    #[test]
    fn host_patterns_allow_every_subdomain() {
        let allow =
            AllowList::parse(&["*.example.com", "*.internal:5432", "api.example.org"]).unwrap();
        assert!(allow.allows("a.example.com", 443));
        assert!(allow.allows("A.B.Example.com.", 80));
        assert!(!allow.allows("example.com", 443));
        assert!(allow.allows_name("x.example.com"));
        assert!(allow.allows("db.internal", 5432));
        assert!(!allow.allows("db.internal", 5433));
        assert!(allow.names_exactly("api.example.org", Some(1)));
        assert!(!allow.names_exactly("a.example.com", None));
        for bad in ["*", "a.*.com", "*foo.com", "*.*.com:1"] {
            let err = AllowList::parse(&[bad]).unwrap_err().to_string();
            assert!(err.contains("\"*.\" then a domain"), "{bad}: {err}");
        }
    }

    #[test]
    fn default_allows_loopback_only() {
        let allow = AllowList::default_rules();
        assert!(allow.allows("127.0.0.1", 80));
        assert!(allow.allows("127.9.9.9", 1));
        assert!(allow.allows("::1", 5));
        assert!(allow.allows("::ffff:127.0.0.1", 5));
        assert!(allow.allows("LocalHost", 5));
        assert!(!allow.allows("10.0.0.1", 80));
        assert!(!allow.allows("api.example.com", 443));
        assert_eq!(allow.to_string(), "localhost, 127.0.0.0/8, ::1");
    }

    #[test]
    fn rule_forms() {
        let allow =
            AllowList::parse(&["db.internal:5432", "10.0.0.0/8", "[::1]:80", "1.2.3.4"]).unwrap();
        assert!(allow.allows("db.internal", 5432));
        assert!(!allow.allows("db.internal", 5433));
        assert!(allow.allows_name("DB.internal."));
        assert!(allow.allows("10.200.0.1", 1));
        assert!(allow.allows("::1", 80));
        assert!(!allow.allows("::1", 81));
        assert!(allow.allows("1.2.3.4", 9));
        assert!(!allow.allows("1.2.3.5", 9));
        assert_eq!(
            allow.to_string(),
            "db.internal:5432, 10.0.0.0/8, [::1]:80, 1.2.3.4"
        );
    }

    #[test]
    fn a_host_without_an_ascii_form_says_why() {
        let err = AllowRule::parse("a\u{200b}\u{5d0}1.example:1").unwrap_err();
        assert!(matches!(err, AllowRuleError::BadHost(_)), "{err:?}");
        assert!(
            err.to_string().contains("not a valid internationalized"),
            "{err}"
        );
    }

    #[test]
    fn bad_rules_are_explained() {
        for bad in ["", "a b", "10.0.0.0/33", "host:port", "[::1", "x/8"] {
            let err = AllowRule::parse(bad).unwrap_err();
            assert_eq!(err, AllowRuleError::NotARule(bad.to_string()));
            assert!(
                err.to_string().contains("not an allow rule"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn empty_list_allows_nothing() {
        let allow = AllowList::parse::<&str>(&[]).unwrap();
        assert!(!allow.allows("127.0.0.1", 1));
        assert_eq!(allow.to_string(), "nothing");
    }
}
