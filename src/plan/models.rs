//! The models a plan may run and how worker processes start: the names PRODUCT.md
//! fixes. Adding a model kind is one line in [`ModelKind`] (plus
//! `#[strum(serialize = "…")]` when its name is not the variant's kebab-case);
//! [`parse_models`] is the one place a list of model names is read.

use super::names::parse_name;
use crate::workload::Kind;
use std::fmt;
use strum::{IntoStaticStr, VariantArray};

/// A concurrency model, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum ModelKind {
    /// One thread runs all workers' work one after another.
    Sequential,
    /// CPython 3.10+ GIL.
    Gil,
    /// CPython 3.2–3.9 GIL: the same lock, with the drop request looked at after
    /// nearly every bytecode.
    #[strum(serialize = "gil-3.9")]
    Gil39,
    /// Python 2 GIL.
    GilLegacy,
    /// OS threads, no GIL.
    Threads,
    /// Worker processes, each with its own GIL; shared memory between them.
    Processes,
    /// Worker processes whose shared state lives in a manager server.
    Manager,
    /// One thread, one event loop: every worker is a coroutine that gives the
    /// loop back only at its awaits.
    Asyncio,
    /// Threads in one process, each running its own interpreter with its own GIL
    /// (PEP 684); shared state only through a channel that copies each message.
    Subinterpreters,
}

impl ModelKind {
    /// Every model, in report order.
    pub const ALL: &'static [ModelKind] = ModelKind::VARIANTS;

    /// The model's name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads a list of model names (from `--model` or a scenario's `models`); the
/// error says what was wrong, for the caller to place.
pub fn parse_models(names: &[String]) -> Result<Vec<ModelKind>, String> {
    let mut models = Vec::new();
    for name in names {
        let model = parse_name::<ModelKind>(name, "model")?;
        // A model named twice would run twice and print two rows of the same thing;
        // a list repeated many times would run for ever. Stop at the first repeat.
        if models.contains(&model) {
            return Err(format!("`{model}` is named twice; name each model once"));
        }
        models.push(model);
    }
    if models.is_empty() {
        return Err("name at least one model".into());
    }
    Ok(models)
}

/// Why `model` does not fit workload `kind`, or `None` when it does: the one
/// declaration of which models each workload supports, read by [`supported`]
/// (`gilbench list`) and [`check_runnable`]. A new model adds its arm here.
pub fn misfit(model: ModelKind, kind: Kind) -> Option<&'static str> {
    use ModelKind::*;
    match (kind, model) {
        // Its runs are variants of one experiment on one heap (`model::fork_cow`),
        // not an op loop.
        (Kind::ForkCow, Threads | Processes) => None,
        (Kind::ForkCow, _) => {
            Some("its variants run on one heap that threads share and processes fork")
        }
        (Kind::Queue, Sequential) => Some(
            "its workers wait for each other, so one thread running them in turn would never \
             finish",
        ),
        (_, Sequential | Gil | Gil39 | GilLegacy | Threads | Processes | Manager) => None,
        // A coroutine awaits only at the blocking calls of these; the others have
        // no await in them (one coroutine after another: the sequential baseline).
        // `queue`'s producers and consumers await an `asyncio.Queue`.
        (
            Kind::CpuBound | Kind::IoBound | Kind::Convoy | Kind::SharedCounter | Kind::Queue,
            Asyncio,
        ) => None,
        (_, Asyncio) => Some("it has no await: its coroutines would run one after another"),
        // Interpreters share no objects (only immortal ones, whose counts never
        // change): there is no count for two of them to race on.
        (Kind::Refcount, Subinterpreters) => {
            Some("interpreters share no objects, so no reference count is shared")
        }
        (_, Subinterpreters) => None,
    }
}

/// The models workload `kind` runs under, in report order.
pub fn supported(kind: Kind) -> Vec<ModelKind> {
    ModelKind::ALL
        .iter()
        .copied()
        .filter(|&m| misfit(m, kind).is_none())
        .collect()
}

/// Whether every one of `models` fits scenario `scenario` (whose workload is
/// `kind`); the error names the first that does not, why, and the ones that do.
pub fn check_runnable(models: &[ModelKind], scenario: &str, kind: Kind) -> Result<(), String> {
    let Some((model, why)) = models
        .iter()
        .find_map(|&m| misfit(m, kind).map(|why| (m, why)))
    else {
        return Ok(());
    };
    let fits: Vec<&str> = supported(kind).iter().map(|m| m.name()).collect();
    Err(format!(
        "`{model}` does not fit scenario `{scenario}` ({why}); it runs under {}",
        fits.join(", ")
    ))
}

/// How worker processes start, as in Python's multiprocessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum StartMethod {
    /// fork() from a single-threaded parent.
    Fork,
    /// fork() + exec of gilbench itself in worker mode.
    Spawn,
    /// A server forked early that forks workers on request.
    Forkserver,
}

impl StartMethod {
    /// The method's name.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The method named `text`.
    pub fn parse(text: &str) -> Result<StartMethod, String> {
        parse_name(text, "start method")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_parse() {
        let names = |s: &[&str]| s.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_models(&names(&["gil-legacy", " threads"])),
            Ok(vec![ModelKind::GilLegacy, ModelKind::Threads])
        );
        assert!(parse_models(&names(&["gill"]))
            .unwrap_err()
            .contains("sequential, gil"));
        assert!(parse_models(&[]).unwrap_err().contains("at least one"));
        assert_eq!(ModelKind::GilLegacy.to_string(), "gil-legacy");
        assert_eq!(ModelKind::ALL.len(), 9);
        assert_eq!(
            parse_models(&names(&["gil-3.9"])),
            Ok(vec![ModelKind::Gil39])
        );
        assert_eq!(
            StartMethod::parse("forkserver"),
            Ok(StartMethod::Forkserver)
        );
        assert!(StartMethod::parse("clone")
            .unwrap_err()
            .contains("fork, spawn, forkserver"));
    }

    #[test]
    fn each_workload_declares_its_models_and_a_misfit_names_them() {
        use strum::VariantNames;
        for name in Kind::VARIANTS {
            let kind = Kind::named(name).unwrap();
            assert!(!supported(kind).is_empty(), "{name} runs under nothing");
        }
        assert_eq!(
            supported(Kind::ForkCow),
            vec![ModelKind::Threads, ModelKind::Processes]
        );
        assert!(!supported(Kind::Queue).contains(&ModelKind::Sequential));
        assert_eq!(
            check_runnable(&[ModelKind::Gil], "queue", Kind::Queue),
            Ok(())
        );
        let err = check_runnable(
            &[ModelKind::Threads, ModelKind::Gil],
            "my-cow",
            Kind::ForkCow,
        )
        .unwrap_err();
        assert!(
            err.starts_with("`gil` does not fit scenario `my-cow` (")
                && err.ends_with("; it runs under threads, processes"),
            "{err}"
        );
    }
}
