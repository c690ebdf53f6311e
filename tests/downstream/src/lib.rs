//! A tiny client of a users API, standing in for any crate whose tests call a real service.

use std::time::Duration;

/// A user as the API returns it: the raw JSON text and the request id header.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: String,
}

/// Fetches `/v1/users/{id}` from `base` (`http://...` or `https://...`).
pub fn fetch_user(base: &str, id: u32) -> Result<Fetched, reqwest::Error> {
    // reqwest with rustls and the system roots (rustls-native-certs reads SSL_CERT_FILE).
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()?;
    let response = client.get(format!("{base}/v1/users/{id}")).send()?;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.text()?;
    Ok(Fetched {
        status,
        request_id,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_over_http() {
        let user = fetch_user("http://api.example.com", 1).expect("GET http://api.example.com");
        assert_eq!(user.status, 200);
        assert_eq!(user.request_id.as_deref(), Some("42"));
        assert_eq!(user.body, r#"{"id":1,"name":"Ada"}"#);
    }

    #[test]
    fn user_over_https() {
        let user = fetch_user("https://api.example.com", 2).expect("GET https://api.example.com");
        assert_eq!(user.status, 200);
        assert_eq!(user.request_id.as_deref(), Some("43"));
        assert_eq!(user.body, r#"{"id":2,"name":"Grace"}"#);
    }
}
