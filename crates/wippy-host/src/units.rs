//! Units in app files: Go-style durations (`"1h30m"`, `"250ms"`) and sizes
//! (`"64MB"`, 1024-based).

use std::time::Duration;

use crate::ParseError;

/// Parses a Go-format duration: a sequence of decimal numbers with units
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, e.g. `"1.5s"`, `"1h30m"`. `"0"` is
/// zero. Negative durations are rejected.
///
/// ```
/// use std::time::Duration;
/// use wippy_host::units::parse_duration;
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("5 parsecs").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(ParseError::EmptyDuration);
    }
    if s.starts_with('-') {
        return Err(ParseError::NegativeDuration { text: text.into() });
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let bad = || ParseError::InvalidDuration { text: text.into() };
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(ParseError::DurationTooLarge { text: text.into() });
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Parses a size: a number with an optional unit `B`, `KB`, `MB`, `GB`
/// (1024-based; `KiB` etc. accepted too), e.g. `"64MB"`.
///
/// ```
/// use wippy_host::units::parse_size;
/// assert_eq!(parse_size("64MB"), Ok(64 << 20));
/// assert_eq!(parse_size("512"), Ok(512));
/// assert!(parse_size("lots").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let bad = || ParseError::InvalidSize { text: text.into() };
    let n: f64 = s[..split].parse().map_err(|_| bad())?;
    let scale: u64 = match s[split..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = (n * scale as f64).round();
    // 2^64 as f64 is the first value a u64 cannot hold (the cast would
    // saturate to u64::MAX).
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(ParseError::SizeTooLarge { text: text.into() });
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_go_format() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("1h0m2s"), Ok(Duration::from_secs(3602)));
        assert_eq!(
            parse_duration("-1s"),
            Err(ParseError::NegativeDuration { text: "-1s".into() })
        );
        assert_eq!(parse_duration(" "), Err(ParseError::EmptyDuration));
        assert_eq!(
            parse_duration("1x").unwrap_err().to_string(),
            "invalid duration `1x` (expected e.g. 250ms, 1.5s, 1h30m)"
        );
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn sizes_are_1024_based() {
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("1.5 KB"), Ok(1536));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(
            parse_size("1TB"),
            Err(ParseError::InvalidSize { text: "1TB".into() })
        );
    }
}
