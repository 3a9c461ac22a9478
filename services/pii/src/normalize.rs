//! One spelling for each value, so that a blind index finds it however it was typed.

use chrono::Datelike;
use phonenumber::{Mode, country::Id};

/// An email address: trimmed and lower-cased.
pub fn email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)).then_some(email)
}

/// A phone number in E.164 (`+94771234567`), read as Sri Lankan unless it carries a country code:
/// `0771234567`, `077 123 4567`, `94771234567` and `+94 77 123 4567` are one number.
pub fn phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
    // "94…" without the plus is a Sri Lankan number written internationally.
    let candidate = match digits.strip_prefix("94") {
        Some(rest) if rest.len() == 9 => format!("+94{rest}"),
        _ => digits,
    };
    let number = phonenumber::parse(Some(Id::LK), &candidate).ok()?;
    phonenumber::is_valid(&number).then(|| number.format().mode(Mode::E164).to_string())
}

/// A Sri Lankan National Identity Card number in the 12-digit form (`198512300456`), from
/// either the old form (`851230456V`: two-digit year, day, three-digit serial, check digit, V or
/// X) or the new one (four-digit year, day, four-digit serial, check digit). The day is the day
/// of the year, plus 500 for women; a year in the future or a day past 366 is refused.
pub fn nic(raw: &str) -> Option<String> {
    let nic: String = raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    let (year, day, serial, check) = match nic.len() {
        10 if nic.ends_with(['V', 'X']) && nic[..9].bytes().all(|b| b.is_ascii_digit()) => (
            1900 + nic[..2].parse::<i32>().ok()?,
            &nic[2..5],
            format!("0{}", &nic[5..8]),
            &nic[8..9],
        ),
        12 if nic.bytes().all(|b| b.is_ascii_digit()) => (nic[..4].parse().ok()?, &nic[4..7], nic[7..11].to_owned(), &nic[11..]),
        _ => return None,
    };
    let day_number: u32 = day.parse().ok()?;
    let day_of_year = if day_number > 500 { day_number - 500 } else { day_number };
    let this_year = chrono::Utc::now().year();
    ((1..=366).contains(&day_of_year) && (1900..=this_year).contains(&year)).then(|| format!("{year}{day}{serial}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_spelling_of_a_mobile_number_is_one_number() {
        for spelling in [
            "0771234567",
            "077 123 4567",
            "94771234567",
            "+94 77 123 4567",
            "+94-77-123-4567",
        ] {
            assert_eq!(phone(spelling).as_deref(), Some("+94771234567"), "{spelling}");
        }
        assert_eq!(phone("0112 345 678").as_deref(), Some("+94112345678"), "a Colombo landline");
        for bad in ["12345", "077123", "not a number"] {
            assert_eq!(phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn old_and_new_nic_numbers_meet_in_one_form() {
        // 85 123 045 6 V: born 1985 on day 123, serial 045, check digit 6.
        assert_eq!(nic("851230456V").as_deref(), Some("198512300456"));
        assert_eq!(nic(" 198512300456 ").as_deref(), Some("198512300456"));
        assert_eq!(nic("857230456v").as_deref(), Some("198572300456"), "a woman: day + 500");
        for bad in [
            "851230456",
            "85123045V",
            "853670456V",
            "208012300001",
            "ABCDEFGHIJKL",
            "198500004567",
        ] {
            assert_eq!(nic(bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(email("  Nimal@Example.LK ").as_deref(), Some("nimal@example.lk"));
        assert_eq!(email("no-at-sign"), None);
    }
}
