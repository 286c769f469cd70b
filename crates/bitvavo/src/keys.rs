//! API keys as capabilities (invariant I10).
//!
//! A [`ReadOnlyKey`] can only ever build a [`crate::ReadOnlyClient`] (market data, balances,
//! fees, order and fill lookups); a [`TradeKey`] can only ever build the trade capabilities,
//! [`crate::TradingClient`] (create) and [`crate::CancelClient`] (cancel, cancel all, dead man's
//! switch). The two types are distinct, so passing the
//! trade key where the read-only key belongs does not compile, and
//! [`crate::BitvavoClients::new`] refuses two keys that share the API key or the secret.
//!
//! The secret lives in a [`SecretString`] and is exposed in exactly one place: the signer in
//! `transport`. `Debug` shows at most the first six characters of the API key and never the
//! secret; there is no `Display`.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// How many characters of an API key `Debug` and error messages may show.
const KEY_PREFIX_SHOWN: usize = 6;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The API key is not 64 letters and digits (Bitvavo answers 301 to anything else).
    #[error("the {which} API key is not valid: expected 64 letters or digits, got {length} characters starting {prefix:?}; copy the whole key from the Bitvavo dashboard")]
    KeyShape {
        /// `read-only` or `trade`.
        which: &'static str,
        /// How many characters were given.
        length: usize,
        /// The first characters of what was given (never the whole key).
        prefix: String,
    },
    /// The secret is empty.
    #[error(
        "the {which} API secret is empty; set it from the secret shown when the key was created"
    )]
    EmptySecret {
        /// `read-only` or `trade`.
        which: &'static str,
    },
    /// The secret starts or ends with whitespace (usually a newline from a secret file), which
    /// would make every signature wrong (errorCode 309).
    #[error("the {which} API secret starts or ends with whitespace (often a trailing newline in the secret file); remove it")]
    SecretWhitespace {
        /// `read-only` or `trade`.
        which: &'static str,
    },
    /// Both keys are the same API key (I10 requires two different keys).
    #[error("the read-only key and the trade key are the same API key ({prefix}…); invariant I10 requires two different keys: create a separate key with only the View permission and use it as the read-only key")]
    SameKey {
        /// The first characters of the shared key.
        prefix: String,
    },
    /// The two keys have the same secret, so one of them is misconfigured.
    #[error("the read-only key and the trade key have the same secret; every Bitvavo key has its own secret, so one of them is misconfigured: set each key's own secret")]
    SameSecret,
}

/// The key and secret, with the checks both capabilities share.
#[derive(Clone)]
pub(crate) struct Credentials {
    key: String,
    secret: SecretString,
}

impl Credentials {
    fn new(which: &'static str, key: &str, secret: SecretString) -> Result<Self, KeyError> {
        let key = key.trim();
        if key.chars().count() != 64 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(KeyError::KeyShape {
                which,
                length: key.chars().count(),
                prefix: prefix(key),
            });
        }
        let text = secret.expose_secret();
        if text.is_empty() {
            return Err(KeyError::EmptySecret { which });
        }
        if text.trim() != text {
            return Err(KeyError::SecretWhitespace { which });
        }
        Ok(Self {
            key: key.to_owned(),
            secret,
        })
    }

    /// The API key, as sent in `Bitvavo-Access-Key` (not a secret, but still not logged whole).
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The secret's bytes, for the HMAC only.
    pub(crate) fn secret_bytes(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }

    /// The short form shown in `Debug` and logs.
    pub(crate) fn key_prefix(&self) -> String {
        prefix(&self.key)
    }

    /// The key's opaque identity (compared case-insensitively, as [`check_distinct`] does).
    pub(crate) fn key_id(&self) -> KeyId {
        KeyId(Sha256::digest(self.key.to_ascii_lowercase().as_bytes()).into())
    }
}

/// An opaque identity of an API key: the SHA-256 of the key, so two clients built separately
/// can be checked for using the same key (I10) without the key itself being handed out.
/// `Debug` shows only the first eight hex digits of the hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 32]);

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({}…)", hex::encode(&self.0[..4]))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &format_args!("{}…", self.key_prefix()))
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

fn prefix(key: &str) -> String {
    key.chars().take(KEY_PREFIX_SHOWN).collect()
}

/// A key used only for reading: market data, balances, fees, orders and fills.
///
/// Give it a Bitvavo key with only the View permission; Vigil cannot check the permissions
/// themselves (no endpoint reveals them, bitvavo-api.md section 9), but the type guarantees this
/// key is never used to trade.
#[derive(Clone)]
pub struct ReadOnlyKey(pub(crate) Credentials);

impl ReadOnlyKey {
    /// A read-only key from its 64-character API key and its secret.
    ///
    /// # Errors
    /// [`KeyError`] when the key is not 64 letters or digits, or the secret is empty or has
    /// surrounding whitespace.
    pub fn new(key: &str, secret: SecretString) -> Result<Self, KeyError> {
        Credentials::new("read-only", key, secret).map(Self)
    }
}

impl fmt::Debug for ReadOnlyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOnlyKey")
            .field("key", &format_args!("{}…", self.0.key_prefix()))
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

/// The key that may place and cancel orders; held only by the executor (I10).
#[derive(Clone)]
pub struct TradeKey(pub(crate) Credentials);

impl TradeKey {
    /// A trade key from its 64-character API key and its secret.
    ///
    /// # Errors
    /// As [`ReadOnlyKey::new`].
    pub fn new(key: &str, secret: SecretString) -> Result<Self, KeyError> {
        Credentials::new("trade", key, secret).map(Self)
    }
}

impl fmt::Debug for TradeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TradeKey")
            .field("key", &format_args!("{}…", self.0.key_prefix()))
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

/// Refuses a read-only key and a trade key that share the API key or the secret (I10).
///
/// # Errors
/// [`KeyError::SameKey`] or [`KeyError::SameSecret`].
pub fn check_distinct(read: &ReadOnlyKey, trade: &TradeKey) -> Result<(), KeyError> {
    if read.0.key.eq_ignore_ascii_case(&trade.0.key) {
        return Err(KeyError::SameKey {
            prefix: read.0.key_prefix(),
        });
    }
    if read.0.secret_bytes() == trade.0.secret_bytes() {
        return Err(KeyError::SameSecret);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i10_key_ids_compare_keys_without_showing_them() {
        let read = ReadOnlyKey::new(KEY_A, secret(SECRET)).unwrap();
        let same = TradeKey::new(&KEY_A.to_ascii_uppercase(), secret("other")).unwrap();
        let other = TradeKey::new(KEY_B, secret(SECRET)).unwrap();
        assert_eq!(read.0.key_id(), same.0.key_id());
        assert_ne!(read.0.key_id(), other.0.key_id());
        let shown = format!("{:?}", read.0.key_id());
        assert!(
            !shown.contains(KEY_A) && !shown.contains(&KEY_A[..6]),
            "{shown}"
        );
    }

    const KEY_A: &str = "a7f6f482abf7cfd2468c6ca44c1ea8dd32ece95a712e514c424381c499bf8a09";
    const KEY_B: &str = "9a01f108ca025ea832ad30bacc7248be2723ea68ebe62a7c422126728f37c2e3";
    const SECRET: &str = "topsecretvaluethatmustneverbeprinted0123456789";

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn i10_debug_never_shows_the_secret_and_only_a_prefix_of_the_key() {
        let read = ReadOnlyKey::new(KEY_A, secret(SECRET)).unwrap();
        let trade = TradeKey::new(KEY_B, secret(SECRET)).unwrap();
        for text in [
            format!("{read:?}"),
            format!("{read:#?}"),
            format!("{trade:?}"),
            format!("{:?}", read.0),
        ] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(!text.contains("topsecret"), "{text}");
            assert!(!text.contains(KEY_A) && !text.contains(KEY_B), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
        assert!(format!("{read:?}").contains("a7f6f4…"));
    }

    #[test]
    fn i10_same_key_is_refused_with_what_to_do() {
        let read = ReadOnlyKey::new(KEY_A, secret("one")).unwrap();
        let trade = TradeKey::new(KEY_A, secret("two")).unwrap();
        let err = check_distinct(&read, &trade).unwrap_err();
        assert!(matches!(err, KeyError::SameKey { .. }));
        let text = err.to_string();
        assert!(
            text.contains("I10") && text.contains("View permission"),
            "{text}"
        );
        assert!(!text.contains(KEY_A));
    }

    #[test]
    fn i10_same_secret_is_refused_without_showing_it() {
        let read = ReadOnlyKey::new(KEY_A, secret(SECRET)).unwrap();
        let trade = TradeKey::new(KEY_B, secret(SECRET)).unwrap();
        let err = check_distinct(&read, &trade).unwrap_err();
        assert_eq!(err, KeyError::SameSecret);
        assert!(!err.to_string().contains(SECRET));
    }

    #[test]
    fn i10_distinct_keys_pass() {
        let read = ReadOnlyKey::new(KEY_A, secret("one")).unwrap();
        let trade = TradeKey::new(KEY_B, secret("two")).unwrap();
        check_distinct(&read, &trade).unwrap();
    }

    #[test]
    fn bad_keys_and_secrets_are_refused_naming_the_problem() {
        let short = ReadOnlyKey::new("abc", secret("s")).unwrap_err();
        assert!(matches!(short, KeyError::KeyShape { length: 3, .. }));
        assert!(short.to_string().contains("read-only"));
        let odd = format!("{}!", &KEY_A[..63]);
        assert!(matches!(
            TradeKey::new(&odd, secret("s")).unwrap_err(),
            KeyError::KeyShape { which: "trade", .. }
        ));
        assert_eq!(
            TradeKey::new(KEY_A, secret("")).unwrap_err(),
            KeyError::EmptySecret { which: "trade" }
        );
        let newline = TradeKey::new(KEY_A, secret("abc\n")).unwrap_err();
        assert_eq!(newline, KeyError::SecretWhitespace { which: "trade" });
        assert!(!newline.to_string().contains("abc"));
    }

    #[test]
    fn key_shape_error_shows_only_a_prefix() {
        let long = format!("{KEY_A}00");
        let err = ReadOnlyKey::new(&long, secret("s")).unwrap_err();
        assert!(!err.to_string().contains(KEY_A));
    }
}
