//! Caption templates and Instagram's caption limits, checked before a photo is queued.

/// Instagram's limits on a caption.
pub const MAX_CHARS: usize = 2200;
pub const MAX_HASHTAGS: usize = 30;
pub const MAX_MENTIONS: usize = 20;

/// Values for a caption template's placeholders.
#[derive(Clone, Debug, Default)]
pub struct CaptionValues {
    pub date: String,
    pub time: String,
    pub n: u64,
    pub event: String,
}

/// Fills `{date}`, `{time}`, `{n}` and `{event}` in a caption template.
pub fn render(template: &str, values: &CaptionValues) -> String {
    template
        .replace("{date}", &values.date)
        .replace("{time}", &values.time)
        .replace("{n}", &values.n.to_string())
        .replace("{event}", &values.event)
}

/// Checks a caption (or template) against Instagram's limits; the error says which and by how much.
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
        };
        assert_eq!(
            render("{event} #{n} {date} {time}", &v),
            "Gala #7 2026-11-27 12:00"
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
    }
}
