//! # library-checkout
//!
//! A whole sale with `commerce-core` used as a library: no server and no
//! database. An `InMemoryStore` holds everything, a `FixedClock` tells the
//! time, and the built-in `SandboxGateway` plays the payment provider.
//!
//! 1. A seller opens a store with two categories and three products, each
//!    with two variants and their stock.
//! 2. The shop runs three promotions: an automatic 15 % off stationery, the
//!    code `READMORE` (10.00 off from 50.00, once per customer) and an
//!    exclusive 20 % off from 200.00.
//! 3. A signed-in buyer fills a cart and enters the code; the priced cart
//!    explains which promotions applied, how much, and why the third did not.
//! 4. Checkout with an idempotency key: stock and the code's usage are
//!    reserved, and sending the same request again returns the same order.
//! 5. Payment, as with a remote gateway: the engine starts it, the buyer pays
//!    on the sandbox's page, the sandbox sends a signed webhook, and the
//!    engine verifies and applies it. Delivering the webhook again changes
//!    nothing.
//! 6. The receipt, the stock moves, and the outbox events the sale wrote.
//!
//! Run with: `cargo run -p library-checkout`
//!
//! [`run`] does all of it and returns what it printed with the values it
//! produced; `tests/sale.rs` checks them, so the example cannot rot.
//! Prices, quantities, the order number and every total are the same on each
//! run; ids, the payment reference and the signature are not.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use commerce_core::Quantity;
use commerce_core::address::AddressInput;
use commerce_core::cart::CartOwner;
use commerce_core::clock::{Clock, FixedClock};
use commerce_core::idempotency::IdempotencyKey;
use commerce_core::ids::{CategoryId, PromotionId, VariantId};
use commerce_core::inventory::Stock;
use commerce_core::money::{Currency, Money};
use commerce_core::order::Order;
use commerce_core::outbox::{EventKind, OutboxEvent};
use commerce_core::payment::{Payment, PaymentGateway, SandboxGateway};
use commerce_core::pricing::{NotApplied, Outcome};
use commerce_core::promotion::{Promotion, PromotionSpec};
use commerce_core::service::{
    Actor, CartView, CheckoutRequest, Commerce, Config, NewProduct, NewVariant,
};
use commerce_core::shipping::ShippingMethodSpec;
use commerce_core::storage::{
    InMemoryStore, InventoryStore, OrderStore, OutboxStore, PaymentOutcome, PromotionStore,
};
use commerce_core::tax::SingleRateTax;
use rust_decimal::Decimal;
use serde_json::json;

/// Every step of the example may fail with any error.
pub type Result<T> = std::result::Result<T, Box<dyn Error>>;

const USD: Currency = Currency::USD;

/// Receipt width, in characters.
const WIDTH: usize = 72;

/// The gateway name the sandbox registers under.
const SANDBOX: &str = "sandbox";

/// The engine over an in-memory store, with its clock and its sandbox gateway.
struct Shop {
    store: Arc<InMemoryStore>,
    commerce: Commerce<InMemoryStore>,
    clock: FixedClock,
    sandbox: Arc<SandboxGateway>,
}

/// A variant as the example knows it: for printing SKUs and names, which
/// priced cart lines do not carry.
#[derive(Debug, Clone)]
struct Item {
    id: VariantId,
    sku: String,
    name: String,
}

/// The catalog the seller created.
struct Catalog {
    items: Vec<Item>,
    stationery: CategoryId,
}

impl Catalog {
    fn get(&self, sku: &str) -> Result<&Item> {
        self.items
            .iter()
            .find(|i| i.sku == sku)
            .ok_or_else(|| format!("no variant {sku}").into())
    }

    fn by_id(&self, id: VariantId) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }
}

/// One sold variant's stock: before checkout, after checkout (reserved), and
/// after payment (sold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMove {
    /// The variant's SKU.
    pub sku: String,
    /// Before checkout.
    pub before: Stock,
    /// After checkout reserved the line.
    pub reserved: Stock,
    /// After the payment sold it.
    pub sold: Stock,
}

/// What the sale produced: the text it printed, and the values the test checks.
#[derive(Debug)]
pub struct Sale {
    /// Everything `main` prints.
    pub text: String,
    /// The order as checkout returned it.
    pub placed: Order,
    /// What the same checkout request, sent again, returned.
    pub replayed: Order,
    /// The payment as started.
    pub payment: Payment,
    /// What delivering the webhook did.
    pub delivered: PaymentOutcome,
    /// What delivering it a second time did.
    pub redelivered: PaymentOutcome,
    /// Whether the second delivery left order, payment, stock and outbox as they were.
    pub redelivery_changed_nothing: bool,
    /// The order after payment, read back.
    pub order: Order,
    /// The stock of each variant sold.
    pub stock: Vec<StockMove>,
    /// The outbox: every event the sale wrote, oldest first.
    pub events: Vec<OutboxEvent>,
    /// The store after the sale, for further checks.
    pub store: Arc<InMemoryStore>,
}

fn usd(amount: &str) -> Result<Money> {
    Ok(Money::parse(amount, USD)?)
}

/// `-12.50` for a discount.
fn minus(amount: Money) -> String {
    format!("-{}", amount.amount_string())
}

/// A left label and a right-aligned value on one line.
fn row(out: &mut String, indent: usize, label: &str, value: &str) -> Result<()> {
    let pad = " ".repeat(indent);
    let room = WIDTH.saturating_sub(indent + value.chars().count() + 1);
    writeln!(out, "{pad}{label:<room$} {value}")?;
    Ok(())
}

fn heading(out: &mut String, title: &str) -> Result<()> {
    writeln!(out)?;
    writeln!(out, "{title}")?;
    writeln!(out, "{}", "─".repeat(WIDTH))?;
    Ok(())
}

/// USD prices, 8 % sales tax added on top, orders held 15 minutes for
/// payment, and the sandbox as the payment gateway.
fn open_shop() -> Result<Shop> {
    let start: DateTime<Utc> = "2026-03-10T12:00:00Z".parse()?;
    let clock = FixedClock::new(start);
    let sandbox = Arc::new(SandboxGateway::new(
        "whsec_library_checkout",
        "https://pay.example",
    ));
    let config = Config {
        currency: USD,
        reservation_ttl: Duration::minutes(15),
        low_stock_threshold: 3,
        tax: Arc::new(SingleRateTax::new(Decimal::new(8, 2), false)?),
        return_base: "https://shop.example/api/v1".to_owned(),
        ..Config::default()
    };
    let gateway: Arc<dyn PaymentGateway> = sandbox.clone();
    let store = Arc::new(InMemoryStore::new());
    let commerce =
        Commerce::new(Arc::clone(&store), Arc::new(clock.clone()), config).with_gateway(gateway);
    Ok(Shop {
        store,
        commerce,
        clock,
        sandbox,
    })
}

/// The shop offers standard shipping, 4.90 (free from 100.00 after
/// discounts); a seller (verified email) opens "Paper & Ink": Books ›
/// Programming and Stationery, three products with two variants each.
async fn stock_the_shop(shop: &Shop, out: &mut String) -> Result<Catalog> {
    let c = &shop.commerce;
    c.add_shipping_method(ShippingMethodSpec {
        code: "standard".into(),
        name: "Standard".into(),
        price: usd("4.90")?,
        free_over: Some(usd("100.00")?),
    })
    .await?;
    let owner = c
        .register("grace@paper-and-ink.example", Some("Grace".into()), None)
        .await?;
    c.mark_email_verified(owner.id).await?;
    let store = c
        .create_seller_store(owner.id, "Paper & Ink", "paper-and-ink")
        .await?;
    let seller = Actor {
        id: owner.id,
        admin: false,
    };
    let books = c.create_category("Books", "books", None).await?;
    let programming = c
        .create_category("Programming", "programming", Some(books.id))
        .await?;
    let stationery = c.create_category("Stationery", "stationery", None).await?;

    // (product, category, attribute, [(SKU, value, price, units on hand)])
    let products = [
        (
            "The Rust Programming Language",
            programming.id,
            "format",
            [
                ("BOOK-RUST-PB", "paperback", "39.00", 10),
                ("BOOK-RUST-HC", "hardcover", "59.00", 5),
            ],
        ),
        (
            "A5 notebook",
            stationery.id,
            "ruling",
            [
                ("NB-A5-DOT", "dotted", "12.50", 20),
                ("NB-A5-LIN", "lined", "12.50", 20),
            ],
        ),
        (
            "Fountain pen",
            stationery.id,
            "ink",
            [
                ("PEN-BLK", "black", "24.00", 8),
                ("PEN-BLU", "blue", "24.00", 4),
            ],
        ),
    ];

    heading(out, "1. The catalog")?;
    writeln!(
        out,
        "Store \"{}\" ({}), owned by {}.",
        store.name, store.slug, owner.email
    )?;
    writeln!(
        out,
        "Categories: {} › {}, and {}.",
        books.name, programming.name, stationery.name
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<13} {:<44} {:>6} {:>5}",
        "SKU", "variant", "price", "stock"
    )?;
    let mut items = Vec::new();
    for (name, category, attribute, variants) in products {
        let mut new_variants = Vec::with_capacity(variants.len());
        for (sku, value, price, stock) in variants {
            new_variants.push(NewVariant {
                sku: sku.to_owned(),
                attributes: BTreeMap::from([(attribute.to_owned(), value.to_owned())]),
                price: usd(price)?,
                compare_at: None,
                stock,
            });
        }
        let new = NewProduct {
            store_id: store.id,
            category_id: Some(category),
            name: name.to_owned(),
            description: String::new(),
            images: Vec::new(),
            variants: new_variants,
        };
        let (product, variants) = c.create_product(seller, new).await?;
        for v in variants {
            let item = Item {
                id: v.id,
                sku: v.sku.to_string(),
                name: v.display_name(&product.name),
            };
            writeln!(
                out,
                "  {:<13} {:<44} {:>6} {:>5}",
                item.sku,
                item.name,
                v.price.price().amount_string(),
                v.stock.on_hand
            )?;
            items.push(item);
        }
    }
    Ok(Catalog {
        items,
        stationery: stationery.id,
    })
}

/// The shop's promotions, in the HTTP API's JSON shape. There is no service
/// method for promotions yet, so they go to the store directly.
async fn run_promotions(shop: &Shop, catalog: &Catalog, out: &mut String) -> Result<()> {
    let specs = [
        json!({
            "name": "Stationery week: 15% off",
            "combinable": true,
            "priority": 10,
            "action": {
                "type": "percentage", "percent": "15",
                "applies_to": {"categories": [catalog.stationery.to_string()]}
            }
        }),
        json!({
            "name": "READMORE: 10.00 off from 50.00",
            "code": "READMORE",
            "combinable": true,
            "priority": 5,
            "per_customer_limit": 1,
            "conditions": [
                {"type": "min_subtotal", "amount": {"amount": "50.00", "currency": "USD"}}
            ],
            "action": {"type": "fixed_amount", "amount": {"amount": "10.00", "currency": "USD"}}
        }),
        json!({
            "name": "Big order: 20% off from 200.00",
            "combinable": false,
            "conditions": [
                {"type": "min_subtotal", "amount": {"amount": "200.00", "currency": "USD"}}
            ],
            "action": {"type": "percentage", "percent": "20"}
        }),
    ];
    writeln!(out)?;
    writeln!(out, "Promotions:")?;
    for spec in specs {
        let spec: PromotionSpec = serde_json::from_value(spec)?;
        let promotion = Promotion::new(PromotionId::new(), spec)?;
        let kind = match (promotion.code(), promotion.combinable()) {
            (Some(code), _) => format!("code {code}"),
            (None, true) => "automatic, combinable".to_owned(),
            (None, false) => "automatic, exclusive".to_owned(),
        };
        writeln!(out, "  - {} ({kind})", promotion.name())?;
        shop.commerce.store().put_promotion(promotion).await??;
    }
    Ok(())
}

/// The priced cart, line by line, and the trace of every promotion considered.
fn print_cart(view: &CartView, catalog: &Catalog, out: &mut String) -> Result<()> {
    let priced = &view.priced;
    for line in &priced.lines {
        let (sku, name) = catalog
            .by_id(line.variant_id)
            .map_or(("?", "?"), |i| (i.sku.as_str(), i.name.as_str()));
        writeln!(out, "  {sku:<13} {name}")?;
        let units = format!("{} × {}", line.quantity, line.unit_price.amount_string());
        row(out, 16, &units, &line.subtotal.amount_string())?;
        for d in &line.discounts {
            let promotion = priced.label_of(d.promotion_id).unwrap_or("discount");
            row(out, 16, promotion, &minus(d.amount))?;
        }
    }
    row(out, 2, "Subtotal", &priced.subtotal.amount_string())?;
    row(out, 2, "Discounts", &minus(priced.discount_total))?;
    if let Some(shipping) = &priced.shipping {
        row(
            out,
            2,
            &format!("Shipping: {}", shipping.name),
            &shipping.total.amount_string(),
        )?;
    }
    row(out, 2, "Tax (8 %)", &priced.tax_total.amount_string())?;
    row(out, 2, "Total", &priced.total.to_string())?;
    writeln!(out)?;
    writeln!(out, "  Why each promotion did or did not apply:")?;
    for trace in priced.shopper_trace() {
        match &trace.outcome {
            Outcome::Applied { amount } => {
                writeln!(out, "    ✓ {}: applied, {}", trace.label, minus(*amount))?;
            }
            Outcome::NotApplied(NotApplied::NotCombinable { beaten_by }) => {
                let names: Vec<&str> = beaten_by
                    .iter()
                    .filter_map(|id| priced.label_of(*id))
                    .collect();
                writeln!(
                    out,
                    "    ✗ {}: a better offer applies ({})",
                    trace.label,
                    names.join(" + ")
                )?;
            }
            Outcome::NotApplied(reason) => {
                writeln!(out, "    ✗ {}: {reason}", trace.label)?;
            }
        }
    }
    if !view.issues.is_empty() {
        writeln!(out, "  Issues blocking checkout: {:?}", view.issues)?;
    }
    Ok(())
}

/// The stock of each listed variant.
async fn stock_of(shop: &Shop, items: &[&Item]) -> Result<Vec<Stock>> {
    let mut levels = Vec::with_capacity(items.len());
    for item in items {
        let stock = shop
            .commerce
            .store()
            .stock(item.id)
            .await?
            .ok_or_else(|| format!("no stock for {}", item.sku))?;
        levels.push(stock);
    }
    Ok(levels)
}

/// What a webhook delivery could change: the order, its payments, the stock
/// of the variants sold, and the outbox.
async fn observe(
    shop: &Shop,
    order: &Order,
    items: &[&Item],
) -> Result<(Order, Vec<Payment>, Vec<Stock>, Vec<OutboxEvent>)> {
    let c = &shop.commerce;
    Ok((
        c.order(order.id).await?,
        c.store().payments_of(order.id).await?,
        stock_of(shop, items).await?,
        c.store().pending_events(1_000).await?,
    ))
}

fn print_receipt(order: &Order, payment: &Payment, out: &mut String) -> Result<()> {
    writeln!(out, "{}", "═".repeat(WIDTH))?;
    row(
        out,
        0,
        &format!("Paper & Ink — order #{}", order.number),
        order.status.as_str(),
    )?;
    writeln!(
        out,
        "Placed {} by {}",
        order.created_at.format("%Y-%m-%d %H:%M UTC"),
        order.email
    )?;
    if let Some(address) = &order.shipping_address {
        let a = address.to_input();
        writeln!(
            out,
            "Ship to: {}, {}, {} {}, {}",
            a.full_name, a.line1, a.postal_code, a.city, a.country
        )?;
    }
    writeln!(out, "{}", "─".repeat(WIDTH))?;
    for line in &order.lines {
        writeln!(out, "{:<13} {}", line.sku.as_str(), line.name)?;
        let qty = format!("{} × {}", line.quantity, line.unit_price.amount_string());
        row(out, 14, &qty, &line.subtotal.amount_string())?;
        for d in &line.discounts {
            row(out, 14, &d.label, &minus(d.amount))?;
        }
    }
    writeln!(out, "{}", "─".repeat(WIDTH))?;
    row(out, 0, "Subtotal", &order.subtotal.amount_string())?;
    for p in &order.promotions {
        let code = p
            .code
            .as_ref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        row(out, 2, &format!("{}{code}", p.label), &minus(p.amount))?;
    }
    if let Some(s) = &order.shipping {
        row(
            out,
            0,
            &format!("Shipping: {}", s.name),
            &s.total.amount_string(),
        )?;
    }
    row(out, 0, "Tax (8 %)", &order.tax_total.amount_string())?;
    row(out, 0, "Total", &order.total.to_string())?;
    row(
        out,
        0,
        &format!("Paid by {} payment {}", payment.gateway, payment.reference),
        &order.captured.to_string(),
    )?;
    writeln!(out, "{}", "═".repeat(WIDTH))?;
    Ok(())
}

fn describe(event: &OutboxEvent, catalog: &Catalog, order: &Order) -> String {
    let number = |id: commerce_core::ids::OrderId| {
        if id == order.id {
            format!("#{}", order.number)
        } else {
            id.to_string()
        }
    };
    match &event.kind {
        EventKind::OrderPlaced { order_id } => {
            format!("order_placed    order {}", number(*order_id))
        }
        EventKind::OrderPaid {
            order_id,
            payment_id,
        } => format!(
            "order_paid      order {}, payment {payment_id}",
            number(*order_id)
        ),
        EventKind::LowStock {
            variant_id,
            on_hand,
            threshold,
            ..
        } => {
            let sku = catalog.by_id(*variant_id).map_or("?", |i| i.sku.as_str());
            format!(
                "low_stock       {sku}: {on_hand} left, threshold {threshold}; tell the store owner"
            )
        }
        other => format!("{other:?}"),
    }
}

/// The whole sale (see the crate docs). Returns what it printed and what it
/// produced.
///
/// # Errors
/// Any refusal or failure of the engine along the way; none is expected.
pub async fn run() -> Result<Sale> {
    let mut out = String::new();
    let shop = open_shop()?;
    let c = &shop.commerce;
    writeln!(
        out,
        "A sale on commerce-core with no server and no database (InMemoryStore),"
    )?;
    writeln!(out, "at {}.", shop.clock.now().to_rfc3339())?;

    let catalog = stock_the_shop(&shop, &mut out).await?;
    run_promotions(&shop, &catalog, &mut out).await?;

    // 2. A signed-in buyer with an address book fills a cart and enters a code.
    heading(&mut out, "2. The cart, priced and explained")?;
    let ada = c
        .register("ada@example.com", Some("Ada Lovelace".into()), None)
        .await?;
    let home = AddressInput {
        full_name: "Ada Lovelace".into(),
        line1: "12 Analytical Row".into(),
        line2: None,
        city: "London".into(),
        region: None,
        postal_code: "N1 9GU".into(),
        country: "gb".into(),
        phone: None,
    };
    let home = c.add_address(ada.id, &home, true).await?;
    let owner = CartOwner::Account(ada.id);
    let basket = [("BOOK-RUST-HC", 1), ("NB-A5-DOT", 2), ("PEN-BLU", 1)];
    let mut sold = Vec::with_capacity(basket.len());
    for (sku, units) in basket {
        let item = catalog.get(sku)?;
        c.add_to_cart(&owner, item.id, Quantity::new(units)?)
            .await?;
        sold.push(item);
    }
    let before = stock_of(&shop, &sold).await?;
    // Codes are case-insensitive; the answer is the cart priced with it.
    let view = c.apply_code(&owner, Some(ada.id), "readmore").await?;
    writeln!(
        out,
        "{} adds three lines and enters the code \"readmore\":",
        ada.email
    )?;
    print_cart(&view, &catalog, &mut out)?;

    // 3. Checkout: one atomic store operation, idempotent by key.
    heading(&mut out, "3. Checkout")?;
    let request = CheckoutRequest {
        owner: owner.clone(),
        customer: Some(ada.id),
        email: ada.email.to_string(),
        shipping_address: Some(home.address.clone()),
        idempotency_key: IdempotencyKey::parse("checkout-ada-0001")?,
    };
    let placed = c.checkout(request.clone()).await?;
    writeln!(
        out,
        "Order #{} placed ({}); stock and the code held until {}.",
        placed.number,
        placed.status,
        placed.reservation_expires_at.format("%H:%M UTC")
    )?;
    // A client that lost the answer retries with the same key and body.
    let replayed = c.checkout(request.clone()).await?;
    writeln!(
        out,
        "The same request again (key {}): order #{},\n  {}.",
        request.idempotency_key.as_str(),
        replayed.number,
        if replayed.id == placed.id {
            "the same order: nothing was reserved twice"
        } else {
            "A SECOND ORDER"
        }
    )?;
    let reserved = stock_of(&shop, &sold).await?;
    let cart_left = c.cart(&owner).await?.lines.len();
    writeln!(out, "The cart is emptied ({cart_left} lines left).")?;

    // 4. Payment, as a remote gateway does it.
    heading(&mut out, "4. Payment through the sandbox gateway")?;
    let payment = c
        .start_payment(placed.id, SANDBOX, &IdempotencyKey::parse("pay-ada-0001")?)
        .await?;
    writeln!(
        out,
        "Payment of {} started, gateway reference {}.",
        payment.amount, payment.reference
    )?;
    writeln!(out, "The buyer is sent to {}", payment.redirect_url)?;
    // The buyer presses Pay on the sandbox's page; the sandbox settles the
    // payment and sends its webhook, signed with the shared secret.
    let webhook = shop
        .sandbox
        .complete(&payment.reference, true, shop.clock.now())?;
    shop.clock.advance(Duration::seconds(2));
    let signature = webhook
        .headers
        .get("sandbox-signature")
        .map_or("(none)", String::as_str);
    writeln!(out, "The sandbox sends a webhook two seconds later:")?;
    writeln!(
        out,
        "  Sandbox-Signature: {}…",
        signature.chars().take(40).collect::<String>()
    )?;
    writeln!(out, "  {}", String::from_utf8_lossy(&webhook.body))?;
    let delivered = c
        .handle_webhook(SANDBOX, &webhook.headers, &webhook.body)
        .await?;
    writeln!(out, "Handed to the engine: {}", outcome(&delivered))?;
    let seen = observe(&shop, &placed, &sold).await?;
    let redelivered = c
        .handle_webhook(SANDBOX, &webhook.headers, &webhook.body)
        .await?;
    let redelivery_changed_nothing = observe(&shop, &placed, &sold).await? == seen;
    writeln!(
        out,
        "Delivered again, as gateways retry: {};\n  order, payment, stock and outbox {}.",
        outcome(&redelivered),
        if redelivery_changed_nothing {
            "unchanged"
        } else {
            "CHANGED"
        }
    )?;
    let (order, _, sold_stock, events) = seen;

    // 5. The receipt, from the order's snapshot.
    writeln!(out)?;
    writeln!(out, "5. Receipt")?;
    print_receipt(&order, &payment, &mut out)?;

    heading(&mut out, "6. Stock (on hand / reserved)")?;
    writeln!(
        out,
        "  {:<13} {:>14} {:>16} {:>14}",
        "SKU", "before", "after checkout", "after payment"
    )?;
    let mut stock = Vec::with_capacity(sold.len());
    let levels = before.into_iter().zip(reserved).zip(sold_stock);
    for (item, ((before, reserved), sold)) in sold.iter().zip(levels) {
        let m = StockMove {
            sku: item.sku.clone(),
            before,
            reserved,
            sold,
        };
        let show = |s: Stock| format!("{} / {}", s.on_hand, s.reserved);
        writeln!(
            out,
            "  {:<13} {:>14} {:>16} {:>14}",
            m.sku,
            show(m.before),
            show(m.reserved),
            show(m.sold)
        )?;
        stock.push(m);
    }

    heading(
        &mut out,
        "7. Outbox (written with each change, waiting for a relay)",
    )?;
    for (n, event) in (1..).zip(&events) {
        writeln!(out, "  {n}. {}", describe(event, &catalog, &order))?;
    }

    Ok(Sale {
        text: out,
        placed,
        replayed,
        payment,
        delivered,
        redelivered,
        redelivery_changed_nothing,
        order,
        stock,
        events,
        store: Arc::clone(&shop.store),
    })
}

fn outcome(outcome: &PaymentOutcome) -> String {
    match outcome {
        PaymentOutcome::Paid(order) => format!("order #{} is {}", order.number, order.status),
        PaymentOutcome::AlreadyApplied => "already applied, nothing to do".to_owned(),
        other => format!("{other:?}"),
    }
}
