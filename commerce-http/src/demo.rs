//! The demo catalog seeded into an empty database (`COMMERCE_DEMO=1`, the
//! default on the embedded SQLite): three stores with their owners, a small
//! category tree, 50 products with variants and stock (some low, one sold
//! out), two promotions, and a shipping method.
//!
//! It goes through the same services as the API, so it obeys every rule.
//! The demo sellers have no password: they cannot sign in.

use std::collections::BTreeMap;

use commerce_core::browse::ProductQuery;
use commerce_core::ids::{CategoryId, PromotionId};
use commerce_core::money::{Currency, Money};
use commerce_core::promotion::{Promotion, PromotionSpec};
use commerce_core::service::{Actor, Commerce, CommerceError, NewProduct, NewVariant};
use commerce_core::shipping::ShippingMethodSpec;
use commerce_core::storage::Store;

/// The demo's shipping method: `standard`, 4.99 (in the shop's minor units:
/// 499), free over 50.00.
pub fn shipping_method(currency: Currency) -> ShippingMethodSpec {
    let unit = 10_i64.pow(u32::from(currency.exponent()));
    ShippingMethodSpec {
        code: "standard".into(),
        name: "Standard shipping".into(),
        price: Money::from_minor(5 * unit - 1, currency),
        free_over: Some(Money::from_minor(50 * unit, currency)),
    }
}

struct Line {
    category: &'static str,
    name: &'static str,
    price: i64,
    axis: &'static str,
    values: &'static [&'static str],
}

const STORES: [(&str, &str, &str); 3] = [
    (
        "Northwind Apparel",
        "northwind-apparel",
        "northwind@demo.invalid",
    ),
    ("Harbor Home Goods", "harbor-home", "harbor@demo.invalid"),
    ("Lantern Books", "lantern-books", "lantern@demo.invalid"),
];

const SIZES: &[&str] = &["S", "M", "L"];
const COLOURS: &[&str] = &["black", "white"];
const FORMATS: &[&str] = &["paperback", "hardcover"];
const ONE: &[&str] = &["standard"];

fn catalog() -> [Vec<Line>; 3] {
    let l = |category, name, price, axis, values| Line {
        category,
        name,
        price,
        axis,
        values,
    };
    let apparel = vec![
        l("t-shirts", "Classic Crew T-Shirt", 1800, "size", SIZES),
        l("t-shirts", "Organic V-Neck T-Shirt", 2200, "size", SIZES),
        l("t-shirts", "Striped Breton Tee", 2600, "size", SIZES),
        l("t-shirts", "Pocket Tee", 1900, "size", SIZES),
        l("t-shirts", "Long Sleeve Henley", 2900, "size", SIZES),
        l("t-shirts", "Graphic Lighthouse Tee", 2400, "size", SIZES),
        l("hoodies", "Harbour Hoodie", 5400, "size", SIZES),
        l("hoodies", "Zip-Up Fleece", 6200, "size", SIZES),
        l("hoodies", "Heavyweight Pullover", 6900, "size", SIZES),
        l("hoodies", "Quarter-Zip Sweatshirt", 5800, "size", SIZES),
        l("hoodies", "Rain Shell Hoodie", 8900, "size", SIZES),
        l("accessories", "Wool Beanie", 2100, "colour", COLOURS),
        l("accessories", "Canvas Tote Bag", 1500, "colour", COLOURS),
        l("accessories", "Merino Socks", 1200, "size", SIZES),
        l("accessories", "Knit Scarf", 3200, "colour", COLOURS),
        l("accessories", "Baseball Cap", 2300, "colour", COLOURS),
        l("accessories", "Leather Belt", 3900, "size", SIZES),
    ];
    let home = vec![
        l("mugs", "Stoneware Mug", 1400, "colour", COLOURS),
        l("mugs", "Enamel Camp Mug", 1200, "colour", COLOURS),
        l("mugs", "Double-Wall Glass Cup", 1800, "model", ONE),
        l("mugs", "Espresso Cup Pair", 1600, "colour", COLOURS),
        l("mugs", "Travel Tumbler", 2500, "colour", COLOURS),
        l("mugs", "Tea Infuser Mug", 2000, "model", ONE),
        l("kitchen", "Cast Iron Skillet", 4500, "model", ONE),
        l("kitchen", "Olive Wood Spoon Set", 2800, "model", ONE),
        l("kitchen", "Linen Tea Towels", 1900, "colour", COLOURS),
        l("kitchen", "Ceramic Pour-Over", 3400, "colour", COLOURS),
        l("kitchen", "Chef's Knife", 7900, "model", ONE),
        l("kitchen", "Bamboo Cutting Board", 2600, "model", ONE),
        l("decor", "Beeswax Candle", 1600, "model", ONE),
        l("decor", "Harbour Map Poster", 2900, "model", ONE),
        l("decor", "Woven Throw Blanket", 6400, "colour", COLOURS),
        l("decor", "Ceramic Planter", 3100, "colour", COLOURS),
        l("decor", "Linen Cushion Cover", 2700, "colour", COLOURS),
    ];
    let books = vec![
        l("fiction", "The Lighthouse Keeper", 1699, "format", FORMATS),
        l("fiction", "Salt and Starlight", 1499, "format", FORMATS),
        l("fiction", "A Harbour in Winter", 1899, "format", FORMATS),
        l(
            "fiction",
            "The Cartographer's Daughter",
            1799,
            "format",
            FORMATS,
        ),
        l("fiction", "Northern Tides", 1399, "format", FORMATS),
        l("fiction", "The Last Ferry", 1599, "format", FORMATS),
        l("fiction", "Paper Lanterns", 1299, "format", FORMATS),
        l(
            "non-fiction",
            "Exact Money: A Short History",
            2499,
            "format",
            FORMATS,
        ),
        l("non-fiction", "Knots for Sailors", 1999, "format", FORMATS),
        l("non-fiction", "The Baker's Year", 2899, "format", FORMATS),
        l("non-fiction", "Birds of the Coast", 3299, "format", FORMATS),
        l("non-fiction", "Small Gardens", 2199, "format", FORMATS),
        l("non-fiction", "Weather Watching", 1899, "format", FORMATS),
        l("non-fiction", "Rust in Practice", 3999, "format", FORMATS),
        l(
            "non-fiction",
            "Walking the Headlands",
            1799,
            "format",
            FORMATS,
        ),
        l(
            "non-fiction",
            "A Field Guide to Shells",
            2599,
            "format",
            FORMATS,
        ),
    ];
    [apparel, home, books]
}

/// (parent slug or none, name, slug)
const CATEGORIES: [(Option<&str>, &str, &str); 12] = [
    (None, "Apparel", "apparel"),
    (Some("apparel"), "T-Shirts", "t-shirts"),
    (Some("apparel"), "Hoodies", "hoodies"),
    (Some("apparel"), "Accessories", "accessories"),
    (None, "Home", "home"),
    (Some("home"), "Mugs", "mugs"),
    (Some("home"), "Kitchen", "kitchen"),
    (Some("home"), "Decor", "decor"),
    (None, "Books", "books"),
    (Some("books"), "Fiction", "fiction"),
    (Some("books"), "Non-fiction", "non-fiction"),
    (None, "Gift Cards", "gift-cards"),
];

fn sku_part(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(4)
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Seeds the demo into an empty database (no category and no product);
/// `Ok(None)` when it holds a catalog already, so restarts never seed twice.
///
/// # Errors
/// The engine refused or the store failed.
pub async fn seed<S: Store>(commerce: &Commerce<S>) -> Result<Option<String>, CommerceError> {
    let probe = ProductQuery {
        per_page: 1,
        ..ProductQuery::default()
    };
    if !commerce.categories().await?.is_empty() || commerce.browse(&probe).await?.total > 0 {
        return Ok(None);
    }
    let currency = commerce.config().currency;
    // Prices above are in cents; other exponents scale them.
    let scale = |cents: i64| -> i64 {
        match currency.exponent() {
            0 => cents / 100 * 100,
            e => cents * 10_i64.pow(u32::from(e)) / 100,
        }
    };
    let mut categories: BTreeMap<&str, CategoryId> = BTreeMap::new();
    for (parent, name, slug) in CATEGORIES {
        let parent = parent.and_then(|p| categories.get(p).copied());
        let c = commerce.create_category(name, slug, parent).await?;
        categories.insert(slug, c.id);
    }
    let mut products = 0_usize;
    for ((store_name, slug, email), lines) in STORES.into_iter().zip(catalog()) {
        let owner = commerce
            .register(email, Some(format!("{store_name} (demo)")), None)
            .await?;
        commerce.mark_email_verified(owner.id).await?;
        let store = commerce
            .create_seller_store(owner.id, store_name, slug)
            .await?;
        let actor = Actor {
            id: owner.id,
            admin: false,
        };
        for (i, line) in lines.iter().enumerate() {
            let variants = line
                .values
                .iter()
                .enumerate()
                .map(|(j, value)| {
                    let stock = match (i + j) % 7 {
                        0 => 2,
                        3 => 0,
                        _ => u32::try_from(10 + (i * 7 + j * 3) % 40).unwrap_or(10),
                    };
                    let mut attributes = BTreeMap::new();
                    attributes.insert(line.axis.to_owned(), (*value).to_owned());
                    let extra = if line.axis == "format" && *value == "hardcover" {
                        1000
                    } else {
                        0
                    };
                    let price = Money::from_minor(scale(line.price + extra), currency);
                    // Every fifth product is on offer: a higher compare-at price.
                    let compare_at = (i % 5 == 4)
                        .then(|| Money::from_minor(scale(line.price + extra + 500), currency));
                    NewVariant {
                        sku: format!("{}-{:03}-{}", sku_part(slug), i + 1, sku_part(value)),
                        attributes,
                        price,
                        compare_at,
                        stock,
                    }
                })
                .collect();
            commerce
                .create_product(
                    actor,
                    NewProduct {
                        store_id: store.id,
                        category_id: categories.get(line.category).copied(),
                        name: line.name.to_owned(),
                        description: format!(
                            "{} from {store_name}. A demo product: change or delete it freely.",
                            line.name
                        ),
                        images: Vec::new(),
                        variants,
                    },
                )
                .await?;
            products += 1;
        }
    }
    let promotions = [
        serde_json::json!({
            "name": "10% off with WELCOME10",
            "code": "WELCOME10",
            "priority": 10,
            "combinable": true,
            "per_customer_limit": 1,
            "action": {"type": "percentage", "percent": "10"}
        }),
        serde_json::json!({
            "name": "Free shipping over 30",
            "priority": 5,
            "combinable": true,
            "conditions": [{"type": "min_subtotal",
                "amount": Money::from_minor(scale(3000), currency)}],
            "action": {"type": "free_shipping"}
        }),
    ];
    for spec in promotions {
        let spec: PromotionSpec =
            serde_json::from_value(spec).map_err(|e| CommerceError::Validation {
                field: "promotion",
                message: e.to_string(),
            })?;
        let promotion =
            Promotion::new(PromotionId::new(), spec).map_err(|e| CommerceError::Validation {
                field: "promotion",
                message: e.to_string(),
            })?;
        commerce
            .store()
            .put_promotion(promotion)
            .await?
            .map_err(|e| CommerceError::Validation {
                field: "promotion",
                message: e.to_string(),
            })?;
    }
    commerce
        .add_shipping_method(shipping_method(currency))
        .await?;
    // The promotions above went to the store directly.
    commerce.forget_cached_rules();
    Ok(Some(format!(
        "{} stores, {} categories, {products} products, 2 promotions, 1 shipping method",
        STORES.len(),
        CATEGORIES.len()
    )))
}
