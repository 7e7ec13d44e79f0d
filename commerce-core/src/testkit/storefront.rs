//! Conformance tests for what a storefront reads and sets besides the
//! catalog: guest cart tokens and shipping methods.

use super::{Harness, expect, guest, usd};
use crate::cart::{CartOwner, CartToken};
use crate::money::{Currency, Money};
use crate::quantity::Quantity;
use crate::service::{CommerceError, ShippingMethodPatch};
use crate::shipping::{ShippingMethod, ShippingMethodSpec};
use crate::storage::{Store, StoreError};

fn method(code: &str, name: &str, price: &str, free_over: Option<&str>) -> ShippingMethod {
    expect(
        ShippingMethod::new(code, name, usd(price), free_over.map(usd)),
        "shipping method",
    )
}

fn spec(code: &str, name: &str, price: Money, free_over: Option<Money>) -> ShippingMethodSpec {
    ShippingMethodSpec {
        code: code.to_owned(),
        name: name.to_owned(),
        price,
        free_over,
    }
}

async fn listed<S: Store>(h: &Harness<S>) -> Vec<ShippingMethod> {
    let mut all = expect(h.store().shipping_methods().await, "shipping_methods");
    all.sort_by(|a, b| a.code().cmp(b.code()));
    all
}

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

/// The shipping store: codes are unique (a clash writes nothing), replace
/// and delete say whether the method was there, and methods read back
/// exactly as written.
pub async fn shipping_methods_store_contract<S: Store>(h: &Harness<S>) {
    assert!(listed(h).await.is_empty());
    let standard = method("standard", "Standard", "4.99", Some("50.00"));
    let express = method("express", "Express — next day", "9.99", None);
    expect(
        h.store().insert_shipping_method(standard.clone()).await,
        "insert standard",
    );
    expect(
        h.store().insert_shipping_method(express.clone()).await,
        "insert express",
    );
    assert_eq!(listed(h).await, vec![express.clone(), standard.clone()]);

    let clash = method("standard", "Other", "1.00", None);
    let refused = h.store().insert_shipping_method(clash).await;
    assert!(
        matches!(refused, Err(StoreError::Duplicate { .. })),
        "{refused:?}"
    );
    assert_eq!(listed(h).await, vec![express.clone(), standard]);

    let cheaper = method("standard", "Standard (slow)", "3.49", None);
    assert!(expect(
        h.store().replace_shipping_method(cheaper.clone()).await,
        "replace"
    ));
    let nowhere = method("nowhere", "Nowhere", "1.00", None);
    assert!(!expect(
        h.store().replace_shipping_method(nowhere).await,
        "replace unknown"
    ));
    assert_eq!(listed(h).await, vec![express, cheaper.clone()]);

    assert!(expect(
        h.store().delete_shipping_method("express").await,
        "delete"
    ));
    assert!(!expect(
        h.store().delete_shipping_method("express").await,
        "delete again"
    ));
    assert_eq!(listed(h).await, vec![cheaper]);
}

/// A cart ships with the method it chose while that is offered, otherwise
/// with the cheapest; `free_over` is compared with the discounted subtotal;
/// the shop refuses bad methods with the field; an order keeps the cost.
pub async fn carts_ship_with_the_chosen_or_the_cheapest_method<S: Store>(h: &Harness<S>) {
    let c = &h.commerce;
    let (_, store) = h.seller("shipping").await;
    let v = h.product(store, None, "Kettle", "30.00", 10).await;
    let owner = guest();
    let one = expect(Quantity::new(1), "qty");
    expect(c.add_to_cart(&owner, v, one).await, "add");
    let view = expect(c.cart_view(&owner, None).await, "view");
    assert_eq!(view.priced.shipping, None, "no method offered");
    assert_eq!(view.priced.shipping_total, usd("0.00"));

    // Bad methods are refused with the field; nothing is stored.
    let eur = Money::from_minor(100, Currency::EUR);
    for (bad, field) in [
        (spec("Bad Code", "x", usd("1.00"), None), "code"),
        (spec("blank", "  ", usd("1.00"), None), "name"),
        (spec("neg", "x", usd("-1.00"), None), "price"),
        (
            spec("zero", "x", usd("1.00"), Some(usd("0.00"))),
            "free_over",
        ),
        (spec("euro", "x", eur, None), "price"),
        (spec("mixed", "x", usd("1.00"), Some(eur)), "free_over"),
    ] {
        let refused = c.add_shipping_method(bad).await;
        assert!(
            matches!(&refused, Err(CommerceError::Validation { field: f, .. }) if *f == field),
            "{field}: {refused:?}"
        );
    }
    assert!(expect(c.shipping_methods().await, "methods").is_empty());

    expect(
        c.add_shipping_method(spec(
            "standard",
            "Standard",
            usd("4.99"),
            Some(usd("50.00")),
        ))
        .await,
        "standard",
    );
    expect(
        c.add_shipping_method(spec("express", "Express", usd("9.99"), None))
            .await,
        "express",
    );
    let again = c
        .add_shipping_method(spec("express", "Again", usd("1.00"), None))
        .await;
    assert!(
        matches!(again, Err(CommerceError::Duplicate(_))),
        "{again:?}"
    );
    let codes: Vec<String> = expect(c.shipping_methods().await, "methods")
        .iter()
        .map(|m| m.code().to_owned())
        .collect();
    assert_eq!(codes, ["standard", "express"], "cheapest first");

    // The default is the cheapest.
    let view = expect(c.cart_view(&owner, None).await, "view");
    let shipping = view.priced.shipping.as_ref().map(|s| s.code.as_str());
    assert_eq!(shipping, Some("standard"));
    assert_eq!(view.priced.shipping_total, usd("4.99"));
    assert_eq!(view.priced.total, usd("34.99"));

    // A choice sticks; an unknown method is refused and changes nothing.
    expect(
        c.choose_shipping_method(&owner, Some("express")).await,
        "choose",
    );
    let refused = c.choose_shipping_method(&owner, Some("nowhere")).await;
    assert!(
        matches!(
            refused,
            Err(CommerceError::Validation { field: "code", .. })
        ),
        "{refused:?}"
    );
    let view = expect(c.cart_view(&owner, None).await, "view");
    assert_eq!(view.cart.shipping_method.as_deref(), Some("express"));
    assert_eq!(view.priced.shipping_total, usd("9.99"));

    // Back to the default: free from 50.00 of discounted subtotal.
    expect(c.add_to_cart(&owner, v, one).await, "add");
    expect(c.choose_shipping_method(&owner, None).await, "default");
    let view = expect(c.cart_view(&owner, None).await, "view");
    assert_eq!(view.cart.shipping_method, None);
    assert_eq!(view.priced.subtotal, usd("60.00"));
    assert_eq!(view.priced.shipping_total, usd("0.00"));
    h.promotion(r#"{"name": "20% off", "action": {"type": "percentage", "percent": "20"}}"#)
        .await;
    let view = expect(c.cart_view(&owner, None).await, "view");
    assert_eq!(view.priced.discount_total, usd("12.00"));
    assert_eq!(
        view.priced.shipping_total,
        usd("4.99"),
        "48.00 after discount is below 50.00"
    );

    // Changes are seen by the next priced cart.
    let patched = expect(
        c.update_shipping_method(
            "standard",
            ShippingMethodPatch {
                price: Some(usd("3.00")),
                free_over: Some(None),
                ..ShippingMethodPatch::default()
            },
        )
        .await,
        "update",
    );
    assert_eq!((patched.price(), patched.free_over()), (usd("3.00"), None));
    assert_eq!(patched.name(), "Standard");
    let missing = c
        .update_shipping_method("nowhere", ShippingMethodPatch::default())
        .await;
    assert!(
        matches!(missing, Err(CommerceError::NotFound(_))),
        "{missing:?}"
    );
    let bad = c
        .update_shipping_method(
            "standard",
            ShippingMethodPatch {
                price: Some(usd("-1.00")),
                ..ShippingMethodPatch::default()
            },
        )
        .await;
    assert!(
        matches!(bad, Err(CommerceError::Validation { field: "price", .. })),
        "{bad:?}"
    );
    let view = expect(c.cart_view(&owner, None).await, "view");
    assert_eq!(view.priced.shipping_total, usd("3.00"));

    // A chosen method that is deleted: the cart falls back to the cheapest.
    expect(
        c.choose_shipping_method(&owner, Some("express")).await,
        "choose",
    );
    expect(c.delete_shipping_method("express").await, "delete");
    let gone = c.delete_shipping_method("express").await;
    assert!(matches!(gone, Err(CommerceError::NotFound(_))), "{gone:?}");
    let view = expect(c.cart_view(&owner, None).await, "view");
    let shipping = view.priced.shipping.as_ref().map(|s| s.code.as_str());
    assert_eq!(shipping, Some("standard"));

    // The order keeps what the cart showed.
    let order = expect(
        c.checkout(Harness::<S>::checkout_request(&owner, None))
            .await,
        "checkout",
    );
    assert_eq!(order.shipping_total, view.priced.shipping_total);
    assert_eq!(
        order.shipping.as_ref().map(|s| s.code.as_str()),
        Some("standard")
    );
    assert_eq!(order.total, view.priced.total);
}
