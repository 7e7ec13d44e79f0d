//! The pricing algorithm. See the module docs of `pricing` for the rules.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use rust_decimal::Decimal;

use super::result::{
    LineDiscount, NotApplied, Outcome, PricedCart, PricedLine, PricedShipping, PromotionTrace,
};
use super::set::{PromotionSet, key};
use super::{CartInput, PricingContext, PricingError};
use crate::catalog::CatalogSnapshot;
use crate::ids::{CategoryId, ProductId, VariantId};
use crate::money::{Currency, Money, SplitScratch, allocate_into, percent_of};
use crate::promotion::{Action, Condition, Promotion};
use crate::tax::TaxableLine;

/// Prices a cart. Pure and deterministic: the same inputs give the same
/// result, whatever order the promotions were given in.
///
/// # Errors
/// [`PricingError`] for input that cannot be priced: an unknown variant, a
/// price or shipping method in another currency, a duplicate line, an
/// out-of-range tax rate, or amounts beyond `i64` minor units.
pub fn price(
    cart: &CartInput,
    catalog: &CatalogSnapshot,
    promotions: &PromotionSet,
    ctx: &PricingContext<'_>,
) -> Result<PricedCart, PricingError> {
    let currency = cart.currency;
    let lines = resolve_lines(cart, catalog)?;
    if let Some(method) = &cart.shipping
        && method.price().currency() != currency
    {
        return Err(PricingError::CurrencyMismatch {
            expected: currency,
            found: method.price().currency(),
            what: "the shipping method",
        });
    }
    let mut subtotal = Money::zero(currency);
    for line in &lines {
        subtotal = subtotal.checked_add(Money::from_minor(line.subtotal, currency))?;
    }

    let run = Run {
        cart,
        catalog,
        promotions,
        ctx,
        lines: &lines,
        currency,
        subtotal: subtotal.minor(),
        scratch: Default::default(),
        by_unit_price: Default::default(),
    };
    let targets = run.targets();
    let verdicts = run.gate_all(&targets)?;
    let (winner, traces) = run.choose(&targets, &verdicts)?;
    run.assemble(winner, traces, subtotal)
}

/// A resolved line, with what every later step reads of its variant copied
/// in, so that they walk one compact list rather than the catalog.
struct Line<'a> {
    input: &'a super::LineInput,
    variant_id: VariantId,
    product_id: ProductId,
    category_id: Option<CategoryId>,
    unit_price: Money,
    compare_at: Option<Money>,
    subtotal: i64,
    qty: u32,
}

fn resolve_lines<'a>(
    cart: &'a CartInput,
    catalog: &'a CatalogSnapshot,
) -> Result<Vec<Line<'a>>, PricingError> {
    let mut ids = FxHashSet::with_capacity_and_hasher(cart.lines.len(), Default::default());
    let mut lines = Vec::with_capacity(cart.lines.len());
    for input in &cart.lines {
        if !ids.insert(key(input.id)) {
            return Err(PricingError::DuplicateLine(input.id));
        }
        let variant = catalog
            .variant(input.variant_id)
            .ok_or(PricingError::UnknownVariant {
                line_id: input.id,
                variant_id: input.variant_id,
            })?;
        let unit = variant.price.price();
        if unit.currency() != cart.currency {
            return Err(PricingError::CurrencyMismatch {
                expected: cart.currency,
                found: unit.currency(),
                what: "a line's price",
            });
        }
        let qty = input.quantity.get();
        lines.push(Line {
            input,
            variant_id: variant.id,
            product_id: variant.product_id,
            category_id: variant.category_id,
            unit_price: unit,
            compare_at: variant.price.compare_at(),
            subtotal: unit.times(qty)?.minor(),
            qty,
        });
    }
    Ok(lines)
}

/// The lines each promotion's action applies to, and whether its `contains`
/// conditions found something.
///
/// The lines of the promotions that do not apply everywhere sit in one flat
/// list, promotion after promotion (`members[start[p]..start[p + 1]]`), each
/// promotion's in cart order: one allocation for all of them.
struct Targets {
    all: Vec<u32>,
    /// Units over all lines.
    all_units: u32,
    everywhere: Vec<bool>,
    start: Vec<u32>,
    members: Vec<u32>,
    contains_hit: Vec<bool>,
}

impl Targets {
    fn of(&self, p: usize) -> &[u32] {
        if self.everywhere[p] {
            &self.all
        } else {
            let (from, to) = (self.start[p] as usize, self.start[p + 1] as usize);
            &self.members[from..to]
        }
    }
}

/// A promotion that passed its gates: ready to compute.
#[derive(Clone, Copy)]
struct Ready {
    /// For tiered promotions, the percent of the tier reached.
    tier_percent: Option<Decimal>,
}

enum Verdict {
    Ready(Ready),
    Rejected(NotApplied),
}

/// One promotion's effect inside an outcome.
struct Application {
    promo: usize,
    /// Its line parts: `Combination::parts[parts.0..parts.1]`.
    parts: (usize, usize),
    shipping: i64,
    /// Line parts plus shipping.
    amount: i64,
}

/// One way of combining promotions: the stack, or one exclusive promotion.
#[derive(Default)]
struct Combination {
    applied: Vec<Application>,
    /// The non-zero line parts of every applied promotion, `(line, amount)`,
    /// one promotion after the other.
    parts: Vec<(u32, i64)>,
    /// Promotions of this combination that gave nothing, with the reason.
    idle: Vec<(usize, NotApplied)>,
    line_discount: i64,
    value: i64,
}

impl Combination {
    fn parts_of(&self, a: &Application) -> &[(u32, i64)] {
        &self.parts[a.parts.0..a.parts.1]
    }
}

/// Buffers reused by every split of one pricing run.
#[derive(Default)]
struct Scratch {
    weights: Vec<u64>,
    parts: Vec<i64>,
    split: SplitScratch,
    /// Buy X get Y: lines by the price of their units, as
    /// `key << bits | position`.
    order: Vec<u64>,
    order_wide: Vec<(u128, u32)>,
    positions: Vec<u32>,
}

struct Run<'a> {
    cart: &'a CartInput,
    catalog: &'a CatalogSnapshot,
    promotions: &'a PromotionSet,
    ctx: &'a PricingContext<'a>,
    lines: &'a [Line<'a>],
    currency: Currency,
    subtotal: i64,
    scratch: std::cell::RefCell<Scratch>,
    /// Every line's position, cheapest undiscounted unit first (for buy X
    /// get Y on the whole cart), computed when first needed.
    by_unit_price: std::cell::OnceCell<Vec<u32>>,
}

impl Run<'_> {
    fn money(&self, minor: i64) -> Money {
        Money::from_minor(minor, self.currency)
    }

    fn promo(&self, p: usize) -> &Promotion {
        &self.promotions.promotions()[p]
    }

    /// Walks every line once and collects, through the set's index, the
    /// promotions that can touch it.
    fn targets(&self) -> Targets {
        let n = self.promotions.len();
        let set = self.promotions;
        let mut contains_hit = vec![false; n];
        let mut everywhere = vec![false; n];
        for &p in &set.everywhere {
            everywhere[p as usize] = true;
        }
        // (promotion, line) pairs in cart order, then grouped by promotion
        // with a counting sort, which keeps each promotion's lines in cart
        // order.
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let mut count = vec![0_u32; n + 1];
        let products = !set.by_product.is_empty();
        let categories = !set.by_category.is_empty();
        if products || categories {
            let mut last_line = vec![u32::MAX; n];
            // Lines share categories: each one's ancestry is walked once per
            // run, and what it reaches is kept in one flat list:
            // `walked[from..mid]` targets it, `walked[mid..to]` contains it.
            let mut walked: Vec<u32> = Vec::new();
            let mut contained: Vec<u32> = Vec::new();
            let distinct = self.catalog.categories().len().min(self.lines.len());
            let mut by_category: FxHashMap<u128, (u32, u32, u32)> =
                FxHashMap::with_capacity_and_hasher(distinct, Default::default());
            let len = |v: &Vec<u32>| u32::try_from(v.len()).unwrap_or(u32::MAX);
            for (li, line) in self.lines.iter().enumerate() {
                let li = u32::try_from(li).unwrap_or(u32::MAX);
                let mut mark = |ps: &[u32]| {
                    for &p in ps {
                        let pi = p as usize;
                        if last_line[pi] != li {
                            last_line[pi] = li;
                            count[pi] += 1;
                            pairs.push((p, li));
                        }
                    }
                };
                if products && let Some(&r) = set.by_product.get(&key(line.product_id)) {
                    let (targeting, containing) = set.reached(r);
                    mark(targeting);
                    containing
                        .iter()
                        .for_each(|&p| contains_hit[p as usize] = true);
                }
                if categories && let Some(category) = line.category_id {
                    let (from, mid, to) = *by_category.entry(key(category)).or_insert_with(|| {
                        let from = len(&walked);
                        contained.clear();
                        for c in self.catalog.categories().lineage(category) {
                            if let Some(&r) = set.by_category.get(&key(c)) {
                                let (targeting, containing) = set.reached(r);
                                walked.extend_from_slice(targeting);
                                contained.extend_from_slice(containing);
                            }
                        }
                        let mid = len(&walked);
                        walked.extend_from_slice(&contained);
                        (from, mid, len(&walked))
                    });
                    mark(&walked[from as usize..mid as usize]);
                    walked[mid as usize..to as usize]
                        .iter()
                        .for_each(|&p| contains_hit[p as usize] = true);
                }
            }
        }
        // Counts become starts.
        let mut total = 0_u32;
        for c in &mut count {
            let here = *c;
            *c = total;
            total += here;
        }
        let start = count;
        let mut next = start.clone();
        let mut members = vec![0_u32; pairs.len()];
        for (p, li) in pairs {
            let at = &mut next[p as usize];
            members[*at as usize] = li;
            *at += 1;
        }
        // A cart holds far fewer than 2^32 lines.
        let all = (0..u32::try_from(self.lines.len()).unwrap_or(u32::MAX)).collect();
        Targets {
            all,
            all_units: self.lines.iter().map(|l| l.qty).sum(),
            everywhere,
            start,
            members,
            contains_hit,
        }
    }

    fn gate_all(&self, targets: &Targets) -> Result<Vec<Verdict>, PricingError> {
        let mut verdicts = Vec::with_capacity(self.promotions.len());
        for p in 0..self.promotions.len() {
            verdicts.push(match self.gate(p, targets)? {
                Ok(ready) => Verdict::Ready(ready),
                Err(reason) => Verdict::Rejected(reason),
            });
        }
        Ok(verdicts)
    }

    /// Checks a promotion's code, window, currency, usage and conditions.
    ///
    /// The code comes first: a code promotion whose code the buyer did not
    /// enter is always `CodeNotEntered`, whatever else is true of it, so that
    /// [`PricedCart::shopper_trace`](super::PricedCart::shopper_trace) can hide
    /// it and a secret code never reaches a shopper.
    fn gate(&self, p: usize, targets: &Targets) -> Result<Result<Ready, NotApplied>, PricingError> {
        let promo = self.promo(p);
        let ctx = self.ctx;
        if let Some(code) = promo.code()
            && !self.cart.codes.contains(code)
        {
            return Ok(Err(NotApplied::CodeNotEntered));
        }
        if let Some(starts_at) = promo.starts_at()
            && ctx.now < starts_at
        {
            return Ok(Err(NotApplied::NotStarted { starts_at }));
        }
        if let Some(ended_at) = promo.ends_at()
            && ctx.now >= ended_at
        {
            return Ok(Err(NotApplied::Expired { ended_at }));
        }
        if let Some(currency) = promo.currency()
            && currency != self.currency
        {
            return Ok(Err(NotApplied::CurrencyNotSupported { currency }));
        }
        let usage = ctx.usage.get(promo.id());
        if let Some(limit) = promo.usage_limit()
            && usage.total >= limit
        {
            return Ok(Err(NotApplied::UsageExhausted { limit }));
        }
        if let Some(limit) = promo.per_customer_limit()
            && ctx.customer.is_some()
            && usage.by_customer >= limit
        {
            return Ok(Err(NotApplied::CustomerLimitReached { limit }));
        }
        let lines = targets.of(p);
        if lines.is_empty() {
            return Ok(Err(NotApplied::NoEligibleLines));
        }
        let (have_amount, have_units) = if targets.everywhere[p] {
            (self.subtotal, targets.all_units)
        } else {
            (
                lines.iter().map(|&l| self.lines[l as usize].subtotal).sum(),
                lines.iter().map(|&l| self.lines[l as usize].qty).sum(),
            )
        };
        for condition in promo.conditions() {
            match condition {
                Condition::FirstOrder if !(ctx.customer.is_some() && ctx.first_order) => {
                    return Ok(Err(NotApplied::NotFirstOrder));
                }
                Condition::MinSubtotal { amount } if have_amount < amount.minor() => {
                    return Ok(Err(NotApplied::MinSubtotal {
                        needed: *amount,
                        have: self.money(have_amount),
                    }));
                }
                Condition::MinQuantity { quantity } if have_units < *quantity => {
                    return Ok(Err(NotApplied::MinQuantity {
                        needed: *quantity,
                        have: have_units,
                    }));
                }
                Condition::Contains { .. } if !targets.contains_hit[p] => {
                    return Ok(Err(NotApplied::RequiredItemsMissing));
                }
                // The index answers "one of its `contains` conditions met";
                // with several, each must hold on its own.
                Condition::Contains {
                    products,
                    categories,
                } if promo
                    .conditions()
                    .iter()
                    .filter(|c| matches!(c, Condition::Contains { .. }))
                    .nth(1)
                    .is_some()
                    && !self.lines.iter().any(|line| {
                        products.contains(&line.product_id)
                            || line.category_id.is_some_and(|id| {
                                categories
                                    .iter()
                                    .any(|&c| self.catalog.categories().is_within(id, c))
                            })
                    }) =>
                {
                    return Ok(Err(NotApplied::RequiredItemsMissing));
                }
                _ => {}
            }
        }
        let mut tier_percent = None;
        match promo.action() {
            Action::Tiered { tiers, .. } => {
                match tiers
                    .iter()
                    .rev()
                    .find(|t| t.min_subtotal.minor() <= have_amount)
                {
                    Some(tier) => tier_percent = Some(tier.percent),
                    None => {
                        let needed = tiers[0].min_subtotal;
                        return Ok(Err(NotApplied::MinSubtotal {
                            needed,
                            have: self.money(have_amount),
                        }));
                    }
                }
            }
            Action::BuyXGetY { buy, get, .. } => {
                let needed = buy.saturating_add(*get);
                if have_units < needed {
                    return Ok(Err(NotApplied::NotEnoughUnits {
                        needed,
                        have: have_units,
                    }));
                }
            }
            Action::FreeShipping
                if self
                    .cart
                    .shipping
                    .as_ref()
                    .is_none_or(|m| m.price().is_zero()) =>
            {
                return Ok(Err(NotApplied::NoShippingCost));
            }
            _ => {}
        }
        Ok(Ok(Ready { tier_percent }))
    }

    /// Computes the stack and each exclusive promotion, picks the winner and
    /// writes every promotion's outcome.
    fn choose(
        &self,
        targets: &Targets,
        verdicts: &[Verdict],
    ) -> Result<(Combination, Vec<Outcome>), PricingError> {
        let original: Vec<i64> = self.lines.iter().map(|l| l.subtotal).collect();
        let ready = |p: usize| match verdicts[p] {
            Verdict::Ready(r) => Some((p, r)),
            Verdict::Rejected(_) => None,
        };
        let stack: Vec<(usize, Ready)> = (0..verdicts.len())
            .filter_map(ready)
            .filter(|&(p, _)| self.promo(p).combinable())
            .collect();
        let exclusive = (0..verdicts.len())
            .filter_map(ready)
            .filter(|&(p, _)| !self.promo(p).combinable());

        // The stack first, so that it wins ties; then the exclusive ones in
        // evaluation order, so that priority and then id break ties. A
        // combination that gives nothing competes with nothing: its
        // promotions keep their own reason (nothing to discount, no
        // shipping cost) rather than being traced as beaten.
        let mut idle: Vec<(usize, NotApplied)> = Vec::new();
        let mut best: Option<Combination> = None;
        if !stack.is_empty() {
            let combination = self.combine(targets, &stack, original.clone())?;
            if combination.value > 0 {
                best = Some(combination);
            } else {
                idle.extend(combination.idle);
            }
        }
        // An exclusive promotion only needs its value to compete; it is split
        // across lines only if it wins.
        let mut best_exclusive: Option<((usize, Ready), i64)> = None;
        for one in exclusive {
            let value = self.value_alone(targets, one, &original)?;
            let to_beat = best_exclusive.map_or(best.as_ref().map_or(0, |b| b.value), |(_, v)| v);
            if value == 0 {
                idle.push((one.0, self.idle_reason(one.0)));
            } else if value > to_beat {
                best_exclusive = Some((one, value));
            }
        }
        let winner = match best_exclusive {
            Some((one, _)) => self.combine(targets, &[one], original)?,
            None => best.unwrap_or_default(),
        };

        // Shared by every loser's trace entry.
        let winners: Arc<[_]> = winner
            .applied
            .iter()
            .map(|a| self.promo(a.promo).id())
            .collect();
        let mut outcomes: Vec<Outcome> = verdicts
            .iter()
            .map(|v| match v {
                Verdict::Rejected(reason) => Outcome::NotApplied(reason.clone()),
                Verdict::Ready(_) if winners.is_empty() => {
                    Outcome::NotApplied(NotApplied::NothingToDiscount)
                }
                Verdict::Ready(_) => Outcome::NotApplied(NotApplied::NotCombinable {
                    beaten_by: Arc::clone(&winners),
                }),
            })
            .collect();
        for (p, reason) in idle.into_iter().chain(winner.idle.iter().cloned()) {
            outcomes[p] = Outcome::NotApplied(reason);
        }
        for a in &winner.applied {
            outcomes[a.promo] = Outcome::Applied {
                amount: self.money(a.amount),
            };
        }
        Ok((winner, outcomes))
    }

    /// Applies promotions one after the other on `remaining` (the
    /// undiscounted amounts); free shipping last, once the discounted
    /// subtotal is known.
    fn combine(
        &self,
        targets: &Targets,
        promos: &[(usize, Ready)],
        mut remaining: Vec<i64>,
    ) -> Result<Combination, PricingError> {
        // At most one part per line of each promotion: one allocation.
        let most: usize = promos.iter().map(|&(p, _)| targets.of(p).len()).sum();
        let mut out = Combination {
            parts: Vec::with_capacity(most),
            ..Default::default()
        };
        let mut free_shipping = Vec::new();
        // `true` while `remaining` still holds the undiscounted amounts.
        let mut pristine = true;
        for &(p, ready) in promos {
            if self.promotions.is_free_shipping(p) {
                free_shipping.push(p);
                continue;
            }
            let from = out.parts.len();
            self.compute(
                p,
                ready,
                targets.of(p),
                &remaining,
                pristine,
                &mut out.parts,
            )?;
            if out.parts.len() == from {
                out.idle.push((p, NotApplied::NothingToDiscount));
                continue;
            }
            let mut amount = 0;
            for &(l, a) in &out.parts[from..] {
                remaining[l as usize] -= a;
                amount += a;
            }
            out.line_discount += amount;
            pristine = false;
            out.applied.push(Application {
                promo: p,
                parts: (from, out.parts.len()),
                shipping: 0,
                amount,
            });
        }
        let shipping = self.shipping_price(self.subtotal - out.line_discount);
        for p in free_shipping {
            if shipping > 0 && !out.applied.iter().any(|a| a.shipping > 0) {
                let end = out.parts.len();
                out.applied.push(Application {
                    promo: p,
                    parts: (end, end),
                    shipping,
                    amount: shipping,
                });
            } else {
                out.idle.push((p, NotApplied::NoShippingCost));
            }
        }
        out.value = out.applied.iter().map(|a| a.amount).sum();
        Ok(out)
    }

    /// What one promotion gives when applied alone to the undiscounted lines.
    fn value_alone(
        &self,
        targets: &Targets,
        (p, ready): (usize, Ready),
        original: &[i64],
    ) -> Result<i64, PricingError> {
        if self.promotions.is_free_shipping(p) {
            return Ok(self.shipping_price(self.subtotal));
        }
        Ok(self.discount(p, ready, targets.of(p), original, true)?.0)
    }

    /// Why a promotion that gives nothing alone gave nothing.
    fn idle_reason(&self, p: usize) -> NotApplied {
        if self.promotions.is_free_shipping(p) {
            NotApplied::NoShippingCost
        } else {
            NotApplied::NothingToDiscount
        }
    }

    /// The shipping price before promotions, for a discounted subtotal.
    fn shipping_price(&self, discounted_subtotal: i64) -> i64 {
        match &self.cart.shipping {
            Some(method) if !self.lines.is_empty() => {
                method.price_for(self.money(discounted_subtotal)).minor()
            }
            _ => 0,
        }
    }

    /// One promotion's discount on its lines, given what is left of them
    /// (`pristine` when that is still the undiscounted amounts): computed
    /// exactly, rounded once, split by largest remainder. Appends the
    /// non-zero parts, by line, to `out`.
    fn compute(
        &self,
        p: usize,
        ready: Ready,
        lines: &[u32],
        remaining: &[i64],
        pristine: bool,
        out: &mut Vec<(u32, i64)>,
    ) -> Result<(), PricingError> {
        let (total, own_weights) = self.discount(p, ready, lines, remaining, pristine)?;
        if total <= 0 {
            return Ok(());
        }
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            weights,
            parts,
            split,
            ..
        } = &mut *scratch;
        if !own_weights {
            weights.clear();
            weights.extend(lines.iter().map(|&l| remaining[l as usize].unsigned_abs()));
        }
        if allocate_into(total, weights, parts, split).is_none() {
            return Ok(());
        }
        out.extend(
            lines
                .iter()
                .zip(parts.iter())
                .filter(|&(_, &a)| a > 0)
                .map(|(&l, &a)| (l, a)),
        );
        Ok(())
    }

    /// One promotion's discount total on its lines (rounded once), and
    /// whether it left in the scratch weights the weights to split it by
    /// (otherwise they are the lines' remaining amounts).
    fn discount(
        &self,
        p: usize,
        ready: Ready,
        lines: &[u32],
        remaining: &[i64],
        pristine: bool,
    ) -> Result<(i64, bool), PricingError> {
        let left: i64 = lines.iter().map(|&l| remaining[l as usize]).sum();
        if left <= 0 {
            return Ok((0, false));
        }
        let percent_off = |base: i64, percent: Decimal| -> Result<i64, PricingError> {
            Ok(percent_of(base, self.currency, percent, self.ctx.rounding)?)
        };
        let found = match self.promo(p).action() {
            Action::Percentage {
                percent,
                max_discount,
                ..
            } => {
                let mut d = percent_off(left, *percent)?;
                if let Some(cap) = max_discount {
                    d = d.min(cap.minor());
                }
                (d, false)
            }
            Action::FixedAmount { amount, .. } => (amount.minor().min(left), false),
            Action::Tiered { .. } => {
                let percent = ready.tier_percent.unwrap_or(Decimal::ZERO);
                (percent_off(left, percent)?, false)
            }
            Action::BuyXGetY {
                buy, get, percent, ..
            } => {
                let base: i64 = {
                    let mut scratch = self.scratch.borrow_mut();
                    self.cheapest_units(lines, remaining, pristine, *buy, *get, &mut scratch);
                    scratch
                        .weights
                        .iter()
                        .map(|&w| i64::try_from(w).unwrap_or(i64::MAX))
                        .sum()
                };
                (percent_off(base, *percent)?, true)
            }
            Action::FreeShipping => (0, false),
        };
        Ok(found)
    }

    /// Buy X get Y: for each line, the amount of its units that are among the
    /// cheapest `get` of every `buy + get` qualifying units, into
    /// `scratch.weights`. Within a line the units share its remaining amount
    /// equally (by largest remainder), and the cheaper of those units are
    /// taken first.
    fn cheapest_units(
        &self,
        lines: &[u32],
        remaining: &[i64],
        pristine: bool,
        buy: u32,
        get: u32,
        scratch: &mut Scratch,
    ) {
        let units: u64 = lines
            .iter()
            .map(|&l| u64::from(self.lines[l as usize].qty))
            .sum();
        let mut free = units / (u64::from(buy) + u64::from(get)) * u64::from(get);
        let Scratch {
            weights,
            order,
            order_wide,
            positions,
            ..
        } = scratch;
        // Cheapest unit first, cart order among equals. Every line of the
        // cart, undiscounted, is ordered once per run.
        let sorted: &[u32] = if pristine && lines.len() == self.lines.len() {
            self.by_unit_price.get_or_init(|| {
                let mut all = Vec::with_capacity(lines.len());
                self.order_by_unit_price(lines, remaining, order, order_wide, &mut all);
                all
            })
        } else {
            self.order_by_unit_price(lines, remaining, order, order_wide, positions);
            positions.as_slice()
        };
        weights.clear();
        weights.resize(lines.len(), 0);
        for &i in sorted {
            if free == 0 {
                break;
            }
            let i = i as usize;
            let l = lines[i] as usize;
            let q = u64::from(self.lines[l].qty);
            let take = free.min(q);
            free -= take;
            let r = remaining[l].unsigned_abs();
            let (unit, extra) = (r / q, r % q);
            // `q - extra` units cost `unit`, `extra` units cost `unit + 1`.
            weights[i] = take * unit + take.saturating_sub(q - extra);
        }
    }

    /// The positions in `lines` ordered by the price of one unit of what is
    /// left of each line (cheapest first, cart order among equals), into
    /// `out`.
    ///
    /// The key of a line is floor(remaining × 2^k / qty). Quantities are at
    /// most 999, so two different unit prices differ by at least 1 / 999² and,
    /// once multiplied by 2^20 or more, by more than 1: the key orders exactly
    /// as the prices do, with one division per line instead of
    /// multiplications in every comparison. With k = 20 the key and the
    /// position share one u64 whenever they fit (amounts below about 2^35
    /// minor units for a cart of a few hundred lines); otherwise k = 64 and
    /// the key takes 128 bits.
    fn order_by_unit_price(
        &self,
        lines: &[u32],
        remaining: &[i64],
        packed: &mut Vec<u64>,
        wide: &mut Vec<(u128, u32)>,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        let position = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        let qty = |l: u32| self.lines[l as usize].qty.max(1);
        let largest = lines
            .iter()
            .map(|&l| remaining[l as usize].unsigned_abs())
            .max()
            .unwrap_or(0);
        let bits = |x: u64| 64 - x.leading_zeros();
        let index_bits = bits(u64::try_from(lines.len().saturating_sub(1)).unwrap_or(u64::MAX));
        if bits(largest) + 20 + index_bits <= 64 {
            packed.clear();
            packed.extend(lines.iter().enumerate().map(|(i, &l)| {
                let key = (remaining[l as usize].unsigned_abs() << 20) / u64::from(qty(l));
                key << index_bits | u64::from(position(i))
            }));
            packed.sort_unstable();
            let mask = (1_u64 << index_bits) - 1;
            out.extend(
                packed
                    .iter()
                    .map(|&k| u32::try_from(k & mask).unwrap_or(u32::MAX)),
            );
        } else {
            wide.clear();
            wide.extend(lines.iter().enumerate().map(|(i, &l)| {
                let key =
                    (u128::from(remaining[l as usize].unsigned_abs()) << 64) / u128::from(qty(l));
                (key, position(i))
            }));
            wide.sort_unstable();
            out.extend(wide.iter().map(|&(_, i)| i));
        }
    }

    /// Builds the priced cart: line discounts, shipping, tax and totals.
    fn assemble(
        &self,
        winner: Combination,
        outcomes: Vec<Outcome>,
        subtotal: Money,
    ) -> Result<PricedCart, PricingError> {
        let cur = self.currency;
        // Each line's list is allocated once, at its final size.
        let mut counts = vec![0_usize; self.lines.len()];
        for a in &winner.applied {
            for &(l, _) in winner.parts_of(a) {
                counts[l as usize] += 1;
            }
        }
        let mut discounts: Vec<Vec<LineDiscount>> =
            counts.into_iter().map(Vec::with_capacity).collect();
        let mut line_discount = vec![0_i64; self.lines.len()];
        let mut shipping_discount = 0;
        for a in &winner.applied {
            let promo = self.promo(a.promo);
            for &(l, amount) in winner.parts_of(a) {
                discounts[l as usize].push(LineDiscount {
                    promotion_id: promo.id(),
                    amount: self.money(amount),
                });
                line_discount[l as usize] += amount;
            }
            shipping_discount += a.shipping;
        }
        let discount_total = self.money(winner.line_discount);
        let discounted = subtotal.checked_sub(discount_total)?;

        // Shipping.
        let shipping_price = self.shipping_price(discounted.minor());
        let shipping_total = shipping_price - shipping_discount;

        // Tax, once per rate, split across that rate's lines.
        let tax = self.ctx.tax;
        let gross = tax.prices_include_tax();
        let line_totals: Vec<i64> = self
            .lines
            .iter()
            .zip(&line_discount)
            .map(|(l, d)| l.subtotal - d)
            .collect();
        // Each line's rate group, the groups in order of first appearance.
        let mut rates: Vec<Decimal> = Vec::new();
        let group_of: Vec<usize> = self
            .lines
            .iter()
            .map(|line| {
                let rate = tax.line_rate(&TaxableLine {
                    product_id: line.product_id,
                    category_id: line.category_id,
                });
                rates.iter().position(|r| *r == rate).unwrap_or_else(|| {
                    rates.push(rate);
                    rates.len() - 1
                })
            })
            .collect();
        let mut line_tax = vec![0_i64; self.lines.len()];
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            weights,
            parts,
            split,
            positions: members,
            ..
        } = &mut *scratch;
        for (g, rate) in rates.iter().enumerate() {
            members.clear();
            members.extend(
                (0..self.lines.len())
                    .filter(|&i| group_of[i] == g)
                    .filter_map(|i| u32::try_from(i).ok()),
            );
            let base: i64 = members.iter().map(|&i| line_totals[i as usize]).sum();
            let amount = self.tax_on(base, *rate, gross)?;
            weights.clear();
            weights.extend(
                members
                    .iter()
                    .map(|&i| line_totals[i as usize].unsigned_abs()),
            );
            if allocate_into(amount, weights, parts, split).is_some() {
                for (&i, &part) in members.iter().zip(parts.iter()) {
                    line_tax[i as usize] = part;
                }
            }
        }
        drop(scratch);
        let shipping_tax = self.tax_on(shipping_total, tax.shipping_rate(), gross)?;
        let mut tax_total = self.money(shipping_tax);
        for &t in &line_tax {
            tax_total = tax_total.checked_add(self.money(t))?;
        }

        let mut total = discounted.checked_add(self.money(shipping_total))?;
        if !gross {
            total = total.checked_add(tax_total)?;
        }

        let lines = self
            .lines
            .iter()
            .zip(discounts)
            .enumerate()
            .map(|(i, (line, discounts))| PricedLine {
                line_id: line.input.id,
                variant_id: line.variant_id,
                product_id: line.product_id,
                quantity: line.input.quantity,
                unit_price: line.unit_price,
                compare_at_price: line.compare_at,
                subtotal: self.money(line.subtotal),
                discounts,
                discount_total: self.money(line_discount[i]),
                total: self.money(line_totals[i]),
                tax: self.money(line_tax[i]),
            })
            .collect();
        let shipping = self.cart.shipping.as_ref().map(|m| PricedShipping {
            code: m.code().to_owned(),
            name: m.name().to_owned(),
            price: self.money(shipping_price),
            discount: self.money(shipping_discount),
            total: self.money(shipping_total),
            tax: self.money(shipping_tax),
        });
        let promotions = self
            .promotions
            .promotions()
            .iter()
            .zip(outcomes)
            .map(|(p, outcome)| PromotionTrace {
                promotion_id: p.id(),
                label: Arc::clone(p.label()),
                code: p.code().cloned(),
                outcome,
            })
            .collect();
        let unknown_codes = self
            .cart
            .codes
            .iter()
            .filter(|c| self.promotions.by_code(c).next().is_none())
            .cloned()
            .collect();
        Ok(PricedCart {
            currency: cur,
            lines,
            subtotal,
            discount_total,
            shipping,
            shipping_total: self.money(shipping_total),
            tax_total,
            prices_include_tax: gross,
            total,
            promotions,
            unknown_codes,
        })
    }

    /// Tax on `base` minor units at `rate`: added on top (net) or contained
    /// in it (gross), rounded once.
    fn tax_on(&self, base: i64, rate: Decimal, gross: bool) -> Result<i64, PricingError> {
        if rate < Decimal::ZERO || rate > Decimal::ONE {
            return Err(PricingError::InvalidTaxRate(rate));
        }
        if base == 0 || rate.is_zero() {
            return Ok(0);
        }
        let base = self.money(base);
        let exact = if gross {
            base.to_decimal()
                .checked_mul(rate)
                .and_then(|v| v.checked_div(Decimal::ONE + rate))
                .ok_or(crate::money::MoneyError::Overflow)?
        } else {
            base.mul_rate(rate)?.value()
        };
        Ok(Money::from_decimal_rounded(exact, self.currency, self.ctx.rounding)?.minor())
    }
}

/// Differential tests of the engine's internal shortcuts against
/// straightforward definitions, on seeded random shops.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CategoryTree, Sku, VariantPrice, VariantSnapshot};
    use crate::ids::{LineId, PromotionId};
    use crate::promotion::{AppliesTo, PromotionSpec};
    use crate::quantity::Quantity;
    use crate::tax::SingleRateTax;

    /// SplitMix64: seeded, so every run tests the same cases.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % n
        }

        fn pick(&mut self, n: u128) -> u128 {
            u128::from(self.below(u64::try_from(n).unwrap()))
        }
    }

    fn category(i: u128) -> CategoryId {
        CategoryId::from_u128(10 + i)
    }

    fn product(i: u128) -> ProductId {
        ProductId::from_u128(100 + i)
    }

    /// A random shop: a category forest, lines of a few products, and
    /// percentage promotions targeting products, categories or everything,
    /// some with a `contains` condition.
    fn shop(rng: &mut Rng) -> (CatalogSnapshot, CartInput, PromotionSet) {
        let mut tree = CategoryTree::new();
        let categories = 1 + rng.pick(8);
        for c in 0..categories {
            let parent = (c > 0 && rng.below(4) > 0).then(|| category(rng.pick(c)));
            tree.add(category(c), parent).unwrap();
        }
        let mut catalog = CatalogSnapshot::new(tree);
        let mut lines = Vec::new();
        for i in 0..rng.pick(14) {
            let variant = VariantId::from_u128(1_000 + i);
            catalog.insert(VariantSnapshot {
                id: variant,
                product_id: product(rng.pick(6)),
                category_id: (rng.below(5) > 0).then(|| category(rng.pick(categories))),
                sku: Sku::parse(&format!("SKU-{i}")).unwrap(),
                name: "Item".into(),
                price: VariantPrice::fixed(Money::from_minor(100, Currency::USD)).unwrap(),
            });
            lines.push(super::super::LineInput {
                id: LineId::from_u128(i + 1),
                variant_id: variant,
                quantity: Quantity::new(1).unwrap(),
            });
        }
        let named = |rng: &mut Rng| AppliesTo {
            products: (0..rng.pick(3)).map(|_| product(rng.pick(7))).collect(),
            categories: (0..rng.pick(3))
                .map(|_| category(rng.pick(categories)))
                .collect(),
        };
        let promotions = (0..rng.pick(10))
            .map(|i| {
                let applies_to = named(rng);
                let contains = named(rng);
                let conditions = if contains.is_everything() {
                    vec![]
                } else {
                    vec![Condition::Contains {
                        products: contains.products,
                        categories: contains.categories,
                    }]
                };
                let spec = PromotionSpec {
                    name: format!("promo {i}"),
                    code: None,
                    priority: 0,
                    combinable: true,
                    starts_at: None,
                    ends_at: None,
                    usage_limit: None,
                    per_customer_limit: None,
                    conditions,
                    action: Action::Percentage {
                        percent: Decimal::TEN,
                        applies_to,
                        max_discount: None,
                    },
                };
                Promotion::new(PromotionId::from_u128(i + 1), spec).unwrap()
            })
            .collect();
        let cart = CartInput {
            currency: Currency::USD,
            lines,
            codes: vec![],
            shipping: None,
        };
        (catalog, cart, PromotionSet::new(promotions).unwrap())
    }

    /// Whether a line is one of these products or in one of these
    /// categories or below one, by walking its ancestry.
    fn names(
        catalog: &CatalogSnapshot,
        line: &Line<'_>,
        ps: &[ProductId],
        cs: &[CategoryId],
    ) -> bool {
        ps.contains(&line.product_id)
            || line
                .category_id
                .is_some_and(|c| cs.iter().any(|&a| catalog.categories().is_within(c, a)))
    }

    #[test]
    fn the_target_index_finds_what_a_walk_of_every_line_finds() {
        let mut rng = Rng(7);
        let tax = SingleRateTax::none();
        let ctx = PricingContext::new(chrono::DateTime::UNIX_EPOCH, &tax);
        for _ in 0..3_000 {
            let (catalog, cart, promotions) = shop(&mut rng);
            let lines = resolve_lines(&cart, &catalog).unwrap();
            let run = Run {
                cart: &cart,
                catalog: &catalog,
                promotions: &promotions,
                ctx: &ctx,
                lines: &lines,
                currency: Currency::USD,
                subtotal: 0,
                scratch: Default::default(),
                by_unit_price: Default::default(),
            };
            let targets = run.targets();
            for (p, promo) in promotions.promotions().iter().enumerate() {
                let to = promo.action().applies_to();
                let expected: Vec<u32> = (0..lines.len())
                    .filter(|&l| {
                        to.is_everything()
                            || names(&catalog, &lines[l], &to.products, &to.categories)
                    })
                    .map(|l| u32::try_from(l).unwrap())
                    .collect();
                assert_eq!(targets.of(p), expected, "{promo:?}");
                let contains = promo.conditions().iter().any(|c| match c {
                    Condition::Contains {
                        products,
                        categories,
                    } => lines
                        .iter()
                        .any(|l| names(&catalog, l, products, categories)),
                    _ => false,
                });
                assert_eq!(targets.contains_hit[p], contains, "{promo:?}");
            }
        }
    }

    #[test]
    fn unit_price_keys_order_lines_as_exact_fractions_do() {
        let mut rng = Rng(11);
        let tax = SingleRateTax::none();
        let ctx = PricingContext::new(chrono::DateTime::UNIX_EPOCH, &tax);
        let catalog = CatalogSnapshot::new(CategoryTree::new());
        let promotions = PromotionSet::default();
        // Only the quantities of the lines matter here.
        let input = super::super::LineInput {
            id: LineId::from_u128(1),
            variant_id: VariantId::from_u128(1),
            quantity: Quantity::new(1).unwrap(),
        };
        for case in 0..3_000 {
            let n = 1 + rng.below(40);
            let cart = CartInput {
                currency: Currency::USD,
                lines: vec![],
                codes: vec![],
                shipping: None,
            };
            let qty: Vec<u32> = (0..n)
                .map(|_| {
                    if rng.below(3) == 0 {
                        999
                    } else {
                        1 + u32::try_from(rng.below(999)).unwrap()
                    }
                })
                .collect();
            // Small amounts with many ties, ordinary ones, and (every
            // fourth case) amounts too large for the packed keys.
            let scale = [10, 1_000_000, 1 << 40, i64::MAX.unsigned_abs()][case % 4];
            let remaining: Vec<i64> = (0..n)
                .map(|_| i64::try_from(rng.below(scale)).unwrap())
                .collect();
            let fake: Vec<Line<'_>> = qty
                .iter()
                .map(|&q| Line {
                    input: &input,
                    variant_id: VariantId::from_u128(0),
                    product_id: ProductId::from_u128(0),
                    category_id: None,
                    unit_price: Money::zero(Currency::USD),
                    compare_at: None,
                    subtotal: 0,
                    qty: q,
                })
                .collect();
            let run = Run {
                cart: &cart,
                catalog: &catalog,
                promotions: &promotions,
                ctx: &ctx,
                lines: &fake,
                currency: Currency::USD,
                subtotal: 0,
                scratch: Default::default(),
                by_unit_price: Default::default(),
            };
            // Every line, or every other one.
            let chosen: Vec<u32> = (0..u32::try_from(n).unwrap())
                .filter(|l| case % 2 == 0 || l % 2 == 0)
                .collect();
            let (mut packed, mut wide, mut got) = (Vec::new(), Vec::new(), Vec::new());
            run.order_by_unit_price(&chosen, &remaining, &mut packed, &mut wide, &mut got);
            let mut expected: Vec<u32> = (0..u32::try_from(chosen.len()).unwrap()).collect();
            // r1 / q1 < r2 / q2 exactly, then the earlier position.
            expected.sort_by(|&a, &b| {
                let (la, lb) = (chosen[a as usize] as usize, chosen[b as usize] as usize);
                let ra = u128::from(remaining[la].unsigned_abs()) * u128::from(qty[lb]);
                let rb = u128::from(remaining[lb].unsigned_abs()) * u128::from(qty[la]);
                ra.cmp(&rb).then(a.cmp(&b))
            });
            assert_eq!(got, expected, "{remaining:?} {qty:?}");
        }
    }
}
