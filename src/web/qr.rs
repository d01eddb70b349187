//! QR codes as SVG, drawn on the server (no script, no external asset): one path of dark
//! modules with a four-module quiet zone, crisp at any size.

/// The SVG of a QR code for `text`, or `None` if it is too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    use qrcode::{EcLevel, QrCode};
    let code = QrCode::with_error_correction_level(text, EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let size = width + 2 * quiet;
    let mut path = String::with_capacity(width * width * 4);
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_svg_with_a_quiet_zone_and_dark_modules() {
        let s = super::svg("http://192.168.4.1:8080/p/abc").unwrap();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        // Version 3 (29 modules) plus 8 of quiet zone.
        assert!(s.contains("viewBox=\"0 0 37 37\""), "{s}");
        // The top-left finder pattern starts at the quiet zone's corner.
        assert!(s.contains("M4 4h1v1h-1z"));
        assert!(super::svg(&"x".repeat(5000)).is_none());
    }
}
