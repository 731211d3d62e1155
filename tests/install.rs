//! Installed like other tools: completions and the manual page come from the same clap
//! definition as the flags, and `--version` names the commit a git build came from.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_scrapetop");

fn scrapetop(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("binary runs")
}

fn stdout_of(args: &[&str]) -> String {
    let out = scrapetop(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn completions_cover_flags_and_subcommands_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let s = stdout_of(&["completions", shell]);
        assert!(s.len() > 1000, "{shell}: {} bytes", s.len());
        for word in [
            "web.listen-address",
            "config",
            "reload-policy",
            "check",
            "demo",
            "completions",
        ] {
            assert!(s.contains(word), "{shell} completions lack {word}");
        }
    }
    let out = scrapetop(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "unknown shell is a usage error");
}

#[test]
fn the_bash_completion_loads_and_completes_a_flag() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no bash");
        return;
    }
    let script = format!(
        "source <({BIN:?} completions bash) && complete -p scrapetop && \
         COMP_WORDS=(scrapetop --web.li) COMP_CWORD=1 COMP_LINE='scrapetop --web.li' \
         COMP_POINT=18 && _scrapetop scrapetop --web.li scrapetop && echo \"${{COMPREPLY[@]}}\""
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("--web.listen-address"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_man_page_is_roff_and_documents_the_flags() {
    let s = stdout_of(&["man"]);
    assert!(s.contains(".TH scrapetop 1"), "{s}");
    for word in [
        r"\-\-web.listen\-address",
        r"\-\-config",
        r"\-\-recheck\-dns",
        "completions",
        "check",
    ] {
        assert!(s.contains(word), "man page lacks {word}");
    }
    // Closed early, as by `| head`: no panic, success.
    let mut child = Command::new(BIN)
        .arg("man")
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let st = child.wait().expect("wait");
    assert!(st.success(), "{st}");
}

#[test]
fn version_names_the_commit_of_a_git_build() {
    let v = stdout_of(&["--version"]);
    assert!(
        v.starts_with(&format!("scrapetop {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let top = git(&["rev-parse", "--show-toplevel"]);
    let ours = top.as_deref().and_then(|t| std::fs::canonicalize(t).ok())
        == std::fs::canonicalize(dir).ok();
    match git(&["rev-parse", "HEAD"]) {
        Some(head) if ours => {
            let short = v
                .split("(git ")
                .nth(1)
                .and_then(|r| r.strip_suffix(")\n"))
                .unwrap_or_else(|| panic!("no commit in {v:?}"));
            assert!(
                short.len() >= 7 && head.starts_with(short),
                "{v:?} vs {head}"
            );
        }
        _ => assert!(!v.contains("(git"), "not a git build: {v}"),
    }
}
