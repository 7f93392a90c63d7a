//! `stepwise render`: a definition's diagram as an SVG or PNG file, drawn as the designer
//! draws it (the saved layout beside the file when there is one).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::asl::{Diagnostic, Format};
use crate::diagram::render::{self, Theme};
use crate::diagram::{Diagram, LayoutFile, Positions, layout};
use crate::validate::{self, Options};

pub struct RenderArgs {
    pub file: PathBuf,
    pub output: PathBuf,
    pub theme: Theme,
    pub scale: f32,
}

/// What the output's extension asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Picture {
    Svg,
    Png,
}

fn picture_for(path: &Path) -> Option<Picture> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "svg" => Some(Picture::Svg),
        "png" => Some(Picture::Png),
        _ => None,
    }
}

/// "1 error", "2 errors".
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn fail(code: u8, msg: String) -> ExitCode {
    eprintln!("stepwise render: {msg}");
    ExitCode::from(code)
}

pub fn run(args: RenderArgs) -> ExitCode {
    let Some(picture) = picture_for(&args.output) else {
        return fail(2, format!("cannot tell what picture to make from {}: the output must end in .svg or .png", args.output.display()));
    };
    if !(args.scale.is_finite() && args.scale > 0.0) {
        return fail(2, format!("--scale must be a number above 0 (2 is the default), got {}", args.scale));
    }
    let file = args.file.display().to_string();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return fail(2, format!("cannot read {file}: {e}")),
    };
    let (doc, diagnostics) = validate::check_bytes(&bytes, Format::from_path(&args.file), &Options::default());
    if !doc.root.is_object() {
        // Nothing that looks like a state machine: the reader's errors say why.
        for d in diagnostics.iter().filter(|d| d.is_error()) {
            eprintln!("{}", super::text_line(&file, d));
        }
        return fail(1, format!("{file} was not rendered: it is not a state machine definition (a JSON or YAML object)"));
    }
    if !diagnostics.is_empty() {
        // A picture of a broken machine is still useful (it shows what is there); say that
        // it is broken without repeating `validate`'s whole report.
        let errors = diagnostics.iter().filter(|d| Diagnostic::is_error(d)).count();
        eprintln!(
            "stepwise render: {file} has {} ({}, {}); it is drawn as it is. `stepwise validate {file}` lists them.",
            count(diagnostics.len(), "problem"),
            count(errors, "error"),
            count(diagnostics.len() - errors, "warning")
        );
    }

    let saved = match LayoutFile::load_beside(&args.file) {
        Ok(saved) => saved,
        Err(msg) => {
            eprintln!("stepwise render: {msg}");
            None
        }
    };
    let collapsed = saved.as_ref().map(|s| s.collapsed.clone()).unwrap_or_default();
    let diagram = Diagram::build(&doc.root, &collapsed);
    let positions = match &saved {
        Some(s) => Positions::from_saved(&diagram, s),
        None => layout::auto_layout(&diagram),
    };
    let svg = render::to_svg(&diagram, &positions, &args.theme);
    let out = match picture {
        Picture::Svg => svg.into_bytes(),
        Picture::Png => match render::to_png(&svg, args.scale) {
            Ok(png) => png,
            Err(e) => return fail(2, format!("cannot make {}: {e}", args.output.display())),
        },
    };
    match super::write_atomic(&args.output, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(2, format!("cannot write {}: {e}", args.output.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_picks_the_picture() {
        assert_eq!(picture_for(Path::new("a/b.svg")), Some(Picture::Svg));
        assert_eq!(picture_for(Path::new("b.PNG")), Some(Picture::Png));
        assert_eq!(picture_for(Path::new("b.jpg")), None);
        assert_eq!(picture_for(Path::new("svg")), None);
    }
}
