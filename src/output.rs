//! Where reports go: standard output or `--output FILE`, opened before any work.
//! Every output file is an [`atomic::AtomicFile`].

pub mod atomic;

use crate::cli::OutputArgs;
use atomic::AtomicFile;
use std::io::Write;

/// A report destination, opened up front so a bad path fails in a millisecond
/// rather than after a minute of measuring.
#[derive(Debug)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// A file, renamed into place once the report is written.
    File(AtomicFile),
}

impl Output {
    /// Opens `--output`, or standard output.
    pub fn open(args: &OutputArgs) -> Result<Output, crate::plan::InputError> {
        match &args.output {
            None => Ok(Output::Stdout),
            Some(path) => AtomicFile::create("--output", path).map(Output::File),
        }
    }

    /// Writes the whole report.
    pub fn write(self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Output::File(file) => file.commit(bytes).map(drop),
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
