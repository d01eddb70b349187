//! Choosing a capture format (pure): MJPEG at the configured size if the camera has it (small
//! frames, cheap to keep streaming), else YUYV, else NV12, else YU12 (planar YUV 4:2:0); at the
//! configured size if any format has it, else the nearest size.

use std::fmt;

/// A V4L2 pixel format code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub const MJPG: FourCc = FourCc(*b"MJPG");
    pub const YUYV: FourCc = FourCc(*b"YUYV");
    pub const NV12: FourCc = FourCc(*b"NV12");
    /// Planar YUV 4:2:0 (I420): a Y plane, then U, then V.
    pub const YU12: FourCc = FourCc(*b"YU12");
    /// The formats we can make photos from, best first. The raw ones cost the same to turn
    /// into a photo (the pipeline resizes their planes straight to the output); NV12 and YU12
    /// carry half the bytes of YUYV per frame.
    pub const PREFERRED: [FourCc; 4] = [FourCc::MJPG, FourCc::YUYV, FourCc::NV12, FourCc::YU12];
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// The sizes a camera offers for one format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sizes {
    Discrete(Vec<(u32, u32)>),
    /// Any size in the range, in steps (also "continuous", with step 1).
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

/// One format a camera offers (VIDIOC_ENUM_FMT + VIDIOC_ENUM_FRAMESIZES).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatDesc {
    pub fourcc: FourCc,
    pub sizes: Sizes,
}

/// A format to ask for, or the one the driver settled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}x{}", self.fourcc, self.width, self.height)
    }
}

impl Sizes {
    fn has(&self, (w, h): (u32, u32)) -> bool {
        match self {
            Sizes::Discrete(list) => list.contains(&(w, h)),
            Sizes::Stepwise { min, max, step } => {
                let fits = |v: u32, lo: u32, hi: u32, st: u32| {
                    (lo..=hi).contains(&v) && (v - lo) % st.max(1) == 0
                };
                fits(w, min.0, max.0, step.0) && fits(h, min.1, max.1, step.1)
            }
        }
    }

    /// The offered size nearest to `want`: the smallest that covers it, else the largest.
    fn nearest(&self, want: (u32, u32)) -> Option<(u32, u32)> {
        let list: Vec<(u32, u32)> = match self {
            Sizes::Discrete(list) => list.clone(),
            Sizes::Stepwise { min, max, step } => {
                // Round the wanted size into the range, onto the step grid.
                let snap = |v: u32, lo: u32, hi: u32, st: u32| {
                    let v = v.clamp(lo, hi);
                    let st = st.max(1);
                    (lo + (v - lo).div_ceil(st) * st).min(hi - (hi - lo) % st)
                };
                vec![(
                    snap(want.0, min.0, max.0, step.0),
                    snap(want.1, min.1, max.1, step.1),
                )]
            }
        };
        let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        let covering = list
            .iter()
            .filter(|(w, h)| *w >= want.0 && *h >= want.1)
            .min_by_key(|s| area(**s));
        covering
            .or_else(|| list.iter().max_by_key(|s| area(**s)))
            .copied()
    }
}

/// The formats to try, best first: each preferred format at the wanted size where offered,
/// then each at its nearest size. Formats we cannot use are never tried.
pub fn candidates(offered: &[FormatDesc], want: (u32, u32)) -> Vec<Format> {
    let usable = |fourcc: FourCc| offered.iter().filter(move |d| d.fourcc == fourcc);
    let mut out: Vec<Format> = Vec::new();
    let mut push = |f: Format| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    for fourcc in FourCc::PREFERRED {
        if usable(fourcc).any(|d| d.sizes.has(want)) {
            push(Format {
                fourcc,
                width: want.0,
                height: want.1,
            });
        }
    }
    for fourcc in FourCc::PREFERRED {
        for d in usable(fourcc) {
            if let Some((width, height)) = d.sizes.nearest(want) {
                push(Format {
                    fourcc,
                    width,
                    height,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discrete(fourcc: FourCc, sizes: &[(u32, u32)]) -> FormatDesc {
        FormatDesc {
            fourcc,
            sizes: Sizes::Discrete(sizes.to_vec()),
        }
    }

    const HD: (u32, u32) = (1920, 1080);

    #[test]
    fn mjpeg_at_the_configured_size_comes_first() {
        let offered = [
            discrete(FourCc::YUYV, &[(640, 480), HD]),
            discrete(FourCc::MJPG, &[(640, 480), (1280, 720), HD]),
        ];
        let c = candidates(&offered, HD);
        assert_eq!(c[0].to_string(), "MJPG 1920x1080");
        assert_eq!(c[1].to_string(), "YUYV 1920x1080");
    }

    /// A camera whose MJPEG stops at 720p but has YUYV at 1080p: the size wins over the
    /// format (the photo is what people keep), MJPEG at 720p is the next try.
    #[test]
    fn yuyv_at_the_size_beats_mjpeg_at_a_smaller_one() {
        let offered = [
            discrete(FourCc::MJPG, &[(640, 480), (1280, 720)]),
            discrete(FourCc::YUYV, &[HD]),
        ];
        let c = candidates(&offered, HD);
        assert_eq!(c[0].to_string(), "YUYV 1920x1080");
        assert_eq!(c[1].to_string(), "MJPG 1280x720");
    }

    /// NV12 only (many CSI bridges and ISPs): used, at the nearest size covering the wish.
    #[test]
    fn nv12_is_the_last_fallback() {
        let offered = [
            discrete(FourCc(*b"RGGB"), &[HD]),
            FormatDesc {
                fourcc: FourCc::NV12,
                sizes: Sizes::Stepwise {
                    min: (32, 32),
                    max: (4608, 2592),
                    step: (64, 2),
                },
            },
        ];
        let c = candidates(&offered, HD);
        // 1920 = 32 + 29.5*64 is off the grid: rounded up to 1952.
        assert_eq!(
            c,
            vec![Format {
                fourcc: FourCc::NV12,
                width: 1952,
                height: 1080
            }]
        );
    }

    #[test]
    fn nearest_size_covers_the_wish_or_is_the_largest() {
        let offered = [discrete(
            FourCc::MJPG,
            &[(640, 480), (2592, 1944), (1280, 720)],
        )];
        assert_eq!(candidates(&offered, HD)[0].to_string(), "MJPG 2592x1944");
        assert_eq!(
            candidates(&offered, (4000, 3000))[0].to_string(),
            "MJPG 2592x1944"
        );
    }

    /// Planar YUV 4:2:0 only (some CSI bridges and the Pi's ISP offer YU12 beside NV12): used.
    #[test]
    fn yu12_is_used_after_nv12() {
        let offered = [
            discrete(FourCc::YU12, &[HD]),
            discrete(FourCc::NV12, &[(1280, 720)]),
        ];
        let c = candidates(&offered, HD);
        assert_eq!(c[0].to_string(), "YU12 1920x1080");
        assert_eq!(c[1].to_string(), "NV12 1280x720");
        let only = [discrete(FourCc::YU12, &[(640, 480)])];
        assert_eq!(candidates(&only, HD)[0].to_string(), "YU12 640x480");
    }

    #[test]
    fn nothing_usable_gives_no_candidates() {
        let offered = [discrete(FourCc(*b"H264"), &[HD])];
        assert!(candidates(&offered, HD).is_empty());
    }
}
