//! Time formatting and parsing shared by the front ends and RemoteStore: ISO-8601 with
//! milliseconds for S3 XML (`2026-01-05T10:11:12.345Z`) and RFC 1123 for HTTP headers.

use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-01-05T10:11:12.345Z`
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// `Mon, 05 Jan 2026 10:11:12 GMT`
pub fn rfc1123(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Parse an RFC 1123 / RFC 850 / asctime HTTP date.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Parse `2026-01-05T10:11:12.345Z` (S3 XML timestamps; fraction and `Z` optional).
pub fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut millis = 0u64;
    if b.len() > 20 && b[19] == b'.' {
        let frac: String = s[20..].chars().take_while(char::is_ascii_digit).take(3).collect();
        let scale = 10u64.pow(3 - frac.len() as u32);
        millis = frac.parse::<u64>().unwrap_or(0) * scale;
    }
    // days from civil (proleptic Gregorian)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_values() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_767_607_872_345);
        assert_eq!(iso8601(t), "2026-01-05T10:11:12.345Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&iso8601(leap)[..10], "2000-02-29");
    }

    #[test]
    fn rfc1123_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_767_607_872);
        let s = rfc1123(t);
        assert_eq!(s, "Mon, 05 Jan 2026 10:11:12 GMT");
        assert_eq!(parse_http_date(&s), Some(t));
    }

    #[test]
    fn iso8601_parses_s3_timestamps() {
        let t = parse_iso8601("2026-01-05T10:11:12.345Z").unwrap();
        assert_eq!(iso8601(t), "2026-01-05T10:11:12.345Z");
        let t = parse_iso8601("2000-02-29T00:00:00Z").unwrap();
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.000Z");
        assert!(parse_iso8601("yesterday").is_none());
        assert!(parse_iso8601("2026-13-05T10:11:12Z").is_none());
    }

    proptest::proptest! {
        #[test]
        fn iso8601_round_trips(ms in 0u64..4_102_444_800_000) {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            proptest::prop_assert_eq!(parse_iso8601(&iso8601(t)), Some(t));
        }
    }
}
