//! The built-in video review: container facts, the rules' verdicts, and bad files answered
//! rather than panicking.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use proptest::prelude::*;
use stepwise::runtime::video_check::{VideoFacts, VideoRules, inspect, inspect_file, judge, review, sample};

fn facts_of(bytes: &[u8]) -> VideoFacts {
    inspect(Cursor::new(bytes), bytes.len() as u64).unwrap()
}

fn reasons(bytes: &[u8], rules: &VideoRules) -> Vec<String> {
    judge(&facts_of(bytes), rules)
}

#[test]
fn a_generated_video_is_read_and_approved() {
    let bytes = sample::mp4(320, 240, 2.0);
    let facts = facts_of(&bytes);
    assert_eq!(facts.container, "mp4");
    assert!((facts.duration_seconds - 2.0).abs() < 0.1, "{facts:?}");
    assert_eq!((facts.width, facts.height), (320, 240));
    assert_eq!(facts.video_codec.as_deref(), Some("avc1"));
    assert!(facts.audio_codecs.is_empty());
    assert_eq!(facts.size_bytes, bytes.len() as u64);
    assert_eq!(judge(&facts, &VideoRules::default()), Vec::<String>::new());

    let answer = review(Cursor::new(&bytes), bytes.len() as u64, &VideoRules::default());
    assert_eq!(answer["verdict"], "APPROVED");
    assert_eq!(answer["reasons"], serde_json::json!([]));
    assert_eq!(answer["video"]["videoCodec"], "avc1");
    assert_eq!(answer["video"]["width"], 320);
    assert_eq!(answer["video"]["container"], "mp4");
}

#[test]
fn generated_videos_pass_content_sniffing() {
    let bytes = sample::mp4(320, 240, 2.0);
    assert_eq!(&bytes[4..12], b"ftypisom");
    assert_eq!(infer::get(&bytes).map(|t| t.mime_type()), Some("video/mp4"));
    let audio = sample::mp4_audio_only(1.0);
    assert_eq!(infer::get(&audio).map(|t| t.mime_type()), Some("video/mp4"));
}

#[test]
fn odd_sizes_and_durations_are_reported_as_generated() {
    for (w, h, s) in [(64, 64, 0.1), (1920, 1080, 12.345), (1, 1, 0.0), (8000, 4000, 600.0)] {
        let facts = facts_of(&sample::mp4(w, h, s));
        assert_eq!((facts.width, facts.height), (w, h));
        assert!((facts.duration_seconds - s).abs() < 0.01, "{s}: {facts:?}");
    }
    // Bad arguments make a file anyway rather than panicking.
    for s in [f64::NAN, -1.0, f64::INFINITY] {
        assert_eq!(facts_of(&sample::mp4(0, 100_000, s)).duration_seconds, 0.0);
    }
}

#[test]
fn the_rules_reject_with_readable_reasons() {
    let rules = VideoRules::default();
    let short = reasons(&sample::mp4(320, 240, 0.05), &rules);
    assert_eq!(short, ["duration 0.05 s is shorter than the minimum 0.1 s"]);

    let long = reasons(&sample::mp4(320, 240, 10.0), &VideoRules { max_duration_seconds: 5.0, ..rules.clone() });
    assert_eq!(long, ["duration 10 s is longer than the maximum 5 s"]);

    let small = reasons(&sample::mp4(32, 240, 2.0), &rules);
    assert_eq!(small, ["width 32 px is below the minimum 64 px"]);

    let tiny = reasons(&sample::mp4(32, 16, 2.0), &rules);
    assert_eq!(tiny, ["width 32 px is below the minimum 64 px", "height 16 px is below the minimum 64 px"]);

    let big =
        reasons(&sample::mp4(4096, 2160, 2.0), &VideoRules { max_width: 1920, max_height: 1080, ..rules.clone() });
    assert_eq!(big, ["width 4096 px is above the maximum 1920 px", "height 2160 px is above the maximum 1080 px"]);

    let hevc_only = VideoRules { allowed_video_codecs: vec!["hvc1".into(), "hev1".into()], ..rules.clone() };
    assert_eq!(
        reasons(&sample::mp4(320, 240, 2.0), &hevc_only),
        ["video codec 'avc1' is not allowed (allowed: hvc1, hev1)"]
    );

    // Codec names are matched without regard to case; an empty list allows any codec.
    let upper = VideoRules { allowed_video_codecs: vec!["AVC1".into()], ..rules.clone() };
    assert!(reasons(&sample::mp4(320, 240, 2.0), &upper).is_empty());
    let any = VideoRules { allowed_video_codecs: vec![], ..rules.clone() };
    assert!(reasons(&sample::mp4(320, 240, 2.0), &any).is_empty());

    let with_audio = VideoRules { require_audio: true, ..rules.clone() };
    assert_eq!(reasons(&sample::mp4(320, 240, 2.0), &with_audio), ["no audio track, and the rules require one"]);

    let answer = review(Cursor::new(sample::mp4(32, 240, 2.0)), 0, &rules);
    assert_eq!(answer["verdict"], "REJECTED", "a wrong size is a read error, not a pass: {answer}");
}

#[test]
fn an_audio_only_file_has_no_video_track() {
    let bytes = sample::mp4_audio_only(3.0);
    let facts = facts_of(&bytes);
    assert_eq!(facts.video_codec, None);
    assert_eq!(facts.audio_codecs, ["mp4a"]);
    assert!((facts.duration_seconds - 3.0).abs() < 0.1);
    assert_eq!(judge(&facts, &VideoRules::default()), ["no video track"]);
    let answer = review(Cursor::new(&bytes), bytes.len() as u64, &VideoRules::default());
    assert_eq!(answer["verdict"], "REJECTED");
    assert_eq!(answer["reasons"][0], "no video track");
    assert_eq!(answer["video"]["audioCodecs"][0], "mp4a");
}

#[test]
fn rules_read_from_json_fill_in_the_defaults() {
    let rules: VideoRules = serde_json::from_str(r#"{"minWidth": 640, "requireAudio": true}"#).unwrap();
    assert_eq!(rules, VideoRules { min_width: 640, require_audio: true, ..VideoRules::default() });
    let round: VideoRules = serde_json::from_value(serde_json::to_value(VideoRules::default()).unwrap()).unwrap();
    assert_eq!(round, VideoRules::default());
}

#[test]
fn a_quicktime_brand_is_a_mov() {
    let mut bytes = sample::mp4(320, 240, 1.0);
    bytes[8..12].copy_from_slice(b"qt  ");
    assert_eq!(facts_of(&bytes).container, "mov");
}

#[test]
fn bad_files_are_answered_not_panicked_on() {
    let video = sample::mp4(320, 240, 2.0);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "the file is empty"),
        ("text", b"Hello, this is not a video at all.\n".to_vec(), "not an MP4 or MOV file"),
        (
            "random",
            (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
            "not an MP4 or MOV file",
        ),
        ("truncated", video[..video.len() - 100].to_vec(), "cut short"),
        ("header only", video[..6].to_vec(), "cut short"),
        ("ftyp only", video[..32].to_vec(), "no 'moov' box"),
    ];
    for (name, bytes, expected) in cases {
        let err = inspect(Cursor::new(&bytes), bytes.len() as u64).unwrap_err();
        assert!(err.contains(expected), "{name}: {err}");
        let answer = review(Cursor::new(&bytes), bytes.len() as u64, &VideoRules::default());
        assert_eq!(answer["verdict"], "REJECTED", "{name}");
        assert_eq!(answer["video"], serde_json::Value::Null, "{name}");
        assert!(answer["reasons"][0].as_str().unwrap().starts_with("not a readable video: "), "{name}: {answer}");
    }
}

#[test]
fn inspect_file_reads_from_disk_and_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, sample::mp4(640, 360, 1.5)).unwrap();
    let facts = inspect_file(&path).unwrap();
    assert_eq!((facts.width, facts.height), (640, 360));
    let missing = inspect_file(&dir.path().join("gone.mp4")).unwrap_err();
    assert!(missing.contains("gone.mp4"), "{missing}");
}

/// Counts the bytes read, so a test can tell the media was seeked over, not read.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Top-level boxes of a generated file: (kind, start, length).
fn boxes(bytes: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((bytes[pos + 4..pos + 8].try_into().unwrap(), pos, len));
        pos += len;
    }
    out
}

#[test]
fn a_large_file_is_read_only_as_far_as_its_metadata() {
    // ftyp, mdat, a 200 MB 'free' box (a sparse hole on disk), then moov: the check has to
    // cross the whole file to find the index, and must seek rather than read.
    let video = sample::mp4(1280, 720, 5.0);
    let layout = boxes(&video);
    let kinds: Vec<&[u8; 4]> = layout.iter().map(|(k, _, _)| k).collect();
    assert_eq!(kinds, [b"ftyp", b"mdat", b"moov"]);
    let moov_start = layout[2].1;
    let padding: u64 = 200 << 20;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.mp4");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&video[..moov_start]).unwrap();
    file.write_all(&(padding as u32).to_be_bytes()).unwrap();
    file.write_all(b"free").unwrap();
    file.seek(SeekFrom::Start(moov_start as u64 + padding)).unwrap();
    file.write_all(&video[moov_start..]).unwrap();
    drop(file);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > padding);

    let mut counting = Counting { inner: std::fs::File::open(&path).unwrap(), read: 0 };
    let facts = inspect(&mut counting, size).unwrap();
    assert_eq!((facts.width, facts.height, facts.size_bytes), (1280, 720, size));
    assert!((facts.duration_seconds - 5.0).abs() < 0.1);
    assert!(counting.read < 1 << 20, "read {} bytes of {size}", counting.read);
    assert_eq!(inspect_file(&path).unwrap(), facts);
}

#[test]
fn a_fragmented_file_lasts_until_its_last_fragment() {
    use mp4_atom::{Decode, Encode, Mdat, Mfhd, Moof, Moov, Mvex, Tfdt, Tfhd, Traf, Trex, Trun, TrunSamples};
    // The generated file made fragmented: no duration in its headers, then two fragments of
    // 30 frames at 90 kHz, one second each.
    let video = sample::mp4(320, 240, 2.0);
    let layout = boxes(&video);
    let mut moov = Moov::decode(&mut &video[layout[2].1..]).unwrap();
    moov.mvhd.duration = 0;
    moov.trak[0].tkhd.duration = 0;
    moov.trak[0].mdia.mdhd.duration = 0;
    let trex =
        Trex { track_id: 1, default_sample_description_index: 1, default_sample_duration: 3000, ..Default::default() };
    moov.mvex = Some(Mvex { mehd: None, trex: vec![trex] });
    let mut bytes = video[..layout[0].2].to_vec();
    moov.encode(&mut bytes).unwrap();
    let mut second_moof = 0;
    for (sequence_number, base) in [(1, 0), (2, 90_000)] {
        second_moof = bytes.len();
        let traf = Traf {
            tfhd: Tfhd { track_id: 1, ..Default::default() },
            tfdt: Some(Tfdt { base_media_decode_time: base }),
            trun: vec![Trun { data_offset: None, samples: TrunSamples::Inherited { count: 30, first_flags: None } }],
            ..Default::default()
        };
        Moof { mfhd: Mfhd { sequence_number }, traf: vec![traf] }.encode(&mut bytes).unwrap();
        Mdat { data: vec![0; 300] }.encode(&mut bytes).unwrap();
    }
    assert!((facts_of(&bytes).duration_seconds - 2.0).abs() < 1e-9);
    // An upload cut inside the second fragment lasts as long as the fragments it has.
    let cut = &bytes[..second_moof + 20];
    assert!((facts_of(cut).duration_seconds - 1.0).abs() < 1e-9);
}

/// Flips bytes of a real file: the moov's fields and sizes, the top-level sizes.
fn mutated(bytes: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (at, value) in edits {
        let i = at % out.len();
        out[i] = *value;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_after_a_valid_ftyp_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = sample::mp4(320, 240, 1.0)[..32].to_vec();
        bytes.extend_from_slice(&tail);
        let answer = review(Cursor::new(&bytes), bytes.len() as u64, &VideoRules::default());
        prop_assert!(answer["verdict"] == "APPROVED" || answer["verdict"] == "REJECTED");
    }

    #[test]
    fn damaged_videos_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let video = sample::mp4_audio_only(0.5);
        let mut bytes = mutated(&sample::mp4(320, 240, 0.5), &edits);
        bytes.extend_from_slice(&mutated(&video, &edits));
        bytes.truncate(bytes.len() - cut % 64);
        // Any size the caller claims, right or wrong, is answered.
        for size in [bytes.len() as u64, (bytes.len() / 2) as u64, u64::MAX] {
            let answer = review(Cursor::new(&bytes), size, &VideoRules::default());
            prop_assert!(answer["verdict"] == "APPROVED" || answer["verdict"] == "REJECTED");
        }
    }
}
