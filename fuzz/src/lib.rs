//! Helpers shared by the provlog fuzz targets.

use std::sync::LazyLock;

use provlog_tlog::keys::{ALG_ED25519, SignerKey, VerifierKey};

/// Name (and checkpoint origin) of the fixed log key the targets verify with.
pub const LOG_KEY_NAME: &str = "fuzz.example/log";

/// The Ed25519 seed of the fixed log key.
pub const LOG_KEY_SEED: [u8; 32] = [1; 32];

static SIGNER: LazyLock<SignerKey> =
    LazyLock::new(|| SignerKey::from_seed(LOG_KEY_NAME, ALG_ED25519, LOG_KEY_SEED).expect("fixed fuzz key is valid"));

static VERIFIER: LazyLock<VerifierKey> = LazyLock::new(|| SIGNER.verifier());

/// `SignerKey::from_seed("fuzz.example/log", ALG_ED25519, [1; 32])`.
#[must_use]
pub fn log_signer() -> &'static SignerKey {
    &SIGNER
}

/// The verifier of [`log_signer`].
#[must_use]
pub fn log_verifier() -> &'static VerifierKey {
    &VERIFIER
}
