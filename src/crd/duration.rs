//! Go-style duration strings (`"20m"`, `"1h30m"`, `"90s"`), the format of `refreshBefore`,
//! `rollout.minInterval` and `rotation.*`.
//!
//! The API server checks these fields with CEL's `duration()`, which is Go's
//! `time.ParseDuration`; this parser accepts exactly the same language (minus negative values,
//! which no field here allows), so a value the API server admitted never fails here. It knows
//! nothing of the resources that use it.

use std::time::Duration;

/// Why a duration string was refused. The message names the offending text, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoDurationError {
    /// The empty string is not a duration (Go refuses it too).
    #[error("empty duration; use a value like \"20m\" or \"1h30m\"")]
    Empty,
    /// A negative duration (`"-5m"`); every duration in this API is a length of time.
    #[error("negative duration {0:?}; durations here must not be negative")]
    Negative(String),
    /// Anything that is not `<number><unit>` repeated, with units `ns`, `us`, `ms`, `s`, `m`, `h`.
    #[error("invalid duration {0:?}; use numbers with units ns, us, ms, s, m or h, like \"1h30m\"")]
    Invalid(String),
    /// More than Go's limit of about 292 years.
    #[error("duration {0:?} is too long")]
    Overflow(String),
}

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;
/// Go's `time.Duration` is an `int64` of nanoseconds; longer strings fail to parse there.
const GO_MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration string (the language of Go's `time.ParseDuration` and CEL's
/// `duration()`): an optional `+`, then one or more decimal numbers (optionally with a
/// fraction) each followed by a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), or a bare `"0"`.
pub fn parse_go_duration(text: &str) -> Result<Duration, GoDurationError> {
    let invalid = || GoDurationError::Invalid(text.to_owned());
    if text.is_empty() {
        return Err(GoDurationError::Empty);
    }
    let unsigned = match text.as_bytes()[0] {
        b'-' => return Err(GoDurationError::Negative(text.to_owned())),
        b'+' => &text[1..],
        _ => text,
    };
    if unsigned == "0" {
        return Ok(Duration::ZERO);
    }
    if unsigned.is_empty() {
        return Err(invalid());
    }

    let mut rest = unsigned;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        // The number: integer digits, then an optional '.' and fraction digits.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }

        // The unit: everything up to the next digit or '.'.
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let unit_nanos = match unit {
            "ns" => 1,
            "us" | "\u{00b5}s" | "\u{03bc}s" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SECOND,
            "m" => 60 * NANOS_PER_SECOND,
            "h" => 3600 * NANOS_PER_SECOND,
            _ => return Err(invalid()),
        };

        let overflow = || GoDurationError::Overflow(text.to_owned());
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| overflow())?
        };
        let mut part = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
        // Fraction digits beyond nanosecond precision cannot change the result; Go drops them too.
        let mut scale: u128 = 1;
        let mut fraction: u128 = 0;
        for digit in frac_digits.bytes().take(19) {
            fraction = fraction * 10 + u128::from(digit - b'0');
            scale *= 10;
        }
        part += fraction * unit_nanos / scale;
        total_nanos = total_nanos.checked_add(part).ok_or_else(overflow)?;
        if total_nanos > GO_MAX_NANOS {
            return Err(overflow());
        }
        rest = after_unit;
    }

    let secs = u64::try_from(total_nanos / NANOS_PER_SECOND)
        .map_err(|_| GoDurationError::Overflow(text.to_owned()))?;
    // The remainder is below one billion, so it always fits.
    let nanos = (total_nanos % NANOS_PER_SECOND) as u32;
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_the_forms_users_write() {
        assert_eq!(parse_go_duration("20m"), Ok(secs(1200)));
        assert_eq!(parse_go_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_go_duration("90s"), Ok(secs(90)));
        assert_eq!(parse_go_duration("1h0m0s"), Ok(secs(3600)));
        assert_eq!(parse_go_duration("+5m"), Ok(secs(300)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("12h"), Ok(secs(43200)));
    }

    #[test]
    fn parses_fractions_and_small_units_like_go() {
        assert_eq!(parse_go_duration("1.5h"), Ok(secs(5400)));
        assert_eq!(parse_go_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("5.s"), Ok(secs(5)));
        assert_eq!(parse_go_duration("1.000000001s"), Ok(Duration::new(1, 1)));
        // Digits past nanosecond precision are dropped, not rounded.
        assert_eq!(parse_go_duration("1.0000000019s"), Ok(Duration::new(1, 1)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(
            parse_go_duration("3\u{00b5}s"),
            Ok(Duration::from_micros(3))
        );
        assert_eq!(parse_go_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(
            parse_go_duration("1m1.5s"),
            Ok(Duration::from_millis(61_500))
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in [
            "", "+", "5", "m", ".", ".s", "1d", "1 h", "1h ", "h1", "1hm", "1.2.3s", "3w",
        ] {
            let result = parse_go_duration(bad);
            assert!(result.is_err(), "{bad:?} parsed as {result:?}");
        }
        assert_eq!(parse_go_duration(""), Err(GoDurationError::Empty));
        assert_eq!(
            parse_go_duration("1d"),
            Err(GoDurationError::Invalid("1d".to_owned()))
        );
    }

    #[test]
    fn refuses_negative_durations() {
        assert_eq!(
            parse_go_duration("-5m"),
            Err(GoDurationError::Negative("-5m".to_owned()))
        );
    }

    #[test]
    fn refuses_durations_longer_than_go_can_hold() {
        // Go's limit is 2^63-1 ns, about 2562047h47m16.854775807s.
        assert_eq!(
            parse_go_duration("2562047h47m16.854775807s"),
            Ok(Duration::new(9_223_372_036, 854_775_807))
        );
        assert!(matches!(
            parse_go_duration("2562048h"),
            Err(GoDurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_go_duration("99999999999999999999999999999999999999999h"),
            Err(GoDurationError::Overflow(_))
        ));
    }

    #[test]
    fn error_messages_say_what_to_write() {
        let message = parse_go_duration("1d").unwrap_err().to_string();
        assert!(message.contains("\"1d\""), "{message}");
        assert!(message.contains("1h30m"), "{message}");
    }
}
