//! The screens, drawn with embedded-graphics on any 128×64 one-bit `DrawTarget`: the OLED, a
//! [`Canvas`](super::canvas::Canvas) for PNGs and the terminal. Meant to be read from two
//! metres: the one word that matters is drawn large (a 10×20 font scaled up), details are small.

use super::{Screen, Status};
use embedded_graphics::mono_font::ascii::{FONT_10X20, FONT_7X13_BOLD};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Point, Primitive, Size};
use embedded_graphics::primitives::{Polyline, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};
use embedded_graphics::{Drawable, Pixel};

const W: i32 = 128;
const H: i32 = 64;
const ON: BinaryColor = BinaryColor::On;
const OFF: BinaryColor = BinaryColor::Off;

/// Draws the screen for `status`, clearing the target first.
pub fn draw<D>(status: &Status, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    target.clear(OFF)?;
    let waiting = waiting_words(status.waiting);
    match &status.screen {
        Screen::Idle => match &status.notice {
            // A notice for the operator ("Login: 5 days left") takes the bottom line.
            Some(notice) if status.waiting == 0 => {
                two_lines(target, "Press", "the button")?;
                small(target, notice, 49)?;
            }
            _ => {
                big(target, "Press", 2, 0)?;
                line(target, "the button", 42)?;
            }
        },
        Screen::Countdown { secs, shot, of } => {
            // The glyphs' ink fills rows 4..16 of the 20-row cell: one digit at 4× (48 px of
            // ink) is centred by starting the cell above the top edge.
            let digits = secs.to_string();
            if *of > 1 {
                // A carousel: the digit a little smaller, which photo it is below.
                big(target, &digits, 3, 2 - 4 * 3)?;
                small(target, &format!("photo {shot} of {of}"), 49)?;
            } else {
                let scale = if digits.len() == 1 { 4 } else { 3 };
                big(target, &digits, scale, (H - 12 * scale) / 2 - 4 * scale)?;
            }
        }
        Screen::Smile => {
            // The flash: the whole panel lit, the word dark.
            target.clear(ON)?;
            big_in(target, "Smile!", 2, 12, OFF)?;
        }
        Screen::Saving => {
            big(target, "Saving", 2, 4)?;
            small(target, "one moment", 49)?;
        }
        Screen::Saved => {
            big_with_tick(target, "Saved")?;
            small(target, &waiting, 49)?;
        }
        Screen::AskToPost { secs } => {
            two_lines(target, "Press again", "to post")?;
            small(target, &format!("{secs} s left"), 49)?;
        }
        Screen::WillPost => {
            big_with_tick(target, "Posting")?;
            small(target, &waiting, 49)?;
        }
        Screen::Publishing { n, of } => {
            line(target, "Posting", 2)?;
            big(target, &format!("{n} of {of}"), 2, 24)?;
        }
        Screen::Posted { permalink } => match permalink.as_deref().and_then(qr) {
            Some(code) => {
                code.draw(target, Point::new(1, 1))?;
                // The right half: 64 px for the words.
                text_at(target, "Posted", &FONT_10X20, 1, Point::new(65, 4), ON)?;
                tick(target, Point::new(82, 26), 2)?;
                text_at(
                    target,
                    "scan me",
                    &FONT_7X13_BOLD,
                    1,
                    Point::new(65, 49),
                    ON,
                )?;
            }
            None => {
                big_with_tick(target, "Posted")?;
                small(target, &waiting, 49)?;
            }
        },
        Screen::Offline => {
            two_lines(target, "Offline", "")?;
            small(target, &saved_for_later(status.waiting), 36)?;
            small(target, "posting later", 50)?;
        }
        Screen::LoginNeeded => {
            two_lines(target, "Instagram", "login needed")?;
            small(target, &waiting, 49)?;
        }
        Screen::AccountProblem => {
            two_lines(target, "Account", "problem")?;
            small(target, &waiting, 49)?;
        }
        Screen::RateLimited => {
            two_lines(target, "Posting", "paused")?;
            small(target, &waiting, 49)?;
        }
        Screen::DiskFull => {
            two_lines(target, "Disk", "almost full")?;
            small(target, "tell the staff", 49)?;
        }
        Screen::CameraMissing => {
            two_lines(target, "Camera", "missing")?;
            small(target, "check the cable", 49)?;
        }
        Screen::Starting => {
            two_lines(target, "Starting", "")?;
            small(target, "please wait", 49)?;
        }
        Screen::CameraTrouble(trouble) => {
            let (a, b, hint) = trouble.words();
            two_lines(target, a, b)?;
            small(target, hint, 49)?;
        }
        Screen::Error(code) => {
            big(target, "Error", 2, 0)?;
            let code: String = code.chars().take(12).collect();
            line(target, &code, 43)?;
        }
    }
    Ok(())
}

fn waiting_words(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "1 photo to post".into(),
        n => format!("{n} photos to post"),
    }
}

fn saved_for_later(n: usize) -> String {
    match n {
        0 => "photos are kept".into(),
        1 => "1 photo saved".into(),
        n => format!("{n} photos saved"),
    }
}

/// One word drawn large: the 10×20 font scaled `scale` times (smaller if it would not fit),
/// centred, top at `y`.
fn big<D>(target: &mut D, text: &str, scale: i32, y: i32) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    big_in(target, text, scale, y, ON)
}

fn big_in<D>(
    target: &mut D,
    text: &str,
    scale: i32,
    y: i32,
    color: BinaryColor,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    let chars = text.chars().count() as i32;
    let scale = (1..=scale).rev().find(|s| chars * 10 * s <= W).unwrap_or(1);
    let x = (W - chars * 10 * scale).max(0) / 2;
    text_at(target, text, &FONT_10X20, scale, Point::new(x, y), color)
}

/// A line in the 10×20 font, centred.
fn line<D>(target: &mut D, text: &str, y: i32) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    big(target, text, 1, y)
}

/// Two 10×20 lines at the top: the headline of a problem screen.
fn two_lines<D>(target: &mut D, first: &str, second: &str) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    line(target, first, 2)?;
    line(target, second, 22)
}

/// A detail line in a small bold font, centred.
fn small<D>(target: &mut D, text: &str, y: i32) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    let x = (W - text.chars().count() as i32 * 7).max(0) / 2;
    text_at(target, text, &FONT_7X13_BOLD, 1, Point::new(x, y), ON)
}

/// "Saved" or "Posted" large with a check mark after it.
fn big_with_tick<D>(target: &mut D, word: &str) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    // The word at 2× if it leaves room for the tick (22 px), else at 1×... "Posted" (6 letters)
    // is 120 px at 2×, so it gets a smaller scale with the tick beside it.
    let chars = word.chars().count() as i32;
    let scale = if chars * 20 + 24 <= W { 2 } else { 1 };
    if scale == 2 {
        let width = chars * 20 + 24;
        let x = (W - width) / 2;
        text_at(target, word, &FONT_10X20, 2, Point::new(x, 2), ON)?;
        tick(target, Point::new(x + chars * 20 + 2, 14), 2)
    } else {
        line(target, word, 2)?;
        tick(target, Point::new(W / 2 - 12, 24), 2)
    }
}

/// A check mark (the fonts have no ✓), about 11×9 px times `scale`, top-left at `at`.
fn tick<D>(target: &mut D, at: Point, scale: i32) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    let pts = [
        at + Point::new(0, 5 * scale),
        at + Point::new(4 * scale, 9 * scale),
        at + Point::new(11 * scale, 0),
    ];
    Polyline::new(&pts)
        .into_styled(PrimitiveStyle::with_stroke(ON, 3 * scale as u32 / 2 + 1))
        .draw(target)
}

fn text_at<D>(
    target: &mut D,
    text: &str,
    font: &MonoFont<'_>,
    scale: i32,
    top_left: Point,
    color: BinaryColor,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    let style = MonoTextStyle::new(font, color);
    let mut scaled = Scaled {
        target,
        scale,
        origin: top_left,
    };
    Text::with_baseline(text, Point::zero(), style, Baseline::Top).draw(&mut scaled)?;
    Ok(())
}

/// Draws onto `target` with every pixel made `scale`×`scale`, offset by `origin`: big
/// letters from the small built-in bitmap fonts, crisp and with no font rasteriser.
struct Scaled<'a, D> {
    target: &'a mut D,
    scale: i32,
    origin: Point,
}

impl<D: DrawTarget<Color = BinaryColor>> OriginDimensions for Scaled<'_, D> {
    fn size(&self) -> Size {
        Size::new((W / self.scale) as u32, (H / self.scale) as u32)
    }
}

impl<D: DrawTarget<Color = BinaryColor>> DrawTarget for Scaled<'_, D> {
    type Color = BinaryColor;
    type Error = D::Error;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let s = self.scale;
        for Pixel(p, c) in pixels {
            let corner = self.origin + Point::new(p.x * s, p.y * s);
            self.target
                .fill_solid(&Rectangle::new(corner, Size::new(s as u32, s as u32)), c)?;
        }
        Ok(())
    }
}

/// A QR code ready to draw: `width` modules a side, dark modules true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qr {
    pub width: i32,
    pub dark: Vec<bool>,
}

/// The QR code for `text`, small enough for the left half of the panel: version 3 (29
/// modules, 2 px each) when the text fits (a permalink of up to 53 bytes), else the smallest
/// version that fits 62 px at 1 px a module. `None` when even that cannot hold it.
pub fn qr(text: &str) -> Option<Qr> {
    use qrcode::{EcLevel, QrCode, Version};
    let code = QrCode::with_version(text, Version::Normal(3), EcLevel::M)
        .or_else(|_| QrCode::with_version(text, Version::Normal(3), EcLevel::L))
        .or_else(|_| QrCode::with_error_correction_level(text, EcLevel::L))
        .ok()?;
    let width = code.width() as i32;
    if width > 60 {
        return None;
    }
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Some(Qr { width, dark })
}

impl Qr {
    /// Module size in pixels so the code with a one-module quiet zone fits 62 px.
    fn module(&self) -> i32 {
        (62 / (self.width + 2)).max(1)
    }

    /// Draws the code with its quiet zone lit and dark modules unlit: phones read a dark code
    /// on a light ground, the way it is printed.
    fn draw<D>(&self, target: &mut D, top_left: Point) -> Result<(), D::Error>
    where
        D: DrawTarget<Color = BinaryColor>,
    {
        let m = self.module();
        let side = ((self.width + 2) * m) as u32;
        target.fill_solid(&Rectangle::new(top_left, Size::new(side, side)), ON)?;
        for (i, &dark) in self.dark.iter().enumerate() {
            if dark {
                let (x, y) = (i as i32 % self.width, i as i32 / self.width);
                let corner = top_left + Point::new((x + 1) * m, (y + 1) * m);
                target.fill_solid(&Rectangle::new(corner, Size::new(m as u32, m as u32)), OFF)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::canvas::Canvas;

    #[test]
    fn a_permalink_is_a_version_3_code_at_two_pixels_a_module() {
        let q = qr("https://www.instagram.com/p/C0dEfGhIjKl/").unwrap();
        assert_eq!(q.width, 29);
        assert_eq!(q.module(), 2);
        // Dark modules decode back to the same grid the qrcode crate made (finder pattern:
        // the top-left 7×7 ring is dark).
        assert!(q.dark[0] && q.dark[6] && q.dark[6 * 29] && !q.dark[29 + 1]);
    }

    #[test]
    fn a_long_link_still_fits_or_is_left_out() {
        let long = format!("https://example.com/{}", "x".repeat(80));
        let q = qr(&long).unwrap();
        assert!(q.width > 29 && (q.width + 2) * q.module() <= 62);
        assert!(qr(&"y".repeat(2000)).is_none());
    }

    /// The QR code on the panel is the code: reading the drawn pixels back gives the modules.
    #[test]
    fn drawn_code_matches_modules() {
        let link = "https://www.instagram.com/p/C0dEfGhIjKl/";
        let mut c = Canvas::default();
        draw(
            &Status {
                screen: Screen::Posted {
                    permalink: Some(link.into()),
                },
                waiting: 0,
                notice: None,
            },
            &mut c,
        )
        .unwrap();
        let q = qr(link).unwrap();
        for y in 0..29 {
            for x in 0..29 {
                let lit = c.get((1 + (x + 1) * 2) as u32, (1 + (y + 1) * 2) as u32);
                assert_eq!(lit, !q.dark[(y * 29 + x) as usize], "module {x},{y}");
            }
        }
    }
}
