//! Form templates as documents: fields, Markdown rendered to canonical HTML, the exact bytes a
//! signer is shown, and the filled-in values in their canonical form.
//!
//! The document of a signing request is rendered once, when the request is sent, and stored
//! byte for byte; its SHA-256 is what the signature is bound to. Its layout:
//!
//! ```text
//! <!doctype html>
//! <html>
//! <head>
//! <meta charset="utf-8">
//! <title>TITLE</title>
//! </head>
//! <body>
//! <article class="confidant-document">
//! <h1>TITLE</h1>
//! BODY (CommonMark rendered by pulldown-cmark; raw HTML shown as text, only http(s)/mailto
//! links, images reduced to their alt text)
//! </article>
//! <ol class="confidant-fields">
//! <li data-name="NAME" data-type="text|date|checkbox" data-required="true|false">LABEL</li>
//! </ol>
//! </body>
//! </html>
//! ```

use std::collections::BTreeMap;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use confidant_kit::error::FieldProblem;
use confidant_kit::html::escape;

/// Longest template title, characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest Markdown body, bytes.
pub const MAX_BODY_BYTES: usize = 50_000;
/// Most fields in a template.
pub const MAX_FIELDS: usize = 30;
/// Longest field label, characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Longest field name, bytes (`[a-z][a-z0-9_]*`).
pub const MAX_NAME_LEN: usize = 40;
/// Longest text value a signer may enter, characters.
pub const MAX_VALUE_CHARS: usize = 1000;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A checkbox: `"true"` or `"false"` in the form data.
    Checkbox,
}

impl FieldKind {
    fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Date => "date",
            FieldKind::Checkbox => "checkbox",
        }
    }
}

/// A field the signer fills in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Key in the form data: `[a-z][a-z0-9_]*`, at most 40 bytes, unique in the template.
    pub name: String,
    /// Label shown to the signer (1..=200 characters).
    pub label: String,
    /// `text`, `date` or `checkbox`.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Whether the signer must fill it in (a required checkbox must be ticked).
    #[serde(default)]
    pub required: bool,
}

fn problem(field: String, code: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field,
        code: code.to_owned(),
        message: message.into(),
    }
}

fn text_ok(s: &str, max_chars: usize) -> bool {
    let n = s.chars().count();
    n >= 1 && n <= max_chars && !s.chars().any(char::is_control)
}

/// Checks a template's title, body and fields; every problem at once.
pub fn check_template(title: &str, body: &str, fields: &[FieldDef]) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if !text_ok(title.trim(), MAX_TITLE_CHARS) {
        problems.push(problem(
            "title".into(),
            "invalid",
            format!("must be 1 to {MAX_TITLE_CHARS} characters without control characters"),
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        problems.push(problem(
            "body_markdown".into(),
            "too_long",
            format!("must be at most {MAX_BODY_BYTES} bytes"),
        ));
    } else if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        problems.push(problem(
            "body_markdown".into(),
            "invalid",
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    if fields.len() > MAX_FIELDS {
        problems.push(problem(
            "fields".into(),
            "too_many",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, f) in fields.iter().enumerate() {
        let valid_name = !f.name.is_empty()
            && f.name.len() <= MAX_NAME_LEN
            && f.name.starts_with(|c: char| c.is_ascii_lowercase())
            && f.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            problems.push(problem(
                format!("fields[{i}].name"),
                "invalid",
                format!(
                    "must be a-z, 0-9 and _, starting with a letter, at most {MAX_NAME_LEN} bytes"
                ),
            ));
        } else if !seen.insert(f.name.as_str()) {
            problems.push(problem(
                format!("fields[{i}].name"),
                "duplicate",
                "another field has this name",
            ));
        }
        if !text_ok(f.label.trim(), MAX_LABEL_CHARS) {
            problems.push(problem(
                format!("fields[{i}].label"),
                "invalid",
                format!("must be 1 to {MAX_LABEL_CHARS} characters without control characters"),
            ));
        }
    }
    problems
}

fn link_allowed(dest: &str) -> bool {
    let lower = dest.trim_start().to_ascii_lowercase();
    ["https://", "http://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// Renders CommonMark (with tables and strikethrough) to HTML. Raw HTML is shown as text,
/// links other than http(s) and mailto become their text, images their alt text: the result
/// contains only the elements pulldown-cmark itself writes.
pub fn render_markdown(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    // For each open link or image: whether its tags are dropped.
    let mut dropped: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Image { .. }) => {
            dropped.push(true);
            None
        }
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let keep = link_allowed(&dest_url);
            dropped.push(!keep);
            keep.then_some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(end @ (TagEnd::Link | TagEnd::Image)) => {
            if dropped.pop().unwrap_or(true) {
                None
            } else {
                Some(Event::End(end))
            }
        }
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2 + 64);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// The exact document bytes of a template (see the module docs).
pub fn document_bytes(title: &str, body_markdown: &str, fields: &[FieldDef]) -> Vec<u8> {
    let title = escape(title.trim());
    let mut out = String::new();
    out.push_str("<!doctype html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>{title}</title>\n</head>\n<body>\n"));
    out.push_str(&format!(
        "<article class=\"confidant-document\">\n<h1>{title}</h1>\n"
    ));
    out.push_str(&render_markdown(body_markdown));
    out.push_str("</article>\n<ol class=\"confidant-fields\">\n");
    for f in fields {
        out.push_str(&format!(
            "<li data-name=\"{}\" data-type=\"{}\" data-required=\"{}\">{}</li>\n",
            escape(&f.name),
            f.kind.as_str(),
            f.required,
            escape(f.label.trim()),
        ));
    }
    out.push_str("</ol>\n</body>\n</html>\n");
    out.into_bytes()
}

/// Checks the signer's values against the fields and returns the form data (every field, as a
/// string: text trimmed, dates `YYYY-MM-DD`, checkboxes `"true"`/`"false"`; missing optional
/// fields are `""` or `"false"`), or every problem at once. Problems name `fields.NAME`.
pub fn form_data(
    fields: &[FieldDef],
    values: &BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, Vec<FieldProblem>> {
    use serde_json::Value;
    let mut problems = Vec::new();
    let mut out = BTreeMap::new();
    for name in values.keys() {
        if !fields.iter().any(|f| &f.name == name) {
            let shown: String = name.chars().take(MAX_NAME_LEN).collect();
            problems.push(problem(
                format!("fields.{shown}"),
                "unknown",
                "the form has no such field",
            ));
        }
    }
    for f in fields {
        let key = format!("fields.{}", f.name);
        let value = values.get(&f.name);
        let canonical = match f.kind {
            FieldKind::Checkbox => match value {
                None | Some(Value::Null) => Some(false),
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) if s == "true" => Some(true),
                Some(Value::String(s)) if s == "false" => Some(false),
                Some(_) => None,
            }
            .map(|checked| {
                if f.required && !checked {
                    problems.push(problem(key.clone(), "required", "must be ticked"));
                }
                checked.to_string()
            }),
            FieldKind::Text | FieldKind::Date => match value {
                None | Some(Value::Null) => Some(String::new()),
                Some(Value::String(s)) => Some(s.trim().to_owned()),
                Some(_) => None,
            }
            .map(|s| {
                if s.is_empty() {
                    if f.required {
                        problems.push(problem(key.clone(), "required", "must be filled in"));
                    }
                    return s;
                }
                let ok = match f.kind {
                    FieldKind::Date => {
                        s.len() == 10 && chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_ok()
                    }
                    _ => text_ok(&s, MAX_VALUE_CHARS),
                };
                if ok {
                    s
                } else {
                    let message = if f.kind == FieldKind::Date {
                        "must be a date, YYYY-MM-DD".to_owned()
                    } else {
                        format!("must be at most {MAX_VALUE_CHARS} characters without control characters")
                    };
                    problems.push(problem(key.clone(), "invalid", message));
                    String::new()
                }
            }),
        };
        match canonical {
            Some(v) => {
                out.insert(f.name.clone(), v);
            }
            None => problems.push(problem(
                key,
                "invalid",
                if f.kind == FieldKind::Checkbox {
                    "must be true or false"
                } else {
                    "must be a string"
                },
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, kind: FieldKind, required: bool) -> FieldDef {
        FieldDef {
            name: name.into(),
            label: format!("Label {name}"),
            kind,
            required,
        }
    }

    #[test]
    fn markdown_raw_html_and_script_links_are_neutralised() {
        let html = render_markdown(
            "# Consent\n\n<script>alert(1)</script>\n\n[ok](https://example.org) \
             [bad](javascript:alert(1)) ![img](https://tracker.example/p.png) <b>x</b>\n",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains(r#"<a href="https://example.org">ok</a>"#),
            "{html}"
        );
        assert!(!html.contains("javascript"), "{html}");
        assert!(html.contains("bad"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("img"), "the alt text stays: {html}");
    }

    #[test]
    fn document_is_deterministic_and_escapes() {
        let fields = [field("name", FieldKind::Text, true)];
        let a = document_bytes("A & <B>", "Hello *world*", &fields);
        assert_eq!(a, document_bytes("A & <B>", "Hello *world*", &fields));
        let text = String::from_utf8(a).unwrap();
        assert!(text.contains("<title>A &amp; &lt;B&gt;</title>"));
        assert!(text.contains("<p>Hello <em>world</em></p>"));
        assert!(text.contains(
            r#"<li data-name="name" data-type="text" data-required="true">Label name</li>"#
        ));
    }

    #[test]
    fn template_problems_name_the_field() {
        let problems = check_template(
            "",
            "ok",
            &[
                field("Bad", FieldKind::Text, false),
                field("x", FieldKind::Date, false),
                field("x", FieldKind::Date, false),
            ],
        );
        let names: Vec<_> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("title", "invalid"),
                ("fields[0].name", "invalid"),
                ("fields[2].name", "duplicate")
            ]
        );
    }

    #[test]
    fn form_values_are_canonicalised_and_checked() {
        let fields = [
            field("name", FieldKind::Text, true),
            field("born", FieldKind::Date, false),
            field("agree", FieldKind::Checkbox, true),
            field("news", FieldKind::Checkbox, false),
        ];
        let values: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(json!({"name": " Ana ", "agree": true})).unwrap();
        let data = form_data(&fields, &values).unwrap();
        assert_eq!(
            serde_json::to_value(&data).unwrap(),
            json!({"name": "Ana", "born": "", "agree": "true", "news": "false"})
        );
        let values: BTreeMap<String, serde_json::Value> = serde_json::from_value(
            json!({"born": "2024-02-30", "agree": false, "news": 3, "other": "x"}),
        )
        .unwrap();
        let problems = form_data(&fields, &values).unwrap_err();
        let got: Vec<_> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("fields.other", "unknown"),
                ("fields.name", "required"),
                ("fields.born", "invalid"),
                ("fields.agree", "required"),
                ("fields.news", "invalid"),
            ]
        );
    }
}
