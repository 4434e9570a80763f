//! The runner (`harness = false`): libtest-mimic for libtest's command line
//! and output (name filters, `--exact`, `--skip`, `--list`, `--nocapture`,
//! `--format`, `--test-threads`, ...), with what libtest cannot do on top:
//!
//! - one trial per (backend, test), for the backends configured at run time,
//!   named `<backend>::<module>::<test>`, e.g. `sqlite::sessions::create_and_find`;
//! - a backend that is configured but unreachable (or not the kind of
//!   deployment its variable promises) fails every one of its trials that
//!   was selected; it is checked once, when its first trial runs;
//! - after libtest-mimic's `test result:` line, the backends that ran, on
//!   stderr: `store conformance backends: ...` (`scripts/test.sh` looks for
//!   it).
//!
//! Output is never captured (libtest-mimic does not capture).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use tokio::runtime::Runtime;

use crate::backends::{Backend, BackendKind, Ctx};

pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Case {
    pub name: &'static str,
    pub run: fn(Ctx) -> TestFuture,
}

/// Each test gets at most this long; a hang is a failure, not a stuck run.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How many tests run at once without `--test-threads`. The tests mostly
/// wait on their store, so more than the cores.
const DEFAULT_THREADS: usize = 4;

/// A configured backend, and what the run learns about it.
struct Configured {
    backend: Backend,
    /// The preflight's verdict, from the first trial that needs it.
    usable: OnceLock<Result<(), String>>,
    /// Whether any of its trials passed.
    ran: AtomicBool,
}

impl Configured {
    /// Checks, once, that the backend answers and is the kind of deployment
    /// its variable promises.
    fn usable(&self, runtime: &Runtime) -> Result<(), String> {
        self.usable
            .get_or_init(|| {
                let verdict = runtime.block_on(self.backend.preflight());
                if let Err(why) = &verdict {
                    eprintln!(
                        "\nERROR: {} is configured but not usable: {why}\n",
                        self.backend.kind.name()
                    );
                }
                verdict
            })
            .clone()
    }
}

/// Runs the cases on every configured backend and exits the process.
pub fn main(cases: Vec<Case>) -> ! {
    let mut args = Arguments::from_args();
    args.test_threads = args.test_threads.or(Some(DEFAULT_THREADS));

    // One runtime for every trial; each test runs on its own task on it.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Arc::new(rt),
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            std::process::exit(101);
        }
    };
    let configured: Vec<Arc<Configured>> = Backend::configured()
        .into_iter()
        .map(|backend| {
            Arc::new(Configured {
                backend,
                usable: OnceLock::new(),
                ran: AtomicBool::new(false),
            })
        })
        .collect();

    let trials = configured
        .iter()
        .flat_map(|backend| {
            let runtime = &runtime;
            cases.iter().map(move |case| {
                let name = format!("{}::{}", backend.backend.kind.name(), case.name);
                let (backend, runtime, run) = (Arc::clone(backend), Arc::clone(runtime), case.run);
                Trial::test(name, move || trial(&backend, &runtime, run))
            })
        })
        .collect();

    let conclusion = libtest_mimic::run(&args, trials);
    // A listing, or a run of the ignored tests only (there are none), runs
    // no backend: nothing to report.
    if !args.list && !args.ignored {
        report_backends(&configured);
    }
    conclusion.exit()
}

/// One test on one backend.
fn trial(
    backend: &Configured,
    runtime: &Runtime,
    run: fn(Ctx) -> TestFuture,
) -> Result<(), Failed> {
    backend
        .usable(runtime)
        .map_err(|why| format!("backend not usable: {why}"))?;
    runtime.block_on(run_one(backend.backend.clone(), run))?;
    backend.ran.store(true, Ordering::Relaxed);
    Ok(())
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
fn report_backends(configured: &[Arc<Configured>]) {
    let find = |kind: BackendKind| configured.iter().find(|c| c.backend.kind == kind);
    let mut notes = Vec::new();
    for kind in BackendKind::ALL {
        let backend = find(kind);
        if let Some(var) = kind.variable()
            && backend.is_none()
        {
            notes.push(format!("{} not run: {var} not set", kind.name()));
        }
        if backend.is_some_and(|b| matches!(b.usable.get(), Some(Err(_)))) {
            notes.push(format!(
                "{} FAILED: configured but unreachable or wrong kind",
                kind.name()
            ));
        }
    }
    let names: Vec<&str> = BackendKind::ALL
        .into_iter()
        .filter(|&kind| find(kind).is_some_and(|b| b.ran.load(Ordering::Relaxed)))
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
