//! Log lines an operator of Redis recognises.
//!
//! Every line has Redis's shape: `pid:role dd Mon yyyy hh:mm:ss.mmm <level> msg`,
//! with `.` debug, `-` verbose, `*` notice, `#` warning, and role `M` (primary)
//! or `S` (replica). The code logs through `tracing`; this module owns the one
//! layer that formats and writes the lines, the level filter (`loglevel`, which
//! CONFIG SET can change) and the destination (`logfile`, empty = stdout).
//!
//! Level mapping: `trace!` = debug, `debug!` = verbose, `info!` = notice,
//! `warn!`/`error!` = warning.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::config::LogLevel;

static MIN_LEVEL: AtomicU8 = AtomicU8::new(2);
static ROLE: AtomicU8 = AtomicU8::new(b'M');
static SINK: OnceLock<Mutex<Box<dyn Write + Send>>> = OnceLock::new();

fn rank(level: &Level) -> u8 {
    match *level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        _ => 3,
    }
}

fn level_rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 0,
        LogLevel::Verbose => 1,
        LogLevel::Notice => 2,
        LogLevel::Warning => 3,
        LogLevel::Nothing => 4,
    }
}

/// Changes the minimum level (CONFIG SET loglevel).
pub fn set_level(level: LogLevel) {
    MIN_LEVEL.store(level_rank(level), Ordering::Relaxed);
}

/// Sets the role character printed after the pid: `M` or `S`.
pub fn set_role_replica(replica: bool) {
    ROLE.store(if replica { b'S' } else { b'M' }, Ordering::Relaxed);
}

struct MessageVisitor<'a>(&'a mut String);

impl Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// The local time as Redis prints it: `21 Nov 2026 23:55:53.123`.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes only into the zeroed `tm` we pass; both pointers are valid.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[(tm.tm_mon.clamp(0, 11)) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

struct RedisLineLayer;

impl<S: Subscriber> Layer<S> for RedisLineLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        rank(metadata.level()) >= MIN_LEVEL.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = rank(event.metadata().level());
        if level < MIN_LEVEL.load(Ordering::Relaxed) {
            return;
        }
        let mark = ['.', '-', '*', '#'][usize::from(level)];
        let mut line = format!(
            "{}:{} {} {} ",
            std::process::id(),
            ROLE.load(Ordering::Relaxed) as char,
            timestamp(),
            mark
        );
        event.record(&mut MessageVisitor(&mut line));
        line.push('\n');
        if let Some(sink) = SINK.get() {
            let mut sink = sink.lock();
            let _ = sink.write_all(line.as_bytes());
            let _ = sink.flush();
        }
    }
}

/// Installs the global logger writing to `logfile` (empty: stdout).
pub fn init(logfile: &str, level: LogLevel) -> std::io::Result<()> {
    set_level(level);
    let sink: Box<dyn Write + Send> = if logfile.is_empty() {
        Box::new(std::io::stdout())
    } else {
        Box::new(OpenOptions::new().create(true).append(true).open(logfile)?)
    };
    if SINK.set(Mutex::new(sink)).is_err() {
        return Ok(());
    }
    let subscriber = tracing_subscriber::registry().with(RedisLineLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}
