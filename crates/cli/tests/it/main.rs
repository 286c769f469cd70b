//! Integration tests of the `vigil` binary: the real executable, run as a person would run it,
//! against a fresh SQLite file and a fresh PostgreSQL database (skipped with one line when
//! PostgreSQL is unreachable outside CI).
//!
//! Method: each test gets its own working directory and database, runs `vigil` with arguments
//! and environment, and checks the exit code, stdout (often `--json`) and stderr, then reads the
//! database back through the CLI to prove that bad input wrote nothing.

// Test helpers outside #[test] functions unwrap freely: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
// The binary's command line, compiled into the tests so that they enumerate its real command
// tree (`bad_input`); only the clap definition is used here.
#[allow(dead_code, unreachable_pub)]
#[path = "../../src/args.rs"]
mod cli_args;
mod commands;
mod crash;
mod docs_examples;
mod golden;
mod operator;
mod service;
mod support;
