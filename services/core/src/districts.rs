//! Sri Lanka's districts: delivery prices by them, addresses name them, pages list them.

/// Sri Lanka's 25 districts, as addresses and zones name them.
pub const DISTRICTS: [&str; 25] = [
    "Ampara",
    "Anuradhapura",
    "Badulla",
    "Batticaloa",
    "Colombo",
    "Galle",
    "Gampaha",
    "Hambantota",
    "Jaffna",
    "Kalutara",
    "Kandy",
    "Kegalle",
    "Kilinochchi",
    "Kurunegala",
    "Mannar",
    "Matale",
    "Matara",
    "Monaragala",
    "Mullaitivu",
    "Nuwara Eliya",
    "Polonnaruwa",
    "Puttalam",
    "Ratnapura",
    "Trincomalee",
    "Vavuniya",
];

/// The district a customer wrote, in its canonical spelling (case, spaces, `-` and `_` aside).
pub fn district(name: &str) -> Option<&'static str> {
    let key = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = key(name);
    DISTRICTS.into_iter().find(|d| key(d) == wanted)
}
