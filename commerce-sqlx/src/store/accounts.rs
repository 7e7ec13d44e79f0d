//! Accounts, address books, wishlists and reviews.

use commerce_core::account::{Account, Email, Rating, Review, SavedAddress};
use commerce_core::ids::{AddressId, CustomerId, ProductId};
use commerce_core::storage::{AccountStore, AlreadyReviewed, EmailTaken, Page, StoreError};
use uuid::Uuid;

use super::{Done, SqlStore, TxResult, write_tx};
use crate::backend::{Backend, locking, q};
use crate::error::{backend, is_unique};
use crate::rows::{AccountRow, AddressRow, ReviewRow, count, json};

macro_rules! account_columns {
    () => {
        "id, email, full_name, phone, roles, email_verified, password_hash, created_at"
    };
}

async fn save_address_tx<B: Backend>(
    tx: &mut B::Tx,
    address: &SavedAddress,
) -> TxResult<SavedAddress> {
    // One writer per address book at a time: the account row is the lock.
    B::fetch_optional::<(Uuid,)>(
        tx,
        q!(
            locking!(B::DIALECT, "SELECT id FROM accounts WHERE id = $1"),
            address.account_id.as_uuid()
        ),
    )
    .await?;
    let others: Option<(i64,)> = B::fetch_optional(
        tx,
        q!(
            "SELECT COUNT(*) FROM addresses WHERE account_id = $1 AND id <> $2",
            address.account_id.as_uuid(),
            address.id.as_uuid()
        ),
    )
    .await?;
    let mut address = address.clone();
    if others.is_none_or(|(n,)| n == 0) {
        address.is_default = true;
    }
    if address.is_default {
        B::execute(
            tx,
            q!(
                "UPDATE addresses SET is_default = FALSE WHERE account_id = $1 AND is_default",
                address.account_id.as_uuid()
            ),
        )
        .await?;
    }
    let written = B::execute(
        tx,
        q!(
            "INSERT INTO addresses (id, account_id, address, is_default) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
             is_default = excluded.is_default WHERE addresses.account_id = excluded.account_id",
            address.id.as_uuid(),
            address.account_id.as_uuid(),
            json(&address.address)?,
            address.is_default
        ),
    )
    .await?;
    if written == 0 {
        // The id is another account's entry: never move it.
        return Err(StoreError::NotFound("address").into());
    }
    Ok(Done::Commit(address))
}

impl<B: Backend> AccountStore for SqlStore<B> {
    async fn create_account(
        &self,
        account: Account,
    ) -> Result<Result<Account, EmailTaken>, StoreError> {
        let done = B::run(
            &self.db,
            q!(
                concat!(
                    "INSERT INTO accounts (",
                    account_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ),
                account.id.as_uuid(),
                account.email.as_str(),
                account.full_name.clone(),
                account.phone.clone(),
                json(&account.roles)?,
                account.email_verified,
                account.password_hash.clone(),
                account.created_at
            ),
        )
        .await;
        match done {
            Ok(_) => Ok(Ok(account)),
            // The email index or the id: the reference backend refuses both alike.
            Err(e) if is_unique(&e, None) => Ok(Err(EmailTaken)),
            Err(e) => Err(backend(e)),
        }
    }

    async fn update_account(
        &self,
        account: Account,
    ) -> Result<Result<Account, EmailTaken>, StoreError> {
        let done = B::run(
            &self.db,
            q!(
                "UPDATE accounts SET email = $2, full_name = $3, phone = $4, roles = $5, \
                 email_verified = $6, password_hash = $7 WHERE id = $1",
                account.id.as_uuid(),
                account.email.as_str(),
                account.full_name.clone(),
                account.phone.clone(),
                json(&account.roles)?,
                account.email_verified,
                account.password_hash.clone()
            ),
        )
        .await;
        match done {
            Ok(0) => Err(StoreError::NotFound("account")),
            Ok(_) => Ok(Ok(account)),
            Err(e) if is_unique(&e, Some("accounts_email_key")) => Ok(Err(EmailTaken)),
            Err(e) => Err(backend(e)),
        }
    }

    async fn account(&self, id: CustomerId) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = B::read_optional(
            &self.db,
            q!(
                concat!(
                    "SELECT ",
                    account_columns!(),
                    " FROM accounts WHERE id = $1"
                ),
                id.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        row.map(AccountRow::into_domain).transpose()
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = B::read_optional(
            &self.db,
            q!(
                concat!(
                    "SELECT ",
                    account_columns!(),
                    " FROM accounts WHERE lower(email) = lower($1)"
                ),
                email.as_str()
            ),
        )
        .await
        .map_err(backend)?;
        row.map(AccountRow::into_domain).transpose()
    }

    async fn save_address(&self, address: SavedAddress) -> Result<SavedAddress, StoreError> {
        write_tx!(self, |tx| save_address_tx::<B>(tx, &address))
    }

    async fn delete_address(&self, account: CustomerId, id: AddressId) -> Result<bool, StoreError> {
        let n = B::run(
            &self.db,
            q!(
                "DELETE FROM addresses WHERE id = $1 AND account_id = $2",
                id.as_uuid(),
                account.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(n == 1)
    }

    async fn addresses(&self, account: CustomerId) -> Result<Vec<SavedAddress>, StoreError> {
        let rows: Vec<AddressRow> = B::read_all(
            &self.db,
            q!(
                "SELECT id, account_id, address, is_default FROM addresses \
                 WHERE account_id = $1 ORDER BY is_default DESC, id",
                account.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(AddressRow::into_domain).collect())
    }

    async fn wishlist_add(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<bool, StoreError> {
        let n = B::run(
            &self.db,
            q!(
                "INSERT INTO wishlist (account_id, product_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                account.as_uuid(),
                product.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(n == 1)
    }

    async fn wishlist_remove(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<bool, StoreError> {
        let n = B::run(
            &self.db,
            q!(
                "DELETE FROM wishlist WHERE account_id = $1 AND product_id = $2",
                account.as_uuid(),
                product.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(n == 1)
    }

    async fn wishlist(&self, account: CustomerId) -> Result<Vec<ProductId>, StoreError> {
        let rows: Vec<(Uuid,)> = B::read_all(
            &self.db,
            q!(
                "SELECT product_id FROM wishlist WHERE account_id = $1 ORDER BY seq",
                account.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(p,)| ProductId::from_uuid(p))
            .collect())
    }

    async fn add_review(
        &self,
        review: Review,
    ) -> Result<Result<Review, AlreadyReviewed>, StoreError> {
        let done = B::run(
            &self.db,
            q!(
                "INSERT INTO reviews (id, product_id, account_id, rating, title, body, \
                 verified_purchase, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                review.id.as_uuid(),
                review.product_id.as_uuid(),
                review.account_id.as_uuid(),
                i64::from(review.rating),
                review.title.clone(),
                review.body.as_str(),
                review.verified_purchase,
                review.created_at
            ),
        )
        .await;
        match done {
            Ok(_) => Ok(Ok(review)),
            Err(e) if is_unique(&e, Some("reviews_one_per_account")) => Ok(Err(AlreadyReviewed)),
            Err(e) => Err(backend(e)),
        }
    }

    async fn reviews(
        &self,
        product: ProductId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Review>, StoreError> {
        let per_page = per_page.clamp(1, 100);
        let page = page.max(1);
        let total: Option<(i64,)> = B::read_optional(
            &self.db,
            q!(
                "SELECT COUNT(*) FROM reviews WHERE product_id = $1",
                product.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        let offset = i64::from(page - 1) * i64::from(per_page);
        let rows: Vec<ReviewRow> = B::read_all(
            &self.db,
            q!(
                "SELECT id, product_id, account_id, rating, title, body, verified_purchase, \
                 created_at FROM reviews WHERE product_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
                product.as_uuid(),
                per_page,
                offset
            ),
        )
        .await
        .map_err(backend)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(ReviewRow::into_domain)
                .collect::<Result<_, _>>()?,
            page,
            per_page,
            total: total.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0)),
        })
    }

    async fn rating(&self, product: ProductId) -> Result<Rating, StoreError> {
        let row: Option<(i64, i64)> = B::read_optional(
            &self.db,
            q!(
                "SELECT CAST(COALESCE(SUM(rating), 0) AS BIGINT), COUNT(*) FROM reviews \
                 WHERE product_id = $1",
                product.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        let (sum, n) = row.unwrap_or((0, 0));
        let n = count("review count", n)?;
        let sum = count("rating sum", sum)?;
        let average = if n == 0 {
            0.0
        } else {
            f64::from(sum) / f64::from(n)
        };
        Ok(Rating { average, count: n })
    }

    async fn has_purchased(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = B::read_optional(
            &self.db,
            q!(
                "SELECT CAST(1 AS BIGINT) FROM orders o JOIN order_lines l ON l.order_id = o.id \
                 WHERE o.customer_id = $1 AND l.product_id = $2 \
                 AND o.status IN ('paid', 'shipped', 'delivered', 'refunded') LIMIT 1",
                account.as_uuid(),
                product.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(row.is_some())
    }
}
