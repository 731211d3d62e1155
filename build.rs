//! Names the git commit in `scrapetop --version` when built from a git checkout, so a binary
//! met on a host says what it was built from. A tarball (no `.git`), a missing `git`, or a
//! checkout of some other repository around the sources give the plain package version.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rerun-if-changed=build.rs");
    let commit = (|| {
        // Only this project's own checkout counts, not a repository the tarball sits in.
        let top = git(&manifest, &["rev-parse", "--show-toplevel"])?;
        let same = std::fs::canonicalize(&top).ok()? == std::fs::canonicalize(&manifest).ok()?;
        if !same {
            return None;
        }
        // Rebuild the string when HEAD moves: HEAD itself, the branch it points to, packed refs.
        // (Worktrees keep HEAD apart from the shared refs, so ask git for both places.)
        if let Some(head) = git(&manifest, &["rev-parse", "--git-path", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", manifest.join(head).display());
        }
        if let Some(branch) = git(&manifest, &["symbolic-ref", "-q", "HEAD"])
            && let Some(p) = git(&manifest, &["rev-parse", "--git-path", &branch])
        {
            println!("cargo:rerun-if-changed={}", manifest.join(p).display());
        }
        if let Some(p) = git(&manifest, &["rev-parse", "--git-path", "packed-refs"]) {
            println!("cargo:rerun-if-changed={}", manifest.join(p).display());
        }
        git(&manifest, &["rev-parse", "--short=12", "HEAD"])
    })();
    let full = match &commit {
        Some(c) => format!("{version} (git {c})"),
        None => version,
    };
    println!("cargo:rustc-env=SCRAPETOP_VERSION={full}");
    println!(
        "cargo:rustc-env=SCRAPETOP_GIT_COMMIT={}",
        commit.unwrap_or_default()
    );
}
