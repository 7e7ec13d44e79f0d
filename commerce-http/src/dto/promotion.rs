//! Promotions on the wire (`/admin/promotions`). Conditions and actions have
//! core's serde shape, which is the API's (`{"type": "percentage", ...}`);
//! core checks them.

use chrono::{DateTime, Utc};
use commerce_core::promotion::{Action, Condition, PromotionSpec};
use commerce_core::service::ManagedPromotion;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/v1/admin/promotions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromotion {
    /// The label buyers see, 1 to 200 characters.
    pub name: String,
    /// A code buyers enter (1 to 64 of `A-Z 0-9 - _`, any case, unique);
    /// absent or `null`: the promotion applies by itself.
    #[serde(default)]
    pub code: Option<String>,
    /// Higher applies first in a stack and wins ties (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Stacks with other combinable promotions (default `false`: it applies
    /// alone, when it gives the most).
    #[serde(default)]
    pub combinable: bool,
    /// Not before this instant.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Not at or after this instant (after `starts_at`).
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// At most this many live orders hold it (1 or more).
    #[serde(default)]
    pub usage_limit: Option<u32>,
    /// At most this many live orders of one customer hold it (1 or more).
    #[serde(default)]
    pub per_customer_limit: Option<u32>,
    /// All must hold: `{"type": "min_subtotal", "amount": money}`,
    /// `{"type": "min_quantity", "quantity": n}`, `{"type": "first_order"}`,
    /// `{"type": "contains", "products": [ids], "categories": [ids]}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<Condition>,
    /// One of `{"type": "percentage", "percent": "10", "applies_to"?, "max_discount"?}`,
    /// `{"type": "fixed_amount", "amount": money, "applies_to"?}`,
    /// `{"type": "buy_x_get_y", "buy", "get", "percent", "applies_to"?}`,
    /// `{"type": "free_shipping"}`,
    /// `{"type": "tiered", "tiers": [{"min_subtotal": money, "percent"}], "applies_to"?}`;
    /// `applies_to` is `{"products": [ids], "categories": [ids]}` (empty: every line).
    #[schema(value_type = Object)]
    pub action: Action,
}

impl From<NewPromotion> for PromotionSpec {
    fn from(p: NewPromotion) -> Self {
        PromotionSpec {
            name: p.name,
            code: p.code,
            priority: p.priority,
            combinable: p.combinable,
            starts_at: p.starts_at,
            ends_at: p.ends_at,
            usage_limit: p.usage_limit,
            per_customer_limit: p.per_customer_limit,
            conditions: p.conditions,
            action: p.action,
        }
    }
}

/// `PATCH /api/v1/admin/promotions/{id}`: absent fields stay; `null` clears
/// an optional one (`code`, `starts_at`, `ends_at`, `usage_limit`,
/// `per_customer_limit`); `conditions` and `action` are replaced whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionPatch {
    /// New label.
    #[serde(default)]
    pub name: Option<String>,
    /// New code; `null`: automatic.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Option<String>>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<i32>,
    /// New combinability.
    #[serde(default)]
    pub combinable: Option<bool>,
    /// New start; `null`: none.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    /// New end; `null`: none.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// New limit; never below the live holds (409). `null`: unlimited.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<u32>)]
    pub usage_limit: Option<Option<u32>>,
    /// New per-customer limit (applies to new redemptions); `null`: unlimited.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<u32>)]
    pub per_customer_limit: Option<Option<u32>>,
    /// New conditions (replaced whole).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub conditions: Option<Vec<Condition>>,
    /// New action (replaced whole).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub action: Option<Action>,
}

impl PromotionPatch {
    /// The spec with this patch's fields put in.
    pub fn apply(self, mut spec: PromotionSpec) -> PromotionSpec {
        if let Some(v) = self.name {
            spec.name = v;
        }
        if let Some(v) = self.code {
            spec.code = v;
        }
        if let Some(v) = self.priority {
            spec.priority = v;
        }
        if let Some(v) = self.combinable {
            spec.combinable = v;
        }
        if let Some(v) = self.starts_at {
            spec.starts_at = v;
        }
        if let Some(v) = self.ends_at {
            spec.ends_at = v;
        }
        if let Some(v) = self.usage_limit {
            spec.usage_limit = v;
        }
        if let Some(v) = self.per_customer_limit {
            spec.per_customer_limit = v;
        }
        if let Some(v) = self.conditions {
            spec.conditions = v;
        }
        if let Some(v) = self.action {
            spec.action = v;
        }
        spec
    }
}

/// A promotion, as the back office sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionBody {
    /// The promotion.
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// Its code (upper case); `null`: automatic.
    pub code: Option<String>,
    /// Priority.
    pub priority: i32,
    /// Whether it stacks.
    pub combinable: bool,
    /// Start of its window.
    pub starts_at: Option<DateTime<Utc>>,
    /// End of its window (exclusive).
    pub ends_at: Option<DateTime<Utc>>,
    /// Limit of live orders holding it.
    pub usage_limit: Option<u32>,
    /// Limit per customer.
    pub per_customer_limit: Option<u32>,
    /// Its conditions.
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<Condition>,
    /// Its action.
    #[schema(value_type = Object)]
    pub action: Action,
    /// Live orders (pending or paid) holding it now.
    pub used: u32,
}

impl From<ManagedPromotion> for PromotionBody {
    fn from(m: ManagedPromotion) -> Self {
        let id = m.promotion.id().as_uuid();
        let spec = m.promotion.spec().clone();
        PromotionBody {
            id,
            name: spec.name,
            code: spec.code,
            priority: spec.priority,
            combinable: spec.combinable,
            starts_at: spec.starts_at,
            ends_at: spec.ends_at,
            usage_limit: spec.usage_limit,
            per_customer_limit: spec.per_customer_limit,
            conditions: spec.conditions,
            action: spec.action,
            used: m.used,
        }
    }
}

/// A page of promotions, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionPage {
    /// The promotions.
    pub items: Vec<PromotionBody>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Promotions in all.
    pub total: u64,
}
