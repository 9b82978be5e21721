//! Where reports go: standard output or `--output FILE`, opened before any work.

use crate::cli::OutputArgs;
use std::io::Write;

/// A report destination, opened up front so a bad path fails in a millisecond
/// rather than after a minute of measuring.
#[derive(Debug)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// A file.
    File(std::fs::File, std::path::PathBuf),
}

impl Output {
    /// Opens `--output`, or standard output.
    pub fn open(args: &OutputArgs) -> Result<Output, crate::plan::InputError> {
        match &args.output {
            None => Ok(Output::Stdout),
            Some(path) => std::fs::File::create(path)
                .map(|f| Output::File(f, path.clone()))
                .map_err(|e| crate::plan::InputError::Flag {
                    flag: "--output".into(),
                    message: format!("cannot create {}: {e}", path.display()),
                }),
        }
    }

    /// Writes the whole report.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Output::File(file, _) => {
                file.write_all(bytes)?;
                file.flush()
            }
        }
    }
}

/// Whether `error` is a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
