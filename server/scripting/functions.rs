//! Redis 7.0 functions: libraries loaded with FUNCTION LOAD, whose
//! registered functions FCALL and FCALL_RO run.
//!
//! Owns the function libraries (name, source, registered functions) and a
//! Lua interpreter of their own, apart from EVAL's as in Redis. While a
//! library's code runs at load time its globals offer only
//! `redis.register_function`, `redis.log` and the version fields; when a
//! function later runs, they are the full script API. Functions run through
//! [`super::run_script`] like EVAL bodies, so their effects replicate the
//! same way; the FUNCTION commands that change libraries replicate verbatim,
//! and the libraries' sources travel in RDB files as FUNCTION2 records.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, HookTriggers, MultiValue, Table, Value, VmState};
use parking_lot::Mutex;

use super::libs::{lib_function, values, Raise};
use super::{lua_error_text, one_line, Engine, EngineHandle};
use crate::reply::Reply;

/// Flags a function may declare, in the order Redis lists them.
pub(crate) const FLAG_NAMES: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// How long a library's code may run at load time (Redis's LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT_MS: u128 = 500;

/// One registered function.
#[derive(Clone)]
pub(crate) struct FunctionDef {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// Indexes into [`FLAG_NAMES`], ascending.
    pub(crate) flags: Vec<usize>,
}

impl FunctionDef {
    pub(crate) fn no_writes(&self) -> bool {
        self.flags.contains(&0)
    }

    pub(crate) fn allow_oom(&self) -> bool {
        self.flags.contains(&1)
    }
}

/// One loaded library.
pub(crate) struct Library {
    pub(crate) code: Bytes,
    pub(crate) functions: Vec<FunctionDef>,
}

/// The function interpreter: an [`Engine`] whose library environment can
/// switch to the load-time API.
struct FunctionEngine {
    engine: Engine,
    /// The environment library code runs in.
    env: Table,
    /// `set_loading(on)`: switches `env` between the load-time API and the
    /// full globals.
    set_loading: Function,
    /// What `redis.register_function` collects during a load (the
    /// callbacks wait in the registry's staging table, by name).
    pending: Arc<Mutex<Option<Vec<FunctionDef>>>>,
    /// Function name -> callback of every loaded function. Callbacks live in
    /// Lua tables rather than as Rust handles: mlua holds only a few thousand
    /// handles at once.
    callbacks: Table,
}

/// Registry key of the table where a load's callbacks wait, by name.
const STAGING_KEY: &str = "tandem_function_staging";

/// Loaded libraries by name, and the interpreter they live in.
#[derive(Default)]
pub(crate) struct Functions {
    engine: Option<FunctionEngine>,
    libraries: BTreeMap<String, Library>,
}

const LOAD_ENV_SOURCE: &str = r#"
local G, strict_view, register, log = ...
local rawget = rawget
local api = rawget(G, 'redis')
local load_redis = {
  register_function = register,
  log = log,
  LOG_DEBUG = api.LOG_DEBUG, LOG_VERBOSE = api.LOG_VERBOSE,
  LOG_NOTICE = api.LOG_NOTICE, LOG_WARNING = api.LOG_WARNING,
  REDIS_VERSION = api.REDIS_VERSION, REDIS_VERSION_NUM = api.REDIS_VERSION_NUM,
}
local load_globals = { redis = strict_view(function() return load_redis end) }
local loading = false
local env = strict_view(function() if loading then return load_globals end return G end)
return env, function(on) loading = on end
"#;

impl FunctionEngine {
    fn new() -> mlua::Result<FunctionEngine> {
        let engine = Engine::new()?;
        let lua = engine.lua.clone();
        let pending: Arc<Mutex<Option<Vec<FunctionDef>>>> = Arc::new(Mutex::new(None));
        let collected = pending.clone();
        lua.set_named_registry_value(STAGING_KEY, lua.create_table()?)?;
        let register = lib_function(&lua, move |lua, args| {
            let mut guard = collected.lock();
            let Some(list) = guard.as_mut() else {
                return Err(Raise::Redis(
                    "redis.register_function can only be called on FUNCTION LOAD command".into(),
                ));
            };
            let (def, callback) = read_registration(&args)?;
            if !valid_name(&def.name) {
                // Redis 7.0's own wording for a bad function name.
                return Err(Raise::Redis(
                    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into(),
                ));
            }
            if list.iter().any(|f| f.name == def.name) {
                return Err(Raise::Redis(
                    "Function already exists in the library".into(),
                ));
            }
            lua.named_registry_value::<Table>(STAGING_KEY)
                .and_then(|staging| staging.raw_set(def.name.as_str(), callback))
                .map_err(|e| Raise::Redis(e.to_string()))?;
            list.push(def);
            values([])
        })?;
        let api: Table = lua.globals().raw_get("redis")?;
        // `redis` is a read-only proxy; its log function is reachable through it.
        let log: Value = api.get("log")?;
        let (env, set_loading): (Table, Function) =
            lua.load(LOAD_ENV_SOURCE).set_name(super::API_CHUNK).call((
                lua.globals(),
                lua.named_registry_value::<Function>(super::STRICT_VIEW_KEY)?,
                register,
                log,
            ))?;
        Ok(FunctionEngine {
            callbacks: lua.create_table()?,
            engine,
            env,
            set_loading,
            pending,
        })
    }

    /// Runs a library's code in load mode and returns what it registered.
    fn load(&self, code: &[u8]) -> Result<Vec<FunctionDef>, String> {
        let lua = &self.engine.lua;
        let chunk = lua
            .load(code)
            .set_name("@user_function")
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| format!("Error compiling function: {}", lua_error_text(&e)))?;
        *self.pending.lock() = Some(Vec::new());
        lua.set_named_registry_value(STAGING_KEY, lua.create_table().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let timed_out = Arc::new(AtomicBool::new(false));
        let flag = timed_out.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| {
                if started.elapsed().as_millis() > LOAD_TIMEOUT_MS {
                    flag.store(true, Ordering::Relaxed);
                    return Err(mlua::Error::runtime("FUNCTION LOAD timeout"));
                }
                Ok(VmState::Continue)
            },
        );
        let _ = self.set_loading.call::<()>(true);
        let outcome = lua
            .named_registry_value::<Function>(super::RAW_PCALL_KEY)
            .and_then(|pcall| pcall.call::<MultiValue>(chunk));
        let _ = self.set_loading.call::<()>(false);
        lua.remove_hook();
        let registered = self.pending.lock().take().unwrap_or_default();
        let mut results = outcome
            .map_err(|e| format!("Error registering functions: {}", lua_error_text(&e)))?
            .into_iter();
        if matches!(results.next(), Some(Value::Boolean(true))) {
            return Ok(registered);
        }
        if timed_out.load(Ordering::Relaxed) {
            return Err("Error registering functions: FUNCTION LOAD timeout".into());
        }
        let message = match results.next() {
            Some(Value::String(s)) => format!("ERR {}", s.to_string_lossy()),
            Some(Value::Table(t)) => match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy().to_string(),
                _ => "ERR unknown error".to_string(),
            },
            Some(other) => format!("ERR {other:?}"),
            None => "ERR unknown error".to_string(),
        };
        Err(format!("Error registering functions: {message}"))
    }
}

/// `register_function(name, callback)` or `register_function{...}`.
fn read_registration(args: &MultiValue) -> Result<(FunctionDef, Function), Raise> {
    let bad = |m: &str| Raise::Redis(m.to_string());
    match args.len() {
        2 => {
            let Some(Value::String(name)) = args.front() else {
                return Err(bad(
                    "first argument to redis.register_function must be a string",
                ));
            };
            let Some(Value::Function(callback)) = args.get(1) else {
                return Err(bad(
                    "second argument to redis.register_function must be a function",
                ));
            };
            let def = FunctionDef {
                name: name.to_string_lossy().to_string(),
                description: None,
                flags: Vec::new(),
            };
            Ok((def, callback.clone()))
        }
        1 => {
            let Some(Value::Table(t)) = args.front() else {
                return Err(bad("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
            };
            let (mut name, mut description, mut callback, mut flags) =
                (None, None, None, Vec::new());
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| Raise::Redis(e.to_string()))?;
                let key =
                    match &k {
                        Value::String(s) => s.to_string_lossy().to_ascii_lowercase(),
                        Value::Number(n) => n.to_string(),
                        Value::Integer(n) => n.to_string(),
                        _ => return Err(bad(
                            "named argument key given to redis.register_function is not a string",
                        )),
                    };
                match key.as_str() {
                    "function_name" => match v {
                        Value::String(s) => name = Some(s.to_string_lossy().to_string()),
                        _ => {
                            return Err(bad(
                                "function_name argument given to redis.register_function must be a string",
                            ))
                        }
                    },
                    "description" => match v {
                        Value::String(s) => description = Some(s.to_string_lossy().to_string()),
                        _ => {
                            return Err(bad(
                                "description argument given to redis.register_function must be a string",
                            ))
                        }
                    },
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => {
                            return Err(bad(
                                "callback argument given to redis.register_function must be a function",
                            ))
                        }
                    },
                    "flags" => {
                        let Value::Table(list) = v else {
                            return Err(bad("flags argument to redis.register_function must be a table representing function flags"));
                        };
                        for i in 1.. {
                            match list.raw_get::<Value>(i) {
                                Ok(Value::Nil) | Err(_) => break,
                                Ok(Value::String(s)) => {
                                    let text = s.to_string_lossy().to_ascii_lowercase();
                                    let Some(index) = FLAG_NAMES.iter().position(|f| *f == text)
                                    else {
                                        return Err(bad("unknown flag given"));
                                    };
                                    if !flags.contains(&index) {
                                        flags.push(index);
                                    }
                                }
                                Ok(_) => return Err(bad("unknown flag given")),
                            }
                        }
                        flags.sort_unstable();
                    }
                    _ => return Err(bad("unknown argument given to redis.register_function")),
                }
            }
            let Some(name) = name else {
                return Err(bad(
                    "redis.register_function must get a function name argument",
                ));
            };
            let Some(callback) = callback else {
                return Err(bad("redis.register_function must get a callback argument"));
            };
            let def = FunctionDef {
                name,
                description,
                flags,
            };
            Ok((def, callback))
        }
        _ => Err(bad("wrong number of arguments to redis.register_function")),
    }
}

/// Library and function names: letters, digits and underscores, at least one.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `#!<engine> name=<library>` line: (library name, code after the line).
fn library_metadata(code: &[u8]) -> Result<(String, &[u8]), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some((words, rest)) = super::shebang_words(code) else {
        return Err("Invalid library metadata".into());
    };
    let mut parts = words.iter().map(String::as_str);
    // The first word starts with the `#!` checked above.
    let engine = parts.next().map_or("", |w| &w[2..]).to_string();
    let mut name = None;
    for part in parts {
        if part
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("name="))
        {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(format!("Invalid metadata value given: {part}"));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    Ok((name, rest))
}

impl Functions {
    fn engine(&mut self) -> Result<&mut FunctionEngine, String> {
        if self.engine.is_none() {
            self.engine = Some(
                FunctionEngine::new()
                    .map_err(|e| format!("Error starting the Lua interpreter: {e}"))?,
            );
        }
        self.engine
            .as_mut()
            .ok_or_else(|| "Lua interpreter unavailable".to_string())
    }

    /// FUNCTION LOAD: compiles and registers `code`; returns the library name.
    pub(crate) fn load(&mut self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (name, body) = library_metadata(code)?;
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let functions = self.engine()?.load(body)?;
        if functions.is_empty() {
            return Err("No functions registered".into());
        }
        for f in &functions {
            let clash = self
                .libraries
                .iter()
                .filter(|(lib, _)| **lib != name)
                .any(|(_, l)| l.functions.iter().any(|g| g.name == f.name));
            if clash {
                return Err(format!("Function {} already exists", f.name));
            }
        }
        self.engine()?;
        let Some(engine) = self.engine.as_ref() else {
            return Err("Lua interpreter unavailable".into());
        };
        let commit = || -> mlua::Result<()> {
            let lua = &engine.engine.lua;
            let staging: Table = lua.named_registry_value(STAGING_KEY)?;
            for f in &functions {
                engine
                    .callbacks
                    .raw_set(f.name.as_str(), staging.raw_get::<Value>(f.name.as_str())?)?;
            }
            lua.set_named_registry_value(STAGING_KEY, lua.create_table()?)
        };
        if let Some(old) = self.libraries.get(&name) {
            forget_callbacks(engine, old);
        }
        commit().map_err(|e| e.to_string())?;
        self.libraries.insert(
            name.clone(),
            Library {
                code: code.clone(),
                functions,
            },
        );
        Ok(name)
    }

    /// FUNCTION DELETE.
    pub(crate) fn delete(&mut self, name: &[u8]) -> bool {
        let name = String::from_utf8_lossy(name);
        let Some(library) = self.libraries.remove(name.as_ref()) else {
            return false;
        };
        if let Some(engine) = self.engine.as_ref() {
            forget_callbacks(engine, &library);
        }
        true
    }

    /// FUNCTION FLUSH: every library and the interpreter go.
    pub(crate) fn flush(&mut self) {
        self.libraries.clear();
        self.engine = None;
    }

    pub(crate) fn libraries(&self) -> &BTreeMap<String, Library> {
        &self.libraries
    }

    /// The sources of every library, for an RDB's FUNCTION2 records.
    pub(crate) fn sources(&self) -> Vec<Vec<u8>> {
        self.libraries.values().map(|l| l.code.to_vec()).collect()
    }

    /// FUNCTION RESTORE: loads `sources` under `policy`, all or nothing.
    pub(crate) fn restore(
        &mut self,
        sources: &[Vec<u8>],
        policy: RestorePolicy,
    ) -> Result<(), String> {
        if policy == RestorePolicy::Append {
            for code in sources {
                let (name, _) = library_metadata(code)?;
                if self.libraries.contains_key(&name) {
                    return Err(format!("Library {name} already exists"));
                }
            }
        }
        let saved = self.sources();
        if policy == RestorePolicy::Flush {
            self.flush();
        }
        let replace = policy != RestorePolicy::Append;
        for code in sources {
            if let Err(e) = self.load(&Bytes::copy_from_slice(code), replace) {
                let _ = self.replace_all(&saved);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Replaces every library with those in `sources` (an RDB's), keeping
    /// what loads; returns the errors of those that did not.
    pub(crate) fn replace_all(&mut self, sources: &[Vec<u8>]) -> Vec<String> {
        self.flush();
        sources
            .iter()
            .filter_map(|code| self.load(&Bytes::copy_from_slice(code), true).err())
            .collect()
    }

    pub(crate) fn function_count(&self) -> usize {
        self.libraries.values().map(|l| l.functions.len()).sum()
    }

    /// The function called `name` and the interpreter it runs on.
    pub(crate) fn find(&mut self, name: &[u8]) -> Option<(FunctionDef, Function, EngineHandle)> {
        let def = self
            .libraries
            .values()
            .flat_map(|l| l.functions.iter())
            .find(|f| f.name.as_bytes().eq_ignore_ascii_case(name))?
            .clone();
        let engine = self.engine.as_ref()?;
        let callback = engine
            .callbacks
            .raw_get::<Function>(def.name.as_str())
            .ok()?;
        Some((def, callback, engine.engine.handle()))
    }
}

/// Drops a library's callbacks from the interpreter's table.
fn forget_callbacks(engine: &FunctionEngine, library: &Library) {
    for f in &library.functions {
        let _ = engine.callbacks.raw_set(f.name.as_str(), Value::Nil);
    }
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RestorePolicy {
    /// Fail if any restored library exists (the default).
    Append,
    /// Restored libraries replace those of the same name.
    Replace,
    /// Every library goes first.
    Flush,
}

/// A FUNCTION error reply (Redis adds the `ERR` code).
pub(crate) fn error_reply(message: &str) -> Reply {
    Reply::error(one_line(&format!("ERR {message}")))
}
