//! Runs the example's whole sale and checks what it produced, so that CI
//! notices when the example stops matching the engine.

use commerce_core::inventory::Stock;
use commerce_core::money::{Currency, Money};
use commerce_core::order::OrderStatus;
use commerce_core::outbox::EventKind;
use commerce_core::storage::PaymentOutcome;
use library_checkout::run;

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).unwrap()
}

#[tokio::test]
async fn the_sale_goes_through_and_the_receipt_adds_up() {
    let sale = run().await.unwrap();
    let order = &sale.order;

    // Checkout is idempotent: the replay is the same order.
    assert_eq!(sale.placed.number, 1001);
    assert_eq!(sale.placed.status, OrderStatus::PendingPayment);
    assert_eq!(sale.replayed.id, sale.placed.id);

    // Paid once, by the sandbox payment, for exactly the total.
    assert!(matches!(&sale.delivered, PaymentOutcome::Paid(o) if o.id == order.id));
    assert_eq!(sale.redelivered, PaymentOutcome::AlreadyApplied);
    assert!(sale.redelivery_changed_nothing);
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.paid_by, Some(sale.payment.id));
    assert_eq!(order.captured, order.total);

    // 59.00 + 2 × 12.50 + 24.00 = 108.00. Stationery 15 %: 3.75 + 3.60.
    // READMORE 10.00 split over what is left (59.00, 21.25, 20.40).
    // Shipping is not free: 90.65 after discounts is under 100.00.
    // Tax 8 % of 90.65 + 4.90 = 7.644 → 7.64.
    assert_eq!(order.subtotal, usd("108.00"));
    assert_eq!(order.discount_total, usd("17.35"));
    assert_eq!(order.shipping_total, usd("4.90"));
    assert_eq!(order.tax_total, usd("7.64"));
    assert_eq!(order.total, usd("103.19"));
    let lines: Vec<(&str, u32, Money, Vec<Money>)> = order
        .lines
        .iter()
        .map(|l| {
            (
                l.sku.as_str(),
                l.quantity.get(),
                l.unit_price,
                l.discounts.iter().map(|d| d.amount).collect(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("BOOK-RUST-HC", 1, usd("59.00"), vec![usd("5.86")]),
            ("NB-A5-DOT", 2, usd("12.50"), vec![usd("3.75"), usd("2.11")]),
            ("PEN-BLU", 1, usd("24.00"), vec![usd("3.60"), usd("2.03")]),
        ]
    );
    assert_eq!(order.promotions.len(), 2);

    // Stock: reserved at checkout, sold at payment.
    let stock = |on_hand, reserved| Stock { on_hand, reserved };
    let moves: Vec<(&str, Stock, Stock, Stock)> = sale
        .stock
        .iter()
        .map(|m| (m.sku.as_str(), m.before, m.reserved, m.sold))
        .collect();
    assert_eq!(
        moves,
        vec![
            ("BOOK-RUST-HC", stock(5, 0), stock(5, 1), stock(4, 0)),
            ("NB-A5-DOT", stock(20, 0), stock(20, 2), stock(18, 0)),
            ("PEN-BLU", stock(4, 0), stock(4, 1), stock(3, 0)),
        ]
    );

    // The outbox: the blue pen fell to the threshold when checkout
    // reserved it, then the order was placed, then paid.
    let pen = sale
        .order
        .lines
        .iter()
        .find(|l| l.sku.as_str() == "PEN-BLU")
        .unwrap()
        .variant_id;
    let kinds: Vec<&EventKind> = sale.events.iter().map(|e| &e.kind).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(matches!(
        kinds[0],
        EventKind::LowStock { variant_id, on_hand: 3, threshold: 3, .. } if *variant_id == pen
    ));
    assert_eq!(kinds[1], &EventKind::OrderPlaced { order_id: order.id });
    assert_eq!(
        kinds[2],
        &EventKind::OrderPaid {
            order_id: order.id,
            payment_id: sale.payment.id
        }
    );

    // What a reader sees.
    assert!(sale.text.contains("order #1001"));
    assert!(
        sale.text
            .contains("needs a subtotal of 200.00 USD, cart has 108.00 USD")
    );
    assert!(sale.text.contains("Total"));

    // I1–I7 hold over the whole store afterwards.
    commerce_core::testkit::invariants::assert_invariants(sale.store.as_ref()).await;
}
