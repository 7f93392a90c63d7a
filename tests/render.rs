//! `stepwise render`: pictures of the example workflows, the saved layout honoured, and clear
//! failures.

use std::path::Path;

use crate::cli::stepwise;

fn video() -> String {
    crate::repo().join("workflows/video-ingest.asl.json").to_string_lossy().into_owned()
}

fn state_names(definition: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(definition).unwrap()).unwrap();
    v["States"].as_object().unwrap().keys().cloned().collect()
}

/// The four numbers of the SVG's viewBox.
fn view_box(svg: &str) -> [f32; 4] {
    let start = svg.find("viewBox=\"").expect("a viewBox") + 9;
    let end = start + svg[start..].find('"').unwrap();
    let v: Vec<f32> = svg[start..end].split(' ').map(|x| x.parse().unwrap()).collect();
    [v[0], v[1], v[2], v[3]]
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
}

#[test]
fn video_ingest_renders_to_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("video.svg");
    let out = stepwise(&["render", &video(), "-o", svg_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "a clean definition renders quietly: {}", String::from_utf8_lossy(&out.stderr));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<?xml"));
    for name in state_names(Path::new(&video())) {
        assert!(svg.contains(&format!("<title>{name}</title>")), "the SVG names {name}");
    }
    assert!(svg.contains("class=\"edge catch\""), "the review's Catch arrows are drawn");

    let png_path = dir.path().join("video.png");
    let out = stepwise(&["render", &video(), "--output", png_path.to_str().unwrap(), "--theme", "dark", "--scale", "1"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let (w, h) = png_size(&std::fs::read(&png_path).unwrap());
    let [_, _, vw, vh] = view_box(&svg);
    assert!(w > 0 && h > 0);
    assert_eq!((w, h), (vw.ceil() as u32, vh.ceil() as u32), "scale 1 is one pixel per unit");
    // No temporary file is left beside the outputs.
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn unknown_extensions_and_bad_scales_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("video.jpg");
    let out = stepwise(&["render", &video(), "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".svg") && err.contains(".png") && err.contains("video.jpg"), "{err}");
    assert!(!out_path.exists());
    let out = stepwise(&["render", &video(), "-o", dir.path().join("v.png").to_str().unwrap(), "--scale", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scale"));
    assert_eq!(stepwise(&["render", &video()]).status.code(), Some(2), "-o is required");
}

#[test]
fn unreadable_and_unparsable_files_say_which_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("x.svg");
    let missing = dir.path().join("missing.asl.json");
    let out = stepwise(&["render", missing.to_str().unwrap(), "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.asl.json") && err.contains("cannot read"), "{err}");

    let garbage = dir.path().join("garbage.asl.json");
    std::fs::write(&garbage, "{ this is not JSON").unwrap();
    let out = stepwise(&["render", garbage.to_str().unwrap(), "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "like validate: the file has an ERROR");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("garbage.asl.json") && err.contains("INVALID_JSON"), "{err}");
    assert!(!out_path.exists(), "nothing written");
}

#[test]
fn a_definition_with_problems_is_still_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.asl.yaml");
    std::fs::write(&f, "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Next: Missing\n  B:\n    Type: Succeed\n").unwrap();
    let out_path = dir.path().join("broken.svg");
    let out = stepwise(&["render", f.to_str().unwrap(), "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("problem") && err.contains("stepwise validate"), "{err}");
    let svg = std::fs::read_to_string(&out_path).unwrap();
    assert!(svg.contains("<title>A</title>") && svg.contains("<title>B</title>"));
}

#[test]
fn the_saved_layout_beside_the_file_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("video.asl.json");
    std::fs::copy(video(), &f).unwrap();
    let render = |name: &str| {
        let out_path = dir.path().join(name);
        let out = stepwise(&["render", f.to_str().unwrap(), "-o", out_path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(out_path).unwrap()
    };
    let auto = render("auto.svg");
    let [ax, ay, aw, ah] = view_box(&auto);
    assert!(ax + aw < 3000.0 && ay + ah < 2500.0, "the automatic layout is small");

    // Only one state is named: the others keep their automatic places.
    let layout = r#"{"version": 1, "positions": {"Video Published": [3000.0, 2500.0]}}"#;
    std::fs::write(dir.path().join("video.layout.json"), layout).unwrap();
    let moved = render("moved.svg");
    let [x, y, w, h] = view_box(&moved);
    assert!(x + w >= 3000.0 + 90.0 && y + h >= 2500.0 + 22.0, "the viewBox reaches the moved state: {x} {y} {w} {h}");
    assert!(moved.contains(r#"<text x="3000.0""#), "the moved state's text is centred on its saved x");
    assert_eq!(x, ax, "the rest stays where it was");

    // A damaged layout file is reported and the diagram laid out afresh.
    std::fs::write(dir.path().join("video.layout.json"), "{ nope").unwrap();
    let out_path = dir.path().join("again.svg");
    let out = stepwise(&["render", f.to_str().unwrap(), "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("video.layout.json"));
    assert_eq!(view_box(&std::fs::read_to_string(out_path).unwrap()), [ax, ay, aw, ah]);
}
