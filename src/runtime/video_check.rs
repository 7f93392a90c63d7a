//! The built-in worker of the video-ingest workflow's review activity: it reads a video's
//! container metadata (MP4, or QuickTime MOV, which shares the format) and approves or rejects
//! the video by `VideoRules`.
//!
//! Only the top-level box headers and the `moov` box are read, through `Read + Seek` (and the
//! small 'moof' indexes of a fragmented file that states no duration): a multi-gigabyte upload
//! costs a few seeks and the size of its metadata, never its media data.
//! Decoding the boxes is `mp4-atom`'s; walking the top level is done here, because that crate
//! would read an `mdat` whole.
//!
//! Bad input is an answer, not a failure: `inspect` says in plain words why a file is not a
//! readable video, and `review` turns that into a REJECTED verdict so the workflow decides.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use mp4_atom::{Codec, Decode, Encode, FourCC, Ftyp, Moof, Moov, Trak, TrunSamples};
use serde_json::{Value, json};

/// What the review accepts. Missing fields in a configuration take the defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VideoRules {
    pub min_duration_seconds: f64,
    pub max_duration_seconds: f64,
    pub min_width: u32,
    pub min_height: u32,
    pub max_width: u32,
    pub max_height: u32,
    /// Sample-entry fourccs ("avc1", "hvc1", "hev1", "av01", "vp09", "mp4v"...), compared
    /// without regard to case; empty allows any codec.
    pub allowed_video_codecs: Vec<String>,
    pub require_audio: bool,
}

impl Default for VideoRules {
    fn default() -> Self {
        VideoRules {
            min_duration_seconds: 0.1,
            max_duration_seconds: 4.0 * 3600.0,
            min_width: 64,
            min_height: 64,
            max_width: 8192,
            max_height: 8192,
            allowed_video_codecs: ["avc1", "avc3", "hvc1", "hev1", "av01", "vp09", "mp4v"].map(String::from).to_vec(),
            require_audio: false,
        }
    }
}

/// What the container says about a video.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoFacts {
    /// "mp4" or "mov".
    pub container: String,
    pub duration_seconds: f64,
    /// The first video track's coded frame size; 0 without a video track.
    pub width: u32,
    pub height: u32,
    /// The first video track's sample-entry fourcc; `None` without a video track.
    pub video_codec: Option<String>,
    /// One fourcc per audio track, in track order.
    pub audio_codecs: Vec<String>,
    pub size_bytes: u64,
}

/// A `moov` larger than this is refused rather than held in memory. Four hours at 60 frames a
/// second index in about 20 MiB, so only a hostile or broken file comes near it.
const MAX_MOOV_BYTES: u64 = 256 << 20;
/// Enough for any real file; a file of millions of tiny boxes would otherwise cost a seek each.
const MAX_TOP_LEVEL_BOXES: usize = 100_000;
/// A fragment's index ('moof') is a few kilobytes; a larger one is not read.
const MAX_FRAGMENT_BYTES: u64 = 16 << 20;
/// `ftyp` lists a handful of brands; a large one is not a file type box.
const MAX_FTYP_BYTES: u64 = 64 << 10;

/// Reads the container's metadata from the start of `reader`, whose length is `size` bytes.
/// Err says in plain words why it is not a readable video.
pub fn inspect<R: Read + Seek>(mut reader: R, size: u64) -> Result<VideoFacts, String> {
    let top = read_top_level(&mut reader, size)?;
    let moov = Moov::decode(&mut top.moov.as_slice()).map_err(|e| format!("the 'moov' box is malformed: {e}"))?;
    let mut facts = facts(&top, &moov, size)?;
    if facts.duration_seconds == 0.0 && moov.mvex.is_some() {
        facts.duration_seconds = fragments_duration(&mut reader, top.end, size, &moov);
    }
    Ok(facts)
}

/// `inspect` on a file.
pub fn inspect_file(path: &Path) -> Result<VideoFacts, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let size = file.metadata().map_err(|e| format!("cannot read {}: {e}", path.display()))?.len();
    inspect(file, size)
}

/// Why the rules reject these facts (empty = approved).
pub fn judge(facts: &VideoFacts, rules: &VideoRules) -> Vec<String> {
    let mut reasons = Vec::new();
    let duration = facts.duration_seconds;
    if duration < rules.min_duration_seconds {
        reasons.push(format!(
            "duration {} is shorter than the minimum {}",
            seconds(duration),
            seconds(rules.min_duration_seconds)
        ));
    }
    if duration > rules.max_duration_seconds {
        reasons.push(format!(
            "duration {} is longer than the maximum {}",
            seconds(duration),
            seconds(rules.max_duration_seconds)
        ));
    }
    match &facts.video_codec {
        None => reasons.push("no video track".to_string()),
        Some(codec) => {
            let allowed = &rules.allowed_video_codecs;
            if !allowed.is_empty() && !allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(codec)) {
                reasons.push(format!("video codec '{codec}' is not allowed (allowed: {})", allowed.join(", ")));
            }
            let dimensions = [
                ("width", facts.width, rules.min_width, rules.max_width),
                ("height", facts.height, rules.min_height, rules.max_height),
            ];
            for (name, value, min, max) in dimensions {
                if value < min {
                    reasons.push(format!("{name} {value} px is below the minimum {min} px"));
                }
                if value > max {
                    reasons.push(format!("{name} {value} px is above the maximum {max} px"));
                }
            }
        }
    }
    if rules.require_audio && facts.audio_codecs.is_empty() {
        reasons.push("no audio track, and the rules require one".to_string());
    }
    reasons
}

/// The activity's answer: `{"verdict": "APPROVED"|"REJECTED", "reasons": [...], "video": facts
/// or null}`. An unreadable file is REJECTED with the reason rather than failing the task: what
/// to do with a bad upload is the workflow's decision.
pub fn review<R: Read + Seek>(reader: R, size: u64, rules: &VideoRules) -> Value {
    match inspect(reader, size) {
        Ok(facts) => {
            let reasons = judge(&facts, rules);
            let verdict = if reasons.is_empty() { "APPROVED" } else { "REJECTED" };
            // VideoFacts holds only strings and numbers: serialising it cannot fail.
            let video = serde_json::to_value(&facts).unwrap_or(Value::Null);
            json!({ "verdict": verdict, "reasons": reasons, "video": video })
        }
        Err(why) => {
            json!({ "verdict": "REJECTED", "reasons": [format!("not a readable video: {why}")], "video": null })
        }
    }
}

/// "2 s", "0.25 s": rules and reasons are read by people.
fn seconds(s: f64) -> String {
    let text = format!("{s:.3}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text} s")
}

/// The boxes the review needs, as their raw bytes (header included).
struct TopLevel {
    ftyp: Option<Ftyp>,
    moov: Vec<u8>,
    /// Where the box after 'moov' starts.
    end: u64,
}

/// Boxes a QuickTime or ISO media file may start with. Anything else at byte 0 means the file is
/// something else, which gives a clearer answer than a parse error further on.
const FIRST_BOXES: [&[u8; 4]; 8] = [b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"];

fn read_top_level<R: Read + Seek>(r: &mut R, size: u64) -> Result<TopLevel, String> {
    if size == 0 {
        return Err("the file is empty".into());
    }
    r.seek(SeekFrom::Start(0)).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut ftyp = None;
    let mut pos = 0u64;
    for index in 0..MAX_TOP_LEVEL_BOXES {
        if pos >= size {
            return Err(match ftyp {
                Some(_) => {
                    "no 'moov' box: the file holds no movie metadata (an incomplete upload or recording?)".into()
                }
                None => "not an MP4 or MOV file: it has neither a 'ftyp' nor a 'moov' box".into(),
            });
        }
        let (kind, header_len, box_len) = read_header(r, pos, size)?;
        if index == 0 && !FIRST_BOXES.contains(&&kind) {
            return Err(format!("not an MP4 or MOV file: it starts with {}, not a media box", show_kind(kind)));
        }
        let remaining = size - pos;
        if box_len < header_len {
            return Err(format!("the {} box at byte {pos} has an impossible size ({box_len} bytes)", show_kind(kind)));
        }
        if box_len > remaining {
            return Err(format!(
                "the file is cut short: the {} box at byte {pos} needs {box_len} bytes but only {remaining} remain",
                show_kind(kind)
            ));
        }
        match &kind {
            b"moov" => {
                if box_len > MAX_MOOV_BYTES {
                    return Err(format!(
                        "the 'moov' box is {} MiB, more than the {} MiB this check reads",
                        box_len >> 20,
                        MAX_MOOV_BYTES >> 20
                    ));
                }
                let moov = read_box(r, pos, box_len)?;
                return Ok(TopLevel { ftyp, moov, end: pos + box_len });
            }
            b"ftyp" if ftyp.is_none() => {
                if box_len > MAX_FTYP_BYTES {
                    return Err(format!("the 'ftyp' box is {box_len} bytes, too large to be a file type box"));
                }
                let bytes = read_box(r, pos, box_len)?;
                let decoded =
                    Ftyp::decode(&mut bytes.as_slice()).map_err(|e| format!("the 'ftyp' box is malformed: {e}"))?;
                ftyp = Some(decoded);
            }
            _ => {}
        }
        pos += box_len;
    }
    Err(format!("no 'moov' box among the first {MAX_TOP_LEVEL_BOXES} boxes"))
}

/// The box at `pos`: its kind, header length and total length (a length of 0 in the file means
/// "to the end of the file").
fn read_header<R: Read + Seek>(r: &mut R, pos: u64, size: u64) -> Result<([u8; 4], u64, u64), String> {
    let cut = |_| format!("the file is cut short inside the box header at byte {pos}");
    r.seek(SeekFrom::Start(pos)).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut header = [0u8; 8];
    r.read_exact(&mut header).map_err(cut)?;
    let [s0, s1, s2, s3, k0, k1, k2, k3] = header;
    let kind = [k0, k1, k2, k3];
    match u32::from_be_bytes([s0, s1, s2, s3]) {
        0 => Ok((kind, 8, size - pos)),
        1 => {
            let mut large = [0u8; 8];
            r.read_exact(&mut large).map_err(cut)?;
            Ok((kind, 16, u64::from_be_bytes(large)))
        }
        n => Ok((kind, 8, u64::from(n))),
    }
}

fn read_box<R: Read + Seek>(r: &mut R, pos: u64, len: u64) -> Result<Vec<u8>, String> {
    r.seek(SeekFrom::Start(pos)).map_err(|e| format!("cannot read the file: {e}"))?;
    // Grows as it reads: `len` comes from the file and the caller's `size` may be wrong.
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(1 << 20)).unwrap_or(0));
    r.take(len).read_to_end(&mut bytes).map_err(|e| format!("cannot read the file: {e}"))?;
    if (bytes.len() as u64) < len {
        return Err(format!(
            "the file is cut short: the box at byte {pos} needs {len} bytes but only {} could be read",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// `'moov'`, or `0x00ff1234` when the bytes are not printable.
fn show_kind(kind: [u8; 4]) -> String {
    if kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("'{}'", String::from_utf8_lossy(&kind))
    } else {
        format!("0x{}", kind.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

fn fourcc_text(fourcc: FourCC) -> String {
    let bytes: [u8; 4] = fourcc.into();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// A sample entry's fourcc. `Codec` names it only by variant, and its encoding starts with the
/// fourcc, so encoding the entry is the one way that stays right as the crate adds codecs.
fn codec_fourcc(codec: &Codec) -> String {
    if let Codec::Unknown(kind, _) = codec {
        return fourcc_text(*kind);
    }
    let mut bytes = Vec::new();
    match (codec.encode(&mut bytes), bytes.get(4..8)) {
        (Ok(()), Some(&[a, b, c, d])) => fourcc_text(FourCC::new(&[a, b, c, d])),
        _ => "unknown".to_string(),
    }
}

fn handler(trak: &Trak) -> [u8; 4] {
    trak.mdia.hdlr.handler.into()
}

fn facts(top: &TopLevel, moov: &Moov, size: u64) -> Result<VideoFacts, String> {
    let container = match &top.ftyp {
        Some(ftyp) if ftyp.major_brand != FourCC::new(b"qt  ") => "mp4",
        // QuickTime files name the "qt  " brand, and older ones have no 'ftyp' at all.
        _ => "mov",
    };
    let video = moov.trak.iter().find(|t| &handler(t) == b"vide");
    let entry = match video {
        Some(t) => Some(t.mdia.minf.stbl.stsd.codecs.first().ok_or("the video track has no sample description")?),
        None => None,
    };
    // The sample entry's size is the coded frame; 'tkhd' holds the display size, which
    // QuickTime leaves at 0 in some files, so it is only the fallback.
    let (width, height) = match (entry.and_then(Codec::visual), video) {
        (Some(v), _) if v.width > 0 && v.height > 0 => (u32::from(v.width), u32::from(v.height)),
        (_, Some(t)) => (u32::from(t.tkhd.width.integer()), u32::from(t.tkhd.height.integer())),
        _ => (0, 0),
    };
    let audio_codecs = moov
        .trak
        .iter()
        .filter(|t| &handler(t) == b"soun")
        .filter_map(|t| t.mdia.minf.stbl.stsd.codecs.first())
        .map(codec_fourcc)
        .collect();
    Ok(VideoFacts {
        container: container.to_string(),
        duration_seconds: duration_seconds(moov),
        width,
        height,
        video_codec: entry.map(codec_fourcc),
        audio_codecs,
        size_bytes: size,
    })
}

/// The movie header's duration; fragmented files often leave it 0 and give the fragments'
/// total in 'mehd', and failing that the longest track's own header is the best estimate.
fn duration_seconds(moov: &Moov) -> f64 {
    let scaled = |duration: u64, timescale: u32| {
        // All ones means "unknown" in the 32-bit and 64-bit header versions.
        if timescale == 0 || duration == u64::from(u32::MAX) || duration == u64::MAX {
            0.0
        } else {
            duration as f64 / f64::from(timescale)
        }
    };
    let movie = scaled(moov.mvhd.duration, moov.mvhd.timescale);
    if movie > 0.0 {
        return movie;
    }
    let fragments = moov
        .mvex
        .as_ref()
        .and_then(|m| m.mehd.as_ref())
        .map_or(0.0, |m| scaled(m.fragment_duration, moov.mvhd.timescale));
    if fragments > 0.0 {
        return fragments;
    }
    moov.trak.iter().map(|t| scaled(t.mdia.mdhd.duration, t.mdia.mdhd.timescale)).fold(0.0, f64::max)
}

/// A fragmented file (a live recording, CMAF) may state no duration at all: it lasts until its
/// last fragment ends, so this reads the fragments' small 'moof' indexes (seeking over their
/// media). Reading stops at the first box it cannot read, so a cut-short upload counts the
/// fragments it has.
fn fragments_duration<R: Read + Seek>(r: &mut R, mut pos: u64, size: u64, moov: &Moov) -> f64 {
    // Per track: where its media ends so far, in its own timescale.
    let mut ends: HashMap<u32, u64> = HashMap::new();
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        let Some(remaining) = size.checked_sub(pos).filter(|r| *r > 0) else { break };
        let Ok((kind, header_len, len)) = read_header(r, pos, size) else { break };
        if len < header_len || len > remaining {
            break;
        }
        if &kind == b"moof" {
            if len > MAX_FRAGMENT_BYTES {
                break;
            }
            let Ok(bytes) = read_box(r, pos, len) else { break };
            let Ok(moof) = Moof::decode(&mut bytes.as_slice()) else { break };
            for traf in &moof.traf {
                let id = traf.tfhd.track_id;
                let default = traf.tfhd.default_sample_duration.unwrap_or_else(|| {
                    let trex = moov.mvex.as_ref().and_then(|m| m.trex.iter().find(|t| t.track_id == id));
                    trex.map_or(0, |t| t.default_sample_duration)
                });
                let start = traf
                    .tfdt
                    .as_ref()
                    .map_or_else(|| ends.get(&id).copied().unwrap_or(0), |t| t.base_media_decode_time);
                let mut end = start;
                for run in &traf.trun {
                    end = match &run.samples {
                        TrunSamples::Inherited { count, .. } => {
                            end.saturating_add(u64::from(*count) * u64::from(default))
                        }
                        TrunSamples::Explicit(entries) => {
                            entries.iter().fold(end, |e, s| e.saturating_add(u64::from(s.duration.unwrap_or(default))))
                        }
                    };
                }
                ends.insert(id, end);
            }
        }
        pos += len;
    }
    let seconds = |(id, end): (&u32, &u64)| {
        let timescale = moov.trak.iter().find(|t| t.tkhd.track_id == *id).map_or(0, |t| t.mdia.mdhd.timescale);
        if timescale == 0 { 0.0 } else { *end as f64 / f64::from(timescale) }
    };
    ends.iter().map(seconds).fold(0.0, f64::max)
}

/// Real MP4 files for tests, benchmarks and demos, written with `mp4-atom`'s encoder.
///
/// The layout is ftyp, mdat, moov: the order a camera or a plain encoder writes (the index
/// comes last, once the media is known), which is also the case that makes the check seek
/// past the media. The H.264 parameter sets are real (the SPS carries the frame size); the
/// frames are well-framed NAL units with filler payloads, since only the container is checked.
pub mod sample {
    use mp4_atom::Encode as _;
    use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor};
    use mp4_atom::{
        Audio, Avc1, Avcc, Codec, Dinf, Dref, DrefEntry, Esds, FourCC, Ftyp, Hdlr, Matrix, Mdat, Mdhd, Mdia, Minf,
        Moov, Mp4a, Mvhd, Smhd, Stbl, Stco, Stsc, StscEntry, Stsd, Stsz, StszSamples, Stts, SttsEntry, Tkhd, Trak, Url,
        Visual, Vmhd,
    };

    const FPS: u32 = 30;
    const VIDEO_TIMESCALE: u32 = 90_000;
    const AUDIO_RATE: u32 = 44_100;
    /// AAC frames are 1024 samples long.
    const AAC_FRAME: u32 = 1024;

    /// An H.264 (avc1) video-only MP4 of `width` x `height` lasting `seconds` at 30 frames a
    /// second. Sizes above 65535 are clamped (the format's limit); a negative or non-finite
    /// duration gives a one-frame file of duration 0.
    pub fn mp4(width: u32, height: u32, seconds: f64) -> Vec<u8> {
        let w = u16::try_from(width).unwrap_or(u16::MAX);
        let h = u16::try_from(height).unwrap_or(u16::MAX);
        let total = ticks(seconds, VIDEO_TIMESCALE);
        let frames = frame_count(total, VIDEO_TIMESCALE / FPS);
        let samples: Vec<Vec<u8>> = (0..frames).map(|i| video_frame(i == 0)).collect();
        let avc1 = Avc1 {
            visual: Visual {
                data_reference_index: 1,
                width: w,
                height: h,
                compressor: "stepwise".into(),
                ..Default::default()
            },
            avcc: Avcc {
                configuration_version: 1,
                avc_profile_indication: 66,
                profile_compatibility: 0xC0,
                avc_level_indication: 40,
                length_size: 4,
                sequence_parameter_sets: vec![sps(w, h)],
                picture_parameter_sets: vec![pps()],
                ext: None,
            },
            btrt: None,
            colr: None,
            pasp: None,
            taic: None,
            fiel: None,
            spatial: None,
        };
        let track = Track {
            handler: *b"vide",
            name: "VideoHandler",
            timescale: VIDEO_TIMESCALE,
            total,
            frame_ticks: VIDEO_TIMESCALE / FPS,
            codec: avc1.into(),
            width: w,
            height: h,
        };
        file(track, seconds, &samples)
    }

    /// An AAC (mp4a) audio-only MP4 lasting `seconds`: a container with no video track.
    pub fn mp4_audio_only(seconds: f64) -> Vec<u8> {
        let total = ticks(seconds, AUDIO_RATE);
        let frames = frame_count(total, AAC_FRAME);
        // 0x21 opens an AAC raw data block; the rest is filler.
        let samples: Vec<Vec<u8>> = (0..frames).map(|_| [0x21, 0x10, 0x04, 0x60, 0x8C, 0x1C].to_vec()).collect();
        let mp4a = Mp4a {
            audio: Audio { data_reference_index: 1, channel_count: 2, sample_size: 16, sample_rate: 44_100u16.into() },
            esds: Esds {
                es_desc: EsDescriptor {
                    es_id: 1,
                    dec_config: DecoderConfig {
                        // MPEG-4 audio in an audio stream.
                        object_type_indication: 0x40,
                        stream_type: 0x05,
                        up_stream: 0,
                        dec_specific: Some(DecoderSpecific {
                            profile: 2,
                            freq_index: 4,
                            chan_conf: 2,
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            btrt: None,
            taic: None,
        };
        let track = Track {
            handler: *b"soun",
            name: "SoundHandler",
            timescale: AUDIO_RATE,
            total,
            frame_ticks: AAC_FRAME,
            codec: mp4a.into(),
            width: 0,
            height: 0,
        };
        file(track, seconds, &samples)
    }

    struct Track {
        handler: [u8; 4],
        name: &'static str,
        timescale: u32,
        /// Duration in `timescale` units; the samples add up to it exactly.
        total: u64,
        frame_ticks: u32,
        codec: Codec,
        width: u16,
        height: u16,
    }

    fn ticks(seconds: f64, timescale: u32) -> u64 {
        if seconds.is_finite() && seconds > 0.0 {
            // Saturates: `as` from a float clamps to the integer's range.
            (seconds * f64::from(timescale)).round() as u64
        } else {
            0
        }
    }

    fn frame_count(total: u64, frame_ticks: u32) -> u32 {
        u32::try_from(total.div_ceil(u64::from(frame_ticks)).max(1)).unwrap_or(u32::MAX)
    }

    /// Every frame lasts `frame_ticks` except the last, which takes what is left.
    fn durations(total: u64, frames: u32, frame_ticks: u32) -> Vec<SttsEntry> {
        let before_last = u64::from(frames.saturating_sub(1)) * u64::from(frame_ticks);
        let last = u32::try_from(total.saturating_sub(before_last)).unwrap_or(u32::MAX);
        let mut entries = Vec::new();
        if frames > 1 {
            entries.push(SttsEntry { sample_count: frames - 1, sample_delta: frame_ticks });
        }
        entries.push(SttsEntry { sample_count: 1, sample_delta: last });
        entries
    }

    fn file(track: Track, seconds: f64, samples: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        let ftyp = Ftyp {
            major_brand: FourCC::new(b"isom"),
            minor_version: 512,
            compatible_brands: [b"isom", b"iso2", b"avc1", b"mp41"].map(FourCC::new).to_vec(),
        };
        // Encoding these in-memory values only fails for boxes over 4 GiB, which a sample
        // never is; an empty result would be caught by any test that reads it.
        let _ = ftyp.encode(&mut out);
        let mdat_start = out.len();
        let _ = Mdat { data: samples.concat() }.encode(&mut out);
        let chunk_offset = u32::try_from(mdat_start + 8).unwrap_or(u32::MAX);
        let movie_ms = ticks(seconds, 1000);
        let frames = u32::try_from(samples.len()).unwrap_or(u32::MAX);
        let is_video = &track.handler == b"vide";
        let stbl = Stbl {
            stsd: Stsd { codecs: vec![track.codec] },
            stts: Stts { entries: durations(track.total, frames, track.frame_ticks) },
            stsc: Stsc {
                entries: vec![StscEntry { first_chunk: 1, samples_per_chunk: frames, sample_description_index: 1 }],
            },
            stsz: Stsz {
                samples: StszSamples::Different {
                    sizes: samples.iter().map(|s| u32::try_from(s.len()).unwrap_or(u32::MAX)).collect(),
                },
            },
            stco: Some(Stco { entries: vec![chunk_offset] }),
            ..Default::default()
        };
        let minf = Minf {
            vmhd: is_video.then(Vmhd::default),
            smhd: (!is_video).then(Smhd::default),
            dinf: Dinf { dref: Dref { entries: vec![DrefEntry::Url(Url::default())] } },
            stbl,
            ..Default::default()
        };
        let moov = Moov {
            mvhd: Mvhd {
                timescale: 1000,
                duration: movie_ms,
                rate: 1.into(),
                volume: 1.into(),
                matrix: Matrix::default(),
                next_track_id: 2,
                ..Default::default()
            },
            trak: vec![Trak {
                tkhd: Tkhd {
                    track_id: 1,
                    duration: movie_ms,
                    enabled: true,
                    in_movie: true,
                    volume: if is_video { 0.into() } else { 1.into() },
                    matrix: Matrix::default(),
                    width: track.width.into(),
                    height: track.height.into(),
                    ..Default::default()
                },
                mdia: Mdia {
                    mdhd: Mdhd {
                        timescale: track.timescale,
                        duration: track.total,
                        language: "und".into(),
                        ..Default::default()
                    },
                    hdlr: Hdlr { handler: FourCC::new(&track.handler), name: track.name.into() },
                    minf,
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let _ = moov.encode(&mut out);
        out
    }

    /// A length-prefixed NAL unit: an IDR slice for the first frame, a non-IDR slice after.
    fn video_frame(key: bool) -> Vec<u8> {
        let nal: &[u8] = if key { &[0x65, 0x88, 0x84, 0x00, 0x33, 0xFF] } else { &[0x41, 0x9A, 0x02, 0x0C, 0x0F] };
        let mut frame = u32::try_from(nal.len()).unwrap_or(0).to_be_bytes().to_vec();
        frame.extend_from_slice(nal);
        frame
    }

    /// A Baseline-profile sequence parameter set whose macroblock count and cropping give
    /// exactly `width` x `height` (to the 2-pixel step 4:2:0 cropping allows).
    fn sps(width: u16, height: u16) -> Vec<u8> {
        let mb_w = u32::from(width).div_ceil(16).max(1);
        let mb_h = u32::from(height).div_ceil(16).max(1);
        let crop_right = (mb_w * 16).saturating_sub(u32::from(width)) / 2;
        let crop_bottom = (mb_h * 16).saturating_sub(u32::from(height)) / 2;
        let mut bits = Bits::default();
        bits.u(8, 66); // profile_idc: Baseline
        bits.u(8, 0xC0); // constraint_set0 and 1
        bits.u(8, 40); // level_idc 4.0
        bits.ue(0); // seq_parameter_set_id
        bits.ue(0); // log2_max_frame_num_minus4
        bits.ue(2); // pic_order_cnt_type
        bits.ue(1); // max_num_ref_frames
        bits.u(1, 0); // gaps_in_frame_num_value_allowed_flag
        bits.ue(mb_w - 1);
        bits.ue(mb_h - 1);
        bits.u(1, 1); // frame_mbs_only_flag
        bits.u(1, 1); // direct_8x8_inference_flag
        let crop = crop_right > 0 || crop_bottom > 0;
        bits.u(1, u32::from(crop));
        if crop {
            bits.ue(0);
            bits.ue(crop_right);
            bits.ue(0);
            bits.ue(crop_bottom);
        }
        bits.u(1, 0); // vui_parameters_present_flag
        bits.nal(0x67)
    }

    fn pps() -> Vec<u8> {
        let mut bits = Bits::default();
        bits.ue(0); // pic_parameter_set_id
        bits.ue(0); // seq_parameter_set_id
        bits.u(1, 0); // entropy_coding_mode_flag: CAVLC, as Baseline requires
        bits.u(1, 0); // bottom_field_pic_order_in_frame_present_flag
        bits.ue(0); // num_slice_groups_minus1
        bits.ue(0); // num_ref_idx_l0_default_active_minus1
        bits.ue(0); // num_ref_idx_l1_default_active_minus1
        bits.u(1, 0); // weighted_pred_flag
        bits.u(2, 0); // weighted_bipred_idc
        bits.ue(0); // pic_init_qp_minus26 (se(0) and ue(0) are both one '1' bit)
        bits.ue(0); // pic_init_qs_minus26
        bits.ue(0); // chroma_qp_index_offset
        bits.u(1, 1); // deblocking_filter_control_present_flag
        bits.u(1, 0); // constrained_intra_pred_flag
        bits.u(1, 0); // redundant_pic_cnt_present_flag
        bits.nal(0x68)
    }

    /// An H.264 RBSP bit writer.
    #[derive(Default)]
    struct Bits {
        bytes: Vec<u8>,
        used: u32,
    }

    impl Bits {
        fn u(&mut self, count: u32, value: u32) {
            for i in (0..count).rev() {
                if self.used.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                if (value >> i) & 1 == 1
                    && let Some(last) = self.bytes.last_mut()
                {
                    *last |= 0x80 >> (self.used % 8);
                }
                self.used += 1;
            }
        }

        /// Exp-Golomb: `value + 1` in binary, after as many zeros as it has bits less one.
        fn ue(&mut self, value: u32) {
            let coded = u64::from(value) + 1;
            let len = 64 - coded.leading_zeros();
            self.u(len - 1, 0);
            for i in (0..len).rev() {
                self.u(1, u32::from((coded >> i) & 1 == 1));
            }
        }

        /// The NAL unit: header byte, RBSP with its stop bit, emulation prevention applied.
        fn nal(mut self, header: u8) -> Vec<u8> {
            self.u(1, 1);
            let mut out = vec![header];
            let mut zeros = 0;
            for b in self.bytes {
                if zeros >= 2 && b <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                out.push(b);
                zeros = if b == 0 { zeros + 1 } else { 0 };
            }
            out
        }
    }
}
