//! `gilbench list`: the built-in scenarios as one serialisable report.

use super::colour::Palette;
use super::render::Report;
use super::rows::Row;
use serde::Serialize;

/// The result of `gilbench list`.
#[derive(Debug, Serialize)]
pub struct ListReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `"list"`.
    pub kind: &'static str,
    /// One entry per built-in scenario, in listing order.
    pub scenarios: Vec<Listed>,
}

/// One line of `gilbench list`.
#[derive(Debug, Serialize)]
pub struct Listed {
    /// The scenario's name.
    pub name: String,
    /// The models it runs by default.
    pub models: Vec<String>,
    /// What it shows, in one line.
    pub summary: String,
    /// Every model its workload fits (`--model` may name any of them).
    pub supported_models: Vec<String>,
}

impl ListReport {
    /// Reads every built-in scenario.
    pub fn builtins() -> anyhow::Result<ListReport> {
        let mut scenarios = Vec::new();
        for name in crate::scenario::builtin_names() {
            let source = crate::scenario::Source::builtin(name).expect("listed built-in exists");
            let file = crate::scenario::ScenarioFile::parse(&source)
                .map_err(|e| anyhow::anyhow!("built-in {name}: {}", e.message))?;
            let kind = crate::workload::Kind::named(&file.workload)
                .ok_or_else(|| anyhow::anyhow!("built-in {name}: unknown workload"))?;
            let supported = crate::plan::models::supported(kind);
            scenarios.push(Listed {
                name: file.name,
                models: file.models,
                summary: file.summary,
                supported_models: supported.iter().map(|m| m.name().to_string()).collect(),
            });
        }
        Ok(ListReport {
            gilbench: super::VERSION,
            kind: "list",
            scenarios,
        })
    }
}

impl Report for ListReport {
    fn rows(&self) -> Vec<Row> {
        self.scenarios.iter().map(|s| Row::of(&[], s)).collect()
    }

    fn title(&self) -> Option<String> {
        Some(format!("gilbench {} · built-in scenarios", self.gilbench))
    }

    fn notes(&self) -> Option<String> {
        Some(
            "Run one with `gilbench scenario NAME`, or all of them briefly with `gilbench tour`."
                .into(),
        )
    }

    /// The plain-text listing.
    fn table(&self, _palette: Palette) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_header(vec!["scenario", "models", "also fits", "what it shows"]);
        for l in &self.scenarios {
            let also: Vec<&str> = l
                .supported_models
                .iter()
                .filter(|m| !l.models.contains(m))
                .map(String::as_str)
                .collect();
            table.add_row(vec![
                l.name.clone(),
                l.models.join(","),
                also.join(","),
                l.summary.clone(),
            ]);
        }
        format!("{table}\n")
    }
}
