//! The layers of the configuration, collected into one value per key with where it came from:
//! the table's defaults, then the TOML file, the `VIGIL_*` environment and the flags, each
//! overriding the one before. Unknown keys and file values of the wrong TOML type are problems;
//! so is every value a key's parser refuses. [`Values`] keeps the problems in the order they
//! were found, so all of them are reported at once.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::keys::{self, env_name, AnyKey, Key, Refused, ALL, RESERVED_ENV, RESERVED_ENV_PREFIXES};
use super::{ConfigError, ConfigProblem, FlagLayer, Source};

/// One key's text and the layer it came from.
#[derive(Debug, Clone)]
pub(super) struct Sourced {
    pub(super) text: String,
    pub(super) source: Source,
}

/// Every key's value after layering, and the problems found so far.
pub(super) struct Values {
    values: BTreeMap<&'static str, Sourced>,
    problems: Vec<ConfigProblem>,
    /// The file's `[sim]` table, handed unparsed to the simulator.
    pub(super) sim: Option<toml::Table>,
}

impl Values {
    /// Collects the layers: defaults → file → environment → flags.
    pub(super) fn collect(flags: &FlagLayer, env: &BTreeMap<String, String>) -> Values {
        let mut values = Values::defaults();
        // The file: explicit, else ./vigil.toml when it exists.
        let file = flags
            .config_file
            .clone()
            .or_else(|| Some(PathBuf::from("vigil.toml")).filter(|p| p.exists()));
        if let Some(path) = file {
            values.file_layer(&path);
        }
        values.env_layer(env);
        if let Some(url) = &flags.database_url {
            values.insert(
                &keys::DATABASE_URL,
                url.clone(),
                Source::Flag("--database-url"),
            );
        }
        values
    }

    fn defaults() -> Values {
        let values = ALL
            .iter()
            .filter_map(|key| {
                let text = key.default()?.to_owned();
                Some((
                    key.path(),
                    Sourced {
                        text,
                        source: Source::Default,
                    },
                ))
            })
            .collect();
        Values {
            values,
            problems: Vec::new(),
            sim: None,
        }
    }

    fn file_layer(&mut self, path: &Path) {
        let source = Source::File(path.to_path_buf());
        let flat = match read_file(path) {
            Ok((flat, sim)) => {
                self.sim = sim;
                flat
            }
            Err(message) => return self.problem("(file)", source, message),
        };
        for (name, value) in flat {
            match known(|key| key.path() == name) {
                Some(key) if key.kind().accepts(&value) => {
                    self.insert(key, text_of(&value), source.clone());
                }
                Some(key) => {
                    let message = format!(
                        "got {value} (a {}), expected {}: {}",
                        value.type_str(),
                        key.kind().name(),
                        key.expected()
                    );
                    self.problem(name, source.clone(), message);
                }
                None => self.problem(name, source.clone(), unknown_key_message()),
            }
        }
    }

    fn env_layer(&mut self, env: &BTreeMap<String, String>) {
        for (name, value) in env {
            if !name.starts_with("VIGIL_")
                || RESERVED_ENV.contains(&name.as_str())
                || RESERVED_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
            {
                continue;
            }
            let source = Source::Env(name.clone());
            match known(|key| env_name(key.path()) == *name) {
                Some(key) => self.insert(key, value.clone(), source),
                None => self.problem(name.clone(), source, unknown_key_message()),
            }
        }
    }

    fn insert(&mut self, key: &dyn AnyKey, text: String, source: Source) {
        self.values.insert(key.path(), Sourced { text, source });
    }

    /// Where a key's value came from, when any layer (or the default) gave one.
    pub(super) fn source_of<T>(&self, key: &Key<T>) -> Option<&Source> {
        self.values.get(key.path).map(|v| &v.source)
    }

    /// A key's value as text, when any layer gave one (not yet parsed).
    pub(super) fn take<T>(&mut self, key: &Key<T>) -> Option<Sourced> {
        self.values.remove(key.path)
    }

    /// Parses a key's value, recording a problem that names its source and the expectation.
    pub(super) fn parse<T>(&mut self, key: &Key<T>, value: Sourced) -> Option<T> {
        match (key.parse)(value.text.trim()) {
            Ok(parsed) => Some(parsed),
            Err(refused) => {
                let message = match refused {
                    Refused::Invalid => format!("got {:?}, expected {}", value.text, key.expected),
                    Refused::Message(message) => message,
                };
                self.problem(key.path, value.source, message);
                None
            }
        }
    }

    /// A key's parsed value: `None` when no layer gave one, or when it was refused (a problem).
    pub(super) fn get<T>(&mut self, key: &Key<T>) -> Option<T> {
        let value = self.take(key)?;
        self.parse(key, value)
    }

    /// A key's parsed value, else `fallback` (when no layer gave one, or it was refused).
    pub(super) fn get_or<T>(&mut self, key: &Key<T>, fallback: T) -> T {
        self.get(key).unwrap_or(fallback)
    }

    /// Records a problem.
    pub(super) fn problem(&mut self, key: impl Into<String>, source: Source, message: String) {
        self.problems.push(ConfigProblem {
            key: key.into(),
            source,
            message,
        });
    }

    /// The configuration, when no problem was found; else every problem.
    pub(super) fn finish<C>(self, built: Option<C>) -> Result<C, ConfigError> {
        match built {
            Some(config) if self.problems.is_empty() => Ok(config),
            _ => Err(ConfigError {
                problems: self.problems,
            }),
        }
    }
}

fn known(matches: impl Fn(&dyn AnyKey) -> bool) -> Option<&'static dyn AnyKey> {
    ALL.iter().copied().find(|key| matches(*key))
}

fn unknown_key_message() -> String {
    let known: Vec<String> = ALL
        .iter()
        .map(|k| format!("{} ({})", k.path(), env_name(k.path())))
        .collect();
    format!("unknown key; known keys are: {}", known.join(", "))
}

/// The text a file value contributes, parsed like an environment variable's.
fn text_of(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A file's values by dotted key (tables flattened, every other value as the file typed it).
type FileValues = BTreeMap<String, toml::Value>;

/// Reads the TOML file into dotted keys plus the opaque `[sim]` table.
fn read_file(path: &Path) -> Result<(FileValues, Option<toml::Table>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file: {e}"))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let sim = match table.remove("sim") {
        Some(toml::Value::Table(sim)) => Some(sim),
        Some(_) => return Err("[sim] must be a table".into()),
        None => None,
    };
    let mut flat = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut flat);
    Ok((flat, sim))
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut FileValues) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}
