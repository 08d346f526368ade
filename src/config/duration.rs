//! Prometheus-style durations (`30s`, `5m`, `1h30m`, `2d`, `1w`), the one duration
//! syntax users of this exporter already know from their Prometheus configs.

use jiff::SignedDuration;

/// Units in milliseconds, largest first; a day is always 24 hours.
const UNITS: [(&str, i64); 6] = [
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration: each unit of `UNITS` at most once, in that
/// order.
pub fn parse(text: &str) -> Result<SignedDuration, String> {
    let invalid = || format!("invalid duration {text:?} (expected e.g. 30s, 5m, 1h30m, 2d)");
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut millis: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let position = UNITS[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(invalid)?;
        let (_, scale) = UNITS[next_unit + position];
        next_unit += position + 1;
        millis = number
            .checked_mul(scale)
            .and_then(|v| millis.checked_add(v))
            .ok_or_else(invalid)?;
    }
    Ok(SignedDuration::from_millis(millis))
}

/// Formats a duration the way [`parse`] reads it, for the config endpoint and docs.
pub fn format(d: SignedDuration) -> String {
    let mut millis = d.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, scale) in UNITS.map(|(n, s)| (n, i128::from(s))) {
        if millis >= scale {
            out.push_str(&format!("{}{name}", millis / scale));
            millis %= scale;
        }
    }
    out
}

/// Formats a limit for a message: whole days as days (`366d`, not `52w2d`),
/// since that is how the documented limits are written.
pub fn format_limit(d: SignedDuration) -> String {
    const DAY: i128 = 86_400_000;
    let millis = d.as_millis();
    if millis >= DAY && millis % DAY == 0 {
        format!("{}d", millis / DAY)
    } else {
        format(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let secs = |t: &str| parse(t).map(|d| d.as_millis());
        assert_eq!(secs("30s"), Ok(30_000));
        assert_eq!(secs("5m"), Ok(300_000));
        assert_eq!(secs("1h30m"), Ok(5_400_000));
        assert_eq!(secs("2d"), Ok(172_800_000));
        assert_eq!(secs("1w1d"), Ok(8 * 86_400_000));
        assert_eq!(secs("1s500ms"), Ok(1_500));
        assert_eq!(secs("0s"), Ok(0));
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for bad in ["", "5", "m", "5x", "1m1h", "1h1h", "-5m", "1.5h", "5 m"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn huge_durations_never_overflow() {
        // 15000000w (287,000 years) fits in i64 milliseconds; the field ranges
        // reject it. Past i64 milliseconds, parse fails instead of wrapping.
        assert_eq!(
            parse("15000000w").map(|d| d.as_millis()),
            Ok(15_000_000 * 7 * 86_400_000)
        );
        for huge in [
            "20000000000000w",
            "99999999999999999999s",
            "15000000w1000000000000d",
        ] {
            assert!(parse(huge).is_err(), "{huge:?} should be rejected");
        }
        assert_eq!(format_limit(SignedDuration::from_hours(24 * 366)), "366d");
        assert_eq!(format_limit(SignedDuration::from_secs(10)), "10s");
    }

    #[test]
    fn format_round_trips() {
        for text in ["30s", "1h30m", "2d", "1w", "1s500ms"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
