//! Caption templates and Instagram's caption limits. A template is checked when the config is
//! loaded (with the longest values its placeholders can take) and each caption again when a
//! photo is queued, so a bad caption is a config error, never a failed post hours later.

/// Instagram's limits on a caption.
pub const MAX_CHARS: usize = 2200;
pub const MAX_HASHTAGS: usize = 30;
pub const MAX_MENTIONS: usize = 20;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 5] = ["event", "date", "time", "n", "location"];

/// Values for a caption template's placeholders.
#[derive(Clone, Debug, Default)]
pub struct CaptionValues {
    pub date: String,
    pub time: String,
    pub n: u64,
    pub event: String,
    pub location: String,
}

impl CaptionValues {
    /// The longest text each placeholder can produce: what a template is checked with at
    /// config load, so that no photo number or date can push a valid template over a limit.
    pub fn longest(event: &str, location: &str) -> Self {
        CaptionValues {
            date: "2026-12-31".into(),
            time: "23:59".into(),
            n: u64::MAX,
            event: event.to_string(),
            location: location.to_string(),
        }
    }
}

/// Fills `{event}`, `{date}`, `{time}`, `{n}` and `{location}` in a caption template.
pub fn render(template: &str, values: &CaptionValues) -> String {
    template
        .replace("{date}", &values.date)
        .replace("{time}", &values.time)
        .replace("{n}", &values.n.to_string())
        .replace("{event}", &values.event)
        .replace("{location}", &values.location)
}

/// Checks a template: only known placeholders, and, filled with the longest values, within
/// Instagram's limits. The error says what is wrong and how to fix it.
pub fn validate_template(template: &str, event: &str, location: &str) -> Result<(), String> {
    if let Some(unknown) = unknown_placeholder(template) {
        return Err(format!(
            "uses {{{unknown}}}, which is not a placeholder: use {}",
            PLACEHOLDERS
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let rendered = render(template, &CaptionValues::longest(event, location));
    validate(&rendered).map_err(|e| format!("filled in, {e}"))
}

/// The first `{word}` in `template` that is not one of [`PLACEHOLDERS`].
fn unknown_placeholder(template: &str) -> Option<String> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        let looks_like_placeholder =
            !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if looks_like_placeholder && !PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[end + 1..];
    }
    None
}

/// Checks a caption against Instagram's limits; the error says which and by how much.
/// (Rust strings are always valid UTF-8, which Instagram also requires.)
pub fn validate(caption: &str) -> Result<(), String> {
    let chars = caption.chars().count();
    if chars > MAX_CHARS {
        return Err(format!(
            "is {chars} characters long: Instagram allows at most {MAX_CHARS}"
        ));
    }
    let hashtags = count_prefixed(caption, '#');
    if hashtags > MAX_HASHTAGS {
        return Err(format!(
            "has {hashtags} hashtags: Instagram allows at most {MAX_HASHTAGS}"
        ));
    }
    let mentions = count_prefixed(caption, '@');
    if mentions > MAX_MENTIONS {
        return Err(format!(
            "has {mentions} @mentions: Instagram allows at most {MAX_MENTIONS}"
        ));
    }
    Ok(())
}

/// Words starting with `prefix` followed by at least one word character.
fn count_prefixed(text: &str, prefix: char) -> usize {
    text.split(|c: char| c.is_whitespace())
        .filter(|w| {
            let mut chars = w.chars();
            chars.next() == Some(prefix)
                && chars
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders() {
        let v = CaptionValues {
            date: "2026-11-27".into(),
            time: "12:00".into(),
            n: 7,
            event: "Gala".into(),
            location: "Hall B".into(),
        };
        assert_eq!(
            render("{event} #{n} {date} {time} @ {location}", &v),
            "Gala #7 2026-11-27 12:00 @ Hall B"
        );
    }

    #[test]
    fn limits_are_enforced_with_counts() {
        assert!(validate("Thanks! #booth @friend").is_ok());
        let long = "x".repeat(2201);
        assert!(validate(&long).unwrap_err().contains("2201"));
        let tags: String = (0..31).map(|i| format!("#t{i} ")).collect();
        assert!(validate(&tags).unwrap_err().contains("31 hashtags"));
        let mentions: String = (0..21).map(|i| format!("@u{i} ")).collect();
        assert!(validate(&mentions).unwrap_err().contains("21 @mentions"));
        // A lone '#' or an e-mail-like word is not a hashtag/mention.
        assert!(validate(&"# ".repeat(40)).is_ok());
        // Characters, not bytes: 2200 two-byte characters are fine.
        assert!(validate(&"é".repeat(2200)).is_ok());
    }

    #[test]
    fn templates_are_checked_filled_with_their_longest_values() {
        assert!(validate_template("{event} #{n} {date} {time} {location}", "Gala", "Hall").is_ok());
        // 2180 characters + a 20-digit {n} is too long, though the template alone is not.
        let t = format!("{}{{n}}", "x".repeat(2181));
        assert!(validate(&t).is_ok());
        let e = validate_template(&t, "", "").unwrap_err();
        assert!(e.contains("2201 characters"), "{e}");
        // Hashtags coming from {event} count too.
        let event: String = (0..31).map(|i| format!("#e{i} ")).collect();
        let e = validate_template("{event}", &event, "").unwrap_err();
        assert!(e.contains("31 hashtags"), "{e}");
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let e = validate_template("hi {evnt}", "", "").unwrap_err();
        assert!(e.contains("{evnt}") && e.contains("{location}"), "{e}");
        // Braces that are not placeholders are just text.
        assert!(validate_template("{ } {} {a b} :-{", "", "").is_ok());
    }
}
