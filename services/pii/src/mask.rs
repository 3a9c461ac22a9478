//! What staff see of personal data until they reveal it: enough to recognise a customer on the
//! phone, not enough to copy.

/// `kamala@gmail.com` → `k***@gmail.com`.
pub fn email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", first(local)),
        None => "***".into(),
    }
}

/// `+94771234567` → `+94 77 *** **67`; another country's number keeps its first three and last
/// two characters.
pub fn phone(e164: &str) -> String {
    let last_two = &e164[e164.len().saturating_sub(2)..];
    match e164.strip_prefix("+94") {
        Some(rest) if rest.len() == 9 => format!("+94 {} *** **{last_two}", &rest[..2]),
        _ => format!("{}*** **{last_two}", &e164[..e164.len().min(3)]),
    }
}

/// `Kamala Perera` → `K*** P***`.
pub fn name(name: &str) -> String {
    name.split_whitespace()
        .map(|word| format!("{}***", first(word)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A 12-digit NIC `198512300456` → `*********456`.
pub fn nic(nic: &str) -> String {
    let keep = nic.len().saturating_sub(3);
    format!("{}{}", "*".repeat(keep), &nic[keep..])
}

/// Anything else (an address line): its length only.
pub fn hidden(value: &str) -> String {
    "*".repeat(value.chars().count().min(12))
}

fn first(word: &str) -> &str {
    word.char_indices().nth(1).map_or(word, |(i, _)| &word[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_what_recognises_and_hide_the_rest() {
        assert_eq!(email("kamala@gmail.com"), "k***@gmail.com");
        assert_eq!(phone("+94771234567"), "+94 77 *** **67");
        assert_eq!(phone("+447700900123"), "+44*** **23");
        assert_eq!(name("Kamala  Perera"), "K*** P***");
        assert_eq!(name("සුනිල් පෙරේරා"), "ස*** ප***", "Sinhala names mask by character");
        assert_eq!(nic("198512300456"), "*********456");
        assert_eq!(hidden("12 Galle Road"), "************");
    }
}
