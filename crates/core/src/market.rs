//! Markets, sides, order types and order sizes, and the exchange's per-market rules.
//!
//! A [`Market`] is parsed from Bitvavo's `BASE-QUOTE` form (`BTC-EUR`); anything else is refused
//! with an error that says what was expected. [`MarketRules`] carries what `/markets` says about
//! a market (tick size, decimals, minimum and maximum order sizes, trading status); the
//! `market_rules` guard checks an order against them before it is sent, so the exchange never has
//! to refuse it for size or precision.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    error::ValidationError,
    money::{Notional, Price, Quantity},
};

/// An asset symbol such as `BTC` or `EUR`: 1 to 12 upper-case letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Asset(String);

impl Asset {
    /// Parses an asset symbol; lower case is accepted and upper-cased.
    ///
    /// # Errors
    /// A [`ValidationError`] naming `field` when the text is not 1 to 12 letters or digits.
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        let upper = text.trim().to_ascii_uppercase();
        let ok = !upper.is_empty()
            && upper.len() <= 12
            && upper
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(upper))
        } else {
            Err(ValidationError::new(
                field,
                text,
                "an asset symbol of 1 to 12 letters or digits, such as BTC or EUR",
            ))
        }
    }

    /// The symbol.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Asset {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("asset", &value)
    }
}

impl From<Asset> for String {
    fn from(value: Asset) -> Self {
        value.0
    }
}

/// A market such as `BTC-EUR`: base asset, then quote asset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Market {
    base: Asset,
    quote: Asset,
}

impl Market {
    /// Builds a market from its two assets.
    #[must_use]
    pub fn new(base: Asset, quote: Asset) -> Self {
        Self { base, quote }
    }

    /// Parses `BASE-QUOTE`, e.g. `BTC-EUR` (lower case is accepted and upper-cased).
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field `market` when the text is not of that form.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let expected = "a market of the form BASE-QUOTE, such as BTC-EUR";
        let mut parts = text.trim().split('-');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(base), Some(quote), None) => {
                let base = Asset::parse("market", base)
                    .map_err(|_| ValidationError::new("market", text, expected))?;
                let quote = Asset::parse("market", quote)
                    .map_err(|_| ValidationError::new("market", text, expected))?;
                if base == quote {
                    return Err(ValidationError::new(
                        "market",
                        text,
                        "a market whose base and quote assets differ",
                    ));
                }
                Ok(Self { base, quote })
            }
            _ => Err(ValidationError::new("market", text, expected)),
        }
    }

    /// The base asset (what is bought or sold).
    #[must_use]
    pub fn base(&self) -> &Asset {
        &self.base
    }

    /// The quote asset (what it is paid in).
    #[must_use]
    pub fn quote(&self) -> &Asset {
        &self.quote
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.base, self.quote)
    }
}

impl FromStr for Market {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Market {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Market> for String {
    fn from(value: Market) -> Self {
        value.to_string()
    }
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy the base asset with the quote asset.
    Buy,
    /// Sell the base asset for the quote asset.
    Sell,
}

impl Side {
    /// The other side (what anti-flip looks for).
    #[must_use]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// `buy` or `sell`, as Bitvavo and the database spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Side {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "buy" => Ok(Side::Buy),
            "sell" => Ok(Side::Sell),
            _ => Err(ValidationError::new("side", s, "buy or sell")),
        }
    }
}

/// The order types Vigil places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    /// Fills immediately at the best available prices.
    Market,
    /// Rests in the book at a limit price.
    Limit,
}

impl OrderType {
    /// `market` or `limit`, as Bitvavo and the database spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
        }
    }
}

impl fmt::Display for OrderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "market" => Ok(OrderType::Market),
            "limit" => Ok(OrderType::Limit),
            _ => Err(ValidationError::new("order_type", s, "market or limit")),
        }
    }
}

/// How big an order is: a quote amount to spend or receive (market orders only), or a base
/// quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum OrderSize {
    /// Spend (buy) or receive (sell) this much of the quote asset: Bitvavo's `amountQuote`.
    Quote(Notional),
    /// This much of the base asset: Bitvavo's `amount`.
    Base(Quantity),
}

impl OrderSize {
    /// Whether the size is zero (never valid for an order).
    #[must_use]
    pub fn is_zero(&self) -> bool {
        match self {
            OrderSize::Quote(notional) => notional.is_zero(),
            OrderSize::Base(quantity) => quantity.is_zero(),
        }
    }

    /// What the order is worth, given the price it will trade at (the limit price, or the
    /// current price for a market order).
    #[must_use]
    pub fn notional_at(&self, price: Price) -> Notional {
        match *self {
            OrderSize::Quote(notional) => notional,
            OrderSize::Base(quantity) => quantity.at_price(price),
        }
    }
}

/// A market's trading status as `/markets` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MarketStatus {
    /// Orders are accepted and matched.
    Trading,
    /// No trading.
    Halted,
    /// Collecting orders for an auction.
    Auction,
    /// Matching an auction.
    AuctionMatching,
    /// Only cancellations are accepted.
    CancelOnly,
}

impl FromStr for MarketStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trading" => Ok(Self::Trading),
            "halted" => Ok(Self::Halted),
            "auction" => Ok(Self::Auction),
            "auctionMatching" => Ok(Self::AuctionMatching),
            "cancelOnly" => Ok(Self::CancelOnly),
            _ => Err(ValidationError::new(
                "status",
                s,
                "trading, halted, auction, auctionMatching or cancelOnly",
            )),
        }
    }
}

/// What the exchange requires of an order on one market (from `/markets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketRules {
    /// The market these rules are for.
    pub market: Market,
    /// Whether it trades now.
    pub status: MarketStatus,
    /// Prices must be a multiple of this.
    pub tick_size: Price,
    /// At most this many decimals in a base quantity.
    pub quantity_decimals: u32,
    /// At most this many decimals in a quote amount.
    pub notional_decimals: u32,
    /// Smallest base quantity per order.
    pub min_order_base: Quantity,
    /// Smallest quote amount per order.
    pub min_order_quote: Notional,
    /// Largest base quantity per order.
    pub max_order_base: Option<Quantity>,
    /// Largest quote amount per order.
    pub max_order_quote: Option<Notional>,
}

/// Whether `value` has at most `decimals` digits after the point.
#[must_use]
pub fn fits_decimals(value: Decimal, decimals: u32) -> bool {
    value.normalize().scale() <= decimals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_parses_and_round_trips() {
        let m = Market::parse("btc-eur").unwrap();
        assert_eq!(m.to_string(), "BTC-EUR");
        assert_eq!(m.base().as_str(), "BTC");
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"BTC-EUR\"");
        assert_eq!(
            serde_json::from_str::<Market>("\"ETH-EUR\"")
                .unwrap()
                .quote()
                .as_str(),
            "EUR"
        );
    }

    #[test]
    fn bad_markets_are_refused_naming_the_field() {
        for bad in [
            "BTCEUR",
            "BTC-",
            "-EUR",
            "BTC-EUR-X",
            "BTC/EUR",
            "",
            "EUR-EUR",
            "BT C-EUR",
        ] {
            let err = Market::parse(bad).unwrap_err();
            assert_eq!(err.field, "market", "{bad}");
        }
    }

    #[test]
    fn side_opposite_and_parse() {
        assert_eq!(Side::Buy.opposite(), Side::Sell);
        assert_eq!("SELL".parse::<Side>().unwrap(), Side::Sell);
        assert_eq!("hold".parse::<Side>().unwrap_err().field, "side");
    }

    #[test]
    fn decimals_fit() {
        assert!(fits_decimals(Decimal::new(12_300, 4), 2)); // 1.2300 -> 1.23
        assert!(!fits_decimals(Decimal::new(1_234, 3), 2));
    }
}
