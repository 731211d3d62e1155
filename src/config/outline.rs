//! Finds where things are in a block-style YAML text, for errors found after deserializing
//! (duplicate job names, timeout above interval, a bad target address): serde_yaml keeps no
//! positions once a value is built, so we look the key or value up again in the text.

/// Line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A half-open range of 0-based line indexes.
pub type Span = (usize, usize);

/// The lines of a YAML document.
pub struct Outline<'a> {
    lines: Vec<&'a str>,
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

fn is_blank(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with('#') || t == "---"
}

/// Column (0-based byte) where the key starts if `line` is `[- ]*key:` (then a space or end).
fn key_at(line: &str, key: &str) -> Option<usize> {
    let mut i = indent(line);
    let b = line.as_bytes();
    while i < b.len() && b[i] == b'-' && b.get(i + 1).is_some_and(|c| *c == b' ') {
        i += 1;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
    }
    let rest = &line[i..];
    let rest_unquoted = rest
        .strip_prefix(&format!("\"{key}\""))
        .or_else(|| rest.strip_prefix(&format!("'{key}'")))
        .or_else(|| rest.strip_prefix(key))?;
    let after = rest_unquoted.trim_start_matches(' ');
    let after = after.strip_prefix(':')?;
    (after.is_empty() || after.starts_with([' ', '\t'])).then_some(i)
}

impl<'a> Outline<'a> {
    /// Split the text into lines.
    pub fn new(text: &'a str) -> Self {
        Outline {
            lines: text.lines().collect(),
        }
    }

    /// All lines.
    pub fn all(&self) -> Span {
        (0, self.lines.len())
    }

    /// The first line in `span` holding `key:`; its position is that of the value (or the key
    /// when the value is on the next lines).
    pub fn key(&self, span: Span, key: &str) -> Option<(usize, Pos)> {
        (span.0..span.1.min(self.lines.len())).find_map(|i| {
            let l = self.lines[i];
            if is_blank(l) {
                return None;
            }
            let k = key_at(l, key)?;
            let after_key = k + l[k..].find(':').unwrap_or(0) + 1;
            let value = l[after_key..].trim_start();
            let col = if value.is_empty() || value.starts_with('#') {
                k
            } else {
                l.len() - l[after_key..].trim_start().len()
            };
            Some((
                i,
                Pos {
                    line: i + 1,
                    column: col + 1,
                },
            ))
        })
    }

    /// Where the first non-blank character of the span's first line is.
    pub fn start(&self, span: Span) -> Pos {
        let l = self.lines.get(span.0).copied().unwrap_or("");
        Pos {
            line: span.0 + 1,
            column: indent(l) + 1,
        }
    }

    /// The lines belonging to the value of the key on line `key_line`.
    pub fn block(&self, key_line: usize) -> Span {
        let Some(l) = self.lines.get(key_line) else {
            return (key_line, key_line);
        };
        let key_indent = key_at_any(l).unwrap_or_else(|| indent(l));
        let mut end = key_line + 1;
        let mut last = key_line + 1;
        while end < self.lines.len() {
            let l = self.lines[end];
            end += 1;
            if is_blank(l) {
                continue;
            }
            let ind = indent(l);
            let t = l.trim_start();
            let seq_at_same = ind == key_indent && (t.starts_with("- ") || t == "-");
            if ind > key_indent || seq_at_same {
                last = end;
            } else {
                break;
            }
        }
        (key_line + 1, last)
    }

    /// The items of a block sequence whose lines are `span`.
    pub fn items(&self, span: Span) -> Vec<Span> {
        let mut items: Vec<Span> = Vec::new();
        let mut item_indent = None;
        for i in span.0..span.1.min(self.lines.len()) {
            let l = self.lines[i];
            if is_blank(l) {
                continue;
            }
            let ind = indent(l);
            let starts = l[ind..].starts_with("- ") || &l[ind..] == "-";
            match item_indent {
                None if starts => {
                    item_indent = Some(ind);
                    items.push((i, span.1));
                }
                Some(ii) if starts && ind == ii => {
                    if let Some(last) = items.last_mut() {
                        last.1 = i;
                    }
                    items.push((i, span.1));
                }
                _ => {}
            }
        }
        items
    }

    /// The items of the block sequence under `key` in `span`.
    pub fn seq(&self, span: Span, key: &str) -> Vec<Span> {
        match self.key(span, key) {
            Some((line, _)) => self.items(self.block(line)),
            None => Vec::new(),
        }
    }

    /// The first occurrence of `value` as a whole scalar (bare or quoted) in `span`.
    pub fn value(&self, span: Span, value: &str) -> Option<Pos> {
        if value.is_empty() {
            return None;
        }
        (span.0..span.1.min(self.lines.len())).find_map(|i| {
            let l = self.lines[i];
            if is_blank(l) {
                return None;
            }
            let mut from = 0;
            while let Some(off) = l[from..].find(value) {
                let s = from + off;
                let e = s + value.len();
                let before = l[..s].chars().next_back();
                let after = l[e..].chars().next();
                let starts = matches!(
                    before,
                    None | Some(' ' | '[' | ',' | '"' | '\'' | '-' | ':')
                );
                let ends = matches!(after, None | Some(' ' | ']' | ',' | '"' | '\'' | '#'));
                if starts && ends {
                    let col = if matches!(before, Some('"' | '\'')) {
                        s
                    } else {
                        s + 1
                    };
                    return Some(Pos {
                        line: i + 1,
                        column: col,
                    });
                }
                from = e;
            }
            None
        })
    }
}

fn key_at_any(line: &str) -> Option<usize> {
    let ind = indent(line);
    let t = &line[ind..];
    let mut i = ind;
    let mut t2 = t;
    while let Some(r) = t2.strip_prefix("- ") {
        let r2 = r.trim_start_matches(' ');
        i += t2.len() - r2.len();
        t2 = r2;
    }
    t2.contains(':').then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: &str = "\
global:
  scrape_interval: 15s
scrape_configs:
- job_name: a
  static_configs:
    - targets: ['h1:1', \"h2:2\"]
- scrape_interval: 5s
  job_name: b   # comment
  static_configs:
  - targets:
    - h3:3
rule_files: []
";

    #[test]
    fn finds_jobs_and_values() {
        let o = Outline::new(Y);
        let jobs = o.seq(o.all(), "scrape_configs");
        assert_eq!(jobs, vec![(3, 6), (6, 11)]);
        assert_eq!(
            o.key(jobs[1], "job_name").map(|k| k.1),
            Some(Pos {
                line: 8,
                column: 13
            })
        );
        assert_eq!(
            o.value(jobs[0], "h1:1"),
            Some(Pos {
                line: 6,
                column: 17
            })
        );
        assert_eq!(
            o.value(jobs[0], "h2:2"),
            Some(Pos {
                line: 6,
                column: 25
            })
        );
        assert_eq!(
            o.value(jobs[1], "h3:3"),
            Some(Pos {
                line: 11,
                column: 7
            })
        );
        let g = o.seq(jobs[1], "static_configs");
        assert_eq!(g, vec![(9, 11)]);
        assert_eq!(
            o.key(o.all(), "scrape_interval").map(|k| k.1),
            Some(Pos {
                line: 2,
                column: 20
            })
        );
    }
}
