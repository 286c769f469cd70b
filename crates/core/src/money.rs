//! Money as exact decimals inside named types.
//!
//! A [`Notional`] is an amount of the quote currency (EUR for `BTC-EUR`), a [`Quantity`] an
//! amount of the base asset, and a [`Price`] quote per base. The type system keeps them apart:
//! a price times a quantity is a notional, and nothing else combines them. Floating point never
//! appears (a `tidy` test rejects `f64` in money modules); values serialise as decimal strings,
//! as Bitvavo sends them.
//!
//! Every decimal a person types (CLI flags, API bodies, configuration values, strategy
//! parameters) is read by [`parse_exact_decimal`], the one place the rule lives: plain decimal
//! text (`25`, `0.001`, `-5`), taken exactly or refused. A value a `Decimal` cannot hold exactly
//! (more than 28 decimal places, or about 28 significant digits) is refused, never rounded, and
//! the refusal quotes the text as it was typed.

use std::{
    fmt,
    iter::Sum,
    ops::{Add, AddAssign, Sub},
};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Reads decimal text a person typed, exactly: an optional sign, digits, and at most one
/// decimal point (`25`, `0.001`, `-5`, `.5`). Surrounding whitespace is ignored, and so are
/// trailing zeros after the point (`10.50000…` is `10.5`, however many zeros follow).
///
/// Nothing is rounded: text whose value a [`Decimal`] cannot hold exactly (more than 28 decimal
/// places, or a mantissa above 2^96 - 1, about 28 significant digits) is refused, as are exponents, digit
/// separators and anything else. This is the only way user-typed money enters Vigil.
///
/// # Errors
/// A [`ValidationError`] naming `field`, quoting `text` as it was typed, and saying `expected`
/// (plus, when the text is a decimal that does not fit, that it cannot be held exactly).
pub fn parse_exact_decimal(
    field: &str,
    text: &str,
    expected: &str,
) -> Result<Decimal, ValidationError> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    let plain = digits.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    if !plain {
        return Err(ValidationError::new(field, text, expected));
    }
    // Trailing zeros after the point change nothing, so they never make a value "not fit".
    let significant = if trimmed.contains('.') {
        trimmed.trim_end_matches('0').trim_end_matches('.')
    } else {
        trimmed
    };
    let significant = match significant {
        "" | "-" | "+" => "0",
        other => other,
    };
    Decimal::from_str_exact(significant).map_err(|_| {
        ValidationError::new(
            field,
            text,
            format!(
                "{expected}, with at most 28 decimal places and 28 significant digits \
                 (this one cannot be stored exactly, and Vigil never rounds an amount)"
            ),
        )
    })
}

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

            /// Parses decimal text (as our users write it) into a positive value, exactly
            /// ([`parse_exact_decimal`]: refused, never rounded, when it does not fit).
            ///
            /// # Errors
            /// A [`ValidationError`] naming `field` and quoting `text` when the text is not a
            /// positive decimal that fits exactly.
            pub fn parse_positive(field: &str, text: &str) -> Result<Self, ValidationError> {
                let value = parse_exact_decimal(
                    field,
                    text,
                    concat!("a decimal ", $what, " greater than zero, such as 25 or 0.001"),
                )?;
                Self::positive(field, value).map_err(|e| ValidationError::new(field, text, e.expected))
            }

            /// Parses decimal text (as our users write it) into a value of zero or more,
            /// exactly ([`parse_exact_decimal`]).
            ///
            /// # Errors
            /// A [`ValidationError`] naming `field` and quoting `text` when the text is not a
            /// decimal of zero or more that fits exactly.
            pub fn parse_non_negative(field: &str, text: &str) -> Result<Self, ValidationError> {
                let value = parse_exact_decimal(
                    field,
                    text,
                    concat!("a decimal ", $what, " of zero or more, such as 25 or 0.001"),
                )?;
                Self::non_negative(field, value).map_err(|e| ValidationError::new(field, text, e.expected))
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

    /// #18 case 7: an amount a `Decimal` cannot hold exactly is refused, quoting what was typed;
    /// before, `from_str` rounded it to `10` without a word.
    #[test]
    fn more_than_28_decimal_places_is_refused_quoting_the_typed_text() {
        let typed = "10.000000000000000000000000000001";
        let err = Notional::parse_positive("--amount-quote", typed).unwrap_err();
        assert_eq!(err.field, "--amount-quote");
        assert_eq!(err.value, typed);
        assert!(err.expected.contains("28 decimal places"), "{err}");
        assert!(err.to_string().contains(typed), "{err}");
        // Too many significant digits, on either side of the point, the same.
        for typed in [
            "0.00000000000000000000000000001",
            "123456789012345678901234567890",
            "9.9999999999999999999999999999",
        ] {
            let err = parse_exact_decimal("amount", typed, "a decimal").unwrap_err();
            assert_eq!(err.value, typed);
        }
        let err = Quantity::parse_non_negative("amount", typed).unwrap_err();
        assert_eq!(err.value, typed);
    }

    #[test]
    fn exact_decimals_are_taken_as_typed() {
        let read = |t: &str| parse_exact_decimal("f", t, "a decimal").unwrap();
        assert_eq!(read("25"), dec!(25));
        assert_eq!(read(" 0.001 "), dec!(0.001));
        assert_eq!(read("-5"), dec!(-5));
        assert_eq!(read("+.5"), dec!(0.5));
        assert_eq!(read("7."), dec!(7));
        assert_eq!(
            read("0.0000000000000000000000000001"),
            dec!(0.0000000000000000000000000001)
        );
        assert_eq!(
            read("1234567890123456789012345678"),
            dec!(1234567890123456789012345678)
        );
        // Trailing zeros add nothing, however many: still exactly ten and a half.
        assert_eq!(read("10.500000000000000000000000000000000"), dec!(10.5));
        assert_eq!(read("0.000000000000000000000000000000"), Decimal::ZERO);
        for bad in [
            "", " ", "-", ".", "1e3", "1_000", "1.2.3", "--5", "0x10", "NaN", "25 EUR",
        ] {
            let err = parse_exact_decimal("f", bad, "a decimal").unwrap_err();
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn a_refused_sign_quotes_the_typed_text() {
        let err = Notional::parse_positive("amount_quote", "-5.00").unwrap_err();
        assert_eq!(err.value, "-5.00");
        assert!(err.expected.contains("greater than zero"));
        assert!(Notional::parse_non_negative("budget", "0").is_ok());
        let err = Notional::parse_non_negative("budget", "-0.1").unwrap_err();
        assert_eq!(err.value, "-0.1");
    }

    #[test]
    fn garbage_text_names_field() {
        let err = Price::parse_positive("limit_price", "abc").unwrap_err();
        assert_eq!(err.field, "limit_price");
    }
}
