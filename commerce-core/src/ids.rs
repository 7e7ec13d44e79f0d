//! Typed identifiers.
//!
//! Every entity has its own id type, so a `ProductId` can never be passed where
//! a `VariantId` is expected. Ids are UUIDs; [`ProductId::new`] and its
//! siblings make version-7 (time-ordered) ones, which index well in B-trees.

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new time-ordered (UUID v7) id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID (from storage or a request path).
            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// Makes an id from a number; for tests, examples and fixtures where
            /// readable, stable ids matter more than time order.
            pub const fn from_u128(n: u128) -> Self {
                Self(uuid::Uuid::from_u128(n))
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

id_type!(
    /// A seller's store.
    StoreId
);
id_type!(
    /// A catalog category.
    CategoryId
);
id_type!(
    /// A product (the thing shown in the catalog; it has variants).
    ProductId
);
id_type!(
    /// A variant: one sellable SKU of a product (a size, a colour).
    VariantId
);
id_type!(
    /// A promotion.
    PromotionId
);
id_type!(
    /// An account. Every account is a customer; sellers and admins too.
    CustomerId
);
id_type!(
    /// An order.
    OrderId
);
id_type!(
    /// A cart.
    CartId
);
id_type!(
    /// A payment (one attempt to pay an order through a gateway).
    PaymentId
);
id_type!(
    /// A refund.
    RefundId
);
id_type!(
    /// An address in an account's address book.
    AddressId
);
id_type!(
    /// A product review.
    ReviewId
);
id_type!(
    /// An outbox event.
    EventId
);
id_type!(
    /// A line of a cart or an order.
    LineId
);
id_type!(
    /// One refresh token of a signed-in session.
    SessionId
);
id_type!(
    /// A session's chain of rotated refresh tokens, from one sign-in.
    SessionFamilyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_v7_and_round_trip() {
        let a = ProductId::new();
        let b = ProductId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a <= b);
        let parsed: ProductId = a.to_string().parse().unwrap();
        assert_eq!(parsed, a);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{a}\""));
        assert!("not-a-uuid".parse::<VariantId>().is_err());
    }
}
