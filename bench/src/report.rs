//! The printed results: Markdown tables whose cells hold a figure and its ratio to the floor.

use std::fmt;
use std::time::Duration;

/// A Markdown table, printed with aligned columns.
#[derive(Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|header| (*header).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are left empty.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cell = |row: &[String], column: usize| row.get(column).cloned().unwrap_or_default();
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|column| {
                self.rows
                    .iter()
                    .map(|row| cell(row, column).chars().count())
                    .chain([self.headers[column].chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &mut dyn Iterator<Item = String>| {
            for (text, width) in cells.zip(&widths) {
                write!(f, "| {text:<width$} ")?;
            }
            writeln!(f, "|")
        };
        line(f, &mut self.headers.iter().cloned())?;
        line(f, &mut widths.iter().map(|width| "-".repeat(*width)))?;
        for row in &self.rows {
            line(
                f,
                &mut (0..self.headers.len()).map(|column| cell(row, column)),
            )?;
        }
        Ok(())
    }
}

/// A figure and the floor's figure of the same kind, shown as `value (ratio)`.
pub fn with_ratio(value: f64, floor: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match floor {
        Some(floor) if floor > 0.0 => format!("{} ({:.2}x)", show(value), value / floor),
        _ => show(value),
    }
}

/// A rate, such as messages per second: `95,210`.
pub fn rate(per_second: f64) -> String {
    let whole = per_second.round() as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A duration given in nanoseconds: `850 ns`, `5.47 us`, `55.5 us`, `1.23 ms`, `2.0 s`.
pub fn nanos(nanos: f64) -> String {
    if nanos < 1e3 {
        format!("{nanos:.0} ns")
    } else if nanos < 1e4 {
        format!("{:.2} us", nanos / 1e3)
    } else if nanos < 1e5 {
        format!("{:.1} us", nanos / 1e3)
    } else if nanos < 1e6 {
        format!("{:.0} us", nanos / 1e3)
    } else if nanos < 1e9 {
        format!("{:.2} ms", nanos / 1e6)
    } else {
        format!("{:.1} s", nanos / 1e9)
    }
}

/// A duration in nanoseconds, as a float for ratios.
pub fn as_nanos(duration: Duration) -> f64 {
    duration.as_nanos() as f64
}

/// A size in bytes: `900 B`, `6.7 KiB`, `130 MiB`.
pub fn bytes(bytes: f64) -> String {
    if bytes.abs() < 1024.0 {
        format!("{bytes:.0} B")
    } else if bytes.abs() < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}

/// A share as a percentage, `3%`, or `-` when unknown.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |share| format!("{:.0}%", share * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(rate(1234567.4), "1,234,567");
        assert_eq!(rate(999.0), "999");
        assert_eq!(nanos(5_500.0), "5.50 us");
        assert_eq!(nanos(55_500.0), "55.5 us");
        assert_eq!(nanos(250_000.0), "250 us");
        assert_eq!(nanos(1_234_000.0), "1.23 ms");
        assert_eq!(bytes(6_860.8), "6.7 KiB");
        assert_eq!(
            with_ratio(11.0, Some(5.5), |v| format!("{v}")),
            "11 (2.00x)"
        );
        assert_eq!(with_ratio(11.0, None, |v| format!("{v}")), "11");
    }

    #[test]
    fn tables_align() {
        let mut table = Table::new(&["server", "rate"]);
        table.row(vec!["floor".into(), "1,000".into()]);
        assert_eq!(
            table.to_string(),
            "| server | rate  |\n| ------ | ----- |\n| floor  | 1,000 |\n"
        );
    }
}
