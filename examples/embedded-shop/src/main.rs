//! # embedded-shop
//!
//! The engine embedded in a program, on one SQLite file: no server, no
//! service. It opens (or creates) the file, sets up a seller with a catalog,
//! sells to a guest, takes the payment through the built-in sandbox gateway
//! exactly as a remote gateway would (a signed webhook), closes the file —
//! then opens it again and shows the order as it was stored.
//!
//! Run with: `cargo run -p embedded-shop [-- path/to/shop.db]`
//! (default: `embedded-shop.db` in the current folder; run it twice and the
//! second run sells from the same file).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use commerce_core::Quantity;
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::clock::SystemClock;
use commerce_core::idempotency::IdempotencyKey;
use commerce_core::money::{Currency, Money};
use commerce_core::order::{Order, OrderStatus};
use commerce_core::payment::{PaymentGateway, SandboxGateway};
use commerce_core::service::{Actor, CheckoutRequest, Commerce, Config, NewProduct, NewVariant};
use commerce_core::storage::{CatalogStore, OrderStore, OutboxStore, PaymentOutcome};
use commerce_sqlx::SqliteStore;

/// The webhook secret the sandbox signs with.
const SECRET: &str = "whsec_embedded";

/// What one run did: the order as read back from the reopened file.
#[derive(Debug)]
pub struct Sale {
    /// The order, read after reopening the file.
    pub order: Order,
    /// Units left of the sold variant after the sale.
    pub on_hand: u32,
    /// Events waiting for a relay (mails, alerts) in the file.
    pub pending_events: usize,
}

fn usd(amount: &str) -> Result<Money, Box<dyn Error>> {
    Ok(Money::parse(amount, Currency::USD)?)
}

fn key() -> Result<IdempotencyKey, Box<dyn Error>> {
    Ok(IdempotencyKey::parse(&uuid::Uuid::new_v4().to_string())?)
}

fn shop(store: SqliteStore, sandbox: &Arc<SandboxGateway>) -> Commerce<SqliteStore> {
    let gateway: Arc<dyn PaymentGateway> = sandbox.clone();
    Commerce::new(Arc::new(store), Arc::new(SystemClock), Config::default()).with_gateway(gateway)
}

/// Sets up a catalog in the file at `path`, sells two mugs and a poster to a
/// guest, pays, reopens the file and returns what it holds.
///
/// # Errors
/// Any refusal or failure on the way, as a boxed error.
pub async fn run(path: &Path) -> Result<Sale, Box<dyn Error>> {
    let sandbox = Arc::new(SandboxGateway::new(SECRET, "http://localhost"));
    let shop = shop(SqliteStore::open(path).await?, &sandbox);
    // Names that are new in this file, so the program can run again on it.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let tag = &run[..8];

    // A seller with a verified email opens a store and lists two products.
    let seller = shop
        .register(
            &format!("seller-{tag}@example.com"),
            Some("Ada".into()),
            None,
        )
        .await?;
    shop.mark_email_verified(seller.id).await?;
    let store = shop
        .create_seller_store(seller.id, "Ada's Pottery", &format!("ada-{tag}"))
        .await?;
    let kitchen = shop
        .create_category("Kitchen", &format!("kitchen-{tag}"), None)
        .await?;
    let actor = Actor {
        id: seller.id,
        admin: false,
    };
    let variant = |sku: &str, price: &str, stock: u32| -> Result<NewVariant, Box<dyn Error>> {
        Ok(NewVariant {
            sku: format!("{sku}-{tag}"),
            attributes: Default::default(),
            price: usd(price)?,
            compare_at: None,
            stock,
        })
    };
    let (_, mugs) = shop
        .create_product(
            actor,
            NewProduct {
                store_id: store.id,
                category_id: Some(kitchen.id),
                name: "Stoneware mug".into(),
                description: "Glazed by hand, 350 ml.".into(),
                images: Vec::new(),
                variants: vec![variant("MUG", "14.50", 12)?],
            },
        )
        .await?;
    let (_, posters) = shop
        .create_product(
            actor,
            NewProduct {
                store_id: store.id,
                category_id: None,
                name: "Kiln poster".into(),
                description: "A2, matte.".into(),
                images: Vec::new(),
                variants: vec![variant("POSTER", "9.00", 30)?],
            },
        )
        .await?;
    let (mug, poster) = (mugs[0].id, posters[0].id);

    // A guest fills a cart and checks out: stock is reserved in the file.
    let guest = CartOwner::Guest(CartToken::generate());
    shop.add_to_cart(&guest, mug, Quantity::new(2)?).await?;
    shop.add_to_cart(&guest, poster, Quantity::new(1)?).await?;
    let order = shop
        .checkout(CheckoutRequest {
            owner: guest,
            customer: None,
            email: "guest@example.com".into(),
            shipping_address: None,
            idempotency_key: key()?,
        })
        .await?;
    println!("placed order #{} for {}", order.number, order.total);

    // The buyer pays on the sandbox page; the sandbox signs a webhook.
    let payment = shop.start_payment(order.id, "sandbox", &key()?).await?;
    let hook = sandbox.complete(&payment.reference, true, shop.clock().now())?;
    match shop
        .handle_webhook("sandbox", &hook.headers, &hook.body)
        .await?
    {
        PaymentOutcome::Paid(o) => println!("paid: order #{} is {}", o.number, o.status),
        other => return Err(format!("the payment did not go through: {other:?}").into()),
    }
    let id = order.id;
    drop(shop);

    // A new process, as it were: open the file again and read it back.
    let store = SqliteStore::open(path).await?;
    let order = store
        .order(id)
        .await?
        .ok_or("the order is not in the file")?;
    let on_hand = store
        .variants(&[mug])
        .await?
        .first()
        .map(|r| r.variant.stock.on_hand)
        .ok_or("the mug is not in the file")?;
    let pending_events = store.pending_events(1000).await?.len();
    Ok(Sale {
        order,
        on_hand,
        pending_events,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("embedded-shop.db"), PathBuf::from);
    let sale = run(&path).await?;
    let o = &sale.order;
    println!();
    println!("reopened {}:", path.display());
    println!("order #{} — {} — {}", o.number, o.status, o.email);
    for line in &o.lines {
        println!(
            "  {:<20} {:>3} × {:>8} = {:>8}",
            line.name,
            line.quantity.get(),
            line.unit_price.to_string(),
            line.total.to_string()
        );
    }
    println!("  total {}; captured {}", o.total, o.captured);
    println!("mugs left on hand: {}", sale.on_hand);
    println!("events waiting for the relay: {}", sale.pending_events);
    assert_eq!(o.status, OrderStatus::Paid);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sale_survives_reopening_the_file() -> Result<(), Box<dyn Error>> {
        let path = std::env::temp_dir().join(format!(
            "embedded-shop-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let sale = run(&path).await?;
        assert_eq!(sale.order.status, OrderStatus::Paid);
        assert_eq!(sale.order.total, usd("38.00")?);
        assert_eq!(sale.order.captured, sale.order.total);
        assert_eq!(sale.order.lines.len(), 2);
        assert_eq!(sale.on_hand, 10, "two of twelve mugs sold");
        assert!(sale.pending_events >= 2, "placed and paid, for the relay");
        // A second run on the same file sells again, with new names.
        let again = run(&path).await?;
        assert_ne!(again.order.number, sale.order.number);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Ok(())
    }
}
