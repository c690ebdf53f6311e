//! A small shop whose code calls real services by their real names, with no test hooks: a
//! payments API over HTTPS (reqwest), a users API over HTTP (ureq, and async reqwest) and a
//! Redis cache. Its tests (tests/) mock all of them with the `mocket` crate.

use std::time::Duration;

use serde_json::{Value, json};

/// Charges `amount` cents with reqwest's blocking client, over HTTPS; returns the charge id.
pub fn charge(amount: u64, idempotency_key: &str) -> Result<String, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post("https://api.stripe.com/v1/charges")
        .header("idempotency-key", idempotency_key)
        .header("content-type", "application/json")
        .body(json!({ "amount": amount, "currency": "eur" }).to_string())
        .send()
        .map_err(|e| e.to_string())?;
    if response.status().as_u16() != 201 {
        return Err(format!("charge refused: {}", response.status()));
    }
    let body: Value = serde_json::from_str(&response.text().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    body["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no charge id".into())
}

/// A user's name from the users API, with ureq (plain HTTP).
pub fn user_name(id: u32) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent
        .get(format!("http://users.internal/v1/users/{id}"))
        .call()
        .map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_str(
        &response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(body["name"].as_str().unwrap_or_default().to_string())
}

/// A user's name, asynchronously, through a client the caller shares.
pub async fn user_name_async(client: &reqwest::Client, id: u32) -> Result<String, String> {
    let response = client
        .get(format!("https://users.example.com/v1/users/{id}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_str(&response.text().await.map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    Ok(body["name"].as_str().unwrap_or_default().to_string())
}

/// The greeting cached in Redis, counting how often it was read.
pub fn greeting(redis_url: &str) -> redis::RedisResult<(String, i64)> {
    let mut con = redis::Client::open(redis_url)?.get_connection()?;
    let greeting: String = redis::cmd("GET").arg("greeting").query(&mut con)?;
    let reads: i64 = redis::cmd("INCR").arg("greeting:reads").query(&mut con)?;
    Ok((greeting, reads))
}
