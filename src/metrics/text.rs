//! A small writer for the Prometheus text exposition format 0.0.4.
//!
//! The SLA families are rendered straight from the snapshot with this writer
//! rather than through `prometheus` metric vectors: a scrape is then one pass
//! over plain data (10k series well under the 5 ms budget), and label sets that
//! vanish from the snapshot vanish from `/metrics` without bookkeeping.

use std::fmt::Write;

/// Writes families into a buffer. Callers emit each family's samples right
/// after its header; the writer does not sort or merge.
pub struct TextWriter<'a> {
    out: &'a mut String,
}

impl<'a> TextWriter<'a> {
    pub fn new(out: &'a mut String) -> TextWriter<'a> {
        TextWriter { out }
    }

    /// `# HELP` and `# TYPE` lines. `kind` is counter, gauge or histogram.
    pub fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(self.out, labels, None);
        self.out.push(' ');
        write_value(self.out, value);
        self.out.push('\n');
    }

    /// A whole histogram series from cumulative bucket counts (one per bound in
    /// `bounds`, then +Inf), the sum and the count.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
    ) {
        debug_assert_eq!(cumulative.len(), bounds.len() + 1);
        let mut le = String::new();
        for (i, count) in cumulative.iter().enumerate() {
            le.clear();
            match bounds.get(i) {
                Some(b) => write_value(&mut le, *b),
                None => le.push_str("+Inf"),
            }
            self.out.push_str(name);
            self.out.push_str("_bucket");
            write_labels(self.out, labels, Some(&le));
            let _ = writeln!(self.out, " {count}");
        }
        let count = cumulative.last().copied().unwrap_or(0);
        self.out.push_str(name);
        self.out.push_str("_sum");
        write_labels(self.out, labels, None);
        self.out.push(' ');
        write_value(self.out, sum);
        self.out.push('\n');
        self.out.push_str(name);
        self.out.push_str("_count");
        write_labels(self.out, labels, None);
        let _ = writeln!(self.out, " {count}");
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().copied().chain(le.map(|v| ("le", v))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_samples_with_escaped_labels() {
        let mut s = String::new();
        let mut w = TextWriter::new(&mut s);
        w.header("x_items", "gauge", "Items.");
        w.sample("x_items", &[("team", "a\"b\\c\nd")], 2.0);
        w.sample("x_items", &[], 0.25);
        assert_eq!(
            s,
            "# HELP x_items Items.\n# TYPE x_items gauge\nx_items{team=\"a\\\"b\\\\c\\nd\"} 2\nx_items 0.25\n"
        );
    }

    #[test]
    fn writes_a_histogram() {
        let mut s = String::new();
        TextWriter::new(&mut s).histogram("h_seconds", &[("a", "b")], &[1.0, 2.5], &[1, 3, 4], 7.5);
        assert_eq!(
            s,
            "h_seconds_bucket{a=\"b\",le=\"1\"} 1\nh_seconds_bucket{a=\"b\",le=\"2.5\"} 3\nh_seconds_bucket{a=\"b\",le=\"+Inf\"} 4\nh_seconds_sum{a=\"b\"} 7.5\nh_seconds_count{a=\"b\"} 4\n"
        );
    }
}
