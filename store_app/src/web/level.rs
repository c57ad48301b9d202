//! Stock levels: what the page shows instead of raw counts (the book's
//! `ProductView.availability_to_level/1`). Shoppers see "low" or "high", not
//! "7 left", and a sale only needs to reach the browsers when it moves an item
//! from one level to another (see `notify_item_stock_change`).

use std::fmt;

/// How much of an item is left, as the page shows it.
///
/// Thresholds (units left):
///
/// | level    | count   |
/// |----------|---------|
/// | `out`    | 0       |
/// | `low`    | 1–9     |
/// | `medium` | 10–24   |
/// | `high`   | 25 or more |
///
/// The demo catalogue (`catalogue::demo`, stock 0, 1, 3, 8, 15, 25, 40) shows
/// all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StockLevel {
    /// Sold out.
    Out,
    /// A few left.
    Low,
    /// Some left.
    Medium,
    /// Plenty left.
    High,
}

/// The smallest count that is [`StockLevel::Medium`].
pub const MEDIUM_FROM: u32 = 10;
/// The smallest count that is [`StockLevel::High`].
pub const HIGH_FROM: u32 = 25;

impl StockLevel {
    /// The level of an item with `count` units left.
    pub fn from_count(count: u32) -> Self {
        match count {
            0 => StockLevel::Out,
            c if c < MEDIUM_FROM => StockLevel::Low,
            c if c < HIGH_FROM => StockLevel::Medium,
            _ => StockLevel::High,
        }
    }

    /// The wire and CSS name: `out`, `low`, `medium` or `high` (the `level` of
    /// `stock_change`, the `data-level` attribute, the
    /// `size-container__entry--level-*` class).
    pub fn as_str(self) -> &'static str {
        match self {
            StockLevel::Out => "out",
            StockLevel::Low => "low",
            StockLevel::Medium => "medium",
            StockLevel::High => "high",
        }
    }

    /// What a shopper reads under the size. `assets/js/app.js` has the same
    /// words (`LEVEL_LABELS`) for updates pushed after the page loaded.
    pub fn label(self) -> &'static str {
        match self {
            StockLevel::Out => "sold out",
            StockLevel::Low => "few left",
            StockLevel::Medium => "in stock",
            StockLevel::High => "plenty",
        }
    }
}

impl fmt::Display for StockLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;

    #[test]
    fn thresholds_are_out_at_zero_then_low_medium_high() {
        let cases = [
            (0, StockLevel::Out),
            (1, StockLevel::Low),
            (9, StockLevel::Low),
            (10, StockLevel::Medium),
            (24, StockLevel::Medium),
            (25, StockLevel::High),
            (u32::MAX, StockLevel::High),
        ];
        for (count, level) in cases {
            assert_eq!(StockLevel::from_count(count), level, "{count}");
        }
    }

    #[test]
    fn names_are_the_ones_the_page_and_the_wire_use() {
        let names: Vec<_> = [
            StockLevel::Out,
            StockLevel::Low,
            StockLevel::Medium,
            StockLevel::High,
        ]
        .iter()
        .map(|l| l.to_string())
        .collect();
        assert_eq!(names, ["out", "low", "medium", "high"]);
    }

    #[test]
    fn the_demo_catalogue_shows_every_level() {
        let availability = catalogue::demo().availability;
        let mut seen: Vec<_> = availability
            .iter()
            .map(|a| StockLevel::from_count(a.available_count))
            .collect();
        seen.sort_by_key(|l| l.as_str());
        seen.dedup();
        assert_eq!(seen.len(), 4, "{seen:?}");
    }
}
