//! Session tickets sealed with a key derived from the mocket CA's private key, so that every
//! engine with the same CA (the processes of a bare-`LD_PRELOAD` tree each run their own) takes
//! the tickets of the others: a client whose session cache outlives one engine (a forked
//! child's, a pool shared across processes) resumes instead of paying a full handshake.
//!
//! The key never rotates: it lives as long as the CA, which only mocket's own clients trust.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

/// How long a ticket is valid, in seconds (what rustls's own ticketer uses).
const LIFETIME: u32 = 6 * 60 * 60;

/// Separates these keys from any other use of the CA key.
const SALT: &[u8] = b"mocket session tickets v1";

/// Seals and opens tickets with ChaCha20-Poly1305: a random nonce, then the sealed session.
pub(super) struct DerivedTicketer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl DerivedTicketer {
    /// The ticketer of the server config `scope` (configs that must not resume each other's
    /// sessions get different scopes), keyed by `secret`, the CA's private key.
    pub(super) fn new(secret: &[u8], scope: &str) -> Self {
        let info = [scope.as_bytes()];
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret);
        let okm = prk
            .expand(&info, &CHACHA20_POLY1305)
            .expect("a ChaCha20 key is far below HKDF-SHA256's output limit");
        DerivedTicketer {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            random: SystemRandom::new(),
        }
    }
}

impl std::fmt::Debug for DerivedTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedTicketer")
    }
}

impl ProducesTickets for DerivedTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        LIFETIME
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body)
            .ok()?;
        Some([&nonce[..], &body].concat())
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let (nonce, sealed) = cipher.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = sealed.to_vec();
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut body)
            .ok()?
            .len();
        body.truncate(plain_len);
        Some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_secret_and_scope_open_each_others_tickets() {
        let one = DerivedTicketer::new(b"ca key", "sni");
        let other = DerivedTicketer::new(b"ca key", "sni");
        let ticket = one.encrypt(b"session").unwrap();
        assert_eq!(other.decrypt(&ticket).as_deref(), Some(&b"session"[..]));
        assert_ne!(one.encrypt(b"session").unwrap(), ticket, "nonces repeat");
    }

    #[test]
    fn another_secret_or_scope_or_a_changed_ticket_is_refused() {
        let one = DerivedTicketer::new(b"ca key", "sni");
        let ticket = one.encrypt(b"session").unwrap();
        assert!(
            DerivedTicketer::new(b"other key", "sni")
                .decrypt(&ticket)
                .is_none()
        );
        assert!(
            DerivedTicketer::new(b"ca key", "name a.test")
                .decrypt(&ticket)
                .is_none()
        );
        let mut changed = ticket.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(one.decrypt(&changed).is_none());
        assert!(one.decrypt(&ticket[..5]).is_none());
        assert!(one.decrypt(&[]).is_none());
    }
}
