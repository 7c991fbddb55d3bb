//! Values in the forms Flink's configuration takes them, and ours: durations (`10 s`, `1 min`,
//! `200ms`, a plain number of milliseconds), memory sizes (`512 mb`, `1gb`, `1728m`, `64KiB`, a plain
//! number of bytes), booleans in any case, port ranges (`9249-9260`), enumerations in any case with
//! `_` or `-`.

use std::time::Duration;

/// Parses a duration: a number and one of Flink's units (`d`, `h`, `min`/`m`, `s`, `ms`, `us`, `ns`
/// and their long names, with or without a space), a plain number of milliseconds as Flink reads it,
/// or a `humantime` compound such as `1h 30min`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = split_number(t);
    if let Ok(n) = number.parse::<u64>() {
        let unit = unit.trim().to_ascii_lowercase();
        let scale: Option<(u64, u32)> = match unit.as_str() {
            "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => Some((1, 1_000_000)),
            "s" | "sec" | "secs" | "second" | "seconds" => Some((1, 1_000_000_000)),
            "m" | "min" | "mins" | "minute" | "minutes" => Some((60, 1_000_000_000)),
            "h" | "hour" | "hours" => Some((3600, 1_000_000_000)),
            "d" | "day" | "days" => Some((86_400, 1_000_000_000)),
            "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => Some((1, 1_000)),
            "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => Some((1, 1)),
            _ => None,
        };
        if let Some((factor, nanos)) = scale {
            let total = (n as u128) * (factor as u128) * (nanos as u128);
            let secs = u64::try_from(total / 1_000_000_000).map_err(|_| format!("'{text}' is too long"))?;
            return Ok(Duration::new(secs, (total % 1_000_000_000) as u32));
        }
    }
    humantime::parse_duration(t).map_err(|_| format!("'{text}' is not a duration such as 10s, 1 min or 500 ms"))
}

/// Parses a memory size: a number with an optional unit (`b`, `k`/`kb`/`kib`, `m`/`mb`/`mib`,
/// `g`/`gb`/`gib`, `t`/`tb`/`tib` and Flink's long names, any case, with or without a space; all
/// binary multiples as in Flink), or a plain number of bytes.
pub fn bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (number, unit) = split_number(t);
    let n: usize = number.parse().map_err(|_| format!("'{text}' is not a size such as 512mb or 1gb"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kib" | "kibibytes" => 10,
        "m" | "mb" | "mib" | "mebibytes" => 20,
        "g" | "gb" | "gib" | "gibibytes" => 30,
        "t" | "tb" | "tib" | "tebibytes" => 40,
        _ => return Err(format!("'{text}': unknown unit; use b, kb, mb, gb or tb")),
    };
    n.checked_mul(1 << shift).ok_or_else(|| format!("'{text}' is too large"))
}

/// Parses a boolean (`true`/`false` in any case; `1`/`0`, `yes`/`no`).
pub fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{text}' is not true or false")),
    }
}

/// A fraction strictly between 0 and 1 (`0.5`).
pub fn fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err(format!("'{text}' is not a fraction between 0 and 1 such as 0.5")),
    }
}

/// An enumeration's value as a name: lower case, `_` and spaces as `-` (`NO_CLAIM` is `no-claim`).
pub fn enum_name(text: &str) -> String {
    text.trim().to_ascii_lowercase().replace(['_', ' '], "-")
}

fn split_number(t: &str) -> (&str, &str) {
    t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()))
}

/// A port, or a range of ports to take the first free one of (`9249-9260`, as Flink's Prometheus
/// reporter takes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// The first port tried.
    pub first: u16,
    /// The last port tried.
    pub last: u16,
}

impl PortRange {
    /// One port.
    pub const fn single(port: u16) -> PortRange {
        PortRange { first: port, last: port }
    }

    /// The ports of the range, in order.
    pub fn ports(self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last { write!(f, "{}", self.first) } else { write!(f, "{}-{}", self.first, self.last) }
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;

    fn from_str(text: &str) -> Result<PortRange, String> {
        let port = |p: &str| {
            p.trim().parse::<u16>().map_err(|_| format!("'{text}' is not a port or a range such as 9249-9260"))
        };
        match text.split_once('-') {
            None => port(text).map(PortRange::single),
            Some((a, b)) => {
                let (first, last) = (port(a)?, port(b)?);
                if first > last || first == 0 {
                    return Err(format!(
                        "'{text}' is not a range of ports: the first must be above 0 and not above the last"
                    ));
                }
                Ok(PortRange { first, last })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_flinks_forms_and_ours() {
        let s = Duration::from_secs;
        for (text, want) in [
            ("10 s", s(10)),
            ("10s", s(10)),
            ("1 min", s(60)),
            ("1min", s(60)),
            ("2m", s(120)),
            ("500 ms", Duration::from_millis(500)),
            ("10000", s(10)),
            ("1h", s(3600)),
            ("1 d", s(86_400)),
            ("1h 30min", s(5400)),
            ("200 micros", Duration::from_micros(200)),
        ] {
            assert_eq!(duration(text), Ok(want), "{text}");
        }
        assert!(duration("soon").unwrap_err().contains("'soon' is not a duration"));
        assert!(duration("5 fortnights").is_err());
    }

    #[test]
    fn sizes_in_flinks_forms_and_ours() {
        for (text, want) in [
            ("512 mb", 512 << 20),
            ("1gb", 1 << 30),
            ("1728m", 1728 << 20),
            ("64KiB", 64 << 10),
            ("1 GiB", 1 << 30),
            ("4096", 4096),
            ("2 bytes", 2),
            ("1t", 1 << 40),
        ] {
            assert_eq!(bytes(text), Ok(want), "{text}");
        }
        assert!(bytes("lots").is_err());
        assert!(bytes("1 pb").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn port_ranges() {
        assert_eq!("9249".parse(), Ok(PortRange::single(9249)));
        let range: PortRange = "9249-9260".parse().unwrap();
        assert_eq!((range.ports().count(), range.to_string()), (12, "9249-9260".to_string()));
        assert!("9260-9249".parse::<PortRange>().is_err());
        assert!("http".parse::<PortRange>().unwrap_err().contains("'http' is not a port"));
    }
}
