//! Hashing in worker processes ([`Isolation::Processes`]).
//!
//! Why a process: Linux schedules by groups before threads. With
//! autogroups (`kernel.sched_autogroup_enabled = 1`, the default of many
//! distributions) every session is a group, and a thread's priority ranks
//! it only inside its group. A hashing thread inside the server takes the
//! server's group's whole weight whenever the server's other threads wait
//! on the database, and competes as an equal with each PostgreSQL backend
//! (a session of its own). A worker process starts a session of its own,
//! hence a group of its own, and sets that group's `nice` to 19: the group
//! then weighs 15 against the 1,024 of any other, so the hash runs only in
//! the CPU the shop and its database leave. Without autogroups the worker
//! is one more thread under `SCHED_IDLE`, as the in-process pool.
//!
//! Each hashing thread of the pool owns one worker, started when its first
//! hash comes and started again if it dies. The worker is this program
//! (or the one named), run with [`WORKER_ENV`] set; its `main` calls
//! [`serve_if_worker`] first, which serves hashes on standard input and
//! output until the input closes (the server stopped or dropped the pool),
//! then exits. A worker that cannot be started or answers wrongly is
//! killed, and the hash runs on the pool's thread instead: a login never
//! fails because of where its hash runs.
//!
//! The protocol is private to one build: frames of a 4-byte little-endian
//! length and a payload. The worker opens with [`HELLO`]; then each request
//! (a [`Task`]) gets one reply (its answer and the hash's CPU time). The
//! frames that carry a password are zeroed once used (the pipes' I/O
//! buffers are not, as the request bodies that brought it are not).

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use argon2::Params;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use super::{Outcome, PasswordError, Task};

/// The environment variable that makes [`serve_if_worker`] serve; its value
/// is the protocol's version.
pub const WORKER_ENV: &str = "COMMERCE_PASSWORD_WORKER";

/// The argument a worker is started with. A program that does not call
/// [`serve_if_worker`] but parses its arguments stops at it instead of
/// doing whatever it does without arguments.
const WORKER_ARG: &str = "--commerce-password-worker";

/// The protocol's version (the value of [`WORKER_ENV`]).
const PROTOCOL: &str = "1";

/// The worker's first frame.
const HELLO: &[u8] = b"commerce-password-worker/1";

/// How long a new worker has to say [`HELLO`].
const HELLO_WAIT: Duration = Duration::from_secs(5);

/// How long after a worker failed to start before the next try; hashes run
/// on the pool's threads meanwhile.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// The largest frame read: a password is at most 128 characters and a PHC
/// string about 100 bytes.
const MAX_FRAME: u32 = 64 * 1024;

/// Whether [`serve_if_worker`] ran in this process, so that this program
/// may be started as a worker.
static HOOK_CALLED: AtomicBool = AtomicBool::new(false);

/// Where password hashes run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Isolation {
    /// On the pool's threads, inside this process (the default).
    #[default]
    Threads,
    /// Each of the pool's threads hands its hashes to a worker process of
    /// its own, which on Linux starts a session of its own (with
    /// autogroups, a scheduling group of its own), sets that group's
    /// `nice` to 19 and hashes under `SCHED_IDLE`, so that hashes take
    /// only the CPU that every other group leaves (docs/auth.md,
    /// "Passwords and their cost"). A worker starts with its thread's
    /// first hash and again after it died; one that cannot start or
    /// answers wrongly is killed and the hash runs on the thread.
    Processes {
        /// The worker's program: one whose `main` calls
        /// [`serve_if_worker`] first. `None`: this program, provided its
        /// `main` did call it (else the hashes run on threads, with a
        /// warning).
        program: Option<PathBuf>,
    },
}

impl Isolation {
    /// Worker processes running this program (whose `main` must call
    /// [`serve_if_worker`] first).
    pub fn this_program() -> Self {
        Isolation::Processes { program: None }
    }
}

/// Call first in `main` (before a runtime or threads start) to let the
/// program serve as a password worker ([`Isolation::Processes`]). When the
/// process was started as one, it serves hashes on its standard input and
/// output until the input closes, then exits; otherwise this returns at
/// once.
pub fn serve_if_worker() {
    HOOK_CALLED.store(true, Ordering::Relaxed);
    if std::env::var_os(WORKER_ENV).is_none_or(|v| v != PROTOCOL) {
        return;
    }
    isolate();
    let code = match serve(io::stdin().lock(), io::stdout().lock()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("password worker: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// Puts the worker in a scheduling group of its own at the lowest weight,
/// and its thread at the lowest priority (Linux; a no-op elsewhere). Each
/// step that the system refuses is skipped: the worker still hashes.
fn isolate() {
    #[cfg(target_os = "linux")]
    {
        // A new session is a new autogroup. A child is never a process
        // group leader, so this succeeds.
        if let Err(e) = rustix::process::setsid() {
            eprintln!("password worker: cannot start a session of its own: {e}");
        }
        // Absent when the kernel has no autogroups; raising one's own nice
        // needs no privilege.
        let path = "/proc/self/autogroup";
        if std::path::Path::new(path).exists()
            && let Err(e) = std::fs::write(path, super::HASHING_NICE.to_string())
        {
            eprintln!("password worker: cannot lower its autogroup's priority: {e}");
        }
    }
    super::lower_priority(super::HASHING_NICE);
}

/// Serves requests until `input` closes.
fn serve(input: impl Read, output: impl Write) -> io::Result<()> {
    let mut input = BufReader::new(input);
    let mut output = BufWriter::new(output);
    write_frame(&mut output, HELLO)?;
    output.flush()?;
    while let Some(request) = read_frame(&mut input)? {
        let task = decode_task(&request)?;
        drop(request);
        let (answer, cpu) = task.perform_measured();
        let reply = encode_reply(&answer, cpu)?;
        write_frame(&mut output, &reply)?;
        output.flush()?;
    }
    Ok(())
}

/// One pool thread's worker: started on first use, started again after it
/// died, skipped for [`RETRY_AFTER`] after a failure.
#[derive(Debug)]
pub(super) struct Worker {
    program: PathBuf,
    process: Option<Process>,
    failed_at: Option<Instant>,
    /// The running worker's process id, 0 when none (for
    /// [`super::Passwords::worker_ids`]).
    id: Arc<AtomicU32>,
}

/// The program a pool's workers run for `isolation`, found once per pool;
/// `None` where hashes run on threads (asked, or because this program may
/// not serve as a worker).
pub(super) fn program(isolation: &Isolation) -> Option<PathBuf> {
    match isolation {
        Isolation::Threads => None,
        Isolation::Processes { program: Some(p) } => Some(p.clone()),
        Isolation::Processes { program: None } => {
            if !HOOK_CALLED.load(Ordering::Relaxed) {
                tracing::warn!(
                    "password hashing in worker processes needs `serve_if_worker()` first in main; hashing on threads"
                );
                return None;
            }
            std::env::current_exe()
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot find this program to start password workers; hashing on threads");
                })
                .ok()
        }
    }
}

impl Worker {
    /// A worker running `program` (see [`program`]), not started yet.
    pub(super) fn new(program: PathBuf, id: Arc<AtomicU32>) -> Worker {
        Worker {
            program,
            process: None,
            failed_at: None,
            id,
        }
    }

    /// Runs `task` in the worker: its answer and CPU time, or `None` when
    /// the worker cannot run it (it is then stopped, and started again on
    /// a later task).
    pub(super) fn perform(
        &mut self,
        task: &Task,
    ) -> Option<(Result<Outcome, PasswordError>, Duration)> {
        if self.process.is_none() {
            if self.failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
                return None;
            }
            match Process::start(&self.program) {
                Ok(process) => {
                    self.id.store(process.child.id(), Ordering::Relaxed);
                    self.process = Some(process);
                    self.failed_at = None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, program = %self.program.display(), "cannot start a password worker; hashing on this thread");
                    self.failed_at = Some(Instant::now());
                    return None;
                }
            }
        }
        match self.process.as_mut()?.ask(task) {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::warn!(error = %e, "a password worker failed; hashing on this thread");
                self.stop();
                None
            }
        }
    }

    fn stop(&mut self) {
        self.id.store(0, Ordering::Relaxed);
        self.process = None;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running worker and its pipes.
#[derive(Debug)]
struct Process {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Process {
    /// Starts `program` as a worker and waits for its [`HELLO`].
    fn start(program: &std::path::Path) -> io::Result<Process> {
        let mut child = Command::new(program)
            .arg(WORKER_ARG)
            .env(WORKER_ENV, PROTOCOL)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the worker's pipes are missing"));
        };
        // A thread reads the hello so that a program that never answers
        // can be given up on.
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name("argon2-hello".into())
            .spawn(move || {
                let mut output = BufReader::new(output);
                let hello = read_frame(&mut output);
                let _ = tx.send(hello);
                output
            })?;
        let hello = rx.recv_timeout(HELLO_WAIT);
        let said_hello = matches!(&hello, Ok(Ok(Some(frame))) if frame.as_slice() == HELLO);
        if !said_hello {
            // Killing it closes its output, which ends the reader.
            let _ = child.kill();
            let _ = child.wait();
            let _ = reader.join();
            return Err(match hello {
                Ok(Err(e)) => e,
                Err(_) => io::Error::new(io::ErrorKind::TimedOut, "no hello from the worker"),
                Ok(Ok(_)) => io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the program did not answer as a password worker",
                ),
            });
        }
        let output = reader
            .join()
            .map_err(|_| io::Error::other("the worker's reader panicked"))?;
        Ok(Process {
            child,
            input: BufWriter::new(input),
            output,
        })
    }

    /// Sends one task and reads its reply.
    fn ask(&mut self, task: &Task) -> io::Result<(Result<Outcome, PasswordError>, Duration)> {
        let request = encode_task(task)?;
        write_frame(&mut self.input, &request)?;
        self.input.flush()?;
        let reply = read_frame(&mut self.output)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the worker stopped"))?;
        decode_reply(&reply, task)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Killed rather than told: a hash in progress is not waited for.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ the protocol

const OP_HASH: u8 = 1;
const OP_VERIFY: u8 = 2;

const HASHED: u8 = 0;
const MATCHES: u8 = 1;
const DOES_NOT_MATCH: u8 = 2;
const MALFORMED_HASH: u8 = 3;
const HASHER_FAILED: u8 = 4;
const BAD_LENGTH: u8 = 5;

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Writes one frame.
fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| bad("frame too long"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(payload)
}

/// Reads one frame; `None` when the stream ends before one starts.
fn read_frame(r: &mut impl Read) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(bad("frame too long"));
    }
    let mut payload = Zeroizing::new(vec![0u8; len as usize]);
    r.read_exact(&mut payload)?;
    Ok(Some(payload))
}

/// Appends a length-prefixed byte string.
fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| bad("field too long"))?;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
    Ok(())
}

/// Reads the fields of a payload in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("truncated frame"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> io::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> io::Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn text(&mut self) -> io::Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad("text is not UTF-8"))
    }
}

fn encode_task(task: &Task) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    let (op, params, password, hash) = match task {
        Task::Hash { params, password } => (OP_HASH, params, password, ""),
        Task::Verify {
            params,
            password,
            hash,
        } => (OP_VERIFY, params, password, hash.as_str()),
    };
    buf.push(op);
    for n in [params.m_cost(), params.t_cost(), params.p_cost()] {
        buf.extend_from_slice(&n.to_le_bytes());
    }
    put_bytes(&mut buf, password.expose_secret().as_bytes())?;
    put_bytes(&mut buf, hash.as_bytes())?;
    Ok(buf)
}

fn decode_task(payload: &[u8]) -> io::Result<Task> {
    let mut f = Fields(payload);
    let op = f.u8()?;
    let (m, t, p) = (f.u32()?, f.u32()?, f.u32()?);
    let params = Params::new(m, t, p, None).map_err(|_| bad("invalid argon2 parameters"))?;
    let password = SecretString::from(f.text()?.to_owned());
    let hash = f.text()?.to_owned();
    match op {
        OP_HASH => Ok(Task::Hash { params, password }),
        OP_VERIFY => Ok(Task::Verify {
            params,
            password,
            hash,
        }),
        _ => Err(bad("unknown request")),
    }
}

fn encode_reply(answer: &Result<Outcome, PasswordError>, cpu: Duration) -> io::Result<Vec<u8>> {
    let (status, text) = match answer {
        Ok(Outcome::Hashed(phc)) => (HASHED, phc.as_str()),
        Ok(Outcome::Verified(true)) => (MATCHES, ""),
        Ok(Outcome::Verified(false)) => (DOES_NOT_MATCH, ""),
        Err(PasswordError::MalformedHash) => (MALFORMED_HASH, ""),
        Err(PasswordError::Length) => (BAD_LENGTH, ""),
        Err(PasswordError::Hasher(message)) => (HASHER_FAILED, message.as_str()),
        // A worker never refuses for load: the pool decides that.
        Err(PasswordError::Busy) => (HASHER_FAILED, "busy"),
    };
    let mut buf = Vec::with_capacity(16 + text.len());
    buf.push(status);
    let nanos = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
    buf.extend_from_slice(&nanos.to_le_bytes());
    put_bytes(&mut buf, text.as_bytes())?;
    Ok(buf)
}

/// Reads a reply to `task` (a hash's reply to a verification, or the
/// reverse, is a broken worker).
fn decode_reply(
    payload: &[u8],
    task: &Task,
) -> io::Result<(Result<Outcome, PasswordError>, Duration)> {
    let mut f = Fields(payload);
    let status = f.u8()?;
    let cpu = Duration::from_nanos(f.u64()?);
    let text = f.text()?;
    let hashing = matches!(task, Task::Hash { .. });
    let answer = match status {
        HASHED if hashing => Ok(Outcome::Hashed(text.to_owned())),
        MATCHES if !hashing => Ok(Outcome::Verified(true)),
        DOES_NOT_MATCH if !hashing => Ok(Outcome::Verified(false)),
        MALFORMED_HASH if !hashing => Err(PasswordError::MalformedHash),
        BAD_LENGTH => Err(PasswordError::Length),
        HASHER_FAILED => Err(PasswordError::Hasher(text.to_owned())),
        _ => return Err(bad("a reply that does not answer the request")),
    };
    Ok((answer, cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    /// A worker served over in-memory pipes: every request gets the answer
    /// the pool's thread would have given.
    #[test]
    fn the_protocol_carries_every_answer() {
        let pw = || SecretString::from("correct horse");
        let phc = match (Task::Hash {
            params: cheap(),
            password: pw(),
        })
        .perform()
        {
            Ok(Outcome::Hashed(phc)) => phc,
            other => panic!("{other:?}"),
        };
        let tasks = vec![
            Task::Hash {
                params: cheap(),
                password: pw(),
            },
            Task::Verify {
                params: cheap(),
                password: pw(),
                hash: phc.clone(),
            },
            Task::Verify {
                params: cheap(),
                password: SecretString::from("wrong horse"),
                hash: phc.clone(),
            },
            Task::Verify {
                params: cheap(),
                password: pw(),
                hash: "not a hash".into(),
            },
        ];
        let mut requests = Vec::new();
        for task in &tasks {
            write_frame(&mut requests, &encode_task(task).unwrap()).unwrap();
        }
        let mut replies = Vec::new();
        serve(requests.as_slice(), &mut replies).unwrap();
        let mut replies = replies.as_slice();
        assert_eq!(read_frame(&mut replies).unwrap().unwrap().as_slice(), HELLO);
        let mut answers = Vec::new();
        for task in &tasks {
            let frame = read_frame(&mut replies).unwrap().unwrap();
            let (answer, cpu) = decode_reply(&frame, task).unwrap();
            assert!(cpu > Duration::ZERO || !cfg!(target_os = "linux"));
            answers.push(answer);
        }
        assert!(
            read_frame(&mut replies).unwrap().is_none(),
            "one reply each"
        );
        match &answers[0] {
            Ok(Outcome::Hashed(new)) => {
                assert!(new.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
                assert_ne!(new, &phc, "a new salt");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(answers[1], Ok(Outcome::Verified(true)));
        assert_eq!(answers[2], Ok(Outcome::Verified(false)));
        assert_eq!(answers[3], Err(PasswordError::MalformedHash));
    }

    #[test]
    fn broken_frames_are_refused() {
        // A length past the limit, a truncated frame, an unknown request,
        // a reply that answers another request.
        let mut long = Vec::new();
        long.extend_from_slice(&(MAX_FRAME + 1).to_le_bytes());
        assert!(read_frame(&mut long.as_slice()).is_err());
        assert!(read_frame(&mut [5u8, 0, 0, 0, 1].as_slice()).is_err());
        assert!(read_frame(&mut [5u8, 0].as_slice()).is_err());
        let mut unknown = encode_task(&Task::Hash {
            params: cheap(),
            password: SecretString::from("correct horse"),
        })
        .unwrap();
        unknown[0] = 9;
        assert!(decode_task(&unknown).is_err());
        let reply = encode_reply(&Ok(Outcome::Verified(true)), Duration::ZERO).unwrap();
        let hash = Task::Hash {
            params: cheap(),
            password: SecretString::from("correct horse"),
        };
        assert!(decode_reply(&reply, &hash).is_err());
    }
}
