//! Sellers' stores, categories, products, variants, stock, and the browse.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use commerce_core::browse::{ProductListing, ProductQuery, ProductSort, name_key, search_text};
use commerce_core::ids::{CategoryId, ProductId, StoreId, VariantId};
use commerce_core::inventory::Stock;
use commerce_core::seller::{Category, Product, SellerStore, Variant};
use commerce_core::storage::{
    BelowReserved, CatalogStore, InventoryStore, Page, StoreError, VariantRecord,
};
use uuid::Uuid;

use super::{Done, Fail, SqlStore, TxResult, low_stock, placeholders, to_i64, write_tx};
use crate::backend::{Arg, Backend, Dialect, Q, locking, q};
use crate::error::{backend, is_unique};
use crate::rows::{
    CategoryRow, CountedProductRow, ProductRow, StoreRow, VariantProductRow, VariantRow, count,
    json, product_columns, variant_columns,
};

/// A unique violation as [`StoreError::Duplicate`] of `what`; on SQLite,
/// which names no constraint, the statement must have only that rule to hit.
fn duplicate(e: sqlx::Error, constraint: &str, what: &'static str) -> StoreError {
    if is_unique(&e, Some(constraint)) {
        StoreError::Duplicate { what }
    } else {
        backend(e)
    }
}

async fn put_product_tx<B: Backend>(
    tx: &mut B::Tx,
    product: &Product,
    variants: &mut [Variant],
) -> TxResult<()> {
    B::execute(
        tx,
        q!(
            "INSERT INTO products (id, store_id, category_id, name, description, images, \
             search_text, name_key, created_at, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET category_id = excluded.category_id, \
             name = excluded.name, description = excluded.description, \
             images = excluded.images, search_text = excluded.search_text, \
             name_key = excluded.name_key, deleted_at = excluded.deleted_at",
            product.id.as_uuid(),
            product.store_id.as_uuid(),
            product.category_id.map(|c| c.as_uuid()),
            product.name.as_str(),
            product.description.as_str(),
            json(&product.images)?,
            search_text(&product.name, &product.description),
            name_key(&product.name),
            product.created_at,
            product.deleted_at
        ),
    )
    .await?;
    variants.sort_by_key(|v| v.id);
    for v in variants.iter() {
        let price = v.price.price();
        B::execute(
            tx,
            q!(
                "INSERT INTO variants (id, product_id, sku, attributes, price_minor, currency, \
                 compare_at_minor, on_hand, reserved) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) \
                 ON CONFLICT (id) DO UPDATE SET product_id = excluded.product_id, \
                 sku = excluded.sku, attributes = excluded.attributes, \
                 price_minor = excluded.price_minor, currency = excluded.currency, \
                 compare_at_minor = excluded.compare_at_minor",
                v.id.as_uuid(),
                product.id.as_uuid(),
                v.sku.as_str(),
                json(&v.attributes)?,
                price.minor(),
                price.currency().code(),
                v.price.compare_at().map(|m| m.minor()),
                v.stock.on_hand
            ),
        )
        .await
        .map_err(|e| Fail::Store(duplicate(e, "variants_sku_key", "sku")))?;
    }
    Ok(Done::Commit(()))
}

async fn set_on_hand_tx<B: Backend>(
    tx: &mut B::Tx,
    variant: VariantId,
    on_hand: u32,
    threshold: u32,
    now: DateTime<Utc>,
) -> TxResult<Result<(Stock, Stock), BelowReserved>> {
    let row: Option<(i64, i64)> = B::fetch_optional(
        tx,
        q!(
            locking!(
                B::DIALECT,
                "SELECT on_hand, reserved FROM variants WHERE id = $1"
            ),
            variant.as_uuid()
        ),
    )
    .await?;
    let (on, reserved) = row.ok_or(StoreError::NotFound("variant"))?;
    let before = Stock {
        on_hand: count("on_hand", on)?,
        reserved: count("reserved", reserved)?,
    };
    if on_hand < before.reserved {
        return Ok(Done::Rollback(Err(BelowReserved {
            reserved: before.reserved,
        })));
    }
    B::execute(
        tx,
        q!(
            "UPDATE variants SET on_hand = $2 WHERE id = $1",
            variant.as_uuid(),
            on_hand
        ),
    )
    .await?;
    let after = Stock {
        on_hand,
        reserved: before.reserved,
    };
    low_stock::<B>(
        tx,
        variant,
        before.available(),
        after.available(),
        threshold,
        now,
    )
    .await?;
    Ok(Done::Commit(Ok((before, after))))
}

/// The browse's `WHERE` clause and arguments (shared by the count and the page).
fn browse_filter(dialect: Dialect, query: &ProductQuery) -> (String, Vec<Arg>) {
    let mut args: Vec<Arg> = Vec::new();
    let next = |a: Arg, args: &mut Vec<Arg>| {
        args.push(a);
        format!("${}", args.len())
    };
    let mut sql = String::new();
    if let Some(category) = query.category {
        let p = next(category.as_uuid().into(), &mut args);
        sql.push_str(&format!(
            "WITH RECURSIVE subtree(id) AS (SELECT id FROM categories WHERE id = {p} \
             UNION ALL SELECT c.id FROM categories c JOIN subtree s ON c.parent_id = s.id) "
        ));
    }
    sql.push_str("SELECT {columns} FROM products p {join} WHERE p.deleted_at IS NULL");
    if query.category.is_some() {
        sql.push_str(" AND p.category_id IN (SELECT id FROM subtree)");
    }
    if let Some(store) = query.store {
        let p = next(store.as_uuid().into(), &mut args);
        sql.push_str(&format!(" AND p.store_id = {p}"));
    }
    if let Some(terms) = &query.text {
        for term in terms.terms() {
            let p = next(term.clone().into(), &mut args);
            // Literal substring search: no character of the term is special.
            sql.push_str(&match dialect {
                Dialect::Sqlite => format!(" AND instr(p.search_text, {p}) > 0"),
                Dialect::Postgres => format!(" AND strpos(p.search_text, {p}) > 0"),
            });
        }
    }
    // `IN`, not `EXISTS`: the bundled SQLite 3.51.3 returns rows from before
    // the OFFSET when an `EXISTS` filter meets an ordered, paged scan of a
    // partial index (the browse conformance test caught it).
    sql.push_str(" AND p.id IN (SELECT v.product_id FROM variants v WHERE TRUE");
    if let Some(min) = query.min_price {
        let c = next(min.currency().code().into(), &mut args);
        let m = next(min.minor().into(), &mut args);
        sql.push_str(&format!(" AND v.currency = {c} AND v.price_minor >= {m}"));
    }
    if let Some(max) = query.max_price {
        let c = next(max.currency().code().into(), &mut args);
        let m = next(max.minor().into(), &mut args);
        sql.push_str(&format!(" AND v.currency = {c} AND v.price_minor <= {m}"));
    }
    if query.in_stock {
        sql.push_str(" AND v.on_hand > v.reserved");
    }
    sql.push(')');
    (sql, args)
}

impl<B: Backend> SqlStore<B> {
    async fn browse(&self, query: &ProductQuery) -> Result<Page<ProductListing>, StoreError> {
        let (filter, args) = browse_filter(B::DIALECT, query);
        let count_sql = filter
            .replace("{columns}", "COUNT(*)")
            .replace("{join}", "");
        let count_args = args.clone();

        let (join, order) = match query.sort {
            ProductSort::Newest => ("", "p.created_at DESC, p.id DESC"),
            ProductSort::Name => ("", "p.name_key, p.id"),
            ProductSort::PriceAsc => (
                "JOIN (SELECT product_id, MIN(price_minor) AS lowest FROM variants \
                 GROUP BY product_id) m ON m.product_id = p.id",
                "m.lowest, p.id",
            ),
            ProductSort::PriceDesc => (
                "JOIN (SELECT product_id, MIN(price_minor) AS lowest FROM variants \
                 GROUP BY product_id) m ON m.product_id = p.id",
                "m.lowest DESC, p.id",
            ),
        };
        let mut args = args;
        args.push(i64::from(query.per_page()).into());
        args.push(to_i64(query.offset())?.into());
        let n = args.len();
        // The page carries the total (a window count over every match), so
        // a page with rows is one statement; only a page past the end asks
        // for the count on its own.
        let page_sql = format!(
            "{} ORDER BY {order} LIMIT ${} OFFSET ${}",
            filter
                .replace(
                    "{columns}",
                    concat!(product_columns!(), ", COUNT(*) OVER () AS total_count")
                )
                .replace("{join}", join),
            n - 1,
            n
        );
        let rows: Vec<CountedProductRow> = B::read_all(&self.db, Q::assembled(page_sql, args))
            .await
            .map_err(backend)?;
        let total = match rows.first() {
            Some(r) => r.total_count,
            None => {
                let total: Option<(i64,)> =
                    B::read_optional(&self.db, Q::assembled(count_sql, count_args))
                        .await
                        .map_err(backend)?;
                total.map_or(0, |(n,)| n)
            }
        };
        let total = u64::try_from(total).unwrap_or(0);
        let products: Vec<ProductRow> = rows.into_iter().map(|r| r.product).collect();
        let mut variants = self
            .variants_of(&products.iter().map(|p| p.id).collect::<Vec<_>>())
            .await?;
        let items = products
            .into_iter()
            .map(|p| {
                let id = p.id;
                ProductListing {
                    product: p.into_domain(),
                    variants: variants.remove(&id).unwrap_or_default(),
                }
            })
            .collect();
        Ok(Page {
            items,
            page: query.page(),
            per_page: query.per_page(),
            total,
        })
    }

    /// The variants of products, each list by SKU.
    async fn variants_of(
        &self,
        products: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<Variant>>, StoreError> {
        let mut out: HashMap<Uuid, Vec<Variant>> = HashMap::new();
        if products.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            concat!(
                "SELECT ",
                variant_columns!(),
                " FROM variants v WHERE v.product_id IN ({}) ORDER BY v.sku"
            ),
            placeholders(1, products.len())
        );
        let args = products.iter().map(|p| (*p).into()).collect();
        let rows: Vec<VariantRow> = B::read_all(&self.db, Q::assembled(sql, args))
            .await
            .map_err(backend)?;
        for row in rows {
            out.entry(row.product_id)
                .or_default()
                .push(row.into_domain()?);
        }
        Ok(out)
    }
}

impl<B: Backend> CatalogStore for SqlStore<B> {
    async fn put_seller_store(&self, store: SellerStore) -> Result<(), StoreError> {
        B::run(
            &self.db,
            q!(
                "INSERT INTO seller_stores (id, owner_id, name, slug, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                 owner_id = excluded.owner_id, name = excluded.name, slug = excluded.slug",
                store.id.as_uuid(),
                store.owner_id.as_uuid(),
                store.name,
                store.slug,
                store.created_at
            ),
        )
        .await
        .map_err(|e| duplicate(e, "seller_stores_slug_key", "store slug"))?;
        Ok(())
    }

    async fn seller_store(&self, id: StoreId) -> Result<Option<SellerStore>, StoreError> {
        let row: Option<StoreRow> = B::read_optional(
            &self.db,
            q!(
                "SELECT id, owner_id, name, slug, created_at FROM seller_stores WHERE id = $1",
                id.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(row.map(StoreRow::into_domain))
    }

    async fn seller_stores(
        &self,
        page: u32,
        per_page: u32,
    ) -> Result<Page<SellerStore>, StoreError> {
        let per_page = per_page.clamp(1, 100);
        let page = page.max(1);
        let total: Option<(i64,)> =
            B::read_optional(&self.db, q!("SELECT COUNT(*) FROM seller_stores"))
                .await
                .map_err(backend)?;
        let offset = i64::from(page - 1) * i64::from(per_page);
        let rows: Vec<StoreRow> = B::read_all(
            &self.db,
            q!(
                "SELECT id, owner_id, name, slug, created_at FROM seller_stores \
                 ORDER BY created_at, id LIMIT $1 OFFSET $2",
                per_page,
                offset
            ),
        )
        .await
        .map_err(backend)?;
        Ok(Page {
            items: rows.into_iter().map(StoreRow::into_domain).collect(),
            page,
            per_page,
            total: total.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0)),
        })
    }

    async fn put_category(&self, category: Category) -> Result<(), StoreError> {
        B::run(
            &self.db,
            q!(
                "INSERT INTO categories (id, parent_id, name, slug) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, \
                 name = excluded.name, slug = excluded.slug",
                category.id.as_uuid(),
                category.parent_id.map(|p| p.as_uuid()),
                category.name,
                category.slug
            ),
        )
        .await
        .map_err(|e| duplicate(e, "categories_slug_key", "category slug"))?;
        Ok(())
    }

    async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let rows: Vec<CategoryRow> = B::read_all(
            &self.db,
            q!("SELECT id, parent_id, name, slug FROM categories ORDER BY id"),
        )
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(CategoryRow::into_domain).collect())
    }

    async fn put_product(
        &self,
        product: Product,
        variants: Vec<Variant>,
    ) -> Result<(), StoreError> {
        let mut variants = variants;
        write_tx!(self, |tx| put_product_tx::<B>(tx, &product, &mut variants))
    }

    async fn product(&self, id: ProductId) -> Result<Option<(Product, Vec<Variant>)>, StoreError> {
        let row: Option<ProductRow> = B::read_optional(
            &self.db,
            q!(
                concat!(
                    "SELECT ",
                    product_columns!(),
                    " FROM products p WHERE p.id = $1"
                ),
                id.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut variants = self.variants_of(&[row.id]).await?;
        let vs = variants.remove(&row.id).unwrap_or_default();
        Ok(Some((row.into_domain(), vs)))
    }

    async fn delete_category(&self, id: CategoryId) -> Result<bool, StoreError> {
        let n = B::run(
            &self.db,
            q!(
                "DELETE FROM categories WHERE id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM categories c WHERE c.parent_id = $1) \
                 AND NOT EXISTS (SELECT 1 FROM products p WHERE p.category_id = $1)",
                id.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(n == 1)
    }

    async fn variants(&self, ids: &[VariantId]) -> Result<Vec<VariantRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            concat!(
                "SELECT ",
                variant_columns!(),
                ", p.store_id AS p_store_id, p.category_id AS p_category_id, \
                 p.name AS p_name, p.description AS p_description, p.images AS p_images, \
                 p.created_at AS p_created_at, p.deleted_at AS p_deleted_at \
                 FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id IN ({})"
            ),
            placeholders(1, ids.len())
        );
        let args = ids.iter().map(|id| id.as_uuid().into()).collect();
        let rows: Vec<VariantProductRow> = B::read_all(&self.db, Q::assembled(sql, args))
            .await
            .map_err(backend)?;
        let mut found: HashMap<VariantId, VariantRecord> = HashMap::new();
        for row in rows {
            let (variant, product) = row.into_domain()?;
            found.insert(variant.id, VariantRecord { variant, product });
        }
        // In the order asked for, as the contract's reference backend answers.
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    async fn search_products(
        &self,
        query: &ProductQuery,
    ) -> Result<Page<ProductListing>, StoreError> {
        self.browse(query).await
    }
}

impl<B: Backend> InventoryStore for SqlStore<B> {
    async fn stock(&self, variant: VariantId) -> Result<Option<Stock>, StoreError> {
        let row: Option<(i64, i64)> = B::read_optional(
            &self.db,
            q!(
                "SELECT on_hand, reserved FROM variants WHERE id = $1",
                variant.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        row.map(|(on_hand, reserved)| {
            Ok(Stock {
                on_hand: count("on_hand", on_hand)?,
                reserved: count("reserved", reserved)?,
            })
        })
        .transpose()
    }

    async fn set_on_hand(
        &self,
        variant: VariantId,
        on_hand: u32,
        low_threshold: u32,
        now: DateTime<Utc>,
    ) -> Result<Result<(Stock, Stock), BelowReserved>, StoreError> {
        write_tx!(self, |tx| set_on_hand_tx::<B>(
            tx,
            variant,
            on_hand,
            low_threshold,
            now
        ))
    }
}
