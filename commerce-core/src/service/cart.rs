//! Carts: get or create, add, change, remove, codes, merge on login, and the
//! priced view with what blocks checkout.

use std::collections::HashMap;

use serde::Serialize;

use super::{Commerce, CommerceError};
use crate::cart::CartToken;
use crate::cart::{Cart, CartLine, CartOwner};
use crate::catalog::{CatalogSnapshot, CategoryTree, VariantSnapshot};
use crate::ids::{LineId, ProductId, VariantId};
use crate::money::Money;
use crate::pricing::{
    CartInput, LineInput, NotApplied, Outcome, PricedCart, PricingContext, PromotionSet, price,
};
use crate::promotion::DiscountCode;
use crate::quantity::Quantity;
use crate::storage::{CartChanged, CartWithVariants, Store, VariantRecord};

/// Something that blocks checkout of a cart line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CartIssue {
    /// The product was withdrawn or the variant removed; the line is not priced.
    ProductUnavailable {
        /// The line.
        line_id: LineId,
    },
    /// Fewer units available than the line asks for (0 when sold out).
    InsufficientStock {
        /// The line.
        line_id: LineId,
        /// Units available now.
        available: u32,
    },
    /// The unit price changed since the line was added.
    PriceChanged {
        /// The line.
        line_id: LineId,
        /// The price when added.
        was: Money,
        /// The price now.
        now: Money,
    },
}

/// What a buyer reads about a cart line's variant, as the catalog has it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineLabel {
    /// The cart line.
    pub line_id: LineId,
    /// Its variant.
    pub variant_id: VariantId,
    /// The variant's product.
    pub product_id: ProductId,
    /// The variant's SKU.
    pub sku: String,
    /// The product's name with the variant's attributes (`Mug (L)`).
    pub name: String,
}

/// A cart, priced now, with what blocks its checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CartView {
    /// The stored cart.
    pub cart: Cart,
    /// The priced cart (lines with issues of availability are left out).
    pub priced: PricedCart,
    /// What blocks checkout.
    pub issues: Vec<CartIssue>,
    /// SKU and name of every line whose variant still exists (withdrawn
    /// products included, so a buyer can tell what was withdrawn), in cart order.
    pub labels: Vec<LineLabel>,
}

impl CartView {
    /// The label of a line, when its variant still exists.
    pub fn label(&self, line: LineId) -> Option<&LineLabel> {
        self.labels.iter().find(|l| l.line_id == line)
    }
}

/// A cart as one read found it, with the variant records read with it:
/// what a request hands from its token check ([`Commerce::guest_cart`]) to
/// the call that shows or changes the cart, so that the cart is read once.
/// A call uses it only for the owner it was read for, and only when it
/// holds every record the call needs; otherwise the call reads again. A
/// change made from a read that is stale by then costs one more attempt,
/// never a lost change: saving is a compare-and-set on the cart's version.
#[derive(Debug, Clone)]
pub struct CartRead {
    pub(super) owner: CartOwner,
    /// `None`: the owner had no cart.
    pub(super) cart: Option<Cart>,
    pub(super) records: HashMap<VariantId, VariantRecord>,
    /// The variant whose record was read besides the lines'.
    also: Option<VariantId>,
}

impl CartRead {
    /// `owner`'s cart and records as a store answered them (`also`: the
    /// variant read besides the lines').
    pub(super) fn new(
        owner: &CartOwner,
        (cart, records): CartWithVariants,
        also: Option<VariantId>,
    ) -> Self {
        CartRead {
            owner: owner.clone(),
            cart,
            records: records.into_iter().map(|r| (r.variant.id, r)).collect(),
            also,
        }
    }

    /// Whose cart was read.
    pub fn owner(&self) -> &CartOwner {
        &self.owner
    }

    /// The cart as read; `None` when the owner had none.
    pub fn cart(&self) -> Option<&Cart> {
        self.cart.as_ref()
    }

    /// Whether it is `owner`'s and holds the records of its lines and of `variant`.
    fn serves(&self, owner: &CartOwner, variant: Option<VariantId>) -> bool {
        self.owner == *owner
            && variant.is_none_or(|v| {
                self.also == Some(v) || self.cart.as_ref().is_some_and(|c| c.line_for(v).is_some())
            })
    }
}

const SAVE_ATTEMPTS: usize = 5;

impl<S: Store> Commerce<S> {
    /// The owner's cart, created empty if there is none.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn cart(&self, owner: &CartOwner) -> Result<Cart, CommerceError> {
        for _ in 0..SAVE_ATTEMPTS {
            if let Some(cart) = self.store.cart_of(owner).await? {
                return Ok(cart);
            }
            if let Ok(cart) = self.store.save_cart(self.fresh_cart(owner)).await? {
                return Ok(cart);
            }
        }
        Err(CommerceError::Conflict)
    }

    /// A new empty cart for `owner`, not saved.
    fn fresh_cart(&self, owner: &CartOwner) -> Cart {
        Cart::new(owner.clone(), self.config.currency, self.clock.now())
    }

    /// Creates the cart of an owner just read without one, without reading
    /// again (unless another request created it meanwhile: then its cart).
    async fn create_cart(&self, owner: &CartOwner) -> Result<Cart, CommerceError> {
        match self.store.save_cart(self.fresh_cart(owner)).await? {
            Ok(cart) => Ok(cart),
            Err(CartChanged) => self.cart(owner).await,
        }
    }

    /// Whose cart a guest's request reaches, from the token the client sent:
    /// that token when a cart has it; otherwise (no token, a malformed one, or
    /// one no cart has) a fresh token, so a client never picks its own token
    /// and an unknown token never reaches a cart. The second value is `true`
    /// for a fresh token (the client must be told it). The fresh cart itself
    /// is created by the first call that reads or changes it.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn guest_cart_owner(
        &self,
        presented: Option<&str>,
    ) -> Result<(CartOwner, bool), CommerceError> {
        let (read, fresh) = self.guest_cart(presented, None).await?;
        Ok((read.owner, fresh))
    }

    /// [`Self::guest_cart_owner`], with what the check read: the cart (none
    /// for a fresh token) and the records of its lines' variants and of
    /// `also` (the variant the request is about to add), in one store call.
    /// Hand it to [`Self::cart_view_from`] or
    /// [`Self::add_to_cart_and_view_from`] so that the request does not read
    /// them again.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn guest_cart(
        &self,
        presented: Option<&str>,
        also: Option<VariantId>,
    ) -> Result<(CartRead, bool), CommerceError> {
        if let Some(token) = presented.and_then(|t| CartToken::parse(t.trim()).ok()) {
            let read = self.read_cart(&CartOwner::Guest(token), also).await?;
            if read.cart.is_some() {
                return Ok((read, false));
            }
            // No cart has the token: a fresh one, and what was read of `also`.
            let read = CartRead {
                owner: CartOwner::Guest(CartToken::generate()),
                ..read
            };
            return Ok((read, true));
        }
        let read = CartRead {
            owner: CartOwner::Guest(CartToken::generate()),
            cart: None,
            records: HashMap::new(),
            also: None,
        };
        Ok((read, true))
    }

    /// The owner's cart and the records of its lines' variants and of
    /// `also`, in one store call ([`crate::storage::CartStore::cart_with_variants`]).
    pub(super) async fn read_cart(
        &self,
        owner: &CartOwner,
        also: Option<VariantId>,
    ) -> Result<CartRead, CommerceError> {
        let read = self.store.cart_with_variants(owner, also).await?;
        Ok(CartRead::new(owner, read, also))
    }

    /// `read` when it serves `owner` and `also` ([`CartRead::serves`]),
    /// else a read now.
    async fn read_or(
        &self,
        owner: &CartOwner,
        read: Option<CartRead>,
        also: Option<VariantId>,
    ) -> Result<CartRead, CommerceError> {
        match read {
            Some(read) if read.serves(owner, also) => Ok(read),
            _ => self.read_cart(owner, also).await,
        }
    }

    /// Reads, changes and saves a cart, retrying when another writer got there first.
    pub(super) async fn update_cart<F>(
        &self,
        owner: &CartOwner,
        change: F,
    ) -> Result<Cart, CommerceError>
    where
        F: FnMut(&mut Cart, &HashMap<VariantId, VariantRecord>) -> Result<(), CommerceError>,
    {
        Ok(self.update_cart_with(owner, None, None, change).await?.0)
    }

    /// [`Self::update_cart`], starting from `read` when it serves (see
    /// [`CartRead`]), reading `extra`'s record with the lines' (in the same
    /// read), and answering the records with the saved cart. An owner
    /// without a cart gets one: created by the save, or empty when the
    /// change is refused (so a guest's token keeps reaching a cart).
    async fn update_cart_with<F>(
        &self,
        owner: &CartOwner,
        mut read: Option<CartRead>,
        extra: Option<VariantId>,
        mut change: F,
    ) -> Result<(Cart, HashMap<VariantId, VariantRecord>), CommerceError>
    where
        F: FnMut(&mut Cart, &HashMap<VariantId, VariantRecord>) -> Result<(), CommerceError>,
    {
        for _ in 0..SAVE_ATTEMPTS {
            // The caller's read first; after a conflict, the cart as it is.
            let CartRead { cart, records, .. } = self.read_or(owner, read.take(), extra).await?;
            let existed = cart.is_some();
            let mut cart = cart.unwrap_or_else(|| self.fresh_cart(owner));
            if let Err(refused) = change(&mut cart, &records) {
                if !existed {
                    self.create_cart(owner).await?;
                }
                return Err(refused);
            }
            cart.updated_at = self.clock.now();
            match self.store.save_cart(cart).await? {
                Ok(saved) => return Ok((saved, records)),
                Err(CartChanged) => continue,
            }
        }
        Err(CommerceError::Conflict)
    }

    pub(super) async fn records(
        &self,
        ids: &[VariantId],
    ) -> Result<HashMap<VariantId, VariantRecord>, CommerceError> {
        Ok(self
            .store
            .variants(ids)
            .await?
            .into_iter()
            .map(|r| (r.variant.id, r))
            .collect())
    }

    /// Adds units of a variant; a variant already in the cart gets its
    /// quantity raised instead of a second line. The line's total is capped
    /// by 999 and by what is available.
    ///
    /// # Errors
    /// [`CommerceError::ProductUnavailable`] for an unknown or withdrawn
    /// variant, [`CommerceError::InsufficientStock`] above what is available,
    /// [`CommerceError::Validation`] above 999 units; the cart is unchanged.
    pub async fn add_to_cart(
        &self,
        owner: &CartOwner,
        variant: VariantId,
        quantity: Quantity,
    ) -> Result<Cart, CommerceError> {
        Ok(self
            .add_with_records(owner, None, variant, quantity)
            .await?
            .0)
    }

    /// [`Self::add_to_cart`], then the cart priced as [`Self::cart_view`]
    /// gives it, reusing what adding read (the cart and its variants): the
    /// call a storefront's "add to cart" makes.
    ///
    /// # Errors
    /// As [`Self::add_to_cart`].
    pub async fn add_to_cart_and_view(
        &self,
        owner: &CartOwner,
        variant: VariantId,
        quantity: Quantity,
        customer: Option<crate::ids::CustomerId>,
    ) -> Result<CartView, CommerceError> {
        self.add_to_cart_and_view_from(owner, None, variant, quantity, customer)
            .await
    }

    /// [`Self::add_to_cart_and_view`], starting from `read`, what the
    /// caller just read of the owner's cart (see [`Self::guest_cart`] and
    /// [`CartRead`]) instead of reading it again.
    ///
    /// # Errors
    /// As [`Self::add_to_cart`].
    pub async fn add_to_cart_and_view_from(
        &self,
        owner: &CartOwner,
        read: Option<CartRead>,
        variant: VariantId,
        quantity: Quantity,
        customer: Option<crate::ids::CustomerId>,
    ) -> Result<CartView, CommerceError> {
        let (cart, records) = self
            .add_with_records(owner, read, variant, quantity)
            .await?;
        Ok(self.price_with(cart, records, customer).await?.0)
    }

    async fn add_with_records(
        &self,
        owner: &CartOwner,
        read: Option<CartRead>,
        variant: VariantId,
        quantity: Quantity,
    ) -> Result<(Cart, HashMap<VariantId, VariantRecord>), CommerceError> {
        let currency = self.config.currency;
        self.update_cart_with(owner, read, Some(variant), |cart, records| {
            let record = match records.get(&variant) {
                Some(r) if r.product.deleted_at.is_none() => r,
                _ => return Err(CommerceError::ProductUnavailable(variant)),
            };
            if record.variant.price.price().currency() != currency {
                return Err(CommerceError::ProductUnavailable(variant));
            }
            let existing = cart.line_for(variant).map_or(0, |l| l.quantity.get());
            let wanted = existing + quantity.get();
            let q = Quantity::new(i64::from(wanted)).map_err(|_| CommerceError::Validation {
                field: "quantity",
                message: format!(
                    "a line holds at most {} units; the cart has {existing}",
                    Quantity::MAX
                ),
            })?;
            let available = record.variant.stock.available();
            if wanted > available {
                return Err(CommerceError::InsufficientStock(vec![
                    crate::inventory::Shortage {
                        variant_id: variant,
                        requested: wanted,
                        available,
                    },
                ]));
            }
            let price_now = record.variant.price.price();
            match cart.lines.iter_mut().find(|l| l.variant_id == variant) {
                Some(line) => {
                    line.quantity = q;
                    line.price_when_added = price_now;
                }
                None => cart.lines.push(CartLine {
                    id: LineId::new(),
                    variant_id: variant,
                    quantity: q,
                    price_when_added: price_now,
                }),
            }
            Ok(())
        })
        .await
    }

    /// Sets a line's quantity; 0 removes it.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] for a line not in the cart,
    /// [`CommerceError::InsufficientStock`], [`CommerceError::Validation`].
    pub async fn set_quantity(
        &self,
        owner: &CartOwner,
        line: LineId,
        quantity: u32,
    ) -> Result<Cart, CommerceError> {
        self.update_cart(owner, |cart, records| {
            let idx = cart
                .lines
                .iter()
                .position(|l| l.id == line)
                .ok_or(CommerceError::NotFound("cart line"))?;
            if quantity == 0 {
                cart.lines.remove(idx);
                return Ok(());
            }
            let q = Quantity::new(i64::from(quantity)).map_err(|e| CommerceError::Validation {
                field: "quantity",
                message: e.to_string(),
            })?;
            let variant = cart.lines[idx].variant_id;
            let record = records
                .get(&variant)
                .filter(|r| r.product.deleted_at.is_none());
            let record = record.ok_or(CommerceError::ProductUnavailable(variant))?;
            let available = record.variant.stock.available();
            if quantity > available {
                return Err(CommerceError::InsufficientStock(vec![
                    crate::inventory::Shortage {
                        variant_id: variant,
                        requested: quantity,
                        available,
                    },
                ]));
            }
            cart.lines[idx].quantity = q;
            cart.lines[idx].price_when_added = record.variant.price.price();
            Ok(())
        })
        .await
    }

    /// Removes a line.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] for a line not in the cart.
    pub async fn remove_line(
        &self,
        owner: &CartOwner,
        line: LineId,
    ) -> Result<Cart, CommerceError> {
        self.set_quantity(owner, line, 0).await
    }

    /// Empties the cart (lines and codes).
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn clear_cart(&self, owner: &CartOwner) -> Result<Cart, CommerceError> {
        self.update_cart(owner, |cart, _| {
            cart.lines.clear();
            cart.codes.clear();
            Ok(())
        })
        .await
    }

    /// Enters a discount code (case-insensitive). Refused, with the reason,
    /// when no promotion has it or it does not apply to this cart now.
    ///
    /// # Errors
    /// [`CommerceError::DiscountCodeInvalid`], [`CommerceError::DiscountNotApplicable`],
    /// [`CommerceError::DiscountUsageExceeded`].
    pub async fn apply_code(
        &self,
        owner: &CartOwner,
        customer: Option<crate::ids::CustomerId>,
        code: &str,
    ) -> Result<CartView, CommerceError> {
        let code = DiscountCode::parse(code).map_err(|_| CommerceError::DiscountCodeInvalid)?;
        let mut cart = self.cart(owner).await?;
        if !cart.codes.contains(&code) {
            cart.codes.push(code.clone());
        }
        let view = self.view(cart, customer).await?;
        code_verdict(&view.priced, &code)?;
        let saved = match self.store.save_cart(view.cart).await? {
            Ok(saved) => saved,
            Err(CartChanged) => return Err(CommerceError::Conflict),
        };
        self.view(saved, customer).await
    }

    /// Removes a code.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn remove_code(&self, owner: &CartOwner, code: &str) -> Result<Cart, CommerceError> {
        let code =
            DiscountCode::parse(code).map_err(|_| CommerceError::NotFound("discount code"))?;
        self.update_cart(owner, |cart, _| {
            cart.codes.retain(|c| *c != code);
            Ok(())
        })
        .await
    }

    /// Moves a guest's cart into an account's cart on login: quantities of the
    /// same variant add up, capped by 999 and by what is available; codes join.
    /// The guest cart is gone afterwards. Does nothing when the guest has no cart.
    ///
    /// # Errors
    /// [`CommerceError::Conflict`] when either cart keeps changing.
    pub async fn merge_guest_cart(
        &self,
        guest: &CartOwner,
        account: &CartOwner,
    ) -> Result<Cart, CommerceError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(guest_cart) = self.store.cart_of(guest).await? else {
                return self.cart(account).await;
            };
            let mut into = self.cart(account).await?;
            let ids: Vec<VariantId> = guest_cart
                .lines
                .iter()
                .chain(&into.lines)
                .map(|l| l.variant_id)
                .collect();
            let records = self.records(&ids).await?;
            for line in &guest_cart.lines {
                let Some(record) = records
                    .get(&line.variant_id)
                    .filter(|r| r.product.deleted_at.is_none())
                else {
                    continue;
                };
                let cap = record.variant.stock.available().min(Quantity::MAX);
                match into
                    .lines
                    .iter_mut()
                    .find(|l| l.variant_id == line.variant_id)
                {
                    Some(existing) => {
                        let sum = (existing.quantity.get() + line.quantity.get())
                            .min(cap)
                            .max(existing.quantity.get().min(cap));
                        if let Ok(q) = Quantity::new(i64::from(sum)) {
                            existing.quantity = q;
                        }
                    }
                    None => {
                        if let Ok(q) = Quantity::new(i64::from(line.quantity.get().min(cap))) {
                            into.lines.push(CartLine {
                                quantity: q,
                                ..line.clone()
                            });
                        }
                    }
                }
            }
            for code in &guest_cart.codes {
                if !into.codes.contains(code) {
                    into.codes.push(code.clone());
                }
            }
            into.updated_at = self.clock.now();
            match self
                .store
                .merge_carts(into, guest_cart.id, guest_cart.version)
                .await?
            {
                Ok(saved) => return Ok(saved),
                Err(CartChanged) => continue,
            }
        }
        Err(CommerceError::Conflict)
    }

    /// The owner's cart, priced now, with its issues.
    ///
    /// # Errors
    /// [`CommerceError::Pricing`], [`CommerceError::Store`].
    pub async fn cart_view(
        &self,
        owner: &CartOwner,
        customer: Option<crate::ids::CustomerId>,
    ) -> Result<CartView, CommerceError> {
        self.cart_view_from(owner, None, customer).await
    }

    /// [`Self::cart_view`] of `read`, what the caller just read of the
    /// owner's cart (see [`Self::guest_cart`] and [`CartRead`]); without
    /// it, the cart as stored.
    ///
    /// # Errors
    /// As [`Self::cart_view`].
    pub async fn cart_view_from(
        &self,
        owner: &CartOwner,
        read: Option<CartRead>,
        customer: Option<crate::ids::CustomerId>,
    ) -> Result<CartView, CommerceError> {
        let read = self.read_or(owner, read, None).await?;
        if let Some(cart) = read.cart {
            return Ok(self.price_with(cart, read.records, customer).await?.0);
        }
        let cart = self.create_cart(owner).await?;
        self.view(cart, customer).await
    }

    /// Prices a cart: lines whose product is withdrawn are left out and
    /// reported; stock shortfalls and price changes are reported.
    pub(super) async fn view(
        &self,
        cart: Cart,
        customer: Option<crate::ids::CustomerId>,
    ) -> Result<CartView, CommerceError> {
        let ids: Vec<VariantId> = cart.lines.iter().map(|l| l.variant_id).collect();
        let records = self.records(&ids).await?;
        Ok(self.price_with(cart, records, customer).await?.0)
    }

    /// Prices `cart` with its variants' records already read.
    pub(super) async fn price_with(
        &self,
        cart: Cart,
        records: HashMap<VariantId, VariantRecord>,
        customer: Option<crate::ids::CustomerId>,
    ) -> Result<(CartView, HashMap<VariantId, VariantRecord>), CommerceError> {
        let tree = category_tree(self.rules_categories().await?.as_ref().clone());
        let mut catalog = CatalogSnapshot::new(tree);
        let mut issues = Vec::new();
        let mut labels = Vec::with_capacity(cart.lines.len());
        let mut lines = Vec::with_capacity(cart.lines.len());
        for line in &cart.lines {
            if let Some(record) = records.get(&line.variant_id) {
                labels.push(LineLabel {
                    line_id: line.id,
                    variant_id: line.variant_id,
                    product_id: record.product.id,
                    sku: record.variant.sku.as_str().to_owned(),
                    name: record.variant.display_name(&record.product.name),
                });
            }
            let Some(record) = records
                .get(&line.variant_id)
                .filter(|r| r.product.deleted_at.is_none())
            else {
                issues.push(CartIssue::ProductUnavailable { line_id: line.id });
                continue;
            };
            let v = &record.variant;
            let available = v.stock.available();
            if line.quantity.get() > available {
                issues.push(CartIssue::InsufficientStock {
                    line_id: line.id,
                    available,
                });
            }
            if v.price.price() != line.price_when_added {
                issues.push(CartIssue::PriceChanged {
                    line_id: line.id,
                    was: line.price_when_added,
                    now: v.price.price(),
                });
            }
            catalog.insert(VariantSnapshot {
                id: v.id,
                product_id: record.product.id,
                category_id: record.product.category_id,
                sku: v.sku.clone(),
                name: v.display_name(&record.product.name).into(),
                price: v.price,
            });
            lines.push(LineInput {
                id: line.id,
                variant_id: line.variant_id,
                quantity: line.quantity,
            });
        }
        let promotions = PromotionSet::new(self.rules_promotions().await?.as_ref().clone())
            .map_err(|_| CommerceError::Conflict)?;
        // Usage matters only to a promotion with a limit that applies to
        // this buyer, and the buyer's orders only to a first-order
        // condition: nothing is read for the others.
        let ids: Vec<_> = promotions
            .promotions()
            .iter()
            .filter(|p| {
                p.usage_limit().is_some()
                    || (customer.is_some() && p.per_customer_limit().is_some())
            })
            .map(|p| p.id())
            .collect();
        let usage = if ids.is_empty() {
            crate::pricing::UsageCounts::new()
        } else {
            self.store.usage(&ids, customer).await?
        };
        let wants_first_order = promotions.promotions().iter().any(|p| {
            p.conditions()
                .contains(&crate::promotion::Condition::FirstOrder)
        });
        let first_order = match customer {
            Some(c) if wants_first_order => {
                let filter = crate::storage::OrderFilter {
                    customer_id: Some(c),
                    ..Default::default()
                };
                self.store.orders(filter, 1, 1).await?.total == 0
            }
            _ => false,
        };
        let input = CartInput {
            currency: cart.currency,
            lines,
            codes: cart.codes.clone(),
            shipping: self.shipping_for(&cart).await?,
        };
        let mut ctx =
            PricingContext::new(self.clock.now(), self.config.tax.as_ref()).with_usage(&usage);
        ctx.rounding = self.config.rounding;
        if let Some(c) = customer {
            ctx = ctx.for_customer(c, first_order);
        }
        let priced = price(&input, &catalog, &promotions, &ctx)?;
        let view = CartView {
            cart,
            priced,
            issues,
            labels,
        };
        Ok((view, records))
    }
}

/// Builds the category tree from categories in any order (parents are added
/// before their children; a category whose parent is missing is left out).
pub(super) fn category_tree(mut pending: Vec<crate::seller::Category>) -> CategoryTree {
    let mut tree = CategoryTree::new();
    loop {
        let before = pending.len();
        pending.retain(|c| tree.add(c.id, c.parent_id).is_err());
        if pending.is_empty() || pending.len() == before {
            return tree;
        }
    }
}

/// Whether an entered code applies; the reason as an error when it does not.
pub(super) fn code_verdict(priced: &PricedCart, code: &DiscountCode) -> Result<(), CommerceError> {
    let mut traces = priced
        .promotions
        .iter()
        .filter(|t| t.code.as_ref() == Some(code))
        .peekable();
    if traces.peek().is_none() {
        return Err(CommerceError::DiscountCodeInvalid);
    }
    let mut refusal = None;
    for t in traces {
        match &t.outcome {
            Outcome::Applied { .. } | Outcome::NotApplied(NotApplied::NotCombinable { .. }) => {
                return Ok(());
            }
            Outcome::NotApplied(
                NotApplied::UsageExhausted { .. } | NotApplied::CustomerLimitReached { .. },
            ) => {
                refusal = Some(CommerceError::DiscountUsageExceeded);
            }
            Outcome::NotApplied(reason) => {
                refusal.get_or_insert(CommerceError::DiscountNotApplicable(reason.clone()));
            }
        }
    }
    Err(refusal.unwrap_or(CommerceError::DiscountCodeInvalid))
}
