//! How an error reaches the person who ran the command: one trait every torch-side error
//! implements ([`Report`]: its exit code, the place it is about, a hint) and one function
//! that prints it ([`report`]). The CLI calls nothing else to say what went wrong, so every
//! command's errors read alike: rustc's shape (`error:`, `-->` the place, `help:`), with the
//! causes of a wrapped error joined as anyhow's `{:#}` joins them.
//!
//! Exit codes are the README's: 1 for the model, its settings or its data, 2 for usage and
//! I/O (a flag, a file that cannot be read or written), 130 for Ctrl-C.

use std::fmt;
use std::path::PathBuf;

/// An error kept as the cause of another (`#[source]`), of whatever type it was.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an error is about, so a person (or an editor) can go there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A file or directory.
    Path(PathBuf),
    /// A line of a text file (a list of ids, an architecture file).
    Line { path: PathBuf, line: usize },
    /// A node of the model graph, by its dotted name.
    Node(String),
    /// A run directory.
    Run(PathBuf),
    /// One record of a data shard (a TFRecord file), counted from 0.
    Record { shard: PathBuf, index: usize },
    /// A setting (`--set KEY=VALUE`, `train:`, a data knob).
    Setting(String),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Path(p) => write!(f, "{}", p.display()),
            Place::Line { path, line } => write!(f, "{}:{line}", path.display()),
            Place::Node(name) => write!(f, "node `{name}`"),
            Place::Run(dir) => write!(f, "run {}", dir.display()),
            Place::Record { shard, index } => write!(f, "{}: record {index}", shard.display()),
            Place::Setting(key) => write!(f, "setting `{key}`"),
        }
    }
}

impl Place {
    /// The text a message names this place by (a path, a name), to avoid saying it twice.
    fn named_as(&self) -> String {
        match self {
            Place::Path(p) | Place::Run(p) | Place::Record { shard: p, .. } | Place::Line { path: p, .. } => {
                p.display().to_string()
            }
            Place::Node(name) | Place::Setting(name) => name.clone(),
        }
    }
}

/// An error as the user sees it.
pub trait Report: std::error::Error {
    /// The process's exit status when this error ends a command.
    fn exit_code(&self) -> u8 {
        1
    }
    /// What the error is about, when it is about one place.
    fn place(&self) -> Option<Place> {
        None
    }
    /// What to do about it, when something can be said.
    fn help(&self) -> Option<String> {
        None
    }
    /// The error as a diagnostic: message, place, causes and hint.
    fn diagnostic(&self) -> Diagnostic {
        let message = self.to_string();
        let mut causes: Vec<String> = Vec::new();
        let mut next = self.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // thiserror messages often quote their source (`cannot read {path}: {source}`),
            // or its gist (libtorch's text after its prefix): say each thing once.
            let gist = text.rsplit(": ").next().unwrap_or(&text);
            let said = |t: &str| t.contains(&text) || t.contains(gist);
            if !said(&message) && !causes.iter().any(|c| said(c)) {
                causes.push(text);
            }
            next = cause.source();
        }
        let place = self.place().filter(|p| !message.contains(&p.named_as()));
        Diagnostic { message, causes, place, help: self.help(), exit_code: self.exit_code() }
    }
}

/// A torch-side error ready to print (see [`Report::diagnostic`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    /// The wrapped errors' own messages, outermost first, each not already said.
    pub causes: Vec<String>,
    /// Shown when the message does not name it already.
    pub place: Option<Place>,
    pub help: Option<String>,
    pub exit_code: u8,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        writeln!(f)?;
        if let Some(place) = &self.place {
            writeln!(f, "  --> {place}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  help: {help}")?;
        }
        Ok(())
    }
}

/// What every error line of this process starts with: `rank N: ` in a data-parallel job, so
/// that the ranks' messages, interleaved on one terminal, say whose they are.
static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets [`report`]'s line prefix (once per process; later calls do nothing).
pub fn set_prefix(prefix: String) {
    avc_lang::cli::set_line_prefix(prefix.clone());
    let _ = PREFIX.set(prefix);
}

/// `text` with this process's line prefix (`rank N: `) before each of its lines.
pub fn prefixed(text: &str) -> String {
    avc_lang::cli::prefixed(text)
}

/// Prints `error` to standard error and gives the exit code the command ends with.
pub fn report(error: &dyn Report) -> u8 {
    let d = error.diagnostic();
    match PREFIX.get() {
        Some(prefix) => eprint!("{}", d.to_string().lines().map(|l| format!("{prefix}{l}\n")).collect::<String>()),
        None => eprint!("{d}"),
    }
    d.exit_code
}

/// A mistake in how a command was called that clap cannot see (two flags that exclude each
/// other, a flag a layout does not take): exit code 2, like clap's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

impl Report for Usage {
    fn exit_code(&self) -> u8 {
        2
    }
}

/// A usage error printed: for `map_err` in the CLI.
pub fn usage(message: impl fmt::Display) -> u8 {
    report(&Usage(message.to_string()))
}

impl Report for avc_lang::output::OutputError {
    fn exit_code(&self) -> u8 {
        avc_lang::output::OutputError::exit_code(self)
    }
}

impl Report for crate::device::DeviceError {
    fn exit_code(&self) -> u8 {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot load {path}")]
    struct Load {
        path: String,
        #[source]
        source: std::io::Error,
    }
    impl Report for Load {
        fn place(&self) -> Option<Place> {
            Some(Place::Node("vproj".into()))
        }
        fn help(&self) -> Option<String> {
            Some("check the path".into())
        }
    }

    #[test]
    fn causes_places_and_help_are_said_once() {
        let e = Load { path: "w.safetensors".into(), source: std::io::Error::other("no such file") };
        let shown = e.diagnostic().to_string();
        assert_eq!(
            shown,
            "error: cannot load w.safetensors: no such file\n  --> node `vproj`\n  help: check the path\n"
        );
    }

    #[test]
    fn a_place_the_message_names_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("{0}: bad header")]
        struct Bad(String);
        impl Report for Bad {
            fn place(&self) -> Option<Place> {
                Some(Place::Path(PathBuf::from(&self.0)))
            }
        }
        assert_eq!(Bad("a.npy".into()).diagnostic().place, None);
        assert_eq!(Usage("x".into()).diagnostic().exit_code, 2);
    }
}
