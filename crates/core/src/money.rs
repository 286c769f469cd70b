//! Money as exact decimals inside named types.
//!
//! A [`Notional`] is an amount of the quote currency (EUR for `BTC-EUR`), a [`Quantity`] an
//! amount of the base asset, and a [`Price`] quote per base. The type system keeps them apart:
//! a price times a quantity is a notional, and nothing else combines them. Floating point never
//! appears (a `tidy` test rejects `f64` in money modules); values serialise as decimal strings,
//! as Bitvavo sends them.

use std::{
    fmt,
    iter::Sum,
    ops::{Add, AddAssign, Sub},
    str::FromStr,
};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Decimal);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(Decimal::ZERO);

            /// A value that must be zero or more.
            ///
            /// # Errors
            /// A [`ValidationError`] naming `field` when `value` is negative.
            pub fn non_negative(field: &str, value: Decimal) -> Result<Self, ValidationError> {
                if value.is_sign_negative() && !value.is_zero() {
                    return Err(ValidationError::new(field, value, concat!("a ", $what, " of zero or more")));
                }
                Ok(Self(value.normalize()))
            }

            /// A value that must be strictly positive.
            ///
            /// # Errors
            /// A [`ValidationError`] naming `field` when `value` is zero or negative.
            pub fn positive(field: &str, value: Decimal) -> Result<Self, ValidationError> {
                if value <= Decimal::ZERO {
                    return Err(ValidationError::new(field, value, concat!("a ", $what, " greater than zero")));
                }
                Ok(Self(value.normalize()))
            }

            /// Parses decimal text (as Bitvavo and our users write it) into a positive value.
            ///
            /// # Errors
            /// A [`ValidationError`] naming `field` when the text is not a positive decimal.
            pub fn parse_positive(field: &str, text: &str) -> Result<Self, ValidationError> {
                let value = Decimal::from_str(text.trim()).map_err(|_| {
                    ValidationError::new(field, text, concat!("a decimal ", $what, " such as 25 or 0.001"))
                })?;
                Self::positive(field, value)
            }

            /// The decimal inside.
            #[must_use]
            pub const fn value(&self) -> Decimal {
                self.0
            }

            /// Whether the value is zero.
            #[must_use]
            pub fn is_zero(&self) -> bool {
                self.0.is_zero()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.normalize(), f)
            }
        }
    };
}

decimal_newtype!(
    /// An amount of the quote currency (e.g. EUR): what an order is worth.
    Notional,
    "quote amount"
);
decimal_newtype!(
    /// An amount of the base asset (e.g. BTC).
    Quantity,
    "base quantity"
);
decimal_newtype!(
    /// A price: quote currency per unit of the base asset.
    Price,
    "price"
);

impl Add for Notional {
    type Output = Notional;
    fn add(self, rhs: Notional) -> Notional {
        Notional(self.0 + rhs.0)
    }
}

impl AddAssign for Notional {
    fn add_assign(&mut self, rhs: Notional) {
        self.0 += rhs.0;
    }
}

impl Sum for Notional {
    fn sum<I: Iterator<Item = Notional>>(iter: I) -> Notional {
        iter.fold(Notional::ZERO, Add::add)
    }
}

impl Notional {
    /// `self - rhs`, or zero when `rhs` is larger (a remaining budget never goes negative).
    #[must_use]
    pub fn saturating_sub(self, rhs: Notional) -> Notional {
        if rhs.0 >= self.0 {
            Notional::ZERO
        } else {
            Notional(self.0 - rhs.0)
        }
    }

    /// How many base units this notional buys at `price`, unrounded.
    #[must_use]
    pub fn at_price(self, price: Price) -> Quantity {
        // A price is validated positive at construction, so the division is defined.
        Quantity(self.0 / price.0)
    }
}

impl Add for Quantity {
    type Output = Quantity;
    fn add(self, rhs: Quantity) -> Quantity {
        Quantity(self.0 + rhs.0)
    }
}

impl Sub for Quantity {
    type Output = Quantity;
    fn sub(self, rhs: Quantity) -> Quantity {
        Quantity(self.0 - rhs.0)
    }
}

impl Quantity {
    /// What this quantity is worth at `price`.
    #[must_use]
    pub fn at_price(self, price: Price) -> Notional {
        Notional(self.0 * price.0)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn negative_amount_is_refused_with_field_name() {
        let err = Notional::positive("amount_quote", dec!(-5)).unwrap_err();
        assert_eq!(err.field, "amount_quote");
        assert!(err.expected.contains("greater than zero"));
    }

    #[test]
    fn zero_is_not_positive_but_is_non_negative() {
        assert!(Quantity::positive("amount", Decimal::ZERO).is_err());
        assert!(Quantity::non_negative("amount", Decimal::ZERO).is_ok());
    }

    #[test]
    fn quantity_times_price_is_notional() {
        let q = Quantity::parse_positive("amount", "0.001").unwrap();
        let p = Price::parse_positive("price", "50000").unwrap();
        assert_eq!(q.at_price(p), Notional::positive("n", dec!(50)).unwrap());
        assert_eq!(Notional::positive("n", dec!(50)).unwrap().at_price(p), q);
    }

    #[test]
    fn serialises_as_decimal_string() {
        let n = Notional::parse_positive("amount_quote", "25.50").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"25.5\"");
    }

    #[test]
    fn garbage_text_names_field() {
        let err = Price::parse_positive("limit_price", "abc").unwrap_err();
        assert_eq!(err.field, "limit_price");
    }
}
