//! Secrets sealed at rest: how an exchange account's API secrets are kept in the database so
//! that the database alone (a dump, a backup, a replica) reveals nothing.
//!
//! Envelope encryption with XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`):
//! - the **master key** ([`MasterKey`], 32 random bytes as 64 hex digits, meant to come from
//!   `VIGIL_MASTER_KEY` or `VIGIL_MASTER_KEY_FILE`) never touches the database;
//! - it wraps one **data key** ([`DataKey`]) per deployment; only the wrapped form
//!   ([`WrappedDataKey`]) is stored. Rotating the master key re-wraps the data key
//!   ([`WrappedDataKey::rewrap`]): no sealed secret changes, so rotation needs no downtime;
//! - the data key seals each secret ([`DataKey::seal`]) with a fresh random 192-bit nonce and the
//!   row it belongs to bound as associated data ([`SecretBinding`]: user, account, field), so a
//!   ciphertext copied into another row, or another field of the same row, does not open.
//!
//! A wrong master key is detected, not guessed at: the data key's own authentication tag fails
//! ([`SecretError::WrongMasterKey`]). Keys live in [`zeroize::Zeroizing`] buffers and opened
//! secrets in `secrecy` types, so both are wiped when dropped; none of them prints in `Debug`.

use chacha20poly1305::{
    aead::{rand_core::RngCore, Aead, AeadCore, KeyInit, OsRng, Payload},
    Key, XChaCha20Poly1305, XNonce,
};
use secrecy::SecretString;
use uuid::Uuid;
use vigil_core::UserId;
use zeroize::Zeroizing;

/// The length of a master key and of a data key, in bytes.
pub const KEY_BYTES: usize = 32;

/// The longest secret sealed, in bytes (a Bitvavo API secret is 128 hex digits).
pub const SECRET_MAX_BYTES: usize = 1_024;

/// The format version written as the first byte of every sealed value.
const VERSION: u8 = 1;

/// XChaCha20-Poly1305's nonce length.
const NONCE_BYTES: usize = 24;

/// The associated data of the wrapped data key.
const DATA_KEY_AAD: &[u8] = b"vigil/v1/data-key";

/// Why a key or a sealed secret could not be used. Every message names what is wrong and what
/// to do; none contains key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The master key's text is not 32 bytes as hex digits.
    #[error("the master key (VIGIL_MASTER_KEY or VIGIL_MASTER_KEY_FILE) is not valid: {reason}; it must be 32 random bytes as 64 hex digits, e.g. from `openssl rand -hex 32`")]
    InvalidMasterKey {
        /// What is wrong with it (never the key itself).
        reason: String,
    },
    /// The master key does not open the deployment's data key.
    #[error("the master key does not open this database's data key: set VIGIL_MASTER_KEY (or VIGIL_MASTER_KEY_FILE) to the key this database's secrets were sealed with; nothing was read or written")]
    WrongMasterKey,
    /// A secret longer than [`SECRET_MAX_BYTES`] was given to be sealed.
    #[error("a secret of {bytes} bytes cannot be stored: at most {SECRET_MAX_BYTES} bytes; check that the value pasted is the API secret alone")]
    TooLong {
        /// Its length.
        bytes: usize,
    },
    /// A stored value is not in the sealed format (truncated, another version, not ours).
    #[error("a stored secret is unreadable ({reason}); restore the row from a backup or link the account again")]
    Unreadable {
        /// What is wrong with its bytes.
        reason: &'static str,
    },
    /// A sealed secret did not open with its row's binding: altered, or moved from another row.
    #[error("the stored {field} of account {account} does not open for this user and account: it was altered or copied from another row; link the account again")]
    Tampered {
        /// Which secret.
        field: &'static str,
        /// Whose account.
        account: Uuid,
    },
}

/// The deployment's master key. Never stored; only the data key it wraps is.
pub struct MasterKey(Zeroizing<[u8; KEY_BYTES]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Reads a master key from its hex text (surrounding whitespace, such as a file's final
    /// newline, is ignored).
    ///
    /// # Errors
    /// [`SecretError::InvalidMasterKey`] when the text is not hex digits or not 32 bytes.
    pub fn from_hex(text: &str) -> Result<MasterKey, SecretError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
            SecretError::InvalidMasterKey {
                reason: "it is not hex digits".to_owned(),
            }
        })?);
        let key: [u8; KEY_BYTES] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| SecretError::InvalidMasterKey {
                    reason: format!("it is {} bytes, not {KEY_BYTES}", bytes.len()),
                })?;
        Ok(MasterKey(Zeroizing::new(key)))
    }

    /// A new random master key (what `openssl rand -hex 32` gives).
    #[must_use]
    pub fn generate() -> MasterKey {
        MasterKey(random_key())
    }

    /// The key as hex text, to be written where the operator keeps it (never logged).
    #[must_use]
    pub fn to_hex(&self) -> SecretString {
        SecretString::from(hex::encode(self.0.as_slice()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.0.as_slice()))
    }
}

/// The deployment's data key, which seals every secret. Held only in memory, unwrapped.
pub struct DataKey(Zeroizing<[u8; KEY_BYTES]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The data key as stored: sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedDataKey(Vec<u8>);

/// Which row and field a sealed secret belongs to; bound as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretBinding {
    /// Whose account it is.
    pub user: UserId,
    /// The exchange account's id.
    pub account: Uuid,
    /// Which secret of the account ("read_secret", "trade_secret").
    pub field: &'static str,
}

impl SecretBinding {
    fn aad(&self) -> Vec<u8> {
        format!("vigil/v1/{}/{}/{}", self.field, self.user, self.account).into_bytes()
    }
}

/// A secret as stored: version, nonce, ciphertext and tag.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

impl DataKey {
    /// A new random data key (made once, when the first secret of a deployment is stored).
    #[must_use]
    pub fn generate() -> DataKey {
        DataKey(random_key())
    }

    /// This key sealed under `master`, for storing.
    #[must_use]
    pub fn wrap(&self, master: &MasterKey) -> WrappedDataKey {
        WrappedDataKey(seal_bytes(
            &master.cipher(),
            self.0.as_slice(),
            DATA_KEY_AAD,
        ))
    }

    /// Seals `secret` for the row and field `binding` names.
    ///
    /// # Errors
    /// [`SecretError::TooLong`] for a secret over [`SECRET_MAX_BYTES`].
    pub fn seal(
        &self,
        secret: &SecretString,
        binding: &SecretBinding,
    ) -> Result<SealedSecret, SecretError> {
        use secrecy::ExposeSecret as _;
        let plain = secret.expose_secret().as_bytes();
        if plain.len() > SECRET_MAX_BYTES {
            return Err(SecretError::TooLong { bytes: plain.len() });
        }
        Ok(SealedSecret(seal_bytes(
            &self.cipher(),
            plain,
            &binding.aad(),
        )))
    }

    /// Opens a secret sealed for `binding`.
    ///
    /// # Errors
    /// [`SecretError::Unreadable`] for bytes not in the sealed format; [`SecretError::Tampered`]
    /// when they do not open for this binding (altered, or sealed for another row or field).
    pub fn open(
        &self,
        sealed: &SealedSecret,
        binding: &SecretBinding,
    ) -> Result<SecretString, SecretError> {
        let plain = open_bytes(&self.cipher(), &sealed.0, &binding.aad())?.ok_or(
            SecretError::Tampered {
                field: binding.field,
                account: binding.account,
            },
        )?;
        let text = std::str::from_utf8(&plain).map_err(|_| SecretError::Tampered {
            field: binding.field,
            account: binding.account,
        })?;
        Ok(SecretString::from(text.to_owned()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.0.as_slice()))
    }
}

impl WrappedDataKey {
    /// The data key, unwrapped with `master`.
    ///
    /// # Errors
    /// [`SecretError::WrongMasterKey`] when `master` is not the key it was wrapped with;
    /// [`SecretError::Unreadable`] for bytes not in the sealed format.
    pub fn unwrap_with(&self, master: &MasterKey) -> Result<DataKey, SecretError> {
        let plain = open_bytes(&master.cipher(), &self.0, DATA_KEY_AAD)?
            .ok_or(SecretError::WrongMasterKey)?;
        let key: [u8; KEY_BYTES] =
            plain
                .as_slice()
                .try_into()
                .map_err(|_| SecretError::Unreadable {
                    reason: "the data key has the wrong length",
                })?;
        Ok(DataKey(Zeroizing::new(key)))
    }

    /// The same data key wrapped under `new` instead of `old` (master-key rotation): the sealed
    /// secrets stay as they are.
    ///
    /// # Errors
    /// As [`WrappedDataKey::unwrap_with`] with `old`.
    pub fn rewrap(&self, old: &MasterKey, new: &MasterKey) -> Result<WrappedDataKey, SecretError> {
        Ok(self.unwrap_with(old)?.wrap(new))
    }
}

/// The stored bytes of a sealed value, and back.
macro_rules! stored_bytes {
    ($($name:ident),*) => {$(
        impl $name {
            /// The bytes to store.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// A value read back from storage (checked when it is opened).
            #[must_use]
            pub fn from_bytes(bytes: Vec<u8>) -> $name {
                $name(bytes)
            }
        }
    )*};
}
stored_bytes!(WrappedDataKey, SealedSecret);

fn random_key() -> Zeroizing<[u8; KEY_BYTES]> {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    OsRng.fill_bytes(key.as_mut_slice());
    key
}

/// `VERSION || nonce || ciphertext+tag`. The plaintext is at most [`SECRET_MAX_BYTES`] (or a
/// 32-byte key), far below the only size at which the cipher refuses to encrypt (256 GiB), so
/// the refusal cannot happen; should it ever, the value has no ciphertext and every open of it
/// fails as truncated (it fails closed, never opens as something else).
fn seal_bytes(cipher: &XChaCha20Poly1305, plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// The plaintext, `None` when the tag does not verify for `aad`.
fn open_bytes(
    cipher: &XChaCha20Poly1305,
    stored: &[u8],
    aad: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError> {
    let Some((&version, rest)) = stored.split_first() else {
        return Err(SecretError::Unreadable {
            reason: "it is empty",
        });
    };
    if version != VERSION {
        return Err(SecretError::Unreadable {
            reason: "an unknown format version",
        });
    }
    if rest.len() < NONCE_BYTES + 16 {
        return Err(SecretError::Unreadable {
            reason: "it is truncated",
        });
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
    Ok(cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use secrecy::ExposeSecret as _;

    use super::*;

    fn binding() -> SecretBinding {
        SecretBinding {
            user: UserId::new(),
            account: Uuid::new_v4(),
            field: "trade_secret",
        }
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn a_sealed_secret_opens_for_its_own_row_and_field_only() {
        let key = DataKey::generate();
        let own = binding();
        let sealed = key.seal(&secret("s3cret"), &own).unwrap();
        assert_eq!(key.open(&sealed, &own).unwrap().expose_secret(), "s3cret");
        let other_user = SecretBinding {
            user: UserId::new(),
            ..own
        };
        let other_account = SecretBinding {
            account: Uuid::new_v4(),
            ..own
        };
        let other_field = SecretBinding {
            field: "read_secret",
            ..own
        };
        for moved in [other_user, other_account, other_field] {
            assert!(matches!(
                key.open(&sealed, &moved),
                Err(SecretError::Tampered { .. })
            ));
        }
    }

    #[test]
    fn the_sealed_bytes_do_not_contain_the_secret_and_differ_each_time() {
        let key = DataKey::generate();
        let b = binding();
        let text = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        let one = key.seal(&secret(text), &b).unwrap();
        let two = key.seal(&secret(text), &b).unwrap();
        assert_ne!(one, two, "a fresh nonce each time");
        for sealed in [&one, &two] {
            let bytes = sealed.as_bytes();
            assert!(!bytes
                .windows(4)
                .any(|w| text.as_bytes().windows(4).any(|t| t == w)));
            assert!(!format!("{sealed:?}").contains(text));
        }
    }

    #[test]
    fn a_wrong_master_key_is_named_and_rotation_keeps_every_secret() {
        let old = MasterKey::generate();
        let data = DataKey::generate();
        let b = binding();
        let sealed = data.seal(&secret("kept"), &b).unwrap();
        let wrapped = data.wrap(&old);
        let stranger = MasterKey::generate();
        assert_eq!(
            wrapped.unwrap_with(&stranger).unwrap_err(),
            SecretError::WrongMasterKey
        );

        let new = MasterKey::generate();
        let rewrapped = wrapped.rewrap(&old, &new).unwrap();
        assert_eq!(
            rewrapped.unwrap_with(&old).unwrap_err(),
            SecretError::WrongMasterKey
        );
        let reopened = rewrapped.unwrap_with(&new).unwrap();
        assert_eq!(reopened.open(&sealed, &b).unwrap().expose_secret(), "kept");
        assert_eq!(
            wrapped.rewrap(&stranger, &new).unwrap_err(),
            SecretError::WrongMasterKey
        );
    }

    #[test]
    fn a_master_key_is_32_bytes_of_hex_and_never_prints() {
        let key = MasterKey::generate();
        let text = key.to_hex();
        let again = MasterKey::from_hex(&format!("{}\n", text.expose_secret())).unwrap();
        assert_eq!(again.0.as_slice(), key.0.as_slice());
        assert!(!format!("{key:?}").contains(text.expose_secret()));
        let short = hex::encode([7u8; 16]);
        for bad in ["", "not hex!", short.as_str()] {
            let err = MasterKey::from_hex(bad).unwrap_err();
            assert!(matches!(err, SecretError::InvalidMasterKey { .. }), "{bad}");
            assert!(err.to_string().contains("openssl rand -hex 32"));
        }
    }

    #[test]
    fn a_secret_over_the_bound_is_refused_not_stored() {
        let key = DataKey::generate();
        let long = "a".repeat(SECRET_MAX_BYTES + 1);
        assert_eq!(
            key.seal(&secret(&long), &binding()).unwrap_err(),
            SecretError::TooLong {
                bytes: SECRET_MAX_BYTES + 1
            }
        );
        let longest = "a".repeat(SECRET_MAX_BYTES);
        assert!(key.seal(&secret(&longest), &binding()).is_ok());
    }

    #[test]
    fn bytes_not_in_the_sealed_format_are_unreadable() {
        let key = DataKey::generate();
        let b = binding();
        let mut other_version = key.seal(&secret("x"), &b).unwrap().as_bytes().to_vec();
        other_version[0] = 2;
        for bytes in [Vec::new(), vec![VERSION; 10], other_version] {
            assert!(matches!(
                key.open(&SealedSecret::from_bytes(bytes), &b),
                Err(SecretError::Unreadable { .. })
            ));
        }
    }

    proptest! {
        /// Any change to a single bit of a sealed secret makes it refuse to open.
        #[test]
        fn any_flipped_bit_is_caught(text in "[ -~]{1,80}", bit in 0usize..1024) {
            let key = DataKey::generate();
            let b = binding();
            let sealed = key.seal(&secret(&text), &b).unwrap();
            let opened = key.open(&sealed, &b).unwrap();
            prop_assert_eq!(opened.expose_secret(), text.as_str());
            let mut bytes = sealed.as_bytes().to_vec();
            let at = bit % (bytes.len() * 8);
            bytes[at / 8] ^= 1 << (at % 8);
            prop_assert!(key.open(&SealedSecret::from_bytes(bytes), &b).is_err());
        }
    }
}
