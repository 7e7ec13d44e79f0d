//! Every refused promotion is a typed error naming the problem.

use chrono::{TimeZone, Utc};
use rust_decimal::dec;

use super::*;

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

fn spec(action: Action) -> PromotionSpec {
    PromotionSpec {
        name: "Offer".into(),
        code: None,
        priority: 0,
        combinable: false,
        starts_at: None,
        ends_at: None,
        usage_limit: None,
        per_customer_limit: None,
        conditions: vec![],
        action,
    }
}

fn pct(percent: Decimal) -> Action {
    Action::Percentage {
        percent,
        applies_to: AppliesTo::everything(),
        max_discount: None,
    }
}

fn build(spec: PromotionSpec) -> Result<Promotion, PromotionError> {
    Promotion::new(PromotionId::from_u128(1), spec)
}

#[test]
fn percent_must_be_above_zero_and_at_most_one_hundred() {
    for bad in [dec!(0), dec!(-5), dec!(100.01), dec!(1000)] {
        assert!(
            matches!(build(spec(pct(bad))), Err(PromotionError::PercentOutOfRange { value, .. }) if value == bad)
        );
        let bxgy = Action::BuyXGetY {
            buy: 1,
            get: 1,
            percent: bad,
            applies_to: AppliesTo::everything(),
        };
        assert!(matches!(
            build(spec(bxgy)),
            Err(PromotionError::PercentOutOfRange { .. })
        ));
    }
    assert!(build(spec(pct(dec!(100)))).is_ok());
    assert!(build(spec(pct(dec!(0.5)))).is_ok());
}

#[test]
fn amounts_must_be_positive() {
    for bad in [usd(0), usd(-100)] {
        let fixed = Action::FixedAmount {
            amount: bad,
            applies_to: AppliesTo::everything(),
        };
        assert!(matches!(
            build(spec(fixed)),
            Err(PromotionError::NonPositiveAmount {
                field: "action.amount",
                ..
            })
        ));
        let capped = Action::Percentage {
            percent: dec!(10),
            applies_to: AppliesTo::everything(),
            max_discount: Some(bad),
        };
        assert!(matches!(
            build(spec(capped)),
            Err(PromotionError::NonPositiveAmount {
                field: "action.max_discount",
                ..
            })
        ));
        let mut s = spec(pct(dec!(10)));
        s.conditions = vec![Condition::MinSubtotal { amount: bad }];
        assert!(matches!(
            build(s),
            Err(PromotionError::NonPositiveAmount {
                field: "conditions.min_subtotal",
                ..
            })
        ));
    }
}

#[test]
fn one_promotion_one_currency() {
    let mut s = spec(Action::FixedAmount {
        amount: usd(500),
        applies_to: AppliesTo::everything(),
    });
    s.conditions = vec![Condition::MinSubtotal {
        amount: Money::from_minor(5000, Currency::EUR),
    }];
    assert_eq!(
        build(s),
        Err(PromotionError::CurrencyMismatch {
            expected: Currency::EUR,
            found: Currency::USD
        })
    );
    let p = build(spec(Action::FixedAmount {
        amount: usd(500),
        applies_to: AppliesTo::everything(),
    }))
    .unwrap();
    assert_eq!(p.currency(), Some(Currency::USD));
    assert_eq!(build(spec(pct(dec!(10)))).unwrap().currency(), None);
}

#[test]
fn tiers_must_be_sorted_and_distinct() {
    let tier = |min, percent| Tier {
        min_subtotal: usd(min),
        percent,
    };
    let tiered = |tiers| Action::Tiered {
        tiers,
        applies_to: AppliesTo::everything(),
    };
    assert_eq!(build(spec(tiered(vec![]))), Err(PromotionError::NoTiers));
    assert_eq!(
        build(spec(tiered(vec![
            tier(10000, dec!(10)),
            tier(5000, dec!(5))
        ]))),
        Err(PromotionError::TiersUnsorted { index: 1 })
    );
    assert_eq!(
        build(spec(tiered(vec![
            tier(5000, dec!(5)),
            tier(5000, dec!(10))
        ]))),
        Err(PromotionError::TiersOverlap { index: 1 })
    );
    assert!(matches!(
        build(spec(tiered(vec![
            tier(5000, dec!(5)),
            tier(10000, dec!(150))
        ]))),
        Err(PromotionError::PercentOutOfRange { .. })
    ));
    assert!(matches!(
        build(spec(tiered(vec![tier(-1, dec!(5))]))),
        Err(PromotionError::NonPositiveAmount { .. })
    ));
    assert!(build(spec(tiered(vec![tier(0, dec!(5)), tier(10000, dec!(10))]))).is_ok());
}

#[test]
fn window_must_end_after_it_starts() {
    let start = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let mut s = spec(pct(dec!(10)));
    s.starts_at = Some(start);
    s.ends_at = Some(start);
    assert_eq!(
        build(s.clone()),
        Err(PromotionError::WindowEndsBeforeStart {
            starts_at: start,
            ends_at: start
        })
    );
    s.ends_at = Some(start - chrono::Duration::days(1));
    assert!(matches!(
        build(s.clone()),
        Err(PromotionError::WindowEndsBeforeStart { .. })
    ));
    s.ends_at = Some(start + chrono::Duration::days(1));
    assert!(build(s).is_ok());
}

#[test]
fn counts_names_codes_and_targets_are_checked() {
    let mut s = spec(pct(dec!(10)));
    s.usage_limit = Some(0);
    assert_eq!(build(s), Err(PromotionError::ZeroCount("usage_limit")));
    let mut s = spec(pct(dec!(10)));
    s.per_customer_limit = Some(0);
    assert_eq!(
        build(s),
        Err(PromotionError::ZeroCount("per_customer_limit"))
    );
    let mut s = spec(pct(dec!(10)));
    s.conditions = vec![Condition::MinQuantity { quantity: 0 }];
    assert_eq!(
        build(s),
        Err(PromotionError::ZeroCount("conditions.min_quantity"))
    );
    for (buy, get, field) in [(0, 1, "action.buy"), (1, 0, "action.get")] {
        let bxgy = Action::BuyXGetY {
            buy,
            get,
            percent: dec!(100),
            applies_to: AppliesTo::everything(),
        };
        assert_eq!(build(spec(bxgy)), Err(PromotionError::ZeroCount(field)));
    }
    let mut s = spec(pct(dec!(10)));
    s.conditions = vec![Condition::Contains {
        products: vec![],
        categories: vec![],
    }];
    assert_eq!(build(s), Err(PromotionError::EmptyContains));
    for name in ["", "   ", &"x".repeat(201)] {
        let mut s = spec(pct(dec!(10)));
        s.name = name.to_owned();
        assert_eq!(build(s), Err(PromotionError::InvalidName));
    }
    let mut s = spec(pct(dec!(10)));
    s.code = Some("10% OFF".into());
    assert!(matches!(build(s), Err(PromotionError::InvalidCode(_))));
    let mut s = spec(pct(dec!(10)));
    s.code = Some(" save10 ".into());
    let p = build(s).unwrap();
    assert_eq!(p.code().map(DiscountCode::as_str), Some("SAVE10"));
    assert_eq!(p.spec().code.as_deref(), Some("SAVE10"));
}

#[test]
fn the_json_shape_refuses_floats_unknown_fields_and_unknown_types() {
    let ok = r#"{"name": "x", "action": {"type": "percentage", "percent": "12.5"}}"#;
    assert!(serde_json::from_str::<PromotionSpec>(ok).is_ok());
    for bad in [
        r#"{"name": "x", "action": {"type": "percentage", "percent": 12.5}}"#,
        r#"{"name": "x", "action": {"type": "percentage", "percent": "10", "extra": 1}}"#,
        r#"{"name": "x", "action": {"type": "half_price"}}"#,
        r#"{"name": "x", "action": {"type": "fixed_amount", "amount": {"amount": 5, "currency": "USD"}}}"#,
        r#"{"name": "x", "uses": 3, "action": {"type": "free_shipping"}}"#,
        r#"{"name": "x", "conditions": [{"type": "weekday"}], "action": {"type": "free_shipping"}}"#,
        r#"{"name": "x", "action": {"type": "percentage", "percent": "10", "applies_to": {"skus": []}}}"#,
    ] {
        assert!(serde_json::from_str::<PromotionSpec>(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_built_promotion_serializes_back_to_its_spec() {
    let json = r#"{"name":"Socks","code":"SOCKS","priority":3,"combinable":true,"starts_at":null,"ends_at":null,"usage_limit":10,"per_customer_limit":1,"conditions":[{"type":"min_quantity","quantity":3}],"action":{"type":"buy_x_get_y","buy":2,"get":1,"percent":"100","applies_to":{"products":[],"categories":[]}}}"#;
    let spec: PromotionSpec = serde_json::from_str(json).unwrap();
    let promo = build(spec.clone()).unwrap();
    let value = serde_json::to_value(&promo).unwrap();
    assert_eq!(value["id"], serde_json::json!(PromotionId::from_u128(1)));
    let back: PromotionSpec = serde_json::from_value({
        let mut v = value;
        v.as_object_mut().unwrap().remove("id");
        v
    })
    .unwrap();
    assert_eq!(back, spec);
}
