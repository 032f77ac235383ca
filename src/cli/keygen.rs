//! `provlog keygen`.

use crate::util::keyfile;
use anyhow::Result;
use provlog_tlog::keys::{ALG_COSIGNATURE_V1, ALG_ED25519};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Key name: a submitter id, or the origin for a log key.
    #[arg(long)]
    name: String,
    /// Private key file to write (default: NAME.skey, with `/` replaced by `_`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Key type: `ed25519` (signed-note type 0x01, logs and submitters),
    /// `cosignature` (type 0x04, Ed25519 witnesses) or `mldsa44` (type 0x06,
    /// post-quantum ML-DSA-44 `subtree/v1` witnesses).
    #[arg(long, default_value = "ed25519", value_parser = ["ed25519", "cosignature", "mldsa44"])]
    r#type: String,
}

pub(super) fn run(a: &Args) -> Result<()> {
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.skey", a.name.replace('/', "_"))));
    let vkey = if a.r#type == "mldsa44" {
        let key = keyfile::generate_mldsa(&a.name)?;
        keyfile::write_new_mldsa(&out, &key)?;
        key.verifier().to_vkey_string()
    } else {
        let alg = if a.r#type == "cosignature" {
            ALG_COSIGNATURE_V1
        } else {
            ALG_ED25519
        };
        let key = keyfile::generate(&a.name, alg)?;
        keyfile::write_new(&out, &key)?;
        key.verifier().to_vkey_string()
    };
    crate::util::output::out(format_args!("private key: {} (mode 0600)", out.display()))?;
    crate::util::output::out(format_args!("public key:  {}", out.with_extension("vkey").display()))?;
    crate::util::output::out(format_args!("{vkey}"))?;
    Ok(())
}
