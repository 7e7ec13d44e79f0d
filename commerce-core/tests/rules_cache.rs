//! The rules cache (`Config::rules_cache_ttl`): a change made through the
//! engine is priced at once; one written to the store behind the engine's
//! back is not, until the cache is forgotten (or its time runs out); and a
//! zero TTL reads the store for every cart.

#![cfg(feature = "testkit")]

use std::sync::Arc;
use std::time::Duration;

use commerce_core::Quantity;
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::promotion::PromotionSpec;
use commerce_core::service::Config;
use commerce_core::storage::InMemoryStore;
use commerce_core::testkit::Harness;

fn harness(ttl: Duration) -> Harness<InMemoryStore> {
    Harness::with_config(
        Arc::new(InMemoryStore::new()),
        Config {
            rules_cache_ttl: ttl,
            ..Config::default()
        },
    )
}

fn spec(percent: &str) -> PromotionSpec {
    serde_json::from_str(&format!(
        r#"{{"name": "{percent} % off", "action": {{"type": "percentage", "percent": "{percent}"}}}}"#
    ))
    .expect("spec")
}

async fn discount(h: &Harness<InMemoryStore>, owner: &CartOwner) -> String {
    let view = h.commerce.cart_view(owner, None).await.expect("view");
    view.priced.discount_total.to_decimal().to_string()
}

async fn shop(h: &Harness<InMemoryStore>) -> CartOwner {
    let (_, store) = h.seller("rules").await;
    let v = h.product(store, None, "Lamp", "100.00", 10).await;
    let owner = CartOwner::Guest(CartToken::generate());
    h.commerce
        .add_to_cart(&owner, v, Quantity::new(1).expect("qty"))
        .await
        .expect("add");
    owner
}

#[tokio::test]
async fn changes_through_the_engine_are_priced_at_once() {
    let h = harness(Duration::from_secs(3600));
    let owner = shop(&h).await;
    assert_eq!(discount(&h, &owner).await, "0.00", "no promotion yet");
    let p = h
        .commerce
        .create_promotion(spec("10"))
        .await
        .expect("create");
    assert_eq!(
        discount(&h, &owner).await,
        "10.00",
        "created: priced at once"
    );
    h.commerce
        .update_promotion(p.id(), spec("20"))
        .await
        .expect("update");
    assert_eq!(
        discount(&h, &owner).await,
        "20.00",
        "updated: priced at once"
    );
    h.commerce.delete_promotion(p.id()).await.expect("delete");
    assert_eq!(discount(&h, &owner).await, "0.00", "deleted: gone at once");
}

#[tokio::test]
async fn a_direct_store_write_waits_for_the_cache_to_be_forgotten() {
    let h = harness(Duration::from_secs(3600));
    let owner = shop(&h).await;
    assert_eq!(discount(&h, &owner).await, "0.00");
    // Written behind the engine's back, as another server would.
    h.promotion(r#"{"name": "direct", "action": {"type": "percentage", "percent": "30"}}"#)
        .await;
    assert_eq!(
        discount(&h, &owner).await,
        "0.00",
        "the cached rules are still used"
    );
    h.commerce.forget_cached_rules();
    assert_eq!(discount(&h, &owner).await, "30.00");
}

#[tokio::test]
async fn a_zero_ttl_reads_the_store_for_every_cart() {
    let h = harness(Duration::ZERO);
    let owner = shop(&h).await;
    assert_eq!(discount(&h, &owner).await, "0.00");
    h.promotion(r#"{"name": "direct", "action": {"type": "percentage", "percent": "30"}}"#)
        .await;
    assert_eq!(discount(&h, &owner).await, "30.00");
}

#[tokio::test]
async fn the_cache_expires() {
    let h = harness(Duration::from_millis(50));
    let owner = shop(&h).await;
    assert_eq!(discount(&h, &owner).await, "0.00");
    h.promotion(r#"{"name": "direct", "action": {"type": "percentage", "percent": "30"}}"#)
        .await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        discount(&h, &owner).await,
        "30.00",
        "read again after the TTL"
    );
}
