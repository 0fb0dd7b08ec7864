//! The optional HMAC-SHA256 tag of every stream entry, keyed with the secret the servers
//! share and the key prefix, so that an entry from another application, a server with another
//! secret, or a forger is told apart.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shared secret of [`RoomsBuilder::redis_secret`](crate::rooms::RoomsBuilder::redis_secret);
/// never printed.
#[derive(Clone)]
pub(crate) struct Secret(Arc<[u8]>);

impl Secret {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Secret(Arc::from(secret))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Tags envelopes and checks their tags; without a secret, it tags nothing and lets every
/// envelope pass.
pub(super) struct Signer {
    /// With a secret: the HMAC keyed with it and fed the prefix, cloned for every tag.
    mac: Option<Hmac<Sha256>>,
}

impl Signer {
    pub(super) fn new(secret: Option<&Secret>, prefix: &str) -> Self {
        let mac = secret.map(|secret| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
            mac.update(prefix.as_bytes());
            mac
        });
        Signer { mac }
    }

    /// The tag of `envelope`, with a secret.
    pub(super) fn tag(&self, envelope: &[u8]) -> Option<[u8; 32]> {
        let mut mac = self.mac()?;
        mac.update(envelope);
        let mut tag = [0; 32];
        tag.copy_from_slice(&mac.finalize().into_bytes());
        Some(tag)
    }

    /// Whether `tag` is right for `envelope` (always, without a secret).
    pub(super) fn verify(&self, envelope: &[u8], tag: Option<&[u8]>) -> bool {
        match (self.mac(), tag) {
            (None, _) => true,
            (Some(mut mac), Some(tag)) => {
                mac.update(envelope);
                mac.verify_slice(tag).is_ok()
            }
            (Some(_), None) => false,
        }
    }

    /// A fresh HMAC for one entry: a clone of the keyed one, without redoing the key schedule.
    fn mac(&self) -> Option<Hmac<Sha256>> {
        self.mac.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::backplane::Audience;
    use crate::rooms::backplane::redis::envelope::numbered;
    use crate::wire::Message;

    fn keyed(secret: Option<&[u8]>, prefix: &str) -> Signer {
        Signer::new(secret.map(Secret::new).as_ref(), prefix)
    }

    #[test]
    fn tags_check_the_secret_the_prefix_and_every_byte() {
        let envelope = numbered(1, 1, Audience::Room("room"), &Message::text("hi"));
        let signer = keyed(Some(b"s3cret"), "app");
        let tag = signer.tag(&envelope).unwrap();
        assert!(signer.verify(&envelope, Some(&tag)));
        assert!(!signer.verify(&envelope, None));
        assert!(!keyed(Some(b"other"), "app").verify(&envelope, Some(&tag)));
        assert!(!keyed(Some(b"s3cret"), "other-app").verify(&envelope, Some(&tag)));
        let mut tampered = envelope.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(!signer.verify(&tampered, Some(&tag)));
        // Without a secret, nothing is tagged and every entry passes.
        let open = keyed(None, "app");
        assert_eq!(open.tag(&envelope), None);
        assert!(open.verify(&envelope, None));
    }
}
