use std::net::IpAddr;

/// Who is asking: recorded on sessions and in audit events. The HTTP layer
/// builds it (client address behind trusted proxies, user agent).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}
