//! The dyn-compatible twin of [`Store`]: a backend chosen at run time.
//!
//! The storage traits return `impl Future`, which keeps backends free of
//! boxing but makes `dyn Store` impossible. [`ErasedStore`] is the same set of
//! operations with boxed futures and owned arguments; every `Store` is one;
//! [`DynStore`] wraps an `Arc<dyn ErasedStore>` and implements every storage
//! trait again, so `Commerce<DynStore>` runs on whichever backend the
//! configuration picked. The cost is one allocation per store call.
//!
//! The forwarding below is mechanical: one method per trait method, and the
//! compiler refuses a `DynStore` that misses one.

// The boxed signatures mirror the storage traits' exactly; aliases for them
// would hide that correspondence.
#![allow(clippy::type_complexity)]

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::account::{Account, Email, Rating, Review, SavedAddress};
use crate::cart::{Cart, CartOwner};
use crate::credentials::{
    CodeCheck, OneTimeSecret, RefreshSession, Rotation, SecretDigest, SecretPurpose, SessionRenewal,
};
use crate::idempotency::{Begin, Fingerprint, IdempotencyKey};
use crate::ids::{
    AddressId, CartId, CategoryId, CustomerId, OrderId, PaymentId, ProductId, PromotionId,
    SessionFamilyId, StoreId, VariantId,
};
use crate::inventory::Stock;
use crate::money::Money;
use crate::order::{InvalidTransition, Order};
use crate::outbox::OutboxEvent;
use crate::payment::{BoxFuture, Payment, PaymentAttempt};
use crate::pricing::UsageCounts;
use crate::promotion::Promotion;
use crate::seller::{Category, Product, SellerStore, Variant};
use crate::shipping::ShippingMethod;

/// Every storage operation with boxed futures and owned arguments, so that
/// it can be used as `dyn ErasedStore`. Implemented for every [`Store`].
pub trait ErasedStore: Send + Sync {
    /// See [`CatalogStore::put_seller_store`].
    fn put_seller_store(&self, store: SellerStore) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`CatalogStore::seller_store`].
    fn seller_store(&self, id: StoreId) -> BoxFuture<'_, Result<Option<SellerStore>, StoreError>>;
    /// See [`CatalogStore::seller_stores`].
    fn seller_stores(
        &self,
        page: u32,
        per_page: u32,
    ) -> BoxFuture<'_, Result<Page<SellerStore>, StoreError>>;
    /// See [`CatalogStore::put_category`].
    fn put_category(&self, category: Category) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`CatalogStore::categories`].
    fn categories(&self) -> BoxFuture<'_, Result<Vec<Category>, StoreError>>;
    /// See [`CatalogStore::put_product`].
    fn put_product(
        &self,
        product: Product,
        variants: Vec<Variant>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`CatalogStore::product`].
    fn product(
        &self,
        id: ProductId,
    ) -> BoxFuture<'_, Result<Option<(Product, Vec<Variant>)>, StoreError>>;
    /// See [`CatalogStore::delete_category`].
    fn delete_category(&self, id: CategoryId) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// See [`CatalogStore::variants`].
    fn variants(
        &self,
        ids: Vec<VariantId>,
    ) -> BoxFuture<'_, Result<Vec<VariantRecord>, StoreError>>;
    /// See [`CatalogStore::search_products`].
    fn search_products(
        &self,
        query: ProductQuery,
    ) -> BoxFuture<'_, Result<Page<ProductListing>, StoreError>>;
    /// See [`InventoryStore::stock`].
    fn stock(&self, variant: VariantId) -> BoxFuture<'_, Result<Option<Stock>, StoreError>>;
    /// See [`InventoryStore::set_on_hand`].
    fn set_on_hand(
        &self,
        variant: VariantId,
        on_hand: u32,
        low_threshold: u32,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<(Stock, Stock), BelowReserved>, StoreError>>;
    /// See [`CartStore::cart_of`].
    fn cart_of(&self, owner: CartOwner) -> BoxFuture<'_, Result<Option<Cart>, StoreError>>;
    /// See [`CartStore::cart_with_variants`].
    fn cart_with_variants(
        &self,
        owner: CartOwner,
        also: Option<VariantId>,
    ) -> BoxFuture<'_, Result<(Option<Cart>, Vec<VariantRecord>), StoreError>>;
    /// See [`CartStore::begin_with_cart`].
    fn begin_with_cart(
        &self,
        scope: String,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        owner: CartOwner,
    ) -> BoxFuture<'_, Result<Result<CartWithVariants, Begin>, StoreError>>;
    /// See [`CartStore::save_cart`].
    fn save_cart(&self, cart: Cart)
    -> BoxFuture<'_, Result<Result<Cart, CartChanged>, StoreError>>;
    /// See [`CartStore::merge_carts`].
    fn merge_carts(
        &self,
        into: Cart,
        guest: CartId,
        guest_version: u64,
    ) -> BoxFuture<'_, Result<Result<Cart, CartChanged>, StoreError>>;
    /// See [`PromotionStore::put_promotion`].
    fn put_promotion(
        &self,
        promotion: Promotion,
    ) -> BoxFuture<'_, Result<Result<(), LimitBelowUsage>, StoreError>>;
    /// See [`PromotionStore::replace_promotion`].
    fn replace_promotion(
        &self,
        promotion: Promotion,
    ) -> BoxFuture<'_, Result<Option<Result<(), LimitBelowUsage>>, StoreError>>;
    /// See [`PromotionStore::delete_promotion`].
    fn delete_promotion(&self, id: PromotionId) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// See [`PromotionStore::promotions`].
    fn promotions(&self) -> BoxFuture<'_, Result<Vec<Promotion>, StoreError>>;
    /// See [`PromotionStore::usage`].
    fn usage(
        &self,
        promotions: Vec<PromotionId>,
        customer: Option<CustomerId>,
    ) -> BoxFuture<'_, Result<UsageCounts, StoreError>>;
    /// See [`ShippingStore::insert_shipping_method`].
    fn insert_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`ShippingStore::replace_shipping_method`].
    fn replace_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// See [`ShippingStore::delete_shipping_method`].
    fn delete_shipping_method(&self, code: String) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// See [`ShippingStore::shipping_methods`].
    fn shipping_methods(&self) -> BoxFuture<'_, Result<Vec<ShippingMethod>, StoreError>>;
    /// See [`OrderStore::place_order`].
    fn place_order(
        &self,
        place: PlaceOrder,
    ) -> BoxFuture<'_, Result<Result<Order, PlaceRejection>, StoreError>>;
    /// See [`OrderStore::order`].
    fn order(&self, id: OrderId) -> BoxFuture<'_, Result<Option<Order>, StoreError>>;
    /// See [`OrderStore::begin_with_order`].
    fn begin_with_order(
        &self,
        scope: String,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        order: OrderId,
    ) -> BoxFuture<'_, Result<Result<Option<Order>, Begin>, StoreError>>;
    /// See [`OrderStore::orders`].
    fn orders(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> BoxFuture<'_, Result<Page<Order>, StoreError>>;
    /// See [`OrderStore::insert_payment`].
    fn insert_payment(&self, payment: Payment) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`OrderStore::payment`].
    fn payment(&self, id: PaymentId) -> BoxFuture<'_, Result<Option<Payment>, StoreError>>;
    /// See [`OrderStore::payment_by_reference`].
    fn payment_by_reference(
        &self,
        gateway: String,
        reference: String,
    ) -> BoxFuture<'_, Result<Option<Payment>, StoreError>>;
    /// See [`OrderStore::pending_payments`].
    fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Payment>, StoreError>>;
    /// See [`OrderStore::payments_of`].
    fn payments_of(&self, order: OrderId) -> BoxFuture<'_, Result<Vec<Payment>, StoreError>>;
    /// See [`OrderStore::payments_of_orders`].
    fn payments_of_orders<'a>(
        &'a self,
        orders: &'a [OrderId],
    ) -> BoxFuture<'a, Result<Vec<Payment>, StoreError>>;
    /// See [`OrderStore::record_attempt`].
    fn record_attempt(
        &self,
        payment: PaymentId,
        attempt: PaymentAttempt,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`OrderStore::apply_payment`].
    fn apply_payment(
        &self,
        apply: ApplyPayment,
    ) -> BoxFuture<'_, Result<Result<PaymentOutcome, UnknownPayment>, StoreError>>;
    /// See [`OrderStore::cancel_order`].
    fn cancel_order(
        &self,
        id: OrderId,
        reason: String,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, InvalidTransition>, StoreError>>;
    /// See [`OrderStore::expire_due`].
    fn expire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<OrderId>, StoreError>>;
    /// See [`OrderStore::ship`].
    fn ship(
        &self,
        id: OrderId,
        tracking: Option<String>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, InvalidTransition>, StoreError>>;
    /// See [`OrderStore::deliver`].
    fn deliver(
        &self,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, InvalidTransition>, StoreError>>;
    /// See [`OrderStore::refund`].
    fn refund(
        &self,
        id: OrderId,
        amount: Money,
        reason: String,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, RefundRejection>, StoreError>>;
    /// See [`OutboxStore::pending_events`].
    fn pending_events(&self, limit: u32) -> BoxFuture<'_, Result<Vec<OutboxEvent>, StoreError>>;
    /// See [`OutboxStore::pending_events_after`].
    fn pending_events_after(
        &self,
        after: crate::ids::EventId,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<OutboxEvent>, StoreError>>;
    /// See [`OutboxStore::mark_relayed`].
    fn mark_relayed(
        &self,
        ids: Vec<crate::ids::EventId>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`IdempotencyStore::begin`].
    fn begin(
        &self,
        scope: String,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Begin, StoreError>>;
    /// See [`IdempotencyStore::complete`].
    fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        response: String,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`IdempotencyStore::release`].
    fn release(&self, scope: String, key: IdempotencyKey) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`IdempotencyStore::prune`].
    fn prune(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// See [`AuditStore::audit`].
    fn audit(&self) -> BoxFuture<'_, Result<AuditSnapshot, StoreError>>;
    /// See [`CredentialStore::create_session`].
    fn create_session(&self, session: RefreshSession) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`CredentialStore::rotate_session`].
    fn rotate_session(
        &self,
        presented: SecretDigest,
        renewal: SessionRenewal,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Rotation, StoreError>>;
    /// See [`CredentialStore::revoke_family`].
    fn revoke_family(
        &self,
        presented: SecretDigest,
        account: CustomerId,
    ) -> BoxFuture<'_, Result<Option<SessionFamilyId>, StoreError>>;
    /// See [`CredentialStore::revoke_sessions`].
    fn revoke_sessions(
        &self,
        account: CustomerId,
        keep: Option<SessionFamilyId>,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// See [`CredentialStore::put_secret`].
    fn put_secret(&self, secret: OneTimeSecret) -> BoxFuture<'_, Result<(), StoreError>>;
    /// See [`CredentialStore::check_code`].
    fn check_code(
        &self,
        account: CustomerId,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<CodeCheck, StoreError>>;
    /// See [`CredentialStore::take_token`].
    fn take_token(
        &self,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<CustomerId>, StoreError>>;
    /// See [`CredentialStore::prune_credentials`].
    fn prune_credentials(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// See [`AccountStore::create_account`].
    fn create_account(
        &self,
        account: Account,
    ) -> BoxFuture<'_, Result<Result<Account, EmailTaken>, StoreError>>;
    /// See [`AccountStore::update_account`].
    fn update_account(
        &self,
        account: Account,
    ) -> BoxFuture<'_, Result<Result<Account, EmailTaken>, StoreError>>;
    /// See [`AccountStore::account`].
    fn account(&self, id: CustomerId) -> BoxFuture<'_, Result<Option<Account>, StoreError>>;
    /// See [`AccountStore::account_by_email`].
    fn account_by_email(&self, email: Email) -> BoxFuture<'_, Result<Option<Account>, StoreError>>;
    /// See [`AccountStore::save_address`].
    fn save_address(
        &self,
        address: SavedAddress,
    ) -> BoxFuture<'_, Result<SavedAddress, StoreError>>;
    /// See [`AccountStore::delete_address`].
    fn delete_address(
        &self,
        account: CustomerId,
        id: AddressId,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// See [`AccountStore::addresses`].
    fn addresses(
        &self,
        account: CustomerId,
    ) -> BoxFuture<'_, Result<Vec<SavedAddress>, StoreError>>;
    /// See [`AccountStore::wishlist_add`].
    fn wishlist_add(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// See [`AccountStore::wishlist_remove`].
    fn wishlist_remove(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// See [`AccountStore::wishlist`].
    fn wishlist(&self, account: CustomerId) -> BoxFuture<'_, Result<Vec<ProductId>, StoreError>>;
    /// See [`AccountStore::add_review`].
    fn add_review(
        &self,
        review: Review,
    ) -> BoxFuture<'_, Result<Result<Review, AlreadyReviewed>, StoreError>>;
    /// See [`AccountStore::reviews`].
    fn reviews(
        &self,
        product: ProductId,
        page: u32,
        per_page: u32,
    ) -> BoxFuture<'_, Result<Page<Review>, StoreError>>;
    /// See [`AccountStore::rating`].
    fn rating(&self, product: ProductId) -> BoxFuture<'_, Result<Rating, StoreError>>;
    /// See [`AccountStore::has_purchased`].
    fn has_purchased(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;
}

impl<T: Store> ErasedStore for T {
    fn put_seller_store(&self, store: SellerStore) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as CatalogStore>::put_seller_store(self, store).await })
    }

    fn seller_store(&self, id: StoreId) -> BoxFuture<'_, Result<Option<SellerStore>, StoreError>> {
        Box::pin(async move { <T as CatalogStore>::seller_store(self, id).await })
    }

    fn seller_stores(
        &self,
        page: u32,
        per_page: u32,
    ) -> BoxFuture<'_, Result<Page<SellerStore>, StoreError>> {
        Box::pin(async move { <T as CatalogStore>::seller_stores(self, page, per_page).await })
    }

    fn put_category(&self, category: Category) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as CatalogStore>::put_category(self, category).await })
    }

    fn categories(&self) -> BoxFuture<'_, Result<Vec<Category>, StoreError>> {
        Box::pin(async move { <T as CatalogStore>::categories(self).await })
    }

    fn put_product(
        &self,
        product: Product,
        variants: Vec<Variant>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as CatalogStore>::put_product(self, product, variants).await })
    }

    fn product(
        &self,
        id: ProductId,
    ) -> BoxFuture<'_, Result<Option<(Product, Vec<Variant>)>, StoreError>> {
        Box::pin(async move { <T as CatalogStore>::product(self, id).await })
    }

    fn delete_category(&self, id: CategoryId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as CatalogStore>::delete_category(self, id).await })
    }

    fn variants(
        &self,
        ids: Vec<VariantId>,
    ) -> BoxFuture<'_, Result<Vec<VariantRecord>, StoreError>> {
        Box::pin(async move { <T as CatalogStore>::variants(self, &ids).await })
    }

    fn search_products(
        &self,
        query: ProductQuery,
    ) -> BoxFuture<'_, Result<Page<ProductListing>, StoreError>> {
        Box::pin(async move { <T as CatalogStore>::search_products(self, &query).await })
    }

    fn stock(&self, variant: VariantId) -> BoxFuture<'_, Result<Option<Stock>, StoreError>> {
        Box::pin(async move { <T as InventoryStore>::stock(self, variant).await })
    }

    fn set_on_hand(
        &self,
        variant: VariantId,
        on_hand: u32,
        low_threshold: u32,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<(Stock, Stock), BelowReserved>, StoreError>> {
        Box::pin(async move {
            <T as InventoryStore>::set_on_hand(self, variant, on_hand, low_threshold, now).await
        })
    }

    fn cart_of(&self, owner: CartOwner) -> BoxFuture<'_, Result<Option<Cart>, StoreError>> {
        Box::pin(async move { <T as CartStore>::cart_of(self, &owner).await })
    }

    fn cart_with_variants(
        &self,
        owner: CartOwner,
        also: Option<VariantId>,
    ) -> BoxFuture<'_, Result<(Option<Cart>, Vec<VariantRecord>), StoreError>> {
        Box::pin(async move { <T as CartStore>::cart_with_variants(self, &owner, also).await })
    }

    fn begin_with_cart(
        &self,
        scope: String,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        owner: CartOwner,
    ) -> BoxFuture<'_, Result<Result<CartWithVariants, Begin>, StoreError>> {
        Box::pin(async move {
            <T as CartStore>::begin_with_cart(
                self,
                &scope,
                &key,
                fingerprint,
                now,
                lock_until,
                &owner,
            )
            .await
        })
    }

    fn save_cart(
        &self,
        cart: Cart,
    ) -> BoxFuture<'_, Result<Result<Cart, CartChanged>, StoreError>> {
        Box::pin(async move { <T as CartStore>::save_cart(self, cart).await })
    }

    fn merge_carts(
        &self,
        into: Cart,
        guest: CartId,
        guest_version: u64,
    ) -> BoxFuture<'_, Result<Result<Cart, CartChanged>, StoreError>> {
        Box::pin(
            async move { <T as CartStore>::merge_carts(self, into, guest, guest_version).await },
        )
    }

    fn put_promotion(
        &self,
        promotion: Promotion,
    ) -> BoxFuture<'_, Result<Result<(), LimitBelowUsage>, StoreError>> {
        Box::pin(async move { <T as PromotionStore>::put_promotion(self, promotion).await })
    }

    fn replace_promotion(
        &self,
        promotion: Promotion,
    ) -> BoxFuture<'_, Result<Option<Result<(), LimitBelowUsage>>, StoreError>> {
        Box::pin(async move { <T as PromotionStore>::replace_promotion(self, promotion).await })
    }

    fn delete_promotion(&self, id: PromotionId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as PromotionStore>::delete_promotion(self, id).await })
    }

    fn promotions(&self) -> BoxFuture<'_, Result<Vec<Promotion>, StoreError>> {
        Box::pin(async move { <T as PromotionStore>::promotions(self).await })
    }

    fn usage(
        &self,
        promotions: Vec<PromotionId>,
        customer: Option<CustomerId>,
    ) -> BoxFuture<'_, Result<UsageCounts, StoreError>> {
        Box::pin(async move { <T as PromotionStore>::usage(self, &promotions, customer).await })
    }

    fn insert_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as ShippingStore>::insert_shipping_method(self, method).await })
    }

    fn replace_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as ShippingStore>::replace_shipping_method(self, method).await })
    }

    fn delete_shipping_method(&self, code: String) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as ShippingStore>::delete_shipping_method(self, &code).await })
    }

    fn shipping_methods(&self) -> BoxFuture<'_, Result<Vec<ShippingMethod>, StoreError>> {
        Box::pin(async move { <T as ShippingStore>::shipping_methods(self).await })
    }

    fn place_order(
        &self,
        place: PlaceOrder,
    ) -> BoxFuture<'_, Result<Result<Order, PlaceRejection>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::place_order(self, place).await })
    }

    fn order(&self, id: OrderId) -> BoxFuture<'_, Result<Option<Order>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::order(self, id).await })
    }

    fn begin_with_order(
        &self,
        scope: String,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        order: OrderId,
    ) -> BoxFuture<'_, Result<Result<Option<Order>, Begin>, StoreError>> {
        Box::pin(async move {
            <T as OrderStore>::begin_with_order(
                self,
                &scope,
                &key,
                fingerprint,
                now,
                lock_until,
                order,
            )
            .await
        })
    }

    fn orders(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> BoxFuture<'_, Result<Page<Order>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::orders(self, filter, page, per_page).await })
    }

    fn insert_payment(&self, payment: Payment) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as OrderStore>::insert_payment(self, payment).await })
    }

    fn payment(&self, id: PaymentId) -> BoxFuture<'_, Result<Option<Payment>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::payment(self, id).await })
    }

    fn payment_by_reference(
        &self,
        gateway: String,
        reference: String,
    ) -> BoxFuture<'_, Result<Option<Payment>, StoreError>> {
        Box::pin(async move {
            <T as OrderStore>::payment_by_reference(self, &gateway, &reference).await
        })
    }

    fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Payment>, StoreError>> {
        Box::pin(
            async move { <T as OrderStore>::pending_payments(self, created_before, limit).await },
        )
    }

    fn payments_of(&self, order: OrderId) -> BoxFuture<'_, Result<Vec<Payment>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::payments_of(self, order).await })
    }

    fn payments_of_orders<'a>(
        &'a self,
        orders: &'a [OrderId],
    ) -> BoxFuture<'a, Result<Vec<Payment>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::payments_of_orders(self, orders).await })
    }

    fn record_attempt(
        &self,
        payment: PaymentId,
        attempt: PaymentAttempt,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as OrderStore>::record_attempt(self, payment, attempt).await })
    }

    fn apply_payment(
        &self,
        apply: ApplyPayment,
    ) -> BoxFuture<'_, Result<Result<PaymentOutcome, UnknownPayment>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::apply_payment(self, apply).await })
    }

    fn cancel_order(
        &self,
        id: OrderId,
        reason: String,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, InvalidTransition>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::cancel_order(self, id, &reason, now).await })
    }

    fn expire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<OrderId>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::expire_due(self, now, limit).await })
    }

    fn ship(
        &self,
        id: OrderId,
        tracking: Option<String>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, InvalidTransition>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::ship(self, id, tracking, now).await })
    }

    fn deliver(
        &self,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, InvalidTransition>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::deliver(self, id, now).await })
    }

    fn refund(
        &self,
        id: OrderId,
        amount: Money,
        reason: String,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Result<Order, RefundRejection>, StoreError>> {
        Box::pin(async move { <T as OrderStore>::refund(self, id, amount, &reason, now).await })
    }

    fn pending_events(&self, limit: u32) -> BoxFuture<'_, Result<Vec<OutboxEvent>, StoreError>> {
        Box::pin(async move { <T as OutboxStore>::pending_events(self, limit).await })
    }

    fn pending_events_after(
        &self,
        after: crate::ids::EventId,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<OutboxEvent>, StoreError>> {
        Box::pin(async move { <T as OutboxStore>::pending_events_after(self, after, limit).await })
    }

    fn mark_relayed(
        &self,
        ids: Vec<crate::ids::EventId>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as OutboxStore>::mark_relayed(self, &ids, now).await })
    }

    fn begin(
        &self,
        scope: String,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Begin, StoreError>> {
        Box::pin(async move {
            <T as IdempotencyStore>::begin(self, &scope, &key, fingerprint, now, lock_until).await
        })
    }

    fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        response: String,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(
            async move { <T as IdempotencyStore>::complete(self, &scope, &key, response).await },
        )
    }

    fn release(&self, scope: String, key: IdempotencyKey) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as IdempotencyStore>::release(self, &scope, &key).await })
    }

    fn prune(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { <T as IdempotencyStore>::prune(self, before).await })
    }

    fn audit(&self) -> BoxFuture<'_, Result<AuditSnapshot, StoreError>> {
        Box::pin(async move { <T as AuditStore>::audit(self).await })
    }

    fn create_session(&self, session: RefreshSession) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as CredentialStore>::create_session(self, session).await })
    }

    fn rotate_session(
        &self,
        presented: SecretDigest,
        renewal: SessionRenewal,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Rotation, StoreError>> {
        Box::pin(async move {
            <T as CredentialStore>::rotate_session(self, presented, renewal, now).await
        })
    }

    fn revoke_family(
        &self,
        presented: SecretDigest,
        account: CustomerId,
    ) -> BoxFuture<'_, Result<Option<SessionFamilyId>, StoreError>> {
        Box::pin(
            async move { <T as CredentialStore>::revoke_family(self, presented, account).await },
        )
    }

    fn revoke_sessions(
        &self,
        account: CustomerId,
        keep: Option<SessionFamilyId>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { <T as CredentialStore>::revoke_sessions(self, account, keep).await })
    }

    fn put_secret(&self, secret: OneTimeSecret) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { <T as CredentialStore>::put_secret(self, secret).await })
    }

    fn check_code(
        &self,
        account: CustomerId,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<CodeCheck, StoreError>> {
        Box::pin(async move {
            <T as CredentialStore>::check_code(self, account, purpose, digest, now).await
        })
    }

    fn take_token(
        &self,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<CustomerId>, StoreError>> {
        Box::pin(
            async move { <T as CredentialStore>::take_token(self, purpose, digest, now).await },
        )
    }

    fn prune_credentials(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { <T as CredentialStore>::prune_credentials(self, now).await })
    }

    fn create_account(
        &self,
        account: Account,
    ) -> BoxFuture<'_, Result<Result<Account, EmailTaken>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::create_account(self, account).await })
    }

    fn update_account(
        &self,
        account: Account,
    ) -> BoxFuture<'_, Result<Result<Account, EmailTaken>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::update_account(self, account).await })
    }

    fn account(&self, id: CustomerId) -> BoxFuture<'_, Result<Option<Account>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::account(self, id).await })
    }

    fn account_by_email(&self, email: Email) -> BoxFuture<'_, Result<Option<Account>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::account_by_email(self, &email).await })
    }

    fn save_address(
        &self,
        address: SavedAddress,
    ) -> BoxFuture<'_, Result<SavedAddress, StoreError>> {
        Box::pin(async move { <T as AccountStore>::save_address(self, address).await })
    }

    fn delete_address(
        &self,
        account: CustomerId,
        id: AddressId,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as AccountStore>::delete_address(self, account, id).await })
    }

    fn addresses(
        &self,
        account: CustomerId,
    ) -> BoxFuture<'_, Result<Vec<SavedAddress>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::addresses(self, account).await })
    }

    fn wishlist_add(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as AccountStore>::wishlist_add(self, account, product).await })
    }

    fn wishlist_remove(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as AccountStore>::wishlist_remove(self, account, product).await })
    }

    fn wishlist(&self, account: CustomerId) -> BoxFuture<'_, Result<Vec<ProductId>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::wishlist(self, account).await })
    }

    fn add_review(
        &self,
        review: Review,
    ) -> BoxFuture<'_, Result<Result<Review, AlreadyReviewed>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::add_review(self, review).await })
    }

    fn reviews(
        &self,
        product: ProductId,
        page: u32,
        per_page: u32,
    ) -> BoxFuture<'_, Result<Page<Review>, StoreError>> {
        Box::pin(async move { <T as AccountStore>::reviews(self, product, page, per_page).await })
    }

    fn rating(&self, product: ProductId) -> BoxFuture<'_, Result<Rating, StoreError>> {
        Box::pin(async move { <T as AccountStore>::rating(self, product).await })
    }

    fn has_purchased(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { <T as AccountStore>::has_purchased(self, account, product).await })
    }
}

/// A store chosen at run time: any backend behind one type.
#[derive(Clone)]
pub struct DynStore(Arc<dyn ErasedStore>);

impl DynStore {
    /// Wraps a backend.
    pub fn new<S: Store + 'static>(store: S) -> Self {
        DynStore(Arc::new(store))
    }

    /// Wraps a shared backend.
    pub fn from_arc(store: Arc<dyn ErasedStore>) -> Self {
        DynStore(store)
    }
}

impl std::fmt::Debug for DynStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynStore")
    }
}

impl CatalogStore for DynStore {
    fn put_seller_store(
        &self,
        store: SellerStore,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.put_seller_store(store)
    }

    fn seller_store(
        &self,
        id: StoreId,
    ) -> impl Future<Output = Result<Option<SellerStore>, StoreError>> + Send {
        self.0.seller_store(id)
    }

    fn seller_stores(
        &self,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<SellerStore>, StoreError>> + Send {
        self.0.seller_stores(page, per_page)
    }

    fn put_category(
        &self,
        category: Category,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.put_category(category)
    }

    fn categories(&self) -> impl Future<Output = Result<Vec<Category>, StoreError>> + Send {
        self.0.categories()
    }

    fn put_product(
        &self,
        product: Product,
        variants: Vec<Variant>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.put_product(product, variants)
    }

    fn product(
        &self,
        id: ProductId,
    ) -> impl Future<Output = Result<Option<(Product, Vec<Variant>)>, StoreError>> + Send {
        self.0.product(id)
    }

    fn delete_category(
        &self,
        id: CategoryId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.delete_category(id)
    }

    fn variants(
        &self,
        ids: &[VariantId],
    ) -> impl Future<Output = Result<Vec<VariantRecord>, StoreError>> + Send {
        self.0.variants(ids.to_vec())
    }

    fn search_products(
        &self,
        query: &ProductQuery,
    ) -> impl Future<Output = Result<Page<ProductListing>, StoreError>> + Send {
        self.0.search_products(query.clone())
    }
}

impl InventoryStore for DynStore {
    fn stock(
        &self,
        variant: VariantId,
    ) -> impl Future<Output = Result<Option<Stock>, StoreError>> + Send {
        self.0.stock(variant)
    }

    fn set_on_hand(
        &self,
        variant: VariantId,
        on_hand: u32,
        low_threshold: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<(Stock, Stock), BelowReserved>, StoreError>> + Send
    {
        self.0.set_on_hand(variant, on_hand, low_threshold, now)
    }
}

impl CartStore for DynStore {
    fn cart_of(
        &self,
        owner: &CartOwner,
    ) -> impl Future<Output = Result<Option<Cart>, StoreError>> + Send {
        self.0.cart_of(owner.clone())
    }

    fn save_cart(
        &self,
        cart: Cart,
    ) -> impl Future<Output = Result<Result<Cart, CartChanged>, StoreError>> + Send {
        self.0.save_cart(cart)
    }

    fn cart_with_variants(
        &self,
        owner: &CartOwner,
        also: Option<VariantId>,
    ) -> impl Future<Output = Result<(Option<Cart>, Vec<VariantRecord>), StoreError>> + Send {
        self.0.cart_with_variants(owner.clone(), also)
    }

    fn begin_with_cart(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        owner: &CartOwner,
    ) -> impl Future<Output = Result<Result<CartWithVariants, Begin>, StoreError>> + Send {
        self.0.begin_with_cart(
            scope.to_owned(),
            key.clone(),
            fingerprint,
            now,
            lock_until,
            owner.clone(),
        )
    }

    fn merge_carts(
        &self,
        into: Cart,
        guest: CartId,
        guest_version: u64,
    ) -> impl Future<Output = Result<Result<Cart, CartChanged>, StoreError>> + Send {
        self.0.merge_carts(into, guest, guest_version)
    }
}

impl PromotionStore for DynStore {
    fn put_promotion(
        &self,
        promotion: Promotion,
    ) -> impl Future<Output = Result<Result<(), LimitBelowUsage>, StoreError>> + Send {
        self.0.put_promotion(promotion)
    }

    fn replace_promotion(
        &self,
        promotion: Promotion,
    ) -> impl Future<Output = Result<Option<Result<(), LimitBelowUsage>>, StoreError>> + Send {
        self.0.replace_promotion(promotion)
    }

    fn delete_promotion(
        &self,
        id: PromotionId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.delete_promotion(id)
    }

    fn promotions(&self) -> impl Future<Output = Result<Vec<Promotion>, StoreError>> + Send {
        self.0.promotions()
    }

    fn usage(
        &self,
        promotions: &[PromotionId],
        customer: Option<CustomerId>,
    ) -> impl Future<Output = Result<UsageCounts, StoreError>> + Send {
        self.0.usage(promotions.to_vec(), customer)
    }
}

impl ShippingStore for DynStore {
    fn insert_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.insert_shipping_method(method)
    }

    fn replace_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.replace_shipping_method(method)
    }

    fn delete_shipping_method(
        &self,
        code: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.delete_shipping_method(code.to_owned())
    }

    fn shipping_methods(
        &self,
    ) -> impl Future<Output = Result<Vec<ShippingMethod>, StoreError>> + Send {
        self.0.shipping_methods()
    }
}

impl OrderStore for DynStore {
    fn place_order(
        &self,
        place: PlaceOrder,
    ) -> impl Future<Output = Result<Result<Order, PlaceRejection>, StoreError>> + Send {
        self.0.place_order(place)
    }

    fn order(&self, id: OrderId) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send {
        self.0.order(id)
    }

    fn begin_with_order(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        order: OrderId,
    ) -> impl Future<Output = Result<Result<Option<Order>, Begin>, StoreError>> + Send {
        self.0.begin_with_order(
            scope.to_owned(),
            key.clone(),
            fingerprint,
            now,
            lock_until,
            order,
        )
    }

    fn orders(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<Order>, StoreError>> + Send {
        self.0.orders(filter, page, per_page)
    }

    fn insert_payment(
        &self,
        payment: Payment,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.insert_payment(payment)
    }

    fn payment(
        &self,
        id: PaymentId,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send {
        self.0.payment(id)
    }

    fn payment_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send {
        self.0
            .payment_by_reference(gateway.to_owned(), reference.to_owned())
    }

    fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send {
        self.0.pending_payments(created_before, limit)
    }

    fn payments_of(
        &self,
        order: OrderId,
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send {
        self.0.payments_of(order)
    }

    async fn payments_of_orders(&self, orders: &[OrderId]) -> Result<Vec<Payment>, StoreError> {
        self.0.payments_of_orders(orders).await
    }

    fn record_attempt(
        &self,
        payment: PaymentId,
        attempt: PaymentAttempt,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.record_attempt(payment, attempt)
    }

    fn apply_payment(
        &self,
        apply: ApplyPayment,
    ) -> impl Future<Output = Result<Result<PaymentOutcome, UnknownPayment>, StoreError>> + Send
    {
        self.0.apply_payment(apply)
    }

    fn cancel_order(
        &self,
        id: OrderId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, InvalidTransition>, StoreError>> + Send {
        self.0.cancel_order(id, reason.to_owned(), now)
    }

    fn expire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OrderId>, StoreError>> + Send {
        self.0.expire_due(now, limit)
    }

    fn ship(
        &self,
        id: OrderId,
        tracking: Option<String>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, InvalidTransition>, StoreError>> + Send {
        self.0.ship(id, tracking, now)
    }

    fn deliver(
        &self,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, InvalidTransition>, StoreError>> + Send {
        self.0.deliver(id, now)
    }

    fn refund(
        &self,
        id: OrderId,
        amount: Money,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, RefundRejection>, StoreError>> + Send {
        self.0.refund(id, amount, reason.to_owned(), now)
    }
}

impl OutboxStore for DynStore {
    fn pending_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send {
        self.0.pending_events(limit)
    }

    fn pending_events_after(
        &self,
        after: crate::ids::EventId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send {
        self.0.pending_events_after(after, limit)
    }

    fn mark_relayed(
        &self,
        ids: &[crate::ids::EventId],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.mark_relayed(ids.to_vec(), now)
    }
}

impl IdempotencyStore for DynStore {
    fn begin(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Begin, StoreError>> + Send {
        self.0
            .begin(scope.to_owned(), key.clone(), fingerprint, now, lock_until)
    }

    fn complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        response: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.complete(scope.to_owned(), key.clone(), response)
    }

    fn release(
        &self,
        scope: &str,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.release(scope.to_owned(), key.clone())
    }

    fn prune(&self, before: DateTime<Utc>) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.0.prune(before)
    }
}

impl CredentialStore for DynStore {
    fn create_session(
        &self,
        session: RefreshSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.create_session(session)
    }

    fn rotate_session(
        &self,
        presented: SecretDigest,
        renewal: SessionRenewal,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send {
        self.0.rotate_session(presented, renewal, now)
    }

    fn revoke_family(
        &self,
        presented: SecretDigest,
        account: CustomerId,
    ) -> impl Future<Output = Result<Option<SessionFamilyId>, StoreError>> + Send {
        self.0.revoke_family(presented, account)
    }

    fn revoke_sessions(
        &self,
        account: CustomerId,
        keep: Option<SessionFamilyId>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.0.revoke_sessions(account, keep)
    }

    fn put_secret(
        &self,
        secret: OneTimeSecret,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.put_secret(secret)
    }

    fn check_code(
        &self,
        account: CustomerId,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CodeCheck, StoreError>> + Send {
        self.0.check_code(account, purpose, digest, now)
    }

    fn take_token(
        &self,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<CustomerId>, StoreError>> + Send {
        self.0.take_token(purpose, digest, now)
    }

    fn prune_credentials(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.0.prune_credentials(now)
    }
}

impl AuditStore for DynStore {
    fn audit(&self) -> impl Future<Output = Result<AuditSnapshot, StoreError>> + Send {
        self.0.audit()
    }
}

impl AccountStore for DynStore {
    fn create_account(
        &self,
        account: Account,
    ) -> impl Future<Output = Result<Result<Account, EmailTaken>, StoreError>> + Send {
        self.0.create_account(account)
    }

    fn update_account(
        &self,
        account: Account,
    ) -> impl Future<Output = Result<Result<Account, EmailTaken>, StoreError>> + Send {
        self.0.update_account(account)
    }

    fn account(
        &self,
        id: CustomerId,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send {
        self.0.account(id)
    }

    fn account_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send {
        self.0.account_by_email(email.clone())
    }

    fn save_address(
        &self,
        address: SavedAddress,
    ) -> impl Future<Output = Result<SavedAddress, StoreError>> + Send {
        self.0.save_address(address)
    }

    fn delete_address(
        &self,
        account: CustomerId,
        id: AddressId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.delete_address(account, id)
    }

    fn addresses(
        &self,
        account: CustomerId,
    ) -> impl Future<Output = Result<Vec<SavedAddress>, StoreError>> + Send {
        self.0.addresses(account)
    }

    fn wishlist_add(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.wishlist_add(account, product)
    }

    fn wishlist_remove(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.wishlist_remove(account, product)
    }

    fn wishlist(
        &self,
        account: CustomerId,
    ) -> impl Future<Output = Result<Vec<ProductId>, StoreError>> + Send {
        self.0.wishlist(account)
    }

    fn add_review(
        &self,
        review: Review,
    ) -> impl Future<Output = Result<Result<Review, AlreadyReviewed>, StoreError>> + Send {
        self.0.add_review(review)
    }

    fn reviews(
        &self,
        product: ProductId,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<Review>, StoreError>> + Send {
        self.0.reviews(product, page, per_page)
    }

    fn rating(
        &self,
        product: ProductId,
    ) -> impl Future<Output = Result<Rating, StoreError>> + Send {
        self.0.rating(product)
    }

    fn has_purchased(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.0.has_purchased(account, product)
    }
}
