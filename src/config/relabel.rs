//! `relabel_configs` with Prometheus's semantics: source labels joined by the separator, fully
//! anchored regular expressions, `$1`/`${name}` replacement templates, hashmod on MD5.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer};

use super::Compat;

/// A label set during relabelling. An empty value is the same as an absent label.
pub type Labels = BTreeMap<String, String>;

/// A fully anchored regular expression as written in the configuration.
#[derive(Clone)]
pub struct AnchoredRegex {
    /// The expression as written.
    pub source: String,
    re: Regex,
}

impl AnchoredRegex {
    /// Compile `^(?s:expr)$`, as Prometheus does.
    pub fn new(expr: &str) -> Result<Self, String> {
        Regex::new(&format!("^(?s:{expr})$"))
            .map(|re| AnchoredRegex {
                source: expr.to_owned(),
                re,
            })
            .map_err(|e| {
                // The regex crate's message spans several lines with a caret diagram; keep the
                // last line, which says what is wrong.
                let why = e.to_string();
                let why = why
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ");
                format!("invalid regular expression {expr:?}: {why}")
            })
    }
}

impl fmt::Debug for AnchoredRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl<'de> Deserialize<'de> for AnchoredRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::units::parse_scalar(d, "a regular expression", AnchoredRegex::new)
    }
}

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Set `target_label` to the expanded replacement when the regex matches.
    #[default]
    Replace,
    /// Keep the target only if the regex matches.
    Keep,
    /// Drop the target if the regex matches.
    Drop,
    /// Keep the target if the joined source labels equal `target_label`'s value.
    Keepequal,
    /// Drop the target if the joined source labels equal `target_label`'s value.
    Dropequal,
    /// Set `target_label` to MD5(joined) mod `modulus`.
    Hashmod,
    /// Copy labels whose name matches to the name given by the replacement.
    Labelmap,
    /// Remove labels whose name matches.
    Labeldrop,
    /// Remove labels whose name does not match.
    Labelkeep,
    /// Set `target_label` to the joined value in lower case.
    Lowercase,
    /// Set `target_label` to the joined value in upper case.
    Uppercase,
}

/// One relabel rule, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined.
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    /// Join separator, `;` by default.
    #[serde(default)]
    pub separator: Option<String>,
    /// Regular expression, `(.*)` by default.
    #[serde(default)]
    pub regex: Option<AnchoredRegex>,
    /// Modulus for hashmod.
    #[serde(default)]
    pub modulus: Option<u64>,
    /// Label to write.
    #[serde(default)]
    pub target_label: Option<String>,
    /// Replacement template, `$1` by default.
    #[serde(default)]
    pub replacement: Option<String>,
    /// Action, `replace` by default.
    #[serde(default)]
    pub action: Action,
}

/// A validated rule ready to apply.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    regex: AnchoredRegex,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
    compat: Compat,
}

/// Whether `s` is a label name Prometheus accepts: any non-empty UTF-8 in Prometheus 3, the
/// legacy `[a-zA-Z_][a-zA-Z0-9_]*` in Prometheus 2.
pub fn valid_label_name(s: &str, compat: Compat) -> bool {
    match compat {
        Compat::V2 => is_label_name(s),
        Compat::V3 => !s.is_empty(),
    }
}

/// Whether `s` is a valid (legacy) Prometheus label name.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label name that may contain `$1`, `${name}` references.
fn is_relabel_target(s: &str) -> bool {
    // Prometheus: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$
    static TARGET: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").expect("constant regex")
    });
    TARGET.is_match(s)
}

impl RelabelConfig {
    /// Validate as Prometheus 3 does and build the rule.
    pub fn validate(&self) -> Result<Rule, String> {
        self.validate_for(Compat::V3)
    }

    /// Validate as the given Prometheus version does (label names) and build the rule.
    pub fn validate_for(&self, compat: Compat) -> Result<Rule, String> {
        let valid_name = |s: &str| valid_label_name(s, compat);
        // A target or labelmap replacement with `$1`/`${name}` references: Prometheus 2
        // matches the legacy pattern; Prometheus 3 accepts any name once a reference is there.
        let valid_target = |s: &str| match compat {
            Compat::V2 => is_relabel_target(s),
            Compat::V3 => s.contains('$') || valid_name(s),
        };
        let a = self.action;
        let name = format!("{a:?}").to_lowercase();
        let target = self.target_label.clone().unwrap_or_default();
        let default_regex = self.regex.is_none();
        let default_repl = self.replacement.is_none();
        let default_sep = self.separator.is_none();
        if a == Action::Hashmod && self.modulus.unwrap_or(0) == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            a,
            Action::Replace
                | Action::Hashmod
                | Action::Lowercase
                | Action::Uppercase
                | Action::Keepequal
                | Action::Dropequal
        );
        if needs_target && target.is_empty() {
            return Err(format!(
                "relabel configuration for {name} action requires 'target_label' value"
            ));
        }
        if a == Action::Replace && !valid_target(&target) {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        if matches!(
            a,
            Action::Lowercase
                | Action::Uppercase
                | Action::Keepequal
                | Action::Dropequal
                | Action::Hashmod
        ) && !valid_name(&target)
        {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        if matches!(a, Action::Lowercase | Action::Uppercase) && !default_repl {
            return Err(format!("'replacement' can not be set for {name} action"));
        }
        if a == Action::Labelmap {
            let r = self.replacement.as_deref().unwrap_or("$1");
            if !valid_target(r) {
                return Err(format!("{r:?} is invalid 'replacement' for {name} action"));
            }
        }
        if matches!(a, Action::Keepequal | Action::Dropequal)
            && (!default_regex || self.modulus.is_some() || !default_sep || !default_repl)
        {
            return Err(format!(
                "{name} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, Action::Labeldrop | Action::Labelkeep)
            && (self.source_labels.is_some()
                || self.target_label.is_some()
                || self.modulus.is_some()
                || !default_sep
                || !default_repl)
        {
            return Err(format!(
                "{name} action requires only 'regex', and no other fields"
            ));
        }
        for l in self.source_labels.iter().flatten() {
            if !valid_name(l) {
                return Err(format!("{l:?} is not a valid label name in source_labels"));
            }
        }
        let regex = match &self.regex {
            Some(r) => r.clone(),
            None => AnchoredRegex::new("(.*)")?,
        };
        Ok(Rule {
            source_labels: self.source_labels.clone().unwrap_or_default(),
            separator: self.separator.clone().unwrap_or_else(|| ";".into()),
            regex,
            modulus: self.modulus.unwrap_or(0),
            target_label: target,
            replacement: self.replacement.clone().unwrap_or_else(|| "$1".into()),
            action: a,
            compat,
        })
    }
}

fn set(labels: &mut Labels, name: String, value: String) {
    if value.is_empty() {
        labels.remove(&name);
    } else {
        labels.insert(name, value);
    }
}

/// Apply the rules in order; `false` means the target is dropped.
pub fn process(labels: &mut Labels, rules: &[Rule]) -> bool {
    rules.iter().all(|r| apply(labels, r))
}

fn apply(labels: &mut Labels, r: &Rule) -> bool {
    let val = r
        .source_labels
        .iter()
        .map(|l| labels.get(l).map_or("", String::as_str))
        .collect::<Vec<_>>()
        .join(&r.separator);
    let re = &r.regex.re;
    match r.action {
        Action::Drop => return !re.is_match(&val),
        Action::Keep => return re.is_match(&val),
        Action::Dropequal => {
            return labels.get(&r.target_label).map_or("", String::as_str) != val;
        }
        Action::Keepequal => {
            return labels.get(&r.target_label).map_or("", String::as_str) == val;
        }
        Action::Replace => {
            if let Some(caps) = re.captures(&val) {
                let mut target = String::new();
                caps.expand(&r.target_label, &mut target);
                if valid_label_name(&target, r.compat) {
                    let mut res = String::new();
                    caps.expand(&r.replacement, &mut res);
                    set(labels, target, res);
                }
            }
        }
        Action::Lowercase => set(labels, r.target_label.clone(), val.to_lowercase()),
        Action::Uppercase => set(labels, r.target_label.clone(), val.to_uppercase()),
        Action::Hashmod => {
            let h = md5(val.as_bytes());
            let mut last = [0u8; 8];
            last.copy_from_slice(&h[8..]);
            let m = u64::from_be_bytes(last) % r.modulus;
            set(labels, r.target_label.clone(), m.to_string());
        }
        Action::Labelmap => {
            let snapshot: Vec<(String, String)> =
                labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (k, v) in snapshot {
                if re.is_match(&k) {
                    let name = re.replace_all(&k, r.replacement.as_str()).into_owned();
                    set(labels, name, v);
                }
            }
        }
        Action::Labeldrop => labels.retain(|k, _| !re.is_match(k)),
        Action::Labelkeep => labels.retain(|k, _| re.is_match(k)),
    }
    true
}

/// MD5 (RFC 1321), for hashmod; only used to spread targets, never for security.
fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i: i32| ((f64::from(i + 1)).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) = (
        0x6745_2301u32,
        0xefcd_ab89u32,
        0x98ba_dcfeu32,
        0x1032_5476u32,
    );
    for chunk in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (i, w) in chunk.chunks_exact(4).enumerate() {
            m[i] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        }
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<Rule> {
        let raw: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"));
        raw.iter()
            .map(|r| r.validate().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn md5_vectors() {
        let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(md5(b"The quick brown fox jumps over the lazy dog")),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }

    #[test]
    fn actions() {
        // (rules, input, expected output or None if dropped)
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Pairs, Option<Pairs>)] = &[
            (
                "- {source_labels: [a, b], target_label: c}",
                &[("a", "x"), ("b", "y")],
                Some(&[("a", "x"), ("b", "y"), ("c", "x;y")]),
            ),
            (
                "- {source_labels: [a], regex: 'h(.*)', target_label: c, replacement: '${1}z'}",
                &[("a", "host")],
                Some(&[("a", "host"), ("c", "ostz")]),
            ),
            // The regex is anchored: a partial match does not count.
            (
                "- {source_labels: [a], regex: 'os', target_label: c, replacement: 'm'}",
                &[("a", "host")],
                Some(&[("a", "host")]),
            ),
            // An empty result deletes the label.
            (
                "- {source_labels: [x], target_label: a}",
                &[("a", "host")],
                Some(&[]),
            ),
            (
                "- {source_labels: [a], regex: 'h.*', action: keep}",
                &[("a", "host")],
                Some(&[("a", "host")]),
            ),
            (
                "- {source_labels: [a], regex: 'x.*', action: keep}",
                &[("a", "host")],
                None,
            ),
            (
                "- {source_labels: [a], regex: 'h.*', action: drop}",
                &[("a", "host")],
                None,
            ),
            (
                "- {regex: '__meta_x_(.+)', action: labelmap}",
                &[("__meta_x_rack", "r1")],
                Some(&[("__meta_x_rack", "r1"), ("rack", "r1")]),
            ),
            (
                "- {regex: 'tmp.*', action: labeldrop}",
                &[("tmp1", "a"), ("b", "c")],
                Some(&[("b", "c")]),
            ),
            (
                "- {regex: 'b', action: labelkeep}",
                &[("tmp1", "a"), ("b", "c")],
                Some(&[("b", "c")]),
            ),
            (
                "- {source_labels: [a], target_label: s, modulus: 4, action: hashmod}",
                &[("a", "foo")],
                Some(&[("a", "foo"), ("s", "0")]),
            ),
            (
                "- {source_labels: [a], target_label: b, action: lowercase}",
                &[("a", "FoO")],
                Some(&[("a", "FoO"), ("b", "foo")]),
            ),
            (
                "- {source_labels: [a], target_label: b, action: keepequal}",
                &[("a", "1"), ("b", "1")],
                Some(&[("a", "1"), ("b", "1")]),
            ),
            (
                "- {source_labels: [a], target_label: b, action: dropequal}",
                &[("a", "1"), ("b", "1")],
                None,
            ),
        ];
        for (yaml, input, want) in cases {
            let mut l = labels(input);
            let kept = process(&mut l, &rules(yaml));
            match want {
                None => assert!(!kept, "{yaml}: not dropped"),
                Some(w) => {
                    assert!(kept, "{yaml}: dropped");
                    assert_eq!(l, labels(w), "{yaml}");
                }
            }
        }
    }

    #[test]
    fn invalid_rules() {
        let cases = [
            (
                "- {action: hashmod, target_label: a}",
                "relabel configuration for hashmod requires non-zero modulus",
            ),
            (
                "- {action: replace}",
                "relabel configuration for replace action requires 'target_label' value",
            ),
            (
                "- {action: labeldrop, regex: a, target_label: b}",
                "labeldrop action requires only 'regex', and no other fields",
            ),
            (
                "- {action: replace, target_label: '1bad'}",
                "\"1bad\" is invalid 'target_label' for replace action",
            ),
        ];
        for (yaml, want) in cases {
            let raw: Vec<RelabelConfig> =
                serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(raw[0].validate_for(Compat::V2).unwrap_err(), want, "{yaml}");
        }
        // Prometheus 3 accepts any UTF-8 label name.
        let raw: Vec<RelabelConfig> =
            serde_yaml::from_str("- {action: replace, target_label: '1bad'}")
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(raw[0].validate().is_ok());
        let e =
            serde_yaml::from_str::<Vec<RelabelConfig>>("- {regex: '(', action: keep}").unwrap_err();
        assert!(
            e.to_string()
                .contains("invalid regular expression \"(\": unclosed group"),
            "{e}"
        );
    }
}
