//! SigV4 timestamps: `x-amz-date` / `X-Amz-Date` in ISO-8601 basic format (`20130524T000000Z`)
//! and the credential-scope date (`20130524`). Only UTC (`Z`) is valid there, as in AWS; the
//! `Date` header (SigV2, or SigV4 without `x-amz-date`) takes any RFC 2822 / RFC 7231 date.

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

/// Parse a date header value in either the ISO-8601 basic form or an HTTP date: RFC 7231's
/// IMF-fixdate / RFC 850 / asctime, and RFC 2822's date-time with any zone it allows
/// (`+0000`, `-0000`, `+0130`, `GMT`, `UT`, `UTC`, `Z`, the US zones; seconds optional;
/// day-of-week optional; obsolete two- and three-digit years).
pub fn parse_any(s: &str) -> Option<SystemTime> {
    parse(s)
        .or_else(|| crate::time::parse_http_date(s))
        .or_else(|| parse_rfc2822(s))
}

/// Offset east of UTC in seconds of an RFC 2822 zone (`+hhmm`/`-hhmm`, or an obs-zone).
fn zone_offset(z: &str) -> Option<i64> {
    let b = z.as_bytes();
    if b.len() == 5 && (b[0] == b'+' || b[0] == b'-') {
        let hh = digits(&b[1..3])? as i64;
        let mm = digits(&b[3..5])? as i64;
        if mm > 59 {
            return None;
        }
        let off = hh * 3600 + mm * 60;
        return Some(if b[0] == b'-' { -off } else { off });
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        _ => return None,
    };
    Some(hours * 3600)
}

/// RFC 2822 section 3.3 date-time (with its obsolete forms, 4.3):
/// `[day-of-week ","] day month year hour ":" minute [":" second] zone`.
fn parse_rfc2822(s: &str) -> Option<SystemTime> {
    let t = s.trim();
    let rest = match t.split_once(',') {
        Some((dow, r)) => {
            let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            if !days.iter().any(|d| d.eq_ignore_ascii_case(dow.trim())) {
                return None;
            }
            r
        }
        None => t,
    };
    let mut it = rest.split_ascii_whitespace();
    let dtok = it.next()?.as_bytes();
    if dtok.len() > 2 {
        return None;
    }
    let d = digits(dtok)?;
    let mon = it.next()?;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = months.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let ytok = it.next()?.as_bytes();
    let y = digits(ytok)?;
    let y = match ytok.len() {
        2 if y < 50 => y + 2000,
        2 | 3 => y + 1900,
        4 => y,
        _ => return None,
    };
    let time = it.next()?;
    let mut hms = time.split(':');
    let two = |p: Option<&str>| -> Option<u32> {
        let p = p?.as_bytes();
        if p.len() != 2 {
            return None;
        }
        digits(p)
    };
    let h = two(hms.next())?;
    let mi = two(hms.next())?;
    let se = match hms.next() {
        Some(p) => two(Some(p))?,
        None => 0,
    };
    if hms.next().is_some() {
        return None;
    }
    let off = zone_offset(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    let local = parse(&std::format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{se:02}Z"))?;
    let secs = local.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64 - off;
    u64::try_from(secs).ok().map(|s| UNIX_EPOCH + Duration::from_secs(s))
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

    #[test]
    fn rfc2822_zones() {
        let t = UNIX_EPOCH + Duration::from_secs(1_175_024_202); // Tue, 27 Mar 2007 19:36:42 GMT
        for z in ["-0000", "+0000", "GMT", "UT", "UTC", "Z", "gmt"] {
            assert_eq!(
                parse_any(&std::format!("Tue, 27 Mar 2007 19:36:42 {z}")),
                Some(t),
                "{z}"
            );
        }
        assert_eq!(parse_any("27 Mar 2007 19:36:42 -0000"), Some(t));
        assert_eq!(parse_any("Tue, 27 Mar 2007 21:36:42 +0200"), Some(t));
        assert_eq!(parse_any("Tue, 27 Mar 2007 14:36:42 EST"), Some(t));
        assert_eq!(parse_any("Tue, 27 Mar 2007 12:36:42 PDT"), Some(t));
        assert_eq!(parse_any("Tue, 27 Mar 07 19:36:42 GMT"), Some(t));
        let no_secs = UNIX_EPOCH + Duration::from_secs(1_175_024_160);
        assert_eq!(parse_any("Tue, 27 Mar 2007 19:36 -0000"), Some(no_secs));
        for bad in [
            "Tue, 27 Mar 2007 19:36:42",
            "Tue, 27 Mar 2007 19:36:42 +000",
            "Tue, 27 Mar 2007 19:36:42 +0060",
            "Tue, 27 Mar 2007 19:36:42 XYZ",
            "Xyz, 27 Mar 2007 19:36:42 GMT",
            "Tue, 32 Mar 2007 19:36:42 GMT",
            "Tue, 27 Foo 2007 19:36:42 GMT",
            "Tue, 27 Mar 2007 24:36:42 GMT",
            "Tue, 27 Mar 2007 19:36:42 GMT extra",
        ] {
            assert_eq!(parse_any(bad), None, "{bad}");
        }
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];

        /// RFC 2822 text of `secs` shown in the zone `off_min` minutes east of UTC.
        fn render(secs: i64, off_min: i64, pad_day: bool, dow: bool) -> String {
            let local = secs + off_min * 60;
            let iso = crate::time::iso8601(UNIX_EPOCH + Duration::from_secs(local as u64));
            let (y, mo, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
            let d: u32 = d.parse().unwrap();
            let mo: usize = mo.parse().unwrap();
            let day = if pad_day { std::format!("{d:02}") } else { d.to_string() };
            let wd = DAYS[(local.div_euclid(86_400) % 7) as usize];
            let sign = if off_min < 0 { '-' } else { '+' };
            let a = off_min.abs();
            let zone = std::format!("{sign}{:02}{:02}", a / 60, a % 60);
            let prefix = if dow { std::format!("{wd}, ") } else { String::new() };
            std::format!("{prefix}{day} {} {y} {} {zone}", MONTHS[mo - 1], &iso[11..19])
        }

        proptest! {
            #[test]
            fn any_offset_round_trips(
                secs in 100_000i64..4_000_000_000,
                off_min in -1439i64..=1439,
                pad_day: bool,
                dow: bool,
            ) {
                let text = render(secs, off_min, pad_day, dow);
                prop_assert_eq!(
                    parse_any(&text),
                    Some(UNIX_EPOCH + Duration::from_secs(secs as u64)),
                    "{}", text
                );
            }

            #[test]
            fn minus_zero_is_utc(secs in 0i64..4_000_000_000) {
                let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
                let gmt = crate::time::rfc1123(t);
                let minus = gmt.replace("GMT", "-0000");
                prop_assert_eq!(parse_any(&minus), Some(t));
                prop_assert_eq!(parse_any(&gmt.replace("GMT", "UT")), Some(t));
            }

            #[test]
            fn never_panics(s in "\\PC{0,40}") {
                let _ = parse_any(&s);
            }
        }
    }
}
