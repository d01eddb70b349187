//! Operator videos for Reels: is this file an MP4 Instagram takes? Reads only box headers and
//! the `moov` box (the media data is skipped with a seek), so checking a long clip is cheap.
//!
//! Checked: an `ftyp` box first; the duration from `mvhd` (3 to 90 seconds for a Reel); the
//! codecs from each track's `stsd` sample entry (H.264 `avc1`/`avc3` video, AAC `mp4a` audio if
//! there is audio); at most 1 GiB. The booth never encodes video itself.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const MIN_SECS: f64 = 3.0;
pub const MAX_SECS: f64 = 90.0;
pub const MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// A `moov` larger than this is not a phone or camera clip; refusing it bounds memory.
const MAX_MOOV: u64 = 32 * 1024 * 1024;

/// What the check found out.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    pub bytes: u64,
    pub duration_secs: f64,
    /// Sample entry types, e.g. `["avc1", "mp4a"]`.
    pub codecs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("cannot read {0}")]
    Io(#[from] std::io::Error),
    #[error("not an MP4 file (it does not start with an ftyp box): Reels take MP4 (H.264/AAC)")]
    NotMp4,
    #[error("the MP4 is damaged or cut short: {0}")]
    Damaged(String),
    #[error("the video is {secs:.1} s long; a Reel must be 3 to 90 s: trim it")]
    BadDuration { secs: f64 },
    #[error("the video uses {codec}; Reels need {want}: re-encode it (e.g. ffmpeg -c:v libx264 -c:a aac)")]
    BadCodec { codec: String, want: &'static str },
    #[error("the video is {bytes} bytes; Instagram takes at most 1 GiB")]
    TooLarge { bytes: u64 },
}

/// Checks the MP4 at `path`.
pub fn check(path: &Path) -> Result<VideoInfo, VideoError> {
    let mut file = File::open(path)?;
    let bytes = file.metadata()?.len();
    if bytes > MAX_BYTES {
        return Err(VideoError::TooLarge { bytes });
    }
    let mut head = [0u8; 8];
    if file.read_exact(&mut head).is_err() || &head[4..8] != b"ftyp" {
        return Err(VideoError::NotMp4);
    }
    let mut moov = None;
    let mut offset = 0u64;
    let mut first = true;
    while offset < bytes {
        file.seek(SeekFrom::Start(offset))?;
        let Some((kind, header, size)) = read_header(&mut file, bytes - offset)? else {
            break;
        };
        if first && &kind != b"ftyp" {
            return Err(VideoError::NotMp4);
        }
        first = false;
        if &kind == b"moov" {
            let body = size - header;
            if body > MAX_MOOV {
                return Err(VideoError::Damaged(format!("a {body}-byte moov box")));
            }
            let mut data = vec![0; body as usize];
            file.read_exact(&mut data)?;
            moov = Some(data);
        }
        offset += size;
    }
    if first {
        return Err(VideoError::NotMp4);
    }
    let moov = moov.ok_or_else(|| VideoError::Damaged("no moov box".into()))?;
    let info = parse_moov(&moov, bytes)?;
    if !(MIN_SECS..=MAX_SECS).contains(&info.duration_secs) {
        return Err(VideoError::BadDuration {
            secs: info.duration_secs,
        });
    }
    let video = ["avc1", "avc3", "hvc1", "hev1", "vp09", "av01", "mp4v"];
    for codec in &info.codecs {
        match codec.as_str() {
            "avc1" | "avc3" | "mp4a" => {}
            c if video.contains(&c) => {
                return Err(VideoError::BadCodec {
                    codec: c.to_string(),
                    want: "H.264 video",
                })
            }
            c => {
                return Err(VideoError::BadCodec {
                    codec: c.to_string(),
                    want: "AAC audio",
                })
            }
        }
    }
    if !info.codecs.iter().any(|c| c == "avc1" || c == "avc3") {
        return Err(VideoError::BadCodec {
            codec: "no video track".into(),
            want: "H.264 video",
        });
    }
    Ok(info)
}

/// A box header at the reader's position: type, header length, whole size. `None` at the end.
fn read_header(r: &mut impl Read, left: u64) -> Result<Option<([u8; 4], u64, u64)>, VideoError> {
    if left < 8 {
        return Ok(None);
    }
    let mut h = [0u8; 8];
    r.read_exact(&mut h)?;
    let kind = [h[4], h[5], h[6], h[7]];
    let (header, size) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
        0 => (8, left),
        1 => {
            let mut large = [0u8; 8];
            r.read_exact(&mut large)?;
            (16, u64::from_be_bytes(large))
        }
        n => (8, u64::from(n)),
    };
    if size < header || size > left {
        return Err(VideoError::Damaged(format!(
            "box {} claims {size} bytes, {left} left",
            String::from_utf8_lossy(&kind)
        )));
    }
    Ok(Some((kind, header, size)))
}

/// A box: its four-character type and its body.
type Mp4Box<'a> = ([u8; 4], &'a [u8]);

/// The boxes directly inside `data`.
fn children(data: &[u8]) -> Result<Vec<Mp4Box<'_>>, VideoError> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i + 8 <= data.len() {
        let mut cursor = &data[i..];
        let Some((kind, header, size)) = read_header(&mut cursor, (data.len() - i) as u64)? else {
            break;
        };
        out.push((kind, &data[i + header as usize..i + size as usize]));
        i += size as usize;
    }
    Ok(out)
}

fn parse_moov(moov: &[u8], bytes: u64) -> Result<VideoInfo, VideoError> {
    let be32 = |b: &[u8], at: usize| -> Result<u64, VideoError> {
        b.get(at..at + 4)
            .map(|s| u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
            .ok_or_else(|| VideoError::Damaged("a short box".into()))
    };
    let be64 = |b: &[u8], at: usize| -> Result<u64, VideoError> {
        b.get(at..at + 8)
            .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")))
            .ok_or_else(|| VideoError::Damaged("a short box".into()))
    };
    let boxes = children(moov)?;
    let mvhd = boxes
        .iter()
        .find(|(k, _)| k == b"mvhd")
        .map(|(_, b)| *b)
        .ok_or_else(|| VideoError::Damaged("no mvhd box".into()))?;
    let (timescale, duration) = match mvhd.first() {
        Some(1) => (be32(mvhd, 20)?, be64(mvhd, 24)?),
        Some(0) => (be32(mvhd, 12)?, be32(mvhd, 16)?),
        _ => return Err(VideoError::Damaged("unknown mvhd version".into())),
    };
    if timescale == 0 {
        return Err(VideoError::Damaged("mvhd timescale is 0".into()));
    }
    let mut codecs = Vec::new();
    for (_, trak) in boxes.iter().filter(|(k, _)| k == b"trak") {
        // trak → mdia → minf → stbl → stsd → first sample entry.
        let mut level = *trak;
        for name in [b"mdia", b"minf", b"stbl", b"stsd"] {
            match children(level)?.into_iter().find(|(k, _)| k == name) {
                Some((_, body)) => level = body,
                None => {
                    level = &[];
                    break;
                }
            }
        }
        // stsd: version/flags (4), entry count (4), then sample entries as boxes.
        if level.len() > 8 {
            if let Some((kind, _)) = children(&level[8..])?.first() {
                codecs.push(String::from_utf8_lossy(kind).into_owned());
            }
        }
    }
    Ok(VideoInfo {
        bytes,
        duration_secs: duration as f64 / timescale as f64,
        codecs,
    })
}

/// A small MP4 with the boxes [`check`] reads, for tests and the simulator: `ftyp`, `moov`
/// (mvhd with the duration, one H.264 and one AAC track) and `mdat` with `payload`.
pub fn synthetic_mp4(duration_secs: u32, payload: &[u8]) -> Vec<u8> {
    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }
    let track = |entry: &[u8; 4]| {
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(boxed(entry, &[0; 8]));
        let stbl = boxed(b"stbl", &boxed(b"stsd", &stsd));
        let minf = boxed(b"minf", &stbl);
        boxed(b"trak", &boxed(b"mdia", &minf))
    };
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[16..20].copy_from_slice(&(duration_secs * 1000).to_be_bytes());
    let mut moov = boxed(b"mvhd", &mvhd);
    moov.extend(track(b"avc1"));
    moov.extend(track(b"mp4a"));
    let mut out = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    out.extend(boxed(b"moov", &moov));
    out.extend(boxed(b"mdat", payload));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    #[test]
    fn a_good_clip_is_measured() {
        let f = write(&synthetic_mp4(12, &[7; 5000]));
        let info = check(f.path()).unwrap();
        assert_eq!(info.duration_secs, 12.0);
        assert_eq!(info.codecs, ["avc1", "mp4a"]);
    }

    #[test]
    fn the_moov_may_come_after_the_media() {
        let mp4 = synthetic_mp4(5, &[1; 300]);
        // ftyp, then mdat, then moov: as most cameras write it.
        let ftyp_len = u32::from_be_bytes(mp4[0..4].try_into().unwrap()) as usize;
        let moov_len = u32::from_be_bytes(mp4[ftyp_len..ftyp_len + 4].try_into().unwrap()) as usize;
        let mut moved = mp4[..ftyp_len].to_vec();
        moved.extend_from_slice(&mp4[ftyp_len + moov_len..]);
        moved.extend_from_slice(&mp4[ftyp_len..ftyp_len + moov_len]);
        assert_eq!(check(write(&moved).path()).unwrap().duration_secs, 5.0);
    }

    #[test]
    fn wrong_files_say_what_is_wrong() {
        let e = check(write(b"hello, this is text").path()).unwrap_err();
        assert!(matches!(e, VideoError::NotMp4), "{e}");
        let e = check(write(&synthetic_mp4(2, &[0; 10])).path()).unwrap_err();
        assert!(e.to_string().contains("2.0 s"), "{e}");
        let e = check(write(&synthetic_mp4(91, &[0; 10])).path()).unwrap_err();
        assert!(matches!(e, VideoError::BadDuration { .. }), "{e}");
        let mut hevc = synthetic_mp4(10, &[0; 10]);
        let at = hevc.windows(4).position(|w| w == b"avc1").unwrap();
        // The ftyp brand list also says avc1; replace the sample entry, the second one.
        let at = at
            + 4
            + hevc[at + 4..]
                .windows(4)
                .position(|w| w == b"avc1")
                .unwrap();
        hevc[at..at + 4].copy_from_slice(b"hvc1");
        let e = check(write(&hevc).path()).unwrap_err();
        assert!(
            e.to_string().contains("hvc1") && e.to_string().contains("H.264"),
            "{e}"
        );
        let mut cut = synthetic_mp4(10, &[0; 1000]);
        cut.truncate(cut.len() - 500);
        let e = check(write(&cut).path()).unwrap_err();
        assert!(matches!(e, VideoError::Damaged(_)), "{e}");
    }
}
