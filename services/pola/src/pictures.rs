//! The demo shop's pictures, drawn rather than photographed: batik crackle and waves, a saree's
//! border, tea terraces, a spice heap, a plate of sweets, handloom checks, in each product's
//! colour. Deterministic: the same product kind and colour always draws the same picture, so
//! the content-addressed store keeps each once.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

/// The side of a drawn picture, in pixels (served at 320 and 640 wide).
const SIDE: u32 = 640;

/// What a picture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Motif {
    Batik,
    Saree,
    Tea,
    Spice,
    Sweets,
    Handloom,
    Gift,
    Service,
}

/// A demo colour's RGB, by the name the seed gives it.
pub fn colour(name: &str) -> [u8; 3] {
    match name {
        "Indigo" => [59, 63, 143],
        "Maroon" => [122, 31, 43],
        "Saffron" => [236, 152, 18],
        "Forest green" => [46, 107, 58],
        "Sea blue" => [31, 122, 158],
        "Ivory" => [214, 200, 160],
        _ => [150, 90, 50],
    }
}

fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> Rgb<u8> {
    let f = |x: u8, y: u8| (f32::from(x) * (1.0 - t) + f32::from(y) * t).round().clamp(0.0, 255.0) as u8;
    Rgb([f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2])])
}

const CREAM: [u8; 3] = [250, 244, 230];
const LEAF: [u8; 3] = [52, 120, 60];

/// A PNG of `motif` in `base` colour.
pub fn draw(motif: Motif, base: [u8; 3]) -> Vec<u8> {
    let s = SIDE as f32;
    let picture = RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let (fx, fy) = (x as f32 / s, y as f32 / s);
        match motif {
            Motif::Batik => {
                // Waves of wax-resist over the dye, with the crackle's fine veins.
                let wave = ((fx * 18.0 + (fy * 9.0).sin() * 1.5).sin() * 0.5 + 0.5).powf(6.0);
                let crackle = (((fx * 97.0).sin() * (fy * 89.0 + fx * 13.0).cos()).abs() < 0.04) as u8 as f32;
                let dot = (((fx * 8.0).fract() - 0.5).powi(2) + ((fy * 8.0).fract() - 0.5).powi(2) < 0.02) as u8 as f32;
                mix(base, CREAM, (wave * 0.8 + crackle * 0.35 + dot * 0.7).min(1.0))
            }
            Motif::Saree => {
                // The body, the pallu's border with a zigzag, and gold threads.
                let border = fy > 0.72;
                let zigzag = ((fx * 24.0).fract() - 0.5).abs() * 0.1 + 0.78 > fy && fy > 0.74;
                let thread = (fy * 60.0).fract() < 0.06;
                match (border, zigzag, thread) {
                    (true, true, _) => Rgb([212, 170, 60]),
                    (true, false, _) => mix(base, [0, 0, 0], 0.35),
                    (false, _, true) => mix(base, [212, 170, 60], 0.35),
                    _ => mix(base, CREAM, fx * 0.15),
                }
            }
            Motif::Tea => {
                // Terraced hills under a pale sky, bushes in rows.
                let hill = 0.45 + (fx * 5.0).sin() * 0.08 + (fx * 11.0).cos() * 0.03;
                if fy < hill {
                    mix([200, 225, 240], CREAM, fy)
                } else {
                    let row = ((fy - hill) * 30.0 + (fx * 40.0).sin() * 0.3).fract();
                    mix(LEAF, base, if row < 0.35 { 0.1 } else { 0.35 })
                }
            }
            Motif::Spice => {
                // A heap of seeds on a woven tray.
                let heap = (fx - 0.5).powi(2) * 2.2 + (fy - 0.62).powi(2) * 4.0 < 0.16;
                let seed = (((fx * 30.0).fract() - 0.5).powi(2)
                    + ((fy * 30.0 + (fx * 30.0).floor() * 0.5).fract() - 0.5).powi(2))
                    < 0.12;
                match (heap, seed) {
                    (true, true) => mix(base, [0, 0, 0], 0.25),
                    (true, false) => mix(base, CREAM, 0.2),
                    _ => mix([190, 150, 100], CREAM, ((fx * 20.0).sin() * (fy * 20.0).sin()).abs() * 0.4),
                }
            }
            Motif::Sweets => {
                // Kavum and kokis on a plate.
                let plate = (fx - 0.5).powi(2) + (fy - 0.55).powi(2) < 0.16;
                let sweet = [(0.38, 0.48), (0.6, 0.5), (0.5, 0.66)]
                    .iter()
                    .any(|(cx, cy)| (fx - cx).powi(2) + (fy - cy).powi(2) < 0.012);
                match (plate, sweet) {
                    (_, true) => mix([176, 101, 30], base, 0.3),
                    (true, false) => Rgb([245, 245, 240]),
                    _ => mix(base, CREAM, 0.75),
                }
            }
            Motif::Handloom => {
                // Dumbara checks: stripes both ways, woven.
                let warp = (fx * 16.0).fract() < 0.3;
                let weft = (fy * 16.0).fract() < 0.3;
                match (warp, weft) {
                    (true, true) => mix(base, [0, 0, 0], 0.3),
                    (true, false) | (false, true) => base.into(),
                    _ => mix(base, CREAM, 0.7),
                }
            }
            Motif::Gift => {
                // A hand-painted box with a ribbon.
                let ribbon = (fx - 0.5).abs() < 0.05 || (fy - 0.5).abs() < 0.05;
                let boxed = (0.2..0.8).contains(&fx) && (0.25..0.85).contains(&fy);
                match (boxed, ribbon) {
                    (true, true) => Rgb([212, 170, 60]),
                    (true, false) => mix(base, LEAF, ((fx * 10.0).sin() * (fy * 10.0).cos()).abs() * 0.3),
                    _ => mix(base, CREAM, 0.8),
                }
            }
            Motif::Service => mix(base, CREAM, (fx + fy) * 0.4),
        }
    });
    let mut out = Cursor::new(Vec::new());
    picture.write_to(&mut out, ImageFormat::Png).expect("a PNG encodes in memory");
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_kind_and_colour_draw_the_same_picture() {
        let a = draw(Motif::Batik, colour("Indigo"));
        assert_eq!(a, draw(Motif::Batik, colour("Indigo")));
        assert_ne!(a, draw(Motif::Batik, colour("Maroon")));
        let decoded = image::load_from_memory(&a).expect("a picture");
        assert_eq!((decoded.width(), decoded.height()), (SIDE, SIDE));
    }
}
