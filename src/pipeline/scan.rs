//! Is a JPEG's entropy-coded data whole and sane? USB bit errors inside an MJPEG frame's scan
//! are not caught by the decoders: jpeg-decoder and zune-jpeg (even in its strict mode) decode
//! almost every such frame to a picture with garbage from the damaged block on. This walks the
//! Huffman-coded scan without dequantizing or transforming anything and refuses a frame when
//! - a code is not in its Huffman table, or a coefficient size or run is impossible (AC size
//!   over 10, DC size over 11, a run past the 64th coefficient);
//! - a coefficient is larger than any 8x8 block of 8-bit samples can produce (dequantized DC
//!   outside -1024..1016 or AC beyond 2x the DCT's bound, with slack for rounding): a bit error
//!   throws the DC predictor off for every later block, which soon leaves that range;
//! - the data ends (EOI or another marker) before the last block, or more than a few bytes are
//!   left over after it: the decoder lost step somewhere;
//! - restart markers are missing or out of sequence.
//!
//! Baseline and extended-sequential Huffman JPEGs with 8-bit samples are checked (what cameras
//! send); others (progressive, arithmetic, 12-bit, lossless) pass unchecked and are left to
//! the decoder. Frames without Huffman tables use the standard ones (MJPEG, as the decoders
//! assume).
//!
//! What it cannot see: a flipped bit that changes one coefficient's value without breaking the
//! code stream (a small blemish in one 8x8 block), or a desync that happens to land back in
//! step with values in range (then often a brightness shift below that point).
//!
//! Measured on a real photo (a 1920x1080 crop of jpeg-decoder's bench image large_image.jpg,
//! cjpeg q90 4:2:2), 300 places in the scan per kind: 1 KiB or 3 KiB lost or zeroed: 900 of
//! 900 refused, with or without restart markers (zune-jpeg strict: 1; jpeg-decoder: 0 without
//! restart markers, 602 with). One flipped bit or byte: of the frames it visibly damaged (over
//! 1000 pixels off by more than 24), 187 of 215 refused without restart markers (decoders: 1),
//! 111 of 147 with a restart marker per MCU row (jpeg-decoder: 38), where the damage left is
//! at most one MCU row. Tests: `pipeline::tests::mjpeg_frames_with_*`.

/// Whole bytes that may follow the last block of a scan or restart interval before the
/// marker: an encoder may pad a byte; anything more is data the walk did not use.
const LEFTOVER_BYTES: usize = 2;
/// |dequantized AC| of an 8x8 block of 8-bit samples is at most 928 (the DCT's bound); twice
/// that leaves room for any encoder's rounding.
const AC_LIMIT: i32 = 2048;
/// |dequantized DC| is at most 1024; the slack covers rounding by the quantizer.
const DC_LIMIT: i32 = 1024;

/// Why a scan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} (block {block} of {blocks})")]
pub struct ScanError {
    pub what: String,
    pub block: u64,
    pub blocks: u64,
}

/// A header problem, reported without a position.
fn header(what: &str) -> ScanError {
    ScanError {
        what: what.to_string(),
        block: 0,
        blocks: 0,
    }
}

struct Huffman {
    /// Codes of up to LOOKUP bits: (length, value); length 0 = longer code or none.
    fast: Vec<(u8, u8)>,
    /// For lengths 1..=16: the largest code of that length (-1 if none) ...
    maxcode: [i32; 17],
    /// ... and the index in `values` of its first code minus that code.
    offset: [i32; 17],
    values: Vec<u8>,
}

const LOOKUP: u32 = 9;

impl Huffman {
    fn new(bits: &[u8; 16], values: &[u8]) -> Result<Self, ScanError> {
        let mut fast = vec![(0u8, 0u8); 1 << LOOKUP];
        let mut maxcode = [-1i32; 17];
        let mut offset = [0i32; 17];
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16usize {
            let n = usize::from(bits[len - 1]);
            if k + n > values.len() {
                return Err(header("a Huffman table is shorter than its code counts"));
            }
            offset[len] = k as i32 - code;
            for _ in 0..n {
                if code >= 1 << len {
                    return Err(header("a Huffman table has more codes than fit"));
                }
                if len as u32 <= LOOKUP {
                    let shift = LOOKUP - len as u32;
                    let first = (code as usize) << shift;
                    for e in &mut fast[first..first + (1 << shift)] {
                        *e = (len as u8, values[k]);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        Ok(Self {
            fast,
            maxcode,
            offset,
            values: values[..k].to_vec(),
        })
    }
}

/// Reads the entropy-coded bytes of one restart interval (or scan), undoing FF00 stuffing and
/// stopping at the first marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// Left-aligned: the next bit is bit 63.
    acc: u64,
    /// Real (not padding) bits in `acc`.
    n: u32,
    /// A marker (or the end of the data) is at `pos`: no more bytes.
    ended: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            n: 0,
            ended: false,
        }
    }

    fn fill(&mut self) {
        while self.n <= 56 && !self.ended {
            match self.data.get(self.pos) {
                None => self.ended = true,
                Some(&0xFF) => match self.data.get(self.pos + 1) {
                    Some(0x00) => {
                        self.pos += 2;
                        self.acc |= 0xFF << (56 - self.n);
                        self.n += 8;
                    }
                    // Fill bytes before a marker.
                    Some(0xFF) => self.pos += 1,
                    _ => self.ended = true,
                },
                Some(&b) => {
                    self.pos += 1;
                    self.acc |= u64::from(b) << (56 - self.n);
                    self.n += 8;
                }
            }
        }
    }

    fn consume(&mut self, k: u32) -> Result<(), &'static str> {
        if k > self.n {
            return Err("the scan data ends before the last block (a marker or EOI came early)");
        }
        self.acc <<= k;
        self.n -= k;
        Ok(())
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, &'static str> {
        if self.n < 16 {
            self.fill();
        }
        let (len, value) = h.fast[(self.acc >> (64 - LOOKUP)) as usize];
        if len > 0 {
            self.consume(u32::from(len))?;
            return Ok(value);
        }
        for len in LOOKUP as usize + 1..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= h.maxcode[len] {
                self.consume(len as u32)?;
                return h
                    .values
                    .get((code + h.offset[len]) as usize)
                    .copied()
                    .ok_or("a Huffman code points past its table");
            }
        }
        Err("a Huffman code that is not in its table")
    }

    /// `s` more bits as a signed coefficient (JPEG's EXTEND).
    fn receive(&mut self, s: u8) -> Result<i32, &'static str> {
        if s == 0 {
            return Ok(0);
        }
        if self.n < u32::from(s) {
            self.fill();
        }
        let v = (self.acc >> (64 - u32::from(s))) as i32;
        self.consume(u32::from(s))?;
        Ok(if v < 1 << (s - 1) {
            v - (1 << s) + 1
        } else {
            v
        })
    }

    /// After the last block of an interval: drops the padding bits, counts the data bytes left
    /// before the next marker and returns (left-over bytes, marker position).
    fn finish(&mut self) -> (usize, usize) {
        // Bits of a started byte are padding; whole bytes still in `acc` are data.
        let mut left = (self.n / 8) as usize;
        let mut i = self.pos;
        if !self.ended {
            loop {
                match (self.data.get(i), self.data.get(i + 1)) {
                    (None, _) => break,
                    (Some(0xFF), Some(0x00)) => {
                        left += 1;
                        i += 2;
                    }
                    (Some(0xFF), Some(0xFF)) => i += 1,
                    (Some(0xFF), _) => break,
                    (Some(_), _) => {
                        left += 1;
                        i += 1;
                    }
                }
            }
        }
        (left, i)
    }
}

#[derive(Clone, Copy, Default)]
struct Component {
    id: u8,
    h: u8,
    v: u8,
    tq: u8,
}

/// Checks every Huffman-coded scan of `data` (a JPEG that [`super::encode::jpeg_is_complete`]
/// accepted). `Ok` also for the kinds of JPEG it does not check.
pub fn check(data: &[u8]) -> Result<(), ScanError> {
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let mut quant = [[0u16; 64]; 4];
    let mut frame: Option<(u32, u32, Vec<Component>)> = None;
    let mut interval = 0u32;
    let mut scans = 0;
    let mut i = 2;
    loop {
        if data.get(i) != Some(&0xFF) {
            return Err(header("a marker was expected between segments"));
        }
        while data.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = data.get(i) else {
            return Err(header("the JPEG ends without an end-of-image marker"));
        };
        i += 1;
        match marker {
            0xD9 if scans > 0 => return Ok(()),
            0xD9 => return Err(header("the JPEG has no image data")),
            0xD0..=0xD7 => return Err(header("a restart marker outside the scan")),
            0x01 => continue,
            _ => {}
        }
        let len = data
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .filter(|&len| len >= 2 && i + len <= data.len())
            .ok_or_else(|| header("a segment runs past the end of the JPEG"))?;
        let seg = &data[i + 2..i + len];
        i += len;
        match marker {
            0xC4 => read_dht(seg, &mut dc, &mut ac)?,
            0xDB => read_dqt(seg, &mut quant)?,
            0xDD => {
                let b = seg.get(..2).ok_or_else(|| header("a short DRI segment"))?;
                interval = u32::from(u16::from_be_bytes([b[0], b[1]]));
            }
            0xC0 | 0xC1 => {
                if seg.first() != Some(&8) {
                    return Ok(()); // 12-bit: not checked.
                }
                frame = Some(read_sof(seg)?);
            }
            // Progressive, lossless, hierarchical, arithmetic-coded: left to the decoder.
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(()),
            0xDA => {
                let (w, h, comps) = frame
                    .as_ref()
                    .ok_or_else(|| header("a scan before the frame header"))?;
                fill_standard_tables(&mut dc, &mut ac)?;
                i = walk_scan(data, i, seg, (*w, *h), comps, &dc, &ac, &quant, interval)?;
                scans += 1;
            }
            _ => {}
        }
    }
}

fn read_dht(
    mut seg: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Result<(), ScanError> {
    while !seg.is_empty() {
        if seg.len() < 17 {
            return Err(header("a short DHT segment"));
        }
        let (class, id) = (seg[0] >> 4, usize::from(seg[0] & 15));
        let bits: [u8; 16] = seg[1..17].try_into().expect("16 bytes");
        let n: usize = bits.iter().map(|&b| usize::from(b)).sum();
        let values = seg
            .get(17..17 + n)
            .ok_or_else(|| header("a short DHT segment"))?;
        let table = Huffman::new(&bits, values)?;
        match (class, id) {
            (0, 0..=3) => dc[id] = Some(table),
            (1, 0..=3) => ac[id] = Some(table),
            _ => return Err(header("a DHT segment with a bad table class or id")),
        }
        seg = &seg[17 + n..];
    }
    Ok(())
}

fn read_dqt(mut seg: &[u8], quant: &mut [[u16; 64]; 4]) -> Result<(), ScanError> {
    while let Some(&pq_tq) = seg.first() {
        let (wide, id) = (pq_tq >> 4 != 0, usize::from(pq_tq & 15));
        let size = if wide { 128 } else { 64 };
        let body = seg
            .get(1..1 + size)
            .ok_or_else(|| header("a short DQT segment"))?;
        let table = quant
            .get_mut(id)
            .ok_or_else(|| header("a DQT segment with a bad table id"))?;
        for (k, q) in table.iter_mut().enumerate() {
            *q = if wide {
                u16::from_be_bytes([body[2 * k], body[2 * k + 1]])
            } else {
                u16::from(body[k])
            };
        }
        seg = &seg[1 + size..];
    }
    Ok(())
}

fn read_sof(seg: &[u8]) -> Result<(u32, u32, Vec<Component>), ScanError> {
    let bad = || header("a bad frame header");
    if seg.len() < 6 {
        return Err(bad());
    }
    let h = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
    let w = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
    let n = usize::from(seg[5]);
    if w == 0 || h == 0 || !(1..=4).contains(&n) {
        return Err(bad());
    }
    let comps = (0..n)
        .map(|c| {
            let b = seg.get(6 + 3 * c..9 + 3 * c).ok_or_else(bad)?;
            let (hs, vs) = (b[1] >> 4, b[1] & 15);
            if !(1..=4).contains(&hs) || !(1..=4).contains(&vs) || b[2] > 3 {
                return Err(bad());
            }
            Ok(Component {
                id: b[0],
                h: hs,
                v: vs,
                tq: b[2],
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((w, h, comps))
}

/// The tables K.3-K.6 of the JPEG standard, for frames that leave them out (MJPEG).
fn fill_standard_tables(
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Result<(), ScanError> {
    const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    if dc[0].is_none() {
        dc[0] = Some(Huffman::new(
            &[0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
            &DC_VALUES,
        )?);
    }
    if dc[1].is_none() {
        dc[1] = Some(Huffman::new(
            &[0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
            &DC_VALUES,
        )?);
    }
    if ac[0].is_none() {
        ac[0] = Some(Huffman::new(
            &[0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D],
            &AC_LUMA,
        )?);
    }
    if ac[1].is_none() {
        ac[1] = Some(Huffman::new(
            &[0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
            &AC_CHROMA,
        )?);
    }
    Ok(())
}

/// One component as a scan codes it.
struct ScanComponent<'t> {
    blocks_h: u32,
    blocks_v: u32,
    dc: &'t Huffman,
    ac: &'t Huffman,
    quant: &'t [u16; 64],
    pred: i32,
}

/// Walks the scan whose data starts at `start`; returns the position of the marker after it.
#[allow(clippy::too_many_arguments)]
fn walk_scan(
    data: &[u8],
    start: usize,
    sos: &[u8],
    (w, h): (u32, u32),
    frame: &[Component],
    dc: &[Option<Huffman>; 4],
    ac: &[Option<Huffman>; 4],
    quant: &[[u16; 64]; 4],
    interval: u32,
) -> Result<usize, ScanError> {
    let n = usize::from(*sos.first().ok_or_else(|| header("a short SOS segment"))?);
    if n == 0 || n > 4 || sos.len() < 1 + 2 * n + 3 {
        return Err(header("a bad SOS segment"));
    }
    let (ss, se) = (sos[1 + 2 * n], sos[2 + 2 * n]);
    if ss != 0 || se != 63 {
        return Ok(skip_scan(data, start)); // Not sequential: not checked.
    }
    let hmax = u32::from(frame.iter().map(|c| c.h).max().unwrap_or(1));
    let vmax = u32::from(frame.iter().map(|c| c.v).max().unwrap_or(1));
    let mut comps = Vec::with_capacity(n);
    for k in 0..n {
        let (id, tables) = (sos[1 + 2 * k], sos[2 + 2 * k]);
        let c = frame
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| header("a scan names a component the frame does not have"))?;
        let (bh, bv) = if n == 1 {
            // A lone component is coded block by block over its own size.
            let cw = (w * u32::from(c.h)).div_ceil(hmax);
            let ch = (h * u32::from(c.v)).div_ceil(vmax);
            (cw.div_ceil(8), ch.div_ceil(8))
        } else {
            (u32::from(c.h), u32::from(c.v))
        };
        comps.push(ScanComponent {
            blocks_h: bh,
            blocks_v: bv,
            dc: table(dc, tables >> 4)?,
            ac: table(ac, tables & 15)?,
            quant: &quant[usize::from(c.tq)],
            pred: 0,
        });
    }
    // MCUs and blocks per MCU.
    let (mcus, per_mcu): (u64, Vec<u32>) = if n == 1 {
        let c = &comps[0];
        (u64::from(c.blocks_h) * u64::from(c.blocks_v), vec![1])
    } else {
        let mx = w.div_ceil(8 * hmax);
        let my = h.div_ceil(8 * vmax);
        (
            u64::from(mx) * u64::from(my),
            comps.iter().map(|c| c.blocks_h * c.blocks_v).collect(),
        )
    };
    let per: u64 = per_mcu.iter().map(|&b| u64::from(b)).sum();
    let blocks = mcus * per;
    let at = |mcu: u64, what: &str| ScanError {
        what: what.to_string(),
        block: mcu * per,
        blocks,
    };
    let mut bits = Bits::new(data, start);
    for mcu in 0..mcus {
        if interval > 0 && mcu > 0 && mcu % u64::from(interval) == 0 {
            let (left, pos) = bits.finish();
            if left > LEFTOVER_BYTES {
                return Err(at(
                    mcu,
                    &format!("{left} bytes of a restart interval left over: the data lost step"),
                ));
            }
            let expected = 0xD0 + ((mcu / u64::from(interval) - 1) % 8) as u8;
            match data.get(pos + 1) {
                Some(&m) if m == expected => {}
                Some(0xD0..=0xD7) => return Err(at(mcu, "a restart marker out of sequence")),
                _ => return Err(at(mcu, "a restart marker is missing (the data ends early)")),
            }
            bits = Bits::new(data, pos + 2);
            for c in &mut comps {
                c.pred = 0;
            }
        }
        for (c, &nb) in comps.iter_mut().zip(&per_mcu) {
            for _ in 0..nb {
                block(&mut bits, c).map_err(|what| at(mcu, what))?;
            }
        }
    }
    let (left, mut pos) = bits.finish();
    if left > LEFTOVER_BYTES {
        return Err(at(
            mcus,
            &format!("{left} bytes left over after the last block: the data lost step"),
        ));
    }
    // Some encoders end the last interval with a restart marker too.
    if interval > 0 && matches!(data.get(pos + 1), Some(0xD0..=0xD7)) {
        pos += 2;
    }
    Ok(pos)
}

fn table(set: &[Option<Huffman>; 4], t: u8) -> Result<&Huffman, ScanError> {
    set.get(usize::from(t))
        .and_then(Option::as_ref)
        .ok_or_else(|| header("a scan uses a Huffman table that is not defined"))
}

/// One 8x8 block: DC difference, then AC codes up to end-of-block.
fn block(bits: &mut Bits, c: &mut ScanComponent) -> Result<(), &'static str> {
    let s = bits.decode(c.dc)?;
    if s > 11 {
        return Err("a DC difference of an impossible size");
    }
    c.pred += bits.receive(s)?;
    let q = i32::from(c.quant[0]).max(1);
    if (c.pred * q).abs() > DC_LIMIT + 2 * q + 16 {
        return Err("a block brighter or darker than 8-bit samples can be (the DC drifted)");
    }
    let mut k = 1;
    while k < 64 {
        let rs = bits.decode(c.ac)?;
        let (run, size) = (usize::from(rs >> 4), rs & 15);
        if size == 0 {
            match run {
                0 => break, // end of block
                15 => {
                    k += 16;
                    if k > 64 {
                        return Err("a run of zeros past the end of a block");
                    }
                    continue;
                }
                _ => return Err("an AC code that does not exist"),
            }
        }
        k += run;
        if k > 63 {
            return Err("a run of zeros past the end of a block");
        }
        if size > 10 {
            return Err("an AC coefficient of an impossible size");
        }
        let v = bits.receive(size)?;
        if (v * i32::from(c.quant[k]).max(1)).abs() > AC_LIMIT {
            return Err("an AC coefficient larger than 8-bit samples can make");
        }
        k += 1;
    }
    Ok(())
}

/// Position of the first marker after a scan that is not checked.
fn skip_scan(data: &[u8], mut i: usize) -> usize {
    loop {
        match (data.get(i), data.get(i + 1)) {
            (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
            (Some(0xFF), Some(0xFF)) => i += 1,
            (Some(0xFF), Some(_)) | (None, _) => return i,
            (Some(_), _) => i += 1,
        }
    }
}

/// Table K.5.
const AC_LUMA: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

/// Table K.6.
const AC_CHROMA: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
