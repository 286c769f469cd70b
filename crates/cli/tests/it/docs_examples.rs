//! Every `vigil` example in `README.md` and `docs/*.md` is one the binary accepts (#18 case 15),
//! so examples cannot drift from the command line again.
//!
//! - A command in a shell block (```sh, ```bash, ``` without a language) is parsed whole by the
//!   binary's own clap definition (`cli_args`, compiled in from `src/args.rs`): an unknown
//!   command, an unknown flag, a missing required value or a bad value fails the test, naming
//!   the file, line and error. Placeholders such as `ID` stand where a value goes.
//! - A `vigil …` span in prose or in README's command table is a synopsis (`[--flag N]`,
//!   `on\|off`): its subcommand path must exist and every `--flag` it names must be one of that
//!   command's (or a global one).
//! - The `$V` address the API examples use is the `vigil run --listen` default.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli_args::Cli;

/// One example: where it is, and its words after `vigil`.
#[derive(Debug)]
struct Example {
    place: String,
    words: Vec<String>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md and every Markdown file under docs/.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![workspace().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(workspace().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Splits a shell line into words: quotes group, `\` escapes, and the line ends at an unquoted
/// `#` comment, pipe, redirection, `;` or `&&` (what follows is another program).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    word.get_or_insert_with(String::new).push(next);
                }
            }
            '#' if word.is_none() => break,
            '|' | '>' | '<' | ';' | '&' => break,
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The words after the `vigil` program (or `cargo run -p vigil-cli [--release] --`), if the
/// line runs it.
fn vigil_words(words: &[String]) -> Option<Vec<String>> {
    let mut rest = words;
    // Leading environment assignments (`VIGIL_X=1 vigil …`).
    while rest
        .first()
        .is_some_and(|w| w.contains('=') && !w.starts_with('-'))
    {
        rest = &rest[1..];
    }
    match rest.first().map(String::as_str) {
        Some("vigil") => Some(rest[1..].to_vec()),
        Some("cargo") if rest.get(1).is_some_and(|w| w == "run") => {
            let is_vigil = rest.windows(2).any(|w| w[0] == "-p" && w[1] == "vigil-cli");
            let after = rest.iter().position(|w| w == "--")?;
            is_vigil.then(|| rest[after + 1..].to_vec())
        }
        _ => None,
    }
}

/// Commands in shell blocks, continuation lines joined.
fn block_examples(path: &Path, text: &str) -> Vec<Example> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut found = Vec::new();
    let mut in_shell = None::<bool>;
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(lang) = line.strip_prefix("```") {
            in_shell = match in_shell {
                Some(_) => None,
                None => Some(matches!(
                    lang.trim(),
                    "" | "sh" | "bash" | "shell" | "console"
                )),
            };
            continue;
        }
        if in_shell != Some(true) {
            continue;
        }
        let line = line.strip_prefix("$ ").unwrap_or(line);
        let (start, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
        if let Some(head) = line.strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(line);
        if let Some(words) = vigil_words(&shell_words(&joined)) {
            found.push(Example {
                place: format!("{name}:{start}"),
                words,
            });
        }
    }
    found
}

/// `vigil …` spans in prose and tables.
fn inline_examples(path: &Path, text: &str) -> Vec<Example> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut found = Vec::new();
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            // Odd pieces are inside backticks.
            if i % 2 == 1 {
                if let Some(rest) = span.strip_prefix("vigil ") {
                    found.push(Example {
                        place: format!("{name}:{}", n + 1),
                        words: rest.split_whitespace().map(str::to_owned).collect(),
                    });
                }
            }
        }
    }
    found
}

/// Whether `flag` (`--name`) is an argument of `command` or a global one.
fn has_flag(root: &clap::Command, command: &clap::Command, flag: &str) -> bool {
    let long = flag.trim_start_matches("--");
    [command, root]
        .iter()
        .any(|c| c.get_arguments().any(|a| a.get_long() == Some(long)))
        || long == "help"
}

/// The synopsis check: the subcommand path exists, and every flag named is one of its own.
fn check_synopsis(root: &clap::Command, example: &Example) -> Result<(), String> {
    let mut command = root;
    let mut words = example.words.iter().peekable();
    // Global flags before the subcommand take a value (`--actor NAME`, `--database-url URL`).
    while let Some(w) = words.peek().map(|w| (*w).clone()) {
        if !w.starts_with("--") {
            break;
        }
        if !has_flag(root, root, w.split('=').next().unwrap()) {
            return Err(format!("unknown global flag {w}"));
        }
        words.next();
        if !w.contains('=') {
            words.next();
        }
    }
    let mut flags = Vec::new();
    let mut descending = true;
    for word in words {
        let word = word.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')' | ',' | '.'));
        if let Some(flag) = word.strip_prefix("--") {
            descending = false;
            flags.push(format!("--{}", flag.split('=').next().unwrap()));
            continue;
        }
        if !descending || command.get_subcommands().next().is_none() {
            descending = false;
            continue;
        }
        // `on\|off`, `pause|resume|remove`: every alternative must be a subcommand; the path
        // goes on through the first.
        let alternatives: Vec<&str> = word.split(['|', '\\']).filter(|a| !a.is_empty()).collect();
        let mut next = None;
        for alternative in &alternatives {
            match command.find_subcommand(alternative) {
                Some(found) => {
                    next.get_or_insert(found);
                }
                None => {
                    return Err(format!(
                        "`{}` has no subcommand `{alternative}`",
                        command.get_name()
                    ))
                }
            }
        }
        match next {
            Some(found) => command = found,
            None => descending = false,
        }
    }
    for flag in flags {
        if !has_flag(root, command, &flag) {
            return Err(format!("`{}` has no flag {flag}", command.get_name()));
        }
    }
    Ok(())
}

#[test]
fn every_shell_example_in_the_docs_is_a_command_vigil_accepts() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        for example in block_examples(&path, &text) {
            checked += 1;
            let argv = std::iter::once("vigil".to_owned()).chain(example.words.iter().cloned());
            if let Err(e) = Cli::command().try_get_matches_from(argv) {
                if !matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) {
                    let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                    problems.push(format!(
                        "{}: `vigil {}`: {first}",
                        example.place,
                        example.words.join(" ")
                    ));
                }
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} examples found: is the extractor broken?"
    );
    assert!(
        problems.is_empty(),
        "examples vigil refuses:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_vigil_synopsis_in_the_docs_names_real_commands_and_flags() {
    let root = Cli::command();
    let mut checked = 0;
    let mut problems = Vec::new();
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        for example in inline_examples(&path, &text) {
            checked += 1;
            if let Err(e) = check_synopsis(&root, &example) {
                problems.push(format!(
                    "{}: `vigil {}`: {e}",
                    example.place,
                    example.words.join(" ")
                ));
            }
        }
    }
    assert!(
        checked >= 30,
        "only {checked} spans found: is the extractor broken?"
    );
    assert!(
        problems.is_empty(),
        "synopses that do not match the CLI:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_api_examples_address_is_where_vigil_run_listens() {
    let root = Cli::command();
    let listen = root
        .find_subcommand("run")
        .unwrap()
        .get_arguments()
        .find(|a| a.get_id() == "listen")
        .unwrap()
        .get_default_values()
        .first()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let api = std::fs::read_to_string(workspace().join("docs/api.md")).unwrap();
    let line = api
        .lines()
        .find(|l| l.contains("`$V` is"))
        .expect("docs/api.md says what $V is");
    assert!(
        line.contains(&format!("`http://{listen}`")),
        "docs/api.md's $V must be the run --listen default http://{listen}: {line}"
    );
}

#[test]
fn the_extractors_see_what_a_reader_sees() {
    assert_eq!(
        shell_words(r#"vigil jobs add --params '{"a": "1"}' --reason "x y" # comment"#),
        [
            "vigil",
            "jobs",
            "add",
            "--params",
            r#"{"a": "1"}"#,
            "--reason",
            "x y"
        ]
    );
    assert_eq!(
        shell_words("vigil signoff > report.md"),
        ["vigil", "signoff"]
    );
    let words = shell_words("cargo run -p vigil-cli -- run --paper");
    assert_eq!(vigil_words(&words).unwrap(), ["run", "--paper"]);
    let text =
        "```sh\nvigil users create bob \\\n  --admin\n```\nand `vigil users create NAME` too\n";
    let blocks = block_examples(Path::new("x.md"), text);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].words, ["users", "create", "bob", "--admin"]);
    assert_eq!(blocks[0].place, "x.md:2");
    let spans = inline_examples(Path::new("x.md"), text);
    assert_eq!(spans.len(), 1);
    // The drift this test exists for is caught by both checks.
    let root = Cli::command();
    assert!(check_synopsis(&root, &spans[0]).is_err());
    assert!(Cli::command()
        .try_get_matches_from(["vigil", "users", "create", "bob"])
        .is_err());
    let table = Example {
        place: "t".into(),
        words: [
            "jobs",
            "pause\\|resume\\|remove",
            "ID",
            "[--reason",
            "TEXT]",
        ]
        .map(String::from)
        .to_vec(),
    };
    assert_eq!(check_synopsis(&root, &table), Ok(()));
    let wrong_flag = Example {
        place: "t".into(),
        words: ["jobs", "add", "--markets", "M"].map(String::from).to_vec(),
    };
    assert!(check_synopsis(&root, &wrong_flag).is_err());
}
