//! The shop's tests, each with its own mocks: run `cargo test` in this folder (the runner in
//! .cargo/config.toml puts each test binary under `mocket run`).

use std::sync::LazyLock;

use mocket::{Mocket, http, redis};
use serde_json::json;

#[test]
fn checkout_charges_the_card_over_https() {
    let m = Mocket::start();
    let charge = m
        .mock(
            http::post("https://api.stripe.com/v1/charges")
                .json_contains(json!({ "amount": 1200 }))
                .respond(http::status(201).json(json!({ "id": "ch_1" }))),
        )
        .expect(1);

    assert_eq!(shop::charge(1200, "order-7").unwrap(), "ch_1");

    let sent = &charge.requests()[0];
    assert_eq!(sent.header("idempotency-key"), Some("order-7"));
    assert_eq!(sent.json::<serde_json::Value>().unwrap()["currency"], "eur");
}

#[test]
fn a_refused_charge_is_an_error() {
    let m = Mocket::start();
    m.mock(
        http::post("https://api.stripe.com/v1/charges")
            .respond(http::status(402).json(json!({ "error": "card declined" }))),
    )
    .expect(1);
    assert_eq!(
        shop::charge(1200, "order-8").unwrap_err(),
        "charge refused: 402 Payment Required"
    );
}

#[test]
fn ureq_reads_a_user_computed_from_the_request() {
    let m = Mocket::start();
    m.mock(
        http::get("http://users.internal/v1/users/7")
            .path_regex("^/v1/users/[0-9]+$")
            .respond_with(|req| {
                let id = req
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                http::status(200).json(json!({ "id": id, "name": format!("user {id}") }))
            }),
    )
    .expect(1..);
    assert_eq!(shop::user_name(7).unwrap(), "user 7");
    assert_eq!(shop::user_name(42).unwrap(), "user 42");
}

/// One client and one multi-thread runtime for every test of the binary: the client's pooled
/// connections outlive each test (they live on the shared runtime: a client shared between
/// `#[tokio::test]`s, each with its own runtime, would keep connections of a runtime already
/// gone), and each test still gets only its own mocks.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

#[test]
fn async_reqwest_through_a_shared_client() {
    let m = Mocket::start();
    let user = m
        .mock(
            http::get("https://users.example.com/v1/users/1")
                .respond(http::status(200).json(json!({ "name": "Ada" }))),
        )
        .expect(2);
    RUNTIME.block_on(async {
        assert_eq!(shop::user_name_async(&CLIENT, 1).await.unwrap(), "Ada");
        // From a worker thread of the runtime: the same test's mocks.
        let again = tokio::spawn(async { shop::user_name_async(&CLIENT, 1).await });
        assert_eq!(again.await.unwrap().unwrap(), "Ada");
    });
    assert_eq!(user.hits(), 2);
}

#[test]
fn async_reqwest_same_host_other_answer() {
    // Same destination as the test above: the two run one after another (the lease), and the
    // shared client's pooled connection answers each with its own entries.
    let m = Mocket::start();
    m.mock(
        http::get("https://users.example.com/v1/users/1")
            .respond(http::status(200).json(json!({ "name": "Grace" }))),
    );
    let name = RUNTIME.block_on(shop::user_name_async(&CLIENT, 1));
    assert_eq!(name.unwrap(), "Grace");
}

#[test]
fn redis_commands_and_an_emulated_server() {
    let m = Mocket::start();
    m.mock(
        redis::command(["GET", "greeting"])
            .reply("hello")
            .at("cache.internal:6379"),
    );
    m.mock(
        redis::command(["INCR", "greeting:reads"])
            .reply(1)
            .at("cache.internal"),
    );
    assert_eq!(
        shop::greeting("redis://cache.internal/").unwrap(),
        ("hello".to_string(), 1)
    );

    m.mock(redis::emulate("sessions.internal:6379").data(json!({ "greeting": "hi" })));
    assert_eq!(
        shop::greeting("redis://sessions.internal/").unwrap(),
        ("hi".to_string(), 1)
    );
    assert_eq!(
        shop::greeting("redis://sessions.internal/").unwrap(),
        ("hi".to_string(), 2)
    );
    let commands: Vec<_> = m.requests().iter().map(|r| r.command().join(" ")).collect();
    assert!(
        commands.contains(&"INCR greeting:reads".to_string()),
        "{commands:?}"
    );
}
