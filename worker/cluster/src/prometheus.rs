//! Prometheus text exposition (version 0.0.4) of the JobManager's and TaskManagers' `/metrics`.

use std::fmt::Write;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Metric families, written one after another.
#[derive(Debug, Default)]
pub struct Exposition(String);

impl Exposition {
    /// Starts family `name` of `kind` (`counter` or `gauge`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample of the family just started.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let escaped = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.0, "{k}=\"{escaped}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The text.
    pub fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_families_described() {
        let mut e = Exposition::default();
        e.single("up", "gauge", "Up.", 1.0);
        e.family("x_total", "counter", "X.").sample("x_total", &[("name", "a \"b\"\\c\nd")], 2.5);
        assert_eq!(
            e.finish(),
            "# HELP up Up.\n# TYPE up gauge\nup 1\n# HELP x_total X.\n# TYPE x_total counter\n\
             x_total{name=\"a \\\"b\\\"\\\\c\\nd\"} 2.5\n"
        );
    }
}
