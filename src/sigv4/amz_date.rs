//! SigV4 timestamps: `x-amz-date` / `X-Amz-Date` in ISO-8601 basic format (`20130524T000000Z`)
//! and the credential-scope date (`20130524`). Only UTC (`Z`) is valid, as in AWS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `20130524T000000Z` (seconds precision, UTC).
pub fn format(t: SystemTime) -> String {
    // crate::time::iso8601 gives `2013-05-24T00:00:00.000Z`.
    let iso = crate::time::iso8601(t);
    let b = iso.as_bytes();
    let mut out = String::with_capacity(16);
    for (i, c) in b.iter().enumerate().take(19) {
        if !matches!(i, 4 | 7 | 13 | 16) {
            out.push(*c as char);
        }
    }
    out.push('Z');
    out
}

/// `20130524`.
pub fn date_stamp(t: SystemTime) -> String {
    format(t)[..8].to_string()
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter()
        .try_fold(0u32, |acc, b| acc.checked_mul(10)?.checked_add((b - b'0') as u32))
}

/// Parse `20130524T000000Z`. `None` if malformed or before 1970.
pub fn parse(s: &str) -> Option<SystemTime> {
    let b = s.trim().as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[4..6])?, digits(&b[6..8])?);
    let (h, mi, se) = (digits(&b[9..11])?, digits(&b[11..13])?, digits(&b[13..15])?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y as i64, mo) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    u64::try_from(secs).ok().map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parse a date header value in either the ISO-8601 basic form or an HTTP date (RFC 1123,
/// `Tue, 27 Mar 2007 19:36:42 +0000` included).
pub fn parse_any(s: &str) -> Option<SystemTime> {
    parse(s).or_else(|| crate::time::parse_http_date(s)).or_else(|| {
        // httpdate only accepts `GMT`; SigV2 clients (goofys, botocore) write `+0000`.
        let t = s.trim();
        let base = t.strip_suffix("+0000").or_else(|| t.strip_suffix("UTC"))?;
        parse_rfc1123_loose(base.trim_end())
    })
}

/// `Tue, 27 Mar 2007 19:36:42` (day may be one digit), interpreted as UTC.
fn parse_rfc1123_loose(s: &str) -> Option<SystemTime> {
    let rest = s.split_once(',').map(|(_, r)| r).unwrap_or(s).trim();
    let mut it = rest.split_ascii_whitespace();
    let d = digits(it.next()?.as_bytes())?;
    let mon = it.next()?;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = months.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y = digits(it.next()?.as_bytes())?;
    let mut hms = it.next()?.split(':');
    let (h, mi, se) = (
        digits(hms.next()?.as_bytes())?,
        digits(hms.next()?.as_bytes())?,
        digits(hms.next()?.as_bytes())?,
    );
    if it.next().is_some() || hms.next().is_some() {
        return None;
    }
    parse(&std::format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{se:02}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse() {
        let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        assert_eq!(format(t), "20130524T000000Z");
        assert_eq!(date_stamp(t), "20130524");
        assert_eq!(parse("20130524T000000Z"), Some(t));
        let u = UNIX_EPOCH + Duration::from_secs(951_825_599); // 2000-02-29T11:59:59Z
        assert_eq!(format(u), "20000229T115959Z");
        assert_eq!(parse(&format(u)), Some(u));
        for bad in [
            "",
            "20130524",
            "20130524T000000",
            "20130230T000000Z",
            "2013052aT000000Z",
            "20131324T000000Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn any_date() {
        let t = UNIX_EPOCH + Duration::from_secs(1_175_024_202); // Tue, 27 Mar 2007 19:36:42 GMT
        assert_eq!(parse_any("Tue, 27 Mar 2007 19:36:42 +0000"), Some(t));
        assert_eq!(parse_any("Tue, 27 Mar 2007 19:36:42 GMT"), Some(t));
        assert_eq!(parse_any("20070327T193642Z"), Some(t));
        // goofys writes a one-digit day.
        let d = UNIX_EPOCH + Duration::from_secs(1_173_123_402); // Mon, 05 Mar 2007 19:36:42 GMT
        assert_eq!(parse_any("Mon, 5 Mar 2007 19:36:42 +0000"), Some(d));
        assert_eq!(parse_any("nonsense"), None);
    }
}
