//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//!
//! Every route is declared by hand with `#[utoipa::path]` beside its
//! handler and listed in [`ApiDoc`]; the test `openapi.rs` checks that the
//! document lists every route served and that every documented path is
//! served, so the two cannot drift apart.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "commerce",
        description = "The reference HTTP API of commerce-rs. Errors are application/problem+json \
            with a stable `code`; money is `{amount: \"12.50\", currency: \"USD\"}`; lists are \
            `{items, page, per_page, total}`.",
    ),
    paths(
        routes::ops::healthz_doc,
        routes::ops::readyz,
        routes::ops::metrics,
        routes::ops::openapi_doc,
        routes::ops::docs_doc,
        routes::auth::register,
        routes::auth::verify_email,
        routes::auth::login,
        routes::auth::refresh,
        routes::auth::logout,
        routes::auth::otp_request,
        routes::auth::otp_verify,
        routes::auth::forgot,
        routes::auth::reset,
        routes::auth::change,
        routes::me::get_profile,
        routes::me::patch_profile,
        routes::me::list_addresses,
        routes::me::add_address,
        routes::me::patch_address,
        routes::me::delete_address,
        routes::me::wishlist,
        routes::me::wishlist_put,
        routes::me::wishlist_delete,
        routes::stores::create_store,
        routes::stores::list_stores,
        routes::stores::get_store,
        routes::catalog::list_categories,
        routes::catalog::create_category,
        routes::catalog::update_category,
        routes::catalog::delete_category,
        routes::products::list_products,
        routes::products::get_product,
        routes::products::create_product,
        routes::products::update_product,
        routes::products::delete_product,
        routes::products::set_stock,
        routes::reviews::list_reviews,
        routes::reviews::post_review,
        routes::checkout::checkout,
        routes::orders::list_orders,
        routes::orders::get_order,
        routes::orders::cancel_order,
        routes::orders::store_orders,
        routes::payments::start_payment,
        routes::payments::get_payment,
        routes::payments::webhook,
        routes::payments::gateway_return,
        routes::payments::sandbox_page,
        routes::payments::sandbox_choose,
        routes::admin_orders::list_orders,
        routes::admin_orders::ship,
        routes::admin_orders::deliver,
        routes::admin_orders::refund,
        routes::cart::get_cart,
        routes::cart::add_item,
        routes::cart::set_quantity,
        routes::cart::remove_line,
        routes::cart::clear_cart,
        routes::cart::enter_code,
        routes::cart::remove_code,
        routes::cart::choose_shipping,
        routes::shipping::list_shipping_methods,
        routes::shipping::create_shipping_method,
        routes::shipping::update_shipping_method,
        routes::shipping::delete_shipping_method,
        routes::promotions::list_promotions,
        routes::promotions::create_promotion,
        routes::promotions::get_promotion,
        routes::promotions::update_promotion,
        routes::promotions::delete_promotion,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "ops", description = "Health, readiness, metrics, this document"),
        (name = "auth", description = "Sign-up, sign-in, tokens"),
        (name = "me", description = "The signed-in account"),
        (name = "stores", description = "Sellers' stores"),
        (name = "catalog", description = "Categories"),
        (name = "products", description = "Products, variants, stock"),
        (name = "reviews", description = "Product reviews"),
        (name = "orders", description = "Checkout and orders"),
        (name = "payments", description = "Payments, gateway webhooks and returns, the sandbox page"),
        (name = "admin", description = "The back office"),
        (name = "cart", description = "The buyer's cart, priced now"),
        (name = "shipping", description = "Shipping methods"),
        (name = "promotions", description = "Promotions (admins)"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme the secured operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document, with the crate's version.
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// Every documented path (`/api/v1/products/{id}`), sorted.
pub fn documented_paths() -> Vec<String> {
    let mut paths: Vec<String> = document().paths.paths.keys().cloned().collect();
    paths.sort();
    paths
}
