//! `stepwise serve`: runs the local engine as a Step Functions and S3 endpoint on
//! 127.0.0.1 until Ctrl-C or SIGTERM (see `crate::serve`).

use std::path::PathBuf;
use std::process::ExitCode;

pub struct ServeArgs {
    pub port: u16,
    pub data_dir: Option<PathBuf>,
    pub time_scale: f64,
    pub workers: bool,
}

fn failed(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("stepwise serve: {msg}");
    ExitCode::from(1)
}

pub fn run(args: ServeArgs) -> ExitCode {
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        eprintln!("stepwise serve: --time-scale must be more than 0 (1 is real time)");
        return ExitCode::from(2);
    }
    let dir = match super::data_dir::resolve(args.data_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("stepwise serve: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match super::data_dir::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => return failed(e),
    };
    match rt.block_on(serve(dir, args.port, args.time_scale, args.workers)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(e),
    }
}

async fn serve(dir: PathBuf, port: u16, time_scale: f64, workers: bool) -> Result<(), String> {
    // Bind first: a port in use is said before the data directory is taken.
    let listener = crate::serve::bind(port).await.map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (pick another --port, or 0 for a free one)"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (service, buckets) = crate::runtime::service::open_local_engine(&dir, time_scale).await.map_err(|e| e.to_string())?;
    // Executions a dead process left running go on here: this process now owns the directory.
    match service.resume_executions().await {
        Ok(resumed) if !resumed.is_empty() => eprintln!("stepwise serve: took over {} running execution(s)", resumed.len()),
        Ok(_) => {}
        Err(e) => eprintln!("stepwise serve: could not take over the running executions: {e}"),
    }
    let _workers = if workers {
        let settings = crate::runtime::workers::WorkerSettings::load(&crate::paths::config_dir())?;
        Some(crate::runtime::workers::spawn_for_command(service.clone(), buckets.clone(), &settings.workers, "serve"))
    } else {
        None
    };
    println!("stepwise serve: Step Functions and S3 on http://{addr} (data dir {})", dir.display());
    let served = crate::serve::serve(listener, service.clone(), buckets, &dir, stop_signal()).await;
    drop(_workers);
    let stopped = service.shutdown().await;
    served.map_err(|e| e.to_string())?;
    stopped.map_err(|e| format!("the engine did not stop cleanly: {e}"))
}

/// Ctrl-C, or SIGTERM on Unix (what `kill` and service managers send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
