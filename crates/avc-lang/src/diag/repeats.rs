//! One mistake inside a block used N times is one diagnostic, not N: the instances' errors
//! differ only in the instance part of the node names (`v1.y`, `v2.y`), point at the same
//! source and say the same, so they are merged into the first, which lists the instances.

use super::Diagnostic;

/// Instances listed by name in a merged message; the rest are counted.
const LISTED: usize = 8;

/// The message with every quoted dotted name (`v1.y`, `a.b.y`) reduced to its last part,
/// and the first such name: what repeats of one mistake have in common, and what differs.
fn masked(message: &str) -> (String, Option<&str>) {
    let mut out = String::with_capacity(message.len());
    let mut first = None;
    let mut parts = message.split('`');
    out.push_str(parts.next().unwrap_or_default());
    for (i, part) in parts.enumerate() {
        out.push('`');
        let quoted = i % 2 == 0;
        match part.rsplit_once('.') {
            Some((prefix, last)) if quoted && !prefix.is_empty() && !prefix.chars().any(char::is_whitespace) => {
                first.get_or_insert(part);
                out.push_str("*.");
                out.push_str(last);
            }
            _ => out.push_str(part),
        }
    }
    (out, first)
}

/// Merges diagnostics that repeat one mistake across block instances, keeping the order of
/// first appearance. A merged message ends with the instances it stands for. A diagnostic
/// that names no node but repeats word for word at the same place (an unknown op inside a
/// block) is the same mistake expanded again: merged and counted.
pub fn merge_repeats(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if diags.len() < 2 {
        return diags;
    }
    // (the kept diagnostic, the instance names it stands for, how many it stands for)
    let mut kept: Vec<(Diagnostic, Vec<String>, usize)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for d in diags {
        let (key_message, name) = masked(&d.message);
        let name = name.map(str::to_string);
        let key = format!("{:?}\u{0}{}\u{0}{key_message}\u{0}{:?}\u{0}{:?}", d.severity, d.code, d.labels, d.help);
        match index.get(&key) {
            Some(&i) => {
                kept[i].1.extend(name);
                kept[i].2 += 1;
            }
            None => {
                index.insert(key, kept.len());
                kept.push((d, name.into_iter().collect(), 1));
            }
        }
    }
    kept.into_iter()
        .map(|(mut d, names, count)| {
            if count > 1 && names.len() == count {
                let mut listed: Vec<String> = names.iter().take(LISTED).map(|n| format!("`{n}`")).collect();
                if names.len() > LISTED {
                    listed.push(format!("and {} more", names.len() - LISTED));
                }
                d.message = format!("{} (the same in {count} block instances: {})", d.message, listed.join(", "));
            } else if count > 1 {
                d.message = format!("{} (the same in {count} block instances)", d.message);
            }
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn diag(message: &str) -> Diagnostic {
        Diagnostic::error("op::param-type", message).with_label(Span::new(10, 12), "wrong type")
    }

    #[test]
    fn repeats_across_instances_become_one_listing_them() {
        let merged = merge_repeats(vec![
            diag("node `v1.y`: parameter `bias` must be a bool"),
            diag("node `top`: parameter `bias` must be a bool"),
            diag("node `v2.y`: parameter `bias` must be a bool"),
            diag("node `a.b.y`: parameter `bias` must be a bool"),
        ]);
        let messages: Vec<&str> = merged.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "node `v1.y`: parameter `bias` must be a bool (the same in 3 block instances: `v1.y`, `v2.y`, `a.b.y`)",
                "node `top`: parameter `bias` must be a bool",
            ]
        );
    }

    #[test]
    fn different_places_or_texts_stay_apart() {
        let elsewhere =
            Diagnostic::error("op::param-type", "node `v2.y`: x").with_label(Span::new(20, 22), "wrong type");
        let merged = merge_repeats(vec![diag("node `v1.y`: x"), elsewhere, diag("node `v3.y`: y")]);
        assert_eq!(merged.len(), 3);
        assert!(merged.iter().all(|d| !d.message.contains("block instances")));
    }

    #[test]
    fn word_for_word_repeats_at_one_place_are_counted() {
        let unknown = || {
            Diagnostic::error("name::unknown-op", "unknown op or block `glu`").with_label(Span::new(3, 6), "not an op")
        };
        let merged = merge_repeats(vec![unknown(), unknown(), unknown()]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].message, "unknown op or block `glu` (the same in 3 block instances)");
    }
}
