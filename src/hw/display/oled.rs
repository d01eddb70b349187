//! 128×64 OLEDs on I2C: SSD1306 (the `ssd1306` crate) and SH1106 (the `sh1106` crate, common on
//! 1.3" modules). Both take any embedded-hal 1.0 I2C bus: `linux-embedded-hal`'s `/dev/i2c-N`
//! on a board, a mock in tests.

use super::{DisplayError, Panel};
use crate::ui::canvas::Canvas;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::DrawTarget;
use ssd1306::mode::BufferedGraphicsMode;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

type Ssd1306Driver<I> =
    Ssd1306<I2CInterface<I>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

pub struct Ssd1306Panel<I: embedded_hal::i2c::I2c> {
    driver: Ssd1306Driver<I>,
}

impl<I: embedded_hal::i2c::I2c> Ssd1306Panel<I> {
    /// Initialises the controller (display off, clock, multiplex, charge pump, ..., on).
    pub fn new(i2c: I, address: u8) -> Result<Self, DisplayError> {
        let interface = I2CDisplayInterface::new_custom_address(i2c, address);
        let mut driver = Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0)
            .into_buffered_graphics_mode();
        driver
            .init()
            .map_err(|e| DisplayError::NoAnswer(format!("SSD1306 init failed: {e:?}")))?;
        Ok(Self { driver })
    }
}

impl<I: embedded_hal::i2c::I2c + Send> Panel for Ssd1306Panel<I> {
    fn show(&mut self, frame: &Canvas) -> Result<(), DisplayError> {
        // Drawing into the driver's RAM buffer cannot fail; only the flush talks to the bus.
        let _ = self.driver.clear(BinaryColor::Off);
        let _ = self
            .driver
            .draw_iter(frame.pixels().filter(|p| p.1.is_on()));
        self.driver
            .flush()
            .map_err(|e| DisplayError::Bus(format!("SSD1306 flush failed: {e:?}")))
    }
}

/// `sh1106` 0.5 speaks embedded-hal 0.2; this hands it an embedded-hal 1.0 bus.
pub struct Eh02<I>(pub I);

impl<I: embedded_hal::i2c::I2c> embedded_hal_02::blocking::i2c::Write for Eh02<I> {
    type Error = I::Error;
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(address, bytes)
    }
}

pub struct Sh1106Panel<I: embedded_hal::i2c::I2c> {
    driver: sh1106::mode::GraphicsMode<sh1106::interface::I2cInterface<Eh02<I>>>,
}

impl<I: embedded_hal::i2c::I2c> Sh1106Panel<I> {
    pub fn new(i2c: I, address: u8) -> Result<Self, DisplayError> {
        let mut driver: sh1106::mode::GraphicsMode<_> = sh1106::Builder::new()
            .with_i2c_addr(address)
            .with_size(sh1106::displaysize::DisplaySize::Display128x64)
            .connect_i2c(Eh02(i2c))
            .into();
        driver
            .init()
            .map_err(|e| DisplayError::NoAnswer(format!("SH1106 init failed: {e:?}")))?;
        Ok(Self { driver })
    }
}

impl<I: embedded_hal::i2c::I2c + Send> Panel for Sh1106Panel<I> {
    fn show(&mut self, frame: &Canvas) -> Result<(), DisplayError> {
        self.driver.clear();
        for y in 0..crate::ui::canvas::HEIGHT {
            for x in 0..crate::ui::canvas::WIDTH {
                if frame.get(x, y) {
                    self.driver.set_pixel(x, y, 1);
                }
            }
        }
        self.driver
            .flush()
            .map_err(|e| DisplayError::Bus(format!("SH1106 flush failed: {e:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::{screens, Screen, Status};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    const ADDR: u8 = 0x3C;

    fn cmd(bytes: &[u8]) -> Transaction {
        let mut v = vec![0x00]; // control byte: commands follow
        v.extend_from_slice(bytes);
        Transaction::write(ADDR, v)
    }

    /// The SSD1306 power-up sequence from the datasheet (section 8.9 / application note),
    /// as the ssd1306 crate sends it for a 128×64 panel with the internal charge pump.
    fn ssd1306_init() -> Vec<Transaction> {
        vec![
            cmd(&[0xAE]),       // display off
            cmd(&[0xD5, 0x80]), // clock divide 1, oscillator 8
            cmd(&[0xA8, 63]),   // multiplex: 64 rows
            cmd(&[0xD3, 0]),    // display offset 0
            cmd(&[0x40]),       // start line 0
            cmd(&[0x8D, 0x14]), // charge pump on (no external VCC on these modules)
            cmd(&[0x20, 0x00]), // horizontal addressing
            cmd(&[0xDA, 0x12]), // COM pins: alternative, no remap (128×64)
            cmd(&[0xA1]),       // segment remap: column 127 = SEG0 (rotation 0)
            cmd(&[0xC8]),       // COM scan descending
            cmd(&[0xD9, 0x21]), // pre-charge phases 1 and 2 (the crate's default brightness)
            cmd(&[0x81, 0x5F]), // contrast
            cmd(&[0xDB, 0x40]), // VCOMH deselect auto
            cmd(&[0xA4]),       // show RAM (not all on)
            cmd(&[0xA6]),       // not inverted
            cmd(&[0x2E]),       // scrolling off
            cmd(&[0xAF]),       // display on
        ]
    }

    /// The canvas in SSD1306 RAM order: 8 pages of 128 columns, bit 0 the top row of a page.
    fn pages(c: &Canvas) -> Vec<u8> {
        let mut out = vec![0u8; 1024];
        for page in 0..8u32 {
            for x in 0..128u32 {
                let mut b = 0;
                for bit in 0..8 {
                    if c.get(x, page * 8 + bit) {
                        b |= 1 << bit;
                    }
                }
                out[(page * 128 + x) as usize] = b;
            }
        }
        out
    }

    fn idle() -> Canvas {
        let mut c = Canvas::default();
        screens::draw(
            &Status {
                screen: Screen::Idle,
                waiting: 0,
                notice: None,
            },
            &mut c,
        )
        .unwrap();
        c
    }

    #[test]
    fn ssd1306_init_sends_the_power_up_sequence() {
        let mut i2c = Mock::new(&ssd1306_init());
        Ssd1306Panel::new(i2c.clone(), ADDR).unwrap();
        i2c.done();
    }

    /// A frame flush: the address window (columns 0-127, pages 0-7), then the frame as data
    /// writes of 16 bytes (display-interface-i2c's chunk), together the canvas in page order.
    #[test]
    fn ssd1306_flush_sends_the_frame() {
        let frame = idle();
        let mut expected = ssd1306_init();
        expected.extend([cmd(&[0x21, 0, 127]), cmd(&[0x22, 0, 7])]);
        for chunk in pages(&frame).chunks(16) {
            let mut data = vec![0x40]; // control byte: data follows
            data.extend_from_slice(chunk);
            expected.push(Transaction::write(ADDR, data));
        }
        let mut i2c = Mock::new(&expected);
        let mut panel = Ssd1306Panel::new(i2c.clone(), ADDR).unwrap();
        panel.show(&frame).unwrap();
        i2c.done();
    }

    #[test]
    fn ssd1306_nack_is_an_error_not_a_panic() {
        use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
        let mut i2c = Mock::new(&[
            cmd(&[0xAE]).with_error(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
        ]);
        let e = Ssd1306Panel::new(i2c.clone(), ADDR).err().unwrap();
        assert!(matches!(e, DisplayError::NoAnswer(_)), "{e}");
        i2c.done();
    }

    /// SH1106: init, then for each of the 8 pages "page p, column 2" (its 132-column RAM shows
    /// columns 2..130) and 128 data bytes. (sh1106 0.5 also sends a redundant "column 0, 2,
    /// high 0" before each page's data; harmless, and pinned here so a change is noticed.)
    #[test]
    fn sh1106_init_and_flush() {
        let frame = idle();
        let rows = pages(&frame);
        let mut expected = vec![
            cmd(&[0xAE]),       // display off
            cmd(&[0xD5, 0x80]), // clock
            cmd(&[0xA8, 63]),   // multiplex 64
            cmd(&[0xD3, 0]),    // offset
            cmd(&[0x40]),       // start line
            cmd(&[0xAD, 0x8B]), // DC-DC on
            cmd(&[0xA1]),       // segment remap
            cmd(&[0xC8]),       // COM scan descending
            cmd(&[0xDA, 0x12]), // COM pins
            cmd(&[0x81, 0x80]), // contrast
            cmd(&[0xD9, 0xF1]), // pre-charge
            cmd(&[0xDB, 0x40]), // VCOMH
            cmd(&[0xA4]),       // show RAM
            cmd(&[0xA6]),       // not inverted
            cmd(&[0xAF]),       // display on
        ];
        // The draw area's start: page 0, column 2.
        expected.extend([cmd(&[0xB0]), cmd(&[0x02]), cmd(&[0x10])]);
        for page in 0..8u8 {
            expected.push(Transaction::write(ADDR, vec![0x00, 0x00, 0x02, 0x10]));
            let mut data = vec![0x40];
            data.extend_from_slice(&rows[page as usize * 128..(page as usize + 1) * 128]);
            expected.push(Transaction::write(ADDR, data));
            // On to the next page (and back to page 0 after the last).
            expected.extend([cmd(&[0xB0 + (page + 1) % 8]), cmd(&[0x02]), cmd(&[0x10])]);
        }
        let mut i2c = Mock::new(&expected);
        let mut panel = Sh1106Panel::new(i2c.clone(), ADDR).unwrap();
        panel.show(&frame).unwrap();
        i2c.done();
    }
}
