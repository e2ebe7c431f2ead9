//! How a command fails: the message for stderr and the exit code — one convention for every
//! command of the `micro` binary.

/// A command failed: what to print on stderr, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    /// A failure of the command itself (exit 1).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }

    /// Arguments that do not make sense (exit 2, as clap's usage errors).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 2,
        }
    }

    /// Whoever read our output stopped (`micro list services | head -1`): end quietly with the
    /// status of a process that SIGPIPE ended, as other Unix tools do.
    pub(crate) fn closed_output() -> Self {
        Failure {
            message: String::new(),
            code: 128 + 13,
        }
    }

    /// Writing our output failed: quietly when the reader left, else saying why.
    pub(crate) fn output(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::closed_output();
        }
        Failure::new(format!("writing output: {e}"))
    }

    /// Prints the message (if any) on stderr; returns the exit code.
    pub(crate) fn report(self) -> i32 {
        if !self.message.is_empty() {
            eprintln!("{}", self.message);
        }
        self.code
    }
}
