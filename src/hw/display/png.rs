//! The PNG display (`display.kind = "png"`): writes every frame it is shown as a numbered PNG
//! (`frame-000001.png`, ...) plus `latest.png`, for tests and for checking a booth's screens
//! from afar.

use super::{DisplayError, Panel};
use crate::ui::canvas::Canvas;
use std::path::{Path, PathBuf};

pub struct PngPanel {
    dir: PathBuf,
    scale: u32,
    written: u64,
}

impl PngPanel {
    pub fn open(dir: &Path, scale: u32) -> Result<Self, DisplayError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            DisplayError::Io(format!(
                "cannot create the PNG display folder {}: {e} (set display.png_dir)",
                dir.display()
            ))
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            scale,
            written: 0,
        })
    }
}

impl Panel for PngPanel {
    fn show(&mut self, frame: &Canvas) -> Result<(), DisplayError> {
        self.written += 1;
        let png = frame.to_png(self.scale);
        let name = self.dir.join(format!("frame-{:06}.png", self.written));
        let write = |path: &Path| {
            // Written whole under a temporary name, then renamed: a reader never sees half.
            let tmp = path.with_extension("png.tmp");
            std::fs::write(&tmp, &png)
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| DisplayError::Io(format!("cannot write {}: {e}", path.display())))
        };
        write(&name)?;
        write(&self.dir.join("latest.png"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_numbered_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = PngPanel::open(dir.path(), 1).unwrap();
        let mut c = Canvas::default();
        p.show(&c).unwrap();
        crate::ui::screens::draw(&crate::ui::Status::default(), &mut c).unwrap();
        p.show(&c).unwrap();
        let back = std::fs::read(dir.path().join("frame-000002.png")).unwrap();
        assert_eq!(Canvas::from_png(&back, 1).unwrap(), c);
        let latest = std::fs::read(dir.path().join("latest.png")).unwrap();
        assert_eq!(latest, back);
        assert!(dir.path().join("frame-000001.png").exists());
    }
}
