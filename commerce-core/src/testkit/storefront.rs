//! Conformance tests for what a storefront reads and sets besides the
//! catalog: guest cart tokens.

use super::{Harness, expect};
use crate::cart::{CartOwner, CartToken};
use crate::storage::Store;

/// A guest's token reaches its cart; no token, a malformed one or one no cart
/// has gets a fresh token from the shop, never the one presented, and
/// nothing is stored until the cart is used.
pub async fn guest_tokens_are_made_by_the_shop<S: Store>(h: &Harness<S>) {
    let (owner, fresh) = expect(h.commerce.guest_cart_owner(None).await, "no token");
    assert!(fresh);
    assert!(expect(h.store().cart_of(&owner).await, "cart_of").is_none());
    let cart = expect(h.commerce.cart(&owner).await, "create");
    let CartOwner::Guest(token) = &owner else {
        panic!("a guest owner, got {owner:?}");
    };
    let (same, fresh) = expect(
        h.commerce.guest_cart_owner(Some(token.as_str())).await,
        "known token",
    );
    assert!(!fresh);
    assert_eq!(same, owner);
    assert_eq!(expect(h.commerce.cart(&same).await, "same").id, cart.id);

    let made_up = "ab".repeat(32);
    let made_up_owner = CartOwner::Guest(expect(CartToken::parse(&made_up), "token"));
    for presented in [Some(made_up.as_str()), Some("short"), Some(""), None] {
        let (other, fresh) = expect(
            h.commerce.guest_cart_owner(presented).await,
            "unknown token",
        );
        assert!(fresh, "{presented:?}");
        assert_ne!(other, owner, "{presented:?}");
        assert_ne!(other, made_up_owner, "{presented:?}");
    }
    assert!(expect(h.store().cart_of(&made_up_owner).await, "cart_of").is_none());
}
