//! Accounts, address books, wishlists and reviews.

use super::{Commerce, CommerceError};
use crate::account::{Account, Email, Rating, Review, Role, SavedAddress};
use crate::address::{Address, AddressInput};
use crate::ids::{AddressId, CustomerId, ProductId, ReviewId};
use crate::seller::Product;
use crate::storage::{AlreadyReviewed, EmailTaken, Page, Store};

fn validation(field: &'static str, message: impl Into<String>) -> CommerceError {
    CommerceError::Validation {
        field,
        message: message.into(),
    }
}

fn optional_text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, CommerceError> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => Err(validation(
            field,
            format!("at most {max} characters, no control characters"),
        )),
        other => Ok(other),
    }
}

impl<S: Store> Commerce<S> {
    /// Creates a customer account. The email is unique case-insensitively.
    /// `password_hash` is what the credential module produced (never a password).
    ///
    /// # Errors
    /// [`CommerceError::Validation`] for a malformed email or name,
    /// [`CommerceError::EmailTaken`].
    pub async fn register(
        &self,
        email: &str,
        full_name: Option<String>,
        password_hash: Option<String>,
    ) -> Result<Account, CommerceError> {
        let email =
            Email::parse(email).map_err(|_| validation("email", "not a valid email address"))?;
        let full_name = optional_text("full_name", full_name, 200)?;
        let account = Account::new(email, full_name, password_hash, self.clock.now());
        match self.store.create_account(account).await? {
            Ok(account) => Ok(account),
            Err(EmailTaken) => Err(CommerceError::EmailTaken),
        }
    }

    /// An account.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn account(&self, id: CustomerId) -> Result<Account, CommerceError> {
        self.store
            .account(id)
            .await?
            .ok_or(CommerceError::NotFound("account"))
    }

    /// The account with this email (compared case-insensitively), if any.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, CommerceError> {
        Ok(self.store.account_by_email(email).await?)
    }

    /// Replaces an account's password hash (a PHC string the credential
    /// module made; never a password). Sessions are the caller's business.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Validation`] for an
    /// empty hash.
    pub async fn set_password_hash(
        &self,
        id: CustomerId,
        password_hash: String,
    ) -> Result<Account, CommerceError> {
        if password_hash.trim().is_empty() {
            return Err(validation("password_hash", "must not be empty"));
        }
        let mut account = self.account(id).await?;
        account.password_hash = Some(password_hash);
        self.store
            .update_account(account)
            .await?
            .map_err(|EmailTaken| CommerceError::EmailTaken)
    }

    /// Marks an account's email verified (idempotent).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn mark_email_verified(&self, id: CustomerId) -> Result<Account, CommerceError> {
        let mut account = self.account(id).await?;
        if account.email_verified {
            return Ok(account);
        }
        account.email_verified = true;
        self.store
            .update_account(account)
            .await?
            .map_err(|EmailTaken| CommerceError::EmailTaken)
    }

    /// Updates the profile fields a user may change (name, phone). Roles,
    /// email and verification are not among them.
    ///
    /// # Errors
    /// [`CommerceError::Validation`], [`CommerceError::NotFound`].
    pub async fn update_profile(
        &self,
        id: CustomerId,
        full_name: Option<String>,
        phone: Option<String>,
    ) -> Result<Account, CommerceError> {
        let mut account = self.account(id).await?;
        if full_name.is_some() {
            account.full_name = optional_text("full_name", full_name, 200)?;
        }
        if phone.is_some() {
            let phone = optional_text("phone", phone, 32)?;
            if phone.as_deref().is_some_and(|p| {
                !p.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            }) {
                return Err(validation("phone", "digits, spaces and + - ( ) . only"));
            }
            account.phone = phone;
        }
        self.store
            .update_account(account)
            .await?
            .map_err(|EmailTaken| CommerceError::EmailTaken)
    }

    /// Grants a role (sellers get [`Role::Seller`] with their first store).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn grant_role(&self, id: CustomerId, role: Role) -> Result<Account, CommerceError> {
        let mut account = self.account(id).await?;
        if account.has_role(role) {
            return Ok(account);
        }
        account.roles.push(role);
        account.roles.sort();
        self.store
            .update_account(account)
            .await?
            .map_err(|EmailTaken| CommerceError::EmailTaken)
    }

    /// Adds an address to an account's book. The first address, or one saved
    /// with `is_default`, becomes the only default.
    ///
    /// # Errors
    /// [`CommerceError::Validation`] naming the bad field.
    pub async fn add_address(
        &self,
        account: CustomerId,
        input: &AddressInput,
        is_default: bool,
    ) -> Result<SavedAddress, CommerceError> {
        let address = Address::new(input).map_err(|e| validation(e.field, e.message))?;
        let entry = SavedAddress {
            id: AddressId::new(),
            account_id: account,
            address,
            is_default,
        };
        Ok(self.store.save_address(entry).await?)
    }

    /// Replaces an address of the account's book.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] when the account has no such entry (another
    /// account's address is not found either), [`CommerceError::Validation`].
    pub async fn update_address(
        &self,
        account: CustomerId,
        id: AddressId,
        input: &AddressInput,
        is_default: bool,
    ) -> Result<SavedAddress, CommerceError> {
        let address = Address::new(input).map_err(|e| validation(e.field, e.message))?;
        let book = self.store.addresses(account).await?;
        let existing = book
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(CommerceError::NotFound("address"))?;
        let entry = SavedAddress {
            address,
            is_default: is_default || existing.is_default,
            ..existing
        };
        Ok(self.store.save_address(entry).await?)
    }

    /// Deletes an address; orders placed with it keep their own copy.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn delete_address(
        &self,
        account: CustomerId,
        id: AddressId,
    ) -> Result<(), CommerceError> {
        if self.store.delete_address(account, id).await? {
            Ok(())
        } else {
            Err(CommerceError::NotFound("address"))
        }
    }

    /// An account's address book, default first, then oldest first.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn addresses(&self, account: CustomerId) -> Result<Vec<SavedAddress>, CommerceError> {
        Ok(self.store.addresses(account).await?)
    }

    /// A page of an account's wishlist, oldest first, with each product as
    /// it is now (a withdrawn one keeps its place and shows `deleted_at`;
    /// one gone from the store altogether is left out of the page).
    ///
    /// # Errors
    /// [`CommerceError::Validation`] for page 0 or an empty page size.
    pub async fn wishlist(
        &self,
        account: CustomerId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Product>, CommerceError> {
        if page == 0 || per_page == 0 {
            return Err(validation(
                "page",
                "pages start at 1 and hold at least 1 item",
            ));
        }
        let ids = self.store.wishlist(account).await?;
        let total = u64::try_from(ids.len()).unwrap_or(u64::MAX);
        let skip = usize::try_from(u64::from(page - 1) * u64::from(per_page)).unwrap_or(usize::MAX);
        let take = usize::try_from(per_page).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        for id in ids.into_iter().skip(skip).take(take) {
            if let Some((product, _)) = self.store.product(id).await? {
                items.push(product);
            }
        }
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }

    /// Adds a product to the account's wishlist (idempotent).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] for an unknown or withdrawn product.
    pub async fn wishlist_add(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<(), CommerceError> {
        match self.store.product(product).await? {
            Some((p, _)) if p.deleted_at.is_none() => {}
            _ => return Err(CommerceError::NotFound("product")),
        }
        self.store.wishlist_add(account, product).await?;
        Ok(())
    }

    /// Removes a product from the wishlist (idempotent).
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn wishlist_remove(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<(), CommerceError> {
        self.store.wishlist_remove(account, product).await?;
        Ok(())
    }

    /// Posts a review: rating 1 to 5, one per account and product, marked a
    /// verified purchase when the account has a paid order with the product.
    ///
    /// # Errors
    /// [`CommerceError::Validation`], [`CommerceError::NotFound`] (product),
    /// [`CommerceError::AlreadyReviewed`].
    pub async fn post_review(
        &self,
        account: CustomerId,
        product: ProductId,
        rating: u8,
        title: Option<String>,
        body: &str,
    ) -> Result<Review, CommerceError> {
        if !(1..=5).contains(&rating) {
            return Err(validation("rating", "between 1 and 5"));
        }
        let title = optional_text("title", title, 200)?;
        let body = body.trim();
        if body.is_empty() || body.chars().count() > 5000 {
            return Err(validation("body", "1 to 5000 characters"));
        }
        match self.store.product(product).await? {
            Some((p, _)) if p.deleted_at.is_none() => {}
            _ => return Err(CommerceError::NotFound("product")),
        }
        let verified_purchase = self.store.has_purchased(account, product).await?;
        let review = Review {
            id: ReviewId::new(),
            product_id: product,
            account_id: account,
            rating,
            title,
            body: body.to_owned(),
            verified_purchase,
            created_at: self.clock.now(),
        };
        self.store
            .add_review(review)
            .await?
            .map_err(|AlreadyReviewed| CommerceError::AlreadyReviewed)
    }

    /// A product's reviews, newest first, and its rating.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn reviews(
        &self,
        product: ProductId,
        page: u32,
        per_page: u32,
    ) -> Result<(Page<Review>, Rating), CommerceError> {
        Ok((
            self.store.reviews(product, page, per_page).await?,
            self.store.rating(product).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};

    use crate::account::Email;
    use crate::clock::FixedClock;
    use crate::service::{Commerce, CommerceError, Config};
    use crate::storage::InMemoryStore;

    fn commerce() -> Commerce<InMemoryStore> {
        let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        Commerce::new(
            Arc::new(InMemoryStore::new()),
            Arc::new(clock),
            Config::default(),
        )
    }

    #[tokio::test]
    async fn a_password_hash_is_replaced_and_found_by_email() {
        let c = commerce();
        let ada = c
            .register("Ada@Example.com", None, Some("$argon2id$old".into()))
            .await
            .unwrap();
        let found = c
            .account_by_email(&Email::parse("ADA@example.com").unwrap())
            .await
            .unwrap();
        assert_eq!(found.map(|a| a.id), Some(ada.id));
        let changed = c
            .set_password_hash(ada.id, "$argon2id$new".into())
            .await
            .unwrap();
        assert_eq!(changed.password_hash.as_deref(), Some("$argon2id$new"));
        assert_eq!(
            c.account(ada.id).await.unwrap().password_hash.as_deref(),
            Some("$argon2id$new")
        );
        assert!(matches!(
            c.set_password_hash(ada.id, " ".into()).await,
            Err(CommerceError::Validation {
                field: "password_hash",
                ..
            })
        ));
        assert!(matches!(
            c.set_password_hash(crate::ids::CustomerId::new(), "$x".into())
                .await,
            Err(CommerceError::NotFound(_))
        ));
        assert_eq!(
            c.account(ada.id).await.unwrap().password_hash.as_deref(),
            Some("$argon2id$new"),
            "a refused change changes nothing"
        );
    }

    #[tokio::test]
    async fn an_empty_wishlist_pages_and_page_zero_is_refused() {
        let c = commerce();
        let ada = c.register("ada@example.com", None, None).await.unwrap();
        let page = c.wishlist(ada.id, 1, 20).await.unwrap();
        assert_eq!((page.items.len(), page.total), (0, 0));
        assert!(matches!(
            c.wishlist(ada.id, 0, 20).await,
            Err(CommerceError::Validation { .. })
        ));
        assert!(c.addresses(ada.id).await.unwrap().is_empty());
    }
}
