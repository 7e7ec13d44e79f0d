//! Shipping methods: one row per code, money as minor units and a currency.

use commerce_core::shipping::{ShippingMethod, ShippingMethodSpec};
use commerce_core::storage::{ShippingStore, StoreError};

use super::SqlStore;
use crate::backend::{Backend, q};
use crate::error::{backend, corrupt, is_unique};
use crate::rows::money;

type Row = (String, String, String, i64, Option<i64>);

fn method(row: Row) -> Result<ShippingMethod, StoreError> {
    let (code, name, currency, price, free_over) = row;
    let spec = ShippingMethodSpec {
        code,
        name,
        price: money(price, &currency)?,
        free_over: free_over.map(|m| money(m, &currency)).transpose()?,
    };
    ShippingMethod::try_from(spec).map_err(|e| corrupt("shipping method", e))
}

impl<B: Backend> ShippingStore for SqlStore<B> {
    async fn insert_shipping_method(&self, method: ShippingMethod) -> Result<(), StoreError> {
        B::run(
            &self.db,
            q!(
                "INSERT INTO shipping_methods (code, name, currency, price_minor, free_over_minor) \
                 VALUES ($1, $2, $3, $4, $5)",
                method.code(),
                method.name(),
                method.price().currency().code(),
                method.price().minor(),
                method.free_over().map(|m| m.minor())
            ),
        )
        .await
        .map_err(|e| {
            // The primary key is the only uniqueness rule of the table.
            if is_unique(&e, None) {
                StoreError::Duplicate {
                    what: "shipping method code",
                }
            } else {
                backend(e)
            }
        })?;
        Ok(())
    }

    async fn replace_shipping_method(&self, method: ShippingMethod) -> Result<bool, StoreError> {
        let n = B::run(
            &self.db,
            q!(
                "UPDATE shipping_methods SET name = $2, currency = $3, price_minor = $4, \
                 free_over_minor = $5 WHERE code = $1",
                method.code(),
                method.name(),
                method.price().currency().code(),
                method.price().minor(),
                method.free_over().map(|m| m.minor())
            ),
        )
        .await
        .map_err(backend)?;
        Ok(n == 1)
    }

    async fn delete_shipping_method(&self, code: &str) -> Result<bool, StoreError> {
        let n = B::run(
            &self.db,
            q!("DELETE FROM shipping_methods WHERE code = $1", code),
        )
        .await
        .map_err(backend)?;
        Ok(n == 1)
    }

    async fn shipping_methods(&self) -> Result<Vec<ShippingMethod>, StoreError> {
        let rows: Vec<Row> = B::read_all(
            &self.db,
            q!("SELECT code, name, currency, price_minor, free_over_minor FROM shipping_methods"),
        )
        .await
        .map_err(backend)?;
        rows.into_iter().map(method).collect()
    }
}
