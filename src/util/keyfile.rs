//! Signed-note key files: one key string per file, private keys with mode
//! 0600 (Ed25519 signer keys, and ML-DSA-44 cosigner keys).

use anyhow::{Context, Result, bail};
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::mldsa::MlDsaSigner;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Generates a fresh Ed25519 signer key named `name` of type `alg`.
///
/// # Errors
/// The OS has no randomness, or the name is not a valid key name.
pub fn generate(name: &str, alg: u8) -> Result<SignerKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
    SignerKey::from_seed(name, alg, seed).with_context(|| format!("key name {name:?}"))
}

/// Writes `key` to `path` (mode 0600, must not exist yet) and its vkey to
/// `path` with extension `.vkey`.
///
/// # Errors
/// The file exists or cannot be written.
pub fn write_new(path: &Path, key: &SignerKey) -> Result<()> {
    write_pair(path, &key.to_skey_string(), &key.verifier().to_vkey_string())
}

/// [`write_new`] for an ML-DSA-44 cosigner key.
///
/// # Errors
/// The file exists or cannot be written.
pub fn write_new_mldsa(path: &Path, key: &MlDsaSigner) -> Result<()> {
    write_pair(path, &key.to_skey_string(), &key.verifier().to_vkey_string())
}

/// Generates a fresh ML-DSA-44 cosigner key named `name` (a random seed).
///
/// # Errors
/// The OS has no randomness, or the name is not a valid key name.
pub fn generate_mldsa(name: &str) -> Result<MlDsaSigner> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
    MlDsaSigner::from_seed(name, seed).with_context(|| format!("key name {name:?}"))
}

/// Reads an ML-DSA-44 private key file (mode 0600).
///
/// # Errors
/// Unreadable file, malformed key, or a file readable by others.
pub fn read_mldsa_signer(path: &Path) -> Result<MlDsaSigner> {
    let text = read_secret(path)?;
    MlDsaSigner::parse(text.trim()).with_context(|| format!("parsing the ML-DSA-44 key in {}", path.display()))
}

fn write_pair(path: &Path, skey: &str, vkey: &str) -> Result<()> {
    // A vkey is what others trust: never overwrite one (it may name the key
    // of a log whose private key went missing).
    let vpath = path.with_extension("vkey");
    if vpath.exists() {
        anyhow::bail!(
            "{} exists: refusing to create a new key beside a verifier key it does not match",
            vpath.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{skey}")?;
    f.sync_all()?;
    fs::write(&vpath, format!("{vkey}\n")).with_context(|| format!("writing {}", vpath.display()))?;
    Ok(())
}

/// A private key file's text, refused if others can read it. A public key
/// (vkey) given here is named as such first: telling its owner to `chmod
/// 600` a public key would send them the wrong way.
fn read_secret(path: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() < 4096
        && let Ok(text) = fs::read_to_string(path)
        && !text.trim().starts_with("PRIVATE+KEY+")
        && VerifierKey::parse(text.trim()).is_ok()
    {
        bail!(
            "{} is a public key (vkey); pass the private key (skey), the file `provlog keygen` wrote without the .vkey extension",
            path.display()
        );
    }
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads a private key file.
///
/// # Errors
/// Unreadable file, malformed key, or a file readable by others.
pub fn read_signer(path: &Path) -> Result<SignerKey> {
    let text = read_secret(path)?;
    SignerKey::parse(text.trim()).with_context(|| format!("parsing the key in {}", path.display()))
}

/// Reads a vkey given either literally or as the path of a file holding it.
///
/// # Errors
/// Neither a valid vkey nor a readable file holding one.
pub fn read_verifier(arg: &str) -> Result<VerifierKey> {
    if let Ok(k) = VerifierKey::parse(arg.trim()) {
        return Ok(k);
    }
    let text = fs::read_to_string(arg).with_context(|| format!("{arg:?} is neither a vkey nor a readable file"))?;
    VerifierKey::parse(text.trim()).with_context(|| format!("parsing the vkey in {arg}"))
}
