//! Stock per variant: `on_hand` units in the warehouse, `reserved` of them
//! held by orders waiting for payment; `available = on_hand - reserved`.
//! Invariant I1: `0 <= reserved <= on_hand`.

use serde::{Deserialize, Serialize};

use crate::ids::VariantId;

/// A variant's stock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    /// Units in the warehouse, sold or not yet.
    pub on_hand: u32,
    /// Units held by orders waiting for payment.
    pub reserved: u32,
}

impl Stock {
    /// Units a new order can still reserve.
    pub fn available(self) -> u32 {
        self.on_hand.saturating_sub(self.reserved)
    }

    /// I1 for this variant.
    pub fn is_consistent(self) -> bool {
        self.reserved <= self.on_hand
    }
}

/// A line that cannot be reserved: what was asked and what is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    /// The variant.
    pub variant_id: VariantId,
    /// Units asked for.
    pub requested: u32,
    /// Units available now.
    pub available: u32,
}

/// Whether a stock change crossed the low-stock threshold downward: from
/// above it to at or below it (5 → 3 with threshold 3: yes; 3 → 2: no; 1 → 2: no).
pub fn crossed_low_threshold(before: u32, after: u32, threshold: u32) -> bool {
    before > threshold && after <= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_threshold_crossing_is_downward_only_and_once() {
        assert!(crossed_low_threshold(5, 3, 3));
        assert!(crossed_low_threshold(4, 0, 3));
        assert!(!crossed_low_threshold(3, 2, 3));
        assert!(!crossed_low_threshold(1, 2, 3));
        assert!(!crossed_low_threshold(5, 4, 3));
        assert!(!crossed_low_threshold(2, 5, 3));
    }

    #[test]
    fn available_and_consistency() {
        let s = Stock {
            on_hand: 5,
            reserved: 2,
        };
        assert_eq!(s.available(), 3);
        assert!(s.is_consistent());
        assert!(
            !Stock {
                on_hand: 1,
                reserved: 2
            }
            .is_consistent()
        );
    }
}
