//! The Definition tab: the ASL text with syntax colouring, editable; the line of a parse error
//! is marked. Edits go out as [`super::Command::SetText`]; the document applies them as soon
//! as they parse.
//!
//! The colouring is a small hand-written lexer: egui_extras only colours JSON/YAML through
//! syntect, a large dependency for four token kinds.

use eframe::egui::{self, Color32, FontId, TextFormat, text::LayoutJob};

use super::document::Document;
use super::theme::Palette;
use crate::asl::Format;

/// Shows the text; returns the new text when the person changed it.
pub fn definition_ui(ui: &mut egui::Ui, doc: &Document) -> Option<String> {
    let pal = Palette::of(ui.ctx());
    let mut text = doc.text.clone();
    let error_line = doc.text_error.as_ref().and_then(|e| e.line);
    if let Some(e) = &doc.text_error {
        let at = match (e.line, e.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: "),
            (Some(l), None) => format!("line {l}: "),
            _ => String::new(),
        };
        ui.colored_label(pal.error, format!("✖ {at}{}", e.message));
    }
    let format = doc.format;
    let mut layouter = |ui: &egui::Ui, buf: &dyn egui::TextBuffer, wrap: f32| {
        let mut job = highlight(buf.as_str(), format, &pal, error_line);
        job.wrap.max_width = wrap;
        ui.fonts_mut(|f| f.layout_job(job))
    };
    let mut changed = false;
    egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
        let resp = ui.add(
            egui::TextEdit::multiline(&mut text)
                .code_editor()
                .desired_width(f32::INFINITY)
                .desired_rows(40)
                .id_salt("definition-text")
                .layouter(&mut layouter),
        )
        .on_hover_text("Definition text");
        changed = resp.changed();
    });
    changed.then_some(text)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Token {
    Key,
    String,
    Number,
    Literal,
    Punct,
    Comment,
    Plain,
}

/// Splits text into coloured runs (byte ranges). JSON: keys are strings followed by `:`.
/// YAML: keys are the words before `: ` at the start of a line, `#` starts a comment.
pub fn tokens(text: &str, format: Format) -> Vec<(std::ops::Range<usize>, Token)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b'"' | b'\'' if format == Format::Json && c == b'"' || format == Format::Yaml => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    if b[i] == b'\\' && c == b'"' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                let mut j = i;
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                if j < b.len() && b[j] == b':' { Token::Key } else { Token::String }
            }
            b'#' if format == Format::Yaml => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                Token::Comment
            }
            b'-' | b'0'..=b'9' if format == Format::Json || !line_start => {
                i += 1;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                }
                Token::Number
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                i += 1;
                Token::Punct
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'$' => {
                while i < b.len() && !matches!(b[i], b':' | b'\n' | b',' | b'}' | b']' | b'#') {
                    i += 1;
                }
                // Trailing spaces belong to the word only in YAML plain scalars.
                while i > start && b[i - 1] == b' ' {
                    i -= 1;
                }
                let word = &text[start..i];
                let key = format == Format::Yaml && i < b.len() && b[i] == b':';
                if key {
                    Token::Key
                } else if matches!(word, "true" | "false" | "null") {
                    Token::Literal
                } else {
                    Token::Plain
                }
            }
            _ => {
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                Token::Plain
            }
        };
        if c == b'\n' {
            line_start = true;
        } else if !c.is_ascii_whitespace() && c != b'-' {
            line_start = false;
        }
        out.push((start..i, tok));
    }
    out
}

fn highlight(text: &str, format: Format, pal: &Palette, error_line: Option<u32>) -> LayoutJob {
    let font = FontId::monospace(13.0);
    let colour = |t: Token| -> Color32 {
        match (t, pal.dark) {
            (Token::Key, true) => Color32::from_rgb(0x7c, 0xc4, 0xff),
            (Token::Key, false) => Color32::from_rgb(0x0b, 0x57, 0xa8),
            (Token::String, true) => Color32::from_rgb(0xa5, 0xd6, 0x8a),
            (Token::String, false) => Color32::from_rgb(0x2e, 0x7d, 0x32),
            (Token::Number, true) => Color32::from_rgb(0xf7, 0xb2, 0x6a),
            (Token::Number, false) => Color32::from_rgb(0xb2, 0x55, 0x00),
            (Token::Literal, true) => Color32::from_rgb(0xd7, 0x9b, 0xf2),
            (Token::Literal, false) => Color32::from_rgb(0x8e, 0x24, 0xaa),
            (Token::Comment, _) => pal.muted_text,
            (Token::Punct, _) => pal.muted_text,
            (Token::Plain, _) => pal.node_text,
        }
    };
    // Byte ranges of the error line, to tint its background.
    let error_range = error_line.and_then(|l| {
        let start = if l <= 1 { 0 } else { text.match_indices('\n').nth(l as usize - 2).map(|(i, _)| i + 1)? };
        let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
        Some(start..end)
    });
    let mut job = LayoutJob::default();
    for (range, tok) in tokens(text, format) {
        let mut fmt = TextFormat::simple(font.clone(), colour(tok));
        if error_range.as_ref().is_some_and(|e| range.start >= e.start && range.start < e.end.max(e.start + 1)) {
            fmt.background = pal.error.gamma_multiply(0.25);
            fmt.underline = egui::Stroke::new(1.0, pal.error);
        }
        job.append(&text[range], 0.0, fmt);
    }
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str, f: Format) -> Vec<(String, Token)> {
        tokens(text, f).into_iter().filter(|(_, t)| *t != Token::Plain && *t != Token::Punct).map(|(r, t)| (text[r].to_string(), t)).collect()
    }

    #[test]
    fn json_keys_strings_numbers_and_literals() {
        let k = kinds(r#"{"Seconds": 10, "Next": "B", "End": true}"#, Format::Json);
        assert_eq!(
            k,
            vec![
                ("\"Seconds\"".into(), Token::Key),
                ("10".into(), Token::Number),
                ("\"Next\"".into(), Token::Key),
                ("\"B\"".into(), Token::String),
                ("\"End\"".into(), Token::Key),
                ("true".into(), Token::Literal)
            ]
        );
        // Every byte is covered exactly once, so the coloured text equals the text.
        let text = "{\"a\": [1, -2.5e3, null], \"é\": \"ü\"}\n";
        let joined: String = tokens(text, Format::Json).into_iter().map(|(r, _)| &text[r]).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn yaml_keys_and_comments() {
        let k = kinds("StartAt: A # first\nStates:\n  A:\n    Type: Pass\n    End: true\n", Format::Yaml);
        assert!(k.contains(&("StartAt".into(), Token::Key)));
        assert!(k.contains(&("# first".into(), Token::Comment)));
        assert!(k.contains(&("true".into(), Token::Literal)));
    }
}
