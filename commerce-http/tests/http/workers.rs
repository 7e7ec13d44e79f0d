//! Password hashes in worker processes (`Isolation::Processes`): the real
//! binary hashes its logins in children of its own, each in a session of
//! its own (Linux: a scheduling group of its own) at the lowest weight and
//! priority; a worker that dies is replaced; a program that is no worker
//! leaves the hashes on threads; and the workers end with their pool.

use crate::binary::{BIN, empty_dir, start, terminate};
use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use argon2::Params;
use commerce_http::auth::password::{Isolation, PasswordError, Passwords, Yielding};
use secrecy::SecretString;

/// The fields of `/proc/<pid>/stat` after the command, from field 3
/// (state) on; `None` once the process is gone.
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.get(text.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn field(fields: &[String], n: usize) -> u64 {
    // Field n (1-based, as proc(5) numbers them) is at n - 3.
    fields[n - 3]
        .parse()
        .unwrap_or_else(|e| panic!("field {n}: {e}"))
}

/// The live (not zombie) children of `parent`.
fn children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|f| f[0] != "Z" && field(&f, 4) == u64::from(parent)))
        .collect()
}

/// Waits until none of `pids` runs (or is a zombie): they were killed and
/// reaped, or exited.
async fn gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids
        .iter()
        .any(|&pid| stat(pid).is_some_and(|f| f[0] != "Z"))
    {
        assert!(Instant::now() < deadline, "still running: {pids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts what isolates a worker on Linux: a session of its own, its
/// autogroup at nice 19 where the kernel has autogroups, `SCHED_IDLE`.
fn assert_isolated(pid: u32) {
    let f = stat(pid).unwrap_or_else(|| panic!("worker {pid} is gone"));
    assert_eq!(field(&f, 6), u64::from(pid), "a session of its own");
    assert_eq!(field(&f, 41), 5, "SCHED_IDLE");
    if let Ok(group) = std::fs::read_to_string(format!("/proc/{pid}/autogroup")) {
        assert!(group.trim_end().ends_with("nice 19"), "{group}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_hashes_logins_in_isolated_workers_and_replaces_one_that_dies() {
    if !cfg!(target_os = "linux") {
        eprintln!("SKIPPED: worker isolation is read from /proc (Linux only)");
        return;
    }
    let dir = empty_dir();
    let (child, addr, _) = start(&dir).await;
    let server = child.id().unwrap_or_else(|| panic!("no pid"));
    assert!(
        children(server).is_empty(),
        "workers start with the first hash"
    );

    let body = |password: &str| {
        serde_json::to_vec(&serde_json::json!({
            "email": "worker@example.com", "password": password,
        }))
        .unwrap_or_default()
    };
    let json = [("content-type", "application/json")];
    let post = |path: &'static str, body: Vec<u8>| common::http(addr, "POST", path, &json, body);
    post("/api/v1/auth/register", body("a long password"))
        .await
        .expect(201);
    post("/api/v1/auth/login", body("a long password"))
        .await
        .expect(200);
    post("/api/v1/auth/login", body("the wrong password"))
        .await
        .expect(401);
    let workers = children(server);
    assert!(!workers.is_empty(), "the hashes ran in workers");
    for &pid in &workers {
        assert_isolated(pid);
    }

    // A worker killed: the next logins still answer, and a new worker
    // takes its place.
    for &pid in &workers {
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(killed.success());
    }
    for _ in 0..4 {
        post("/api/v1/auth/login", body("a long password"))
            .await
            .expect(200);
    }
    let replaced = children(server);
    assert!(!replaced.is_empty());
    assert!(
        replaced.iter().all(|pid| !workers.contains(pid)),
        "{workers:?} → {replaced:?}"
    );
    for &pid in &replaced {
        assert_isolated(pid);
    }

    // The workers end with the server.
    terminate(child).await;
    gone(&replaced).await;
}

fn cheap() -> Params {
    Params::new(1024, 1, 1, None).unwrap_or_else(|e| panic!("{e}"))
}

fn pool(program: &str) -> Passwords {
    Passwords::isolated(
        cheap(),
        1,
        Yielding::never(),
        &Isolation::Processes {
            program: Some(PathBuf::from(program)),
        },
    )
}

#[tokio::test]
async fn a_pool_of_workers_answers_as_threads_do_and_its_workers_end_with_it() {
    let pw = || SecretString::from("correct horse");
    let workers = pool(BIN);
    let threads = Passwords::with_params(cheap(), 1, Yielding::never());
    assert!(workers.worker_ids().is_empty());
    let hash = workers
        .hash_password(pw())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = workers.worker_ids();
    assert_eq!(ids.len(), 1, "one worker for one thread");
    // Each verifies the other's hashes.
    let other = threads
        .hash_password(pw())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for h in [&hash, &other] {
        assert_eq!(workers.verify_password(pw(), h.clone()).await, Ok(true));
        assert_eq!(threads.verify_password(pw(), h.clone()).await, Ok(true));
        let wrong = SecretString::from("wrong horse");
        assert_eq!(workers.verify_password(wrong, h.clone()).await, Ok(false));
    }
    assert_eq!(
        workers.verify_password(pw(), "not a hash".into()).await,
        Err(PasswordError::MalformedHash)
    );
    assert_eq!(workers.worker_ids(), ids, "one worker served them all");
    if cfg!(target_os = "linux") {
        assert_isolated(ids[0]);
    }
    drop(workers);
    gone(&ids).await;
}

#[tokio::test]
async fn hashes_run_on_threads_when_the_program_is_no_worker() {
    let pw = || SecretString::from("correct horse");
    // One that cannot start; one that exits at once without a word.
    for program in ["/nonexistent/commerce-server", "/bin/true"] {
        let p = pool(program);
        let hash = p
            .hash_password(pw())
            .await
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert_eq!(p.verify_password(pw(), hash).await, Ok(true), "{program}");
        assert!(p.worker_ids().is_empty(), "{program}");
    }
}
