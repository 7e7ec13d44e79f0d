//! The catalog: sellers' stores, categories (a tree, never a cycle), products
//! with variants (soft-deleted), and stock — with who may do what.

use super::rules::Rule;
use std::collections::BTreeMap;

use super::{Commerce, CommerceError};
use crate::account::{Rating, Role};
use crate::browse::{ProductListing, ProductQuery};
use crate::catalog::{Sku, VariantPrice};
use crate::ids::{CategoryId, CustomerId, ProductId, StoreId, VariantId};
use crate::inventory::Stock;
use crate::money::Money;
use crate::seller::{Category, Product, SellerStore, Variant};
use crate::storage::{Page, Store, StoreError};

/// Who is asking: an account, and whether it is an admin. Built by the
/// caller from its session; services check ownership with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The account.
    pub id: CustomerId,
    /// Admins may act on every store's catalog.
    pub admin: bool,
}

/// A variant to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVariant {
    /// Its SKU (unique across the shop).
    pub sku: String,
    /// Attributes such as `size: M`.
    pub attributes: BTreeMap<String, String>,
    /// The selling price.
    pub price: Money,
    /// The compare-at ("was") price.
    pub compare_at: Option<Money>,
    /// Units on hand.
    pub stock: u32,
}

/// A product to create, with its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// The seller's store.
    pub store_id: StoreId,
    /// Its category.
    pub category_id: Option<CategoryId>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Image URLs (http or https).
    pub images: Vec<String>,
    /// At least one variant.
    pub variants: Vec<NewVariant>,
}

/// Changes to a product; `None` leaves a field as it is. The store a product
/// belongs to cannot be changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category (`Some(None)` removes it).
    pub category_id: Option<Option<CategoryId>>,
    /// New images.
    pub images: Option<Vec<String>>,
}

/// A live product as a shopper sees it: its variants (by SKU, each with its
/// stock, so availability) and its rating.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDetail {
    /// The product.
    pub product: Product,
    /// Its variants, by SKU.
    pub variants: Vec<Variant>,
    /// Its reviews' average and count.
    pub rating: Rating,
}

fn invalid(field: &'static str, message: impl Into<String>) -> CommerceError {
    CommerceError::Validation {
        field,
        message: message.into(),
    }
}

/// A slug made from a name, for callers that let users leave it out:
/// ASCII letters and digits lower-cased, every other run of characters one
/// `-`, at most 64 bytes, no `-` at either end. Empty when the name has no
/// ASCII letter or digit (the slug rule then refuses it).
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
            if out.len() >= 64 {
                break;
            }
        } else {
            dash = true;
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, CommerceError> {
    let t = value.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("1 to {max} characters, no control characters"),
        ));
    }
    Ok(t.to_owned())
}

fn slug(field: &'static str, value: &str) -> Result<String, CommerceError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(invalid(field, "1 to 64 of a-z, 0-9 and inner '-'"))
    }
}

fn images(list: Vec<String>) -> Result<Vec<String>, CommerceError> {
    if list.len() > 10 {
        return Err(invalid("images", "at most 10"));
    }
    for url in &list {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= 2048
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(invalid("images", "http(s) URLs without spaces"));
        }
    }
    Ok(list)
}

fn duplicate(e: StoreError) -> CommerceError {
    match e {
        StoreError::Duplicate { what } => CommerceError::Duplicate(what),
        other => CommerceError::Store(other),
    }
}

impl<S: Store> Commerce<S> {
    /// Opens a seller store; the owner must have verified their email and
    /// becomes a seller.
    ///
    /// # Errors
    /// [`CommerceError::EmailNotVerified`], [`CommerceError::Validation`],
    /// [`CommerceError::Duplicate`] for a taken slug.
    pub async fn create_seller_store(
        &self,
        owner: CustomerId,
        name: &str,
        slug_text: &str,
    ) -> Result<SellerStore, CommerceError> {
        let account = self.account(owner).await?;
        if !account.email_verified {
            return Err(CommerceError::EmailNotVerified);
        }
        let store = SellerStore {
            id: StoreId::new(),
            owner_id: owner,
            name: text("name", name, 200)?,
            slug: slug("slug", slug_text)?,
            created_at: self.clock.now(),
        };
        self.store
            .put_seller_store(store.clone())
            .await
            .map_err(duplicate)?;
        self.grant_role(owner, Role::Seller).await?;
        Ok(store)
    }

    /// Adds a category under an existing parent (or as a root).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] for an unknown parent, [`CommerceError::Validation`],
    /// [`CommerceError::Duplicate`].
    pub async fn create_category(
        &self,
        name: &str,
        slug_text: &str,
        parent: Option<CategoryId>,
    ) -> Result<Category, CommerceError> {
        let all = self.store.categories().await?;
        if let Some(p) = parent
            && !all.iter().any(|c| c.id == p)
        {
            return Err(CommerceError::NotFound("parent category"));
        }
        let category = Category {
            id: CategoryId::new(),
            parent_id: parent,
            name: text("name", name, 100)?,
            slug: slug("slug", slug_text)?,
        };
        let put = self.store.put_category(category.clone()).await;
        self.rules_changed(Rule::Categories);
        put.map_err(duplicate)?;
        Ok(category)
    }

    /// Renames or moves a category; a category can never be moved under
    /// itself or one of its descendants.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Validation`] (`parent_id`
    /// for a cycle), [`CommerceError::Duplicate`].
    pub async fn update_category(
        &self,
        id: CategoryId,
        name: Option<&str>,
        slug_text: Option<&str>,
        parent: Option<Option<CategoryId>>,
    ) -> Result<Category, CommerceError> {
        let all = self.store.categories().await?;
        let mut category = all
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or(CommerceError::NotFound("category"))?;
        if let Some(name) = name {
            category.name = text("name", name, 100)?;
        }
        if let Some(s) = slug_text {
            category.slug = slug("slug", s)?;
        }
        if let Some(new_parent) = parent {
            if let Some(p) = new_parent {
                if !all.iter().any(|c| c.id == p) {
                    return Err(CommerceError::NotFound("parent category"));
                }
                // Walk up from the new parent: meeting `id` means a cycle.
                let mut cursor = Some(p);
                let mut steps = 0;
                while let Some(c) = cursor {
                    if c == id || steps > all.len() {
                        return Err(invalid(
                            "parent_id",
                            "a category cannot be moved under itself or its descendants",
                        ));
                    }
                    cursor = all.iter().find(|x| x.id == c).and_then(|x| x.parent_id);
                    steps += 1;
                }
            }
            category.parent_id = new_parent;
        }
        let put = self.store.put_category(category.clone()).await;
        self.rules_changed(Rule::Categories);
        put.map_err(duplicate)?;
        Ok(category)
    }

    /// Deletes an empty category.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::CategoryInUse`].
    pub async fn delete_category(&self, id: CategoryId) -> Result<(), CommerceError> {
        if !self.store.categories().await?.iter().any(|c| c.id == id) {
            return Err(CommerceError::NotFound("category"));
        }
        let deleted = self.store.delete_category(id).await;
        self.rules_changed(Rule::Categories);
        if deleted? {
            Ok(())
        } else {
            Err(CommerceError::CategoryInUse)
        }
    }

    pub(super) async fn store_owned_by(
        &self,
        actor: Actor,
        store: StoreId,
    ) -> Result<SellerStore, CommerceError> {
        let s = self
            .store
            .seller_store(store)
            .await?
            .ok_or(CommerceError::NotFound("store"))?;
        if s.owner_id == actor.id || actor.admin {
            Ok(s)
        } else {
            Err(CommerceError::Forbidden)
        }
    }

    /// A live product of a store the actor owns (or any, for an admin).
    async fn product_owned_by(
        &self,
        actor: Actor,
        id: ProductId,
    ) -> Result<Product, CommerceError> {
        let (product, _) = self
            .store
            .product(id)
            .await?
            .filter(|(p, _)| p.deleted_at.is_none())
            .ok_or(CommerceError::NotFound("product"))?;
        self.store_owned_by(actor, product.store_id).await?;
        Ok(product)
    }

    /// Creates a product with its variants, in the actor's store.
    ///
    /// # Errors
    /// [`CommerceError::Forbidden`] for another seller's store,
    /// [`CommerceError::NotFound`] (store, category), [`CommerceError::Validation`],
    /// [`CommerceError::Duplicate`] for a SKU in use.
    pub async fn create_product(
        &self,
        actor: Actor,
        new: NewProduct,
    ) -> Result<(Product, Vec<Variant>), CommerceError> {
        self.store_owned_by(actor, new.store_id).await?;
        if let Some(c) = new.category_id
            && !self.store.categories().await?.iter().any(|x| x.id == c)
        {
            return Err(CommerceError::NotFound("category"));
        }
        if new.variants.is_empty() || new.variants.len() > 100 {
            return Err(invalid("variants", "1 to 100 variants"));
        }
        let product = Product {
            id: ProductId::new(),
            store_id: new.store_id,
            category_id: new.category_id,
            name: text("name", &new.name, 200)?,
            description: new.description.trim().chars().take(20_000).collect(),
            images: images(new.images)?,
            created_at: self.clock.now(),
            deleted_at: None,
        };
        let mut variants = Vec::with_capacity(new.variants.len());
        for v in new.variants {
            if v.price.currency() != self.config.currency {
                return Err(invalid(
                    "variants.price",
                    format!("prices are in {}", self.config.currency),
                ));
            }
            if v.attributes.len() > 20
                || v.attributes
                    .iter()
                    .any(|(k, val)| k.trim().is_empty() || k.len() > 50 || val.len() > 100)
            {
                return Err(invalid(
                    "variants.attributes",
                    "at most 20, names 1–50 and values up to 100 characters",
                ));
            }
            variants.push(Variant {
                id: VariantId::new(),
                product_id: product.id,
                sku: Sku::parse(&v.sku).map_err(|e| invalid("variants.sku", e.to_string()))?,
                attributes: v.attributes,
                price: VariantPrice::new(v.price, v.compare_at)
                    .map_err(|e| invalid("variants.price", e.to_string()))?,
                stock: Stock {
                    on_hand: v.stock,
                    reserved: 0,
                },
            });
        }
        self.store
            .put_product(product.clone(), variants.clone())
            .await
            .map_err(duplicate)?;
        Ok((product, variants))
    }

    /// Edits a product of the actor's store (never its store).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Forbidden`], [`CommerceError::Validation`].
    pub async fn update_product(
        &self,
        actor: Actor,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, CommerceError> {
        let mut product = self.product_owned_by(actor, id).await?;
        if let Some(name) = patch.name {
            product.name = text("name", &name, 200)?;
        }
        if let Some(d) = patch.description {
            product.description = d.trim().chars().take(20_000).collect();
        }
        if let Some(category) = patch.category_id {
            if let Some(c) = category
                && !self.store.categories().await?.iter().any(|x| x.id == c)
            {
                return Err(CommerceError::NotFound("category"));
            }
            product.category_id = category;
        }
        if let Some(list) = patch.images {
            product.images = images(list)?;
        }
        self.store
            .put_product(product.clone(), Vec::new())
            .await
            .map_err(duplicate)?;
        Ok(product)
    }

    /// Withdraws a product: hidden from the catalog and from checkout; orders
    /// keep their snapshots.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Forbidden`].
    pub async fn delete_product(&self, actor: Actor, id: ProductId) -> Result<(), CommerceError> {
        let mut product = self.product_owned_by(actor, id).await?;
        product.deleted_at = Some(self.clock.now());
        self.store
            .put_product(product, Vec::new())
            .await
            .map_err(duplicate)?;
        Ok(())
    }

    /// Sets a variant's stock on hand as its store's owner (or an admin);
    /// crossing the low-stock threshold downward tells the owner through the
    /// outbox, as [`Commerce::set_stock`] does.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Forbidden`],
    /// [`CommerceError::BelowReserved`] (a refusal, not a validation error:
    /// the same value may be accepted once pending orders end),
    /// [`CommerceError::Store`].
    pub async fn set_stock_as(
        &self,
        actor: Actor,
        variant: VariantId,
        on_hand: u32,
    ) -> Result<Stock, CommerceError> {
        let record = self
            .records(&[variant])
            .await?
            .remove(&variant)
            .ok_or(CommerceError::NotFound("variant"))?;
        self.store_owned_by(actor, record.product.store_id).await?;
        let (_, after) = self
            .store
            .set_on_hand(
                variant,
                on_hand,
                self.config.low_stock_threshold,
                self.clock.now(),
            )
            .await??;
        Ok(after)
    }

    /// A page of seller stores, oldest first.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn seller_stores(
        &self,
        page: u32,
        per_page: u32,
    ) -> Result<Page<SellerStore>, CommerceError> {
        Ok(self.store.seller_stores(page, per_page).await?)
    }

    /// A seller store.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn seller_store(&self, id: StoreId) -> Result<SellerStore, CommerceError> {
        self.store
            .seller_store(id)
            .await?
            .ok_or(CommerceError::NotFound("store"))
    }

    /// Every category (the caller builds the tree from `parent_id`).
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn categories(&self) -> Result<Vec<Category>, CommerceError> {
        Ok(self.store.categories().await?)
    }

    /// A page of the catalog, as [`crate::browse`] defines it. A category
    /// filter naming no category is [`CommerceError::NotFound`], so a typo
    /// does not look like an empty category.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] (category), [`CommerceError::Validation`]
    /// (a price bound in another currency), [`CommerceError::Store`].
    pub async fn browse(
        &self,
        query: &ProductQuery,
    ) -> Result<Page<ProductListing>, CommerceError> {
        if let Some(c) = query.category
            && !self.store.categories().await?.iter().any(|x| x.id == c)
        {
            return Err(CommerceError::NotFound("category"));
        }
        for (field, bound) in [
            ("min_price", query.min_price),
            ("max_price", query.max_price),
        ] {
            if bound.is_some_and(|m| m.currency() != self.config.currency) {
                return Err(invalid(
                    field,
                    format!("prices are in {}", self.config.currency),
                ));
            }
        }
        Ok(self.store.search_products(query).await?)
    }

    /// A live product with its variants (by SKU) and rating; a withdrawn
    /// product is not found.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Store`].
    pub async fn product_detail(&self, id: ProductId) -> Result<ProductDetail, CommerceError> {
        let (product, mut variants) = self
            .store
            .product(id)
            .await?
            .filter(|(p, _)| p.deleted_at.is_none())
            .ok_or(CommerceError::NotFound("product"))?;
        variants.sort_by(|a, b| a.sku.as_str().cmp(b.sku.as_str()));
        let rating = self.store.rating(id).await?;
        Ok(ProductDetail {
            product,
            variants,
            rating,
        })
    }
}

#[cfg(test)]
mod slug_tests {
    use super::*;

    #[test]
    fn slugs_from_names_pass_the_slug_rule() {
        assert_eq!(slugify("Home & Garden"), "home-garden");
        assert_eq!(slugify("  T-Shirts (men's)  "), "t-shirts-men-s");
        assert_eq!(slugify("Café"), "caf");
        assert_eq!(slugify("日本"), "");
        let long = slugify(&"ab ".repeat(100));
        assert!(long.len() <= 64 && !long.ends_with('-'));
        for name in ["Home & Garden", "x", "A--B", "-lead"] {
            assert!(slug("slug", &slugify(name)).is_ok(), "{name}");
        }
    }
}
