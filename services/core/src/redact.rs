//! The last line of defence for personal data in telemetry: every log line and every error
//! detail that quotes a client's input passes through [`redact`], which hides email addresses,
//! phone numbers and NIC numbers however they got there. Code never logs personal data on
//! purpose (it logs ids); this catches what slips through, such as a parser quoting its input.

use std::borrow::Cow;

const EMAIL: &str = "[email]";
const NUMBER: &str = "[number]";

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"._%+-".contains(&c)
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

/// `text` with email addresses, phone numbers (9 to 15 digits, with spaces or dashes between
/// groups and an optional `+`) and old-form NIC numbers (9 digits and V or X) replaced.
/// Digit runs that are part of a word or an id (`…-123456789012`) stay.
pub fn redact(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some((start, end, mask)) = email_at(bytes, i).or_else(|| number_at(bytes, i)) {
            out.push_str(&text[copied..start]);
            out.push_str(mask);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// An email address whose `@` is at `at`.
fn email_at(bytes: &[u8], at: usize) -> Option<(usize, usize, &'static str)> {
    if bytes[at] != b'@' {
        return None;
    }
    let start = (0..at).rev().take_while(|&j| is_local(bytes[j])).last()?;
    let end = (at + 1..bytes.len()).take_while(|&j| is_domain(bytes[j])).last()? + 1;
    let domain = &bytes[at + 1..end];
    (domain.contains(&b'.') && !domain.starts_with(b".")).then_some((start, end, EMAIL))
}

/// A phone or NIC number starting at `from`.
fn number_at(bytes: &[u8], from: usize) -> Option<(usize, usize, &'static str)> {
    let first = bytes[from];
    if !(first.is_ascii_digit() || first == b'+') {
        return None;
    }
    // Part of a word, an id or a decimal fraction (`4.123456789`): not a number of a person's.
    if from > 0 && (bytes[from - 1].is_ascii_alphanumeric() || b"-+.".contains(&bytes[from - 1])) {
        return None;
    }
    let mut end = from + usize::from(first == b'+');
    let mut digits = 0;
    while end < bytes.len() {
        match bytes[end] {
            b'0'..=b'9' => digits += 1,
            // A separator between groups of digits.
            b' ' | b'-' if end + 1 < bytes.len() && bytes[end + 1].is_ascii_digit() && digits > 0 => {}
            _ => break,
        }
        end += 1;
    }
    // An old-form NIC ends in V or X.
    if digits == 9 && end < bytes.len() && matches!(bytes[end], b'V' | b'v' | b'X' | b'x') {
        end += 1;
    }
    let boundary = end == bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'-');
    ((9..=15).contains(&digits) && boundary).then_some((from, end, NUMBER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_hidden_and_ids_times_and_amounts_stay() {
        for (text, expected) in [
            ("signed in as Kamala.P+shop@gmail.com today", "signed in as [email] today"),
            (
                "call 077 123 4567 or +94-77-123-4567 or 0771234567",
                "call [number] or [number] or [number]",
            ),
            ("nic 851230456V and 198512300456.", "nic [number] and [number]."),
            (
                r#"unknown variant `kamala@example.lk`, expected one of"#,
                "unknown variant `[email]`, expected one of",
            ),
        ] {
            assert_eq!(redact(text), expected, "{text}");
        }
        for kept in [
            r#"{"request_id":"01a201a9-a420-767c-9ad0-123456789012","order.total_minor":748000}"#,
            "2026-11-22T05:10:24.545145Z took 12.217562 ms, or 4.3541320000000005",
            "SKU TEA-00042-200G, variant 0193a6c2-1f7e-7c3a-9d51-2f1e4b5a6c7d",
            "user@localhost is not an address; neither is @home",
        ] {
            assert!(matches!(redact(kept), Cow::Borrowed(_)), "{kept} -> {}", redact(kept));
        }
    }
}
