//! A small test runner (`harness = false`), so the suite can decide at run
//! time which backends exist, report a backend that is configured but
//! unreachable as a failure, and end its output with the backends that ran.
//!
//! It understands the libtest arguments that matter here: name filters,
//! `--exact`, `--skip <filter>`, `--list`, `--ignored` (there are no ignored
//! tests), `--test-threads <n>`; the rest (`--nocapture`, `--color`,
//! `--format`, ...) is accepted and ignored. Output is never captured.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::backends::{Backend, BackendKind, Ctx};

pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Case {
    pub name: &'static str,
    pub run: fn(Ctx) -> TestFuture,
}

/// One test against one backend.
struct Job<'a> {
    name: String,
    case: &'a Case,
    backend: &'a Backend,
}

/// What a test run should do, from the command line.
struct Args {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
    threads: usize,
}

impl Args {
    fn parse() -> Self {
        let mut args = Args {
            filters: Vec::new(),
            skips: Vec::new(),
            exact: false,
            list: false,
            ignored_only: false,
            threads: 4,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--exact" => args.exact = true,
                "--list" => args.list = true,
                "--ignored" => args.ignored_only = true,
                "--skip" => args.skips.extend(it.next()),
                "--test-threads" => {
                    if let Some(n) = it.next().and_then(|n| n.parse().ok()) {
                        args.threads = n;
                    }
                }
                // Flags that take a value we do not use.
                "--format" | "--color" | "--logfile" | "-Z" | "--shuffle-seed" => {
                    it.next();
                }
                a if a.starts_with("--test-threads=") => {
                    if let Ok(n) = a["--test-threads=".len()..].parse() {
                        args.threads = n;
                    }
                }
                a if a.starts_with('-') => {}
                filter => args.filters.push(filter.to_owned()),
            }
        }
        args.threads = args.threads.max(1);
        args
    }

    fn selects(&self, name: &str) -> bool {
        let matches = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skips.iter().any(|s| name.contains(s.as_str()))
    }
}

/// Each test gets at most this long; a hang is a failure, not a stuck run.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the selected cases on every backend and exits the process.
pub fn main(cases: Vec<Case>) -> ! {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            std::process::exit(101);
        }
    };
    let code = runtime.block_on(run(args, cases));
    std::process::exit(code);
}

async fn run(args: Args, cases: Vec<Case>) -> i32 {
    let configured = Backend::configured();
    let jobs: Vec<Job<'_>> = configured
        .iter()
        .flat_map(|backend| {
            cases.iter().map(move |case| Job {
                name: format!("{}::{}", case.name, backend.kind.name()),
                case,
                backend,
            })
        })
        .filter(|job| args.selects(&job.name))
        .collect();

    if args.list {
        if !args.ignored_only {
            for job in &jobs {
                println!("{}: test", job.name);
            }
        }
        return 0;
    }
    if args.ignored_only {
        println!("\nrunning 0 tests (this suite has no ignored tests)\n");
        return 0;
    }

    // A configured MongoDB that cannot be reached (or is not the kind of
    // deployment its variable promises) fails all its tests, loudly.
    let mut backend_errors: Vec<(BackendKind, String)> = Vec::new();
    for backend in &configured {
        let used = jobs.iter().any(|j| j.backend.kind == backend.kind);
        if used && let Err(why) = backend.preflight().await {
            eprintln!(
                "\nERROR: {} is configured but not usable: {why}\n",
                backend.kind.name()
            );
            backend_errors.push((backend.kind, why));
        }
    }

    println!("\nrunning {} tests", jobs.len());
    let started = Instant::now();
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut passed = 0usize;
    let mut ran: Vec<BackendKind> = Vec::new();

    // Every job is spawned at once; a semaphore lets `threads` run at a time.
    // Results are printed in job order.
    let permits = Arc::new(Semaphore::new(args.threads));
    let mut handles = Vec::new();
    for job in &jobs {
        let unusable = backend_errors
            .iter()
            .find(|(kind, _)| *kind == job.backend.kind)
            .map(|(_, why)| why.clone());
        let backend = job.backend.clone();
        let run = job.case.run;
        let permits = Arc::clone(&permits);
        let handle = tokio::spawn(async move {
            if let Some(why) = unusable {
                return Err(format!("backend not usable: {why}"));
            }
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|e| format!("runner semaphore closed: {e}"))?;
            run_one(backend, run).await
        });
        handles.push((job.name.clone(), job.backend.kind, handle));
    }
    for (name, kind, handle) in handles {
        let outcome = handle
            .await
            .unwrap_or_else(|e| Err(format!("runner task failed: {e}")));
        match outcome {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
                if !ran.contains(&kind) {
                    ran.push(kind);
                }
            }
            Err(why) => {
                println!("test {name} ... FAILED");
                failures.push((name, why));
            }
        }
    }

    if !failures.is_empty() {
        println!("\nfailures:");
        for (name, why) in &failures {
            println!("    {name}: {why}");
        }
    }
    let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; finished in {:.2}s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    report_backends(&configured, &ran, &backend_errors);
    if failures.is_empty() { 0 } else { 101 }
}

/// Sets the backend up, runs the test on its own task (so a panic is caught
/// as a failure), and tears the backend down whatever happened.
async fn run_one(backend: Backend, run: fn(Ctx) -> TestFuture) -> Result<(), String> {
    let ctx = backend.setup().await?;
    let teardown = ctx.teardown_handle();
    let outcome = match tokio::time::timeout(TEST_TIMEOUT, tokio::spawn(run(ctx))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.is_panic() => Err(panic_message(e.into_panic())),
        Ok(Err(e)) => Err(format!("test task failed: {e}")),
        Err(_) => Err(format!("timed out after {TEST_TIMEOUT:?}")),
    };
    teardown.run().await;
    outcome
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".to_owned()
    }
}

/// The last line of the output: which backends the suite ran on.
fn report_backends(configured: &[Backend], ran: &[BackendKind], errors: &[(BackendKind, String)]) {
    let mut notes = Vec::new();
    for kind in BackendKind::ALL {
        if let Some(var) = kind.variable()
            && !configured.iter().any(|b| b.kind == kind)
        {
            notes.push(format!("{} not run: {var} not set", kind.name()));
        }
        if errors.iter().any(|(k, _)| *k == kind) {
            notes.push(format!(
                "{} FAILED: configured but unreachable or wrong kind",
                kind.name()
            ));
        }
    }
    let names: Vec<&str> = BackendKind::ALL
        .into_iter()
        .filter(|k| ran.contains(k))
        .map(BackendKind::name)
        .collect();
    let ran = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    };
    if !notes.is_empty() {
        eprintln!("({})", notes.join("; "));
    }
    eprintln!("store conformance backends: {ran}");
}
