//! Lua scripting as Redis 7.0 does it: EVAL / EVALSHA and their `_RO`
//! forms, the script cache behind SCRIPT LOAD / EXISTS / FLUSH.
//!
//! Owns the Lua 5.1 interpreter and the cached scripts (by SHA-1 of the
//! body). A script's `redis.call` runs its command through
//! [`crate::exec::run_command`] on a script client of its own (the caller's
//! database, RESP2 unless `redis.setresp(3)`), so every check, statistic and
//! replication op is the one that command has anywhere else. What replicates
//! is a script's effects, never the script: the ops its commands record, which
//! the caller's `execute` wraps in MULTI/EXEC when there are several.
//!
//! Conversions follow Redis: a command's reply is encoded in the script's
//! protocol and read back into Lua values (`+` as `{ok=...}`, `-` as
//! `{err=...}`, nulls as `false`); a script's return value becomes a reply by
//! `luaReplyToRedisReply`'s rules. The global table is read-only for scripts
//! (reading an unknown global or creating one is an error), `math.random` is
//! Redis's deterministic rand48, and the `bit` library is provided.
//!
//! Must not: touch sockets or block. A script that runs past
//! `busy-reply-threshold` turns the server busy ([`busy`]): other clients
//! get `-BUSY` and may SCRIPT KILL it (unless it wrote) or SHUTDOWN NOSAVE.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

pub mod busy;
pub(crate) mod functions;
mod libs;
mod msgpack;

use libs::{lib_function, values, Raise};

use crate::client::ClientState;
use crate::command::{flags, lookup_subcommand, table};
use crate::exec::{run_command, ExecCtx};
use crate::reply::{Proto, Reply};

/// Chunk name of tandem's own Lua code: the error handler skips its frames
/// when it reports where a script failed.
const API_CHUNK: &str = "@tandem_api";

/// Registry key of `strict_view(source)`: a read-only view of the table
/// `source()` returns, erring on unknown names (the protected globals).
const STRICT_VIEW_KEY: &str = "tandem_strict_view";

/// Registry key of Lua's own `pcall` (the global is Redis's variant).
const RAW_PCALL_KEY: &str = "tandem_raw_pcall";

/// Registry key of the function `redis.call`/`redis.pcall` dispatch through.
const DISPATCH_KEY: &str = "tandem_dispatch";
const DISPATCH_KEY_C: &std::ffi::CStr = c"tandem_dispatch";

/// Registry key of the function `redis.acl_check_cmd` dispatches through.
const ACL_DISPATCH_KEY: &str = "tandem_acl_dispatch";
const ACL_DISPATCH_KEY_C: &std::ffi::CStr = c"tandem_acl_dispatch";

/// `redis.call`: runs the command; an error reply is raised as `{err=...}`.
unsafe extern "C-unwind" fn redis_call_c(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    redis_call_generic(state, true, DISPATCH_KEY_C)
}

/// `redis.acl_check_cmd`: whether the user may run the command line given.
unsafe extern "C-unwind" fn redis_acl_check_c(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    redis_call_generic(state, true, ACL_DISPATCH_KEY_C)
}

/// `redis.pcall`: runs the command; an error reply is returned as `{err=...}`.
unsafe extern "C-unwind" fn redis_pcall_c(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    redis_call_generic(state, false, DISPATCH_KEY_C)
}

/// Above this many arguments `redis.call` passes them packed in a table.
const PACK_ARGS_ABOVE: std::ffi::c_int = 1000;

/// Calls the dispatcher with `(raise, args...)`, or `(raise as integer,
/// {args...}, count)` for many arguments; it returns `(failed, reply)`.
unsafe fn redis_call_generic(
    state: *mut mlua::ffi::lua_State,
    raise: bool,
    dispatcher: &std::ffi::CStr,
) -> std::ffi::c_int {
    use mlua::ffi;
    let nargs = ffi::lua_gettop(state);
    // No lua_checkstack: a C function is always given LUA_MINSTACK free
    // slots, enough for what is pushed here even when the arguments already
    // fill the 8000 lua_checkstack would allow (Redis takes `unpack` of
    // 7999). So many arguments could not be passed on to a function as
    // they are: they travel packed in a table, with an integer flag.
    if nargs > PACK_ARGS_ABOVE {
        ffi::lua_createtable(state, nargs, 0);
        for i in 1..=nargs {
            ffi::lua_pushvalue(state, i);
            ffi::lua_rawseti(state, -2, ffi::lua_Integer::from(i));
        }
        ffi::lua_replace(state, 1);
        ffi::lua_settop(state, 1);
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, dispatcher.as_ptr());
        ffi::lua_insert(state, 1);
        ffi::lua_pushinteger(state, ffi::lua_Integer::from(raise));
        ffi::lua_insert(state, 2);
        ffi::lua_pushinteger(state, ffi::lua_Integer::from(nargs));
        ffi::lua_call(state, 3, 2);
    } else {
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, dispatcher.as_ptr());
        ffi::lua_insert(state, 1);
        ffi::lua_pushboolean(state, std::ffi::c_int::from(raise));
        ffi::lua_insert(state, 2);
        ffi::lua_call(state, nargs + 1, 2);
    }
    if ffi::lua_toboolean(state, -2) != 0 {
        // The reply table on top is the error value.
        ffi::lua_error(state);
    }
    1
}

/// The Lua side of the API: the error handler EVAL runs scripts under, the
/// read-only global environment, `redis.call`/`redis.pcall` over the raw
/// Rust entry point, and `pcall` returning an error's message as Redis 7's does.
/// Runs once per interpreter, with `debug` still loaded; it removes `debug`.
const API_SOURCE: &str = r#"
local G = _G
local dbg = debug
local rawget, rawset, error, type, tostring, select, unpack, ipairs, loadstring =
      rawget, rawset, error, type, tostring, select, unpack, ipairs, loadstring
debug = nil
print, dofile, loadfile = nil, nil, nil

local function user_frame()
  for level = 3, 64 do
    local info = dbg.getinfo(level, 'Sl')
    if not info then return nil end
    if info.what ~= 'C' and info.source ~= '@tandem_api' then return info end
  end
end

local killed_mark = ...
local find, sub = string.find, string.sub

-- An error the host raised (a killed script) arrives as userdata whose
-- text carries a kind prefix and a traceback: keep the message alone.
local function host_message(err)
  local text = tostring(err)
  local _, head = find(text, 'runtime error: ', 1, true)
  if head then text = sub(text, head + 1) end
  local tail = find(text, '\nstack traceback:', 1, true)
  if tail then text = sub(text, 1, tail - 1) end
  return text
end

rawset(G, '__redis__err__handler', function(err)
  local info = user_frame()
  if type(err) == 'userdata' then err = { err = 'ERR ' .. host_message(err) } end
  if type(err) ~= 'table' then err = { err = 'ERR ' .. tostring(err) } end
  if info then
    err['source'] = info.source
    err['line'] = info.currentline
  end
  return err
end)

-- Tables a script may not change: writes, setmetatable and rawset on them
-- fail as on Redis's read-only tables. Weak keys: views die with their
-- interpreter's scripts.
local protected = setmetatable({}, { __mode = 'k' })
local lua_setmetatable, lua_rawset = setmetatable, rawset
-- As a table's __newindex: the error names the script's line.
local function refuse() error('Attempt to modify a readonly table', 2) end

-- A read-only view of a metatable (what getmetatable shows of a view).
local function meta_view(fields)
  local view = lua_setmetatable({}, { __index = fields, __newindex = refuse, __metatable = false })
  protected[view] = true
  return view
end

local function readonly(target)
  local view = lua_setmetatable({}, {
    __index = target,
    __newindex = refuse,
    __metatable = meta_view({ __index = target }),
  })
  protected[view] = true
  return view
end

-- A read-only view of the table `source()` returns: reading a missing
-- name or writing any is an error, as Redis's protected globals are.
local function strict_view(source)
  local function lookup(_, name)
    local v = rawget(source(), name)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end
    return v
  end
  local view = lua_setmetatable({}, {
    __index = lookup,
    __newindex = refuse,
    __metatable = meta_view({ __index = lookup }),
  })
  protected[view] = true
  return view
end

-- setmetatable and rawset fail without a line, as C functions do in Redis.
rawset(G, 'setmetatable', function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return lua_setmetatable(t, mt)
end)
rawset(G, 'rawset', function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return lua_rawset(t, k, v)
end)

-- Compiled (binary) chunks do not load: their bytecode is not checked.
local lua_loadstring, byte = loadstring, string.byte
rawset(G, 'loadstring', function(chunk, name)
  if type(chunk) == 'string' and byte(chunk, 1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  return lua_loadstring(chunk, name)
end)

local env = strict_view(function() return G end)
rawset(G, '_G', env)

for _, name in ipairs({ 'redis', 'cjson', 'cmsgpack', 'bit', 'struct', 'string', 'math', 'table' }) do
  local lib = rawget(G, name)
  if type(lib) == 'table' then rawset(G, name, readonly(lib)) end
end

local lua_pcall = pcall
local function settle(ok, ...)
  if not ok then
    local e = ...
    if type(e) == 'table' and type(e.err) == 'string' then return false, e.err end
    -- A killed script may not catch its end.
    if type(e) == 'userdata' and find(tostring(e), killed_mark, 1, true) then error(e, 0) end
  end
  return ok, ...
end
rawset(G, 'pcall', function(f, ...) return settle(lua_pcall(f, ...)) end)

local handler = G.__redis__err__handler
return env, strict_view, function(f, keys, args)
  if keys == nil then return xpcall(f, handler) end
  return xpcall(function() return f(keys, args) end, handler)
end
"#;

/// One cached script.
/// The compiled function itself lives in the interpreter's `compiled`
/// table under the same SHA: mlua can hold only a few thousand handles at
/// once, and a cache of distinct scripts grows without bound.
struct CachedScript {
    body: Bytes,
    /// Declared `#!lua flags=no-writes` (or any shebang without writes).
    no_writes: bool,
    /// Declared `allow-oom`: runs, and may write, while memory is full.
    allow_oom: bool,
    /// The body starts with a shebang line (flags are then enforced).
    shebang: bool,
}

/// The interpreter and what it has compiled.
struct Engine {
    lua: Lua,
    /// The read-only environment user scripts run in.
    env: Table,
    /// `function(f) return xpcall(f, __redis__err__handler) end`.
    runner: Function,
    scripts: HashMap<String, CachedScript>,
    /// SHA -> compiled function, for every cached script.
    compiled: Table,
    /// The protocol `redis.setresp` chose for the running script (2 or 3).
    resp: Arc<AtomicU8>,
}

/// Lua scripting state, kept with the data (see the module docs).
#[derive(Default)]
pub struct Scripts {
    engine: Option<Engine>,
    /// FUNCTION libraries, on an interpreter of their own.
    pub(crate) functions: functions::Functions,
}

impl fmt::Debug for Scripts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scripts")
            .field("cached", &self.cached_count())
            .finish()
    }
}

impl Scripts {
    /// How many scripts are cached (`INFO memory number_of_cached_scripts`).
    pub fn cached_count(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.scripts.len())
    }

    /// Bytes of the cached bodies and their SHA keys (`used_memory_scripts_eval`).
    pub fn cached_bytes(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| {
            e.scripts.values().map(|s| s.body.len() + 40 + 64).sum()
        })
    }

    /// Memory the interpreter uses (`used_memory_lua`).
    pub fn lua_memory(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.lua.used_memory())
    }

    /// Whether a script with this SHA-1 (any case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let Some(engine) = &self.engine else {
            return false;
        };
        std::str::from_utf8(sha)
            .map(|s| engine.scripts.contains_key(&s.to_ascii_lowercase()))
            .unwrap_or(false)
    }

    /// Drops every cached script and the interpreter (SCRIPT FLUSH).
    pub fn flush(&mut self) {
        self.engine = None;
    }

    fn engine(&mut self) -> Result<&mut Engine, Reply> {
        if self.engine.is_none() {
            self.engine = Some(Engine::new().map_err(|e| {
                Reply::error(format!("ERR Error starting the Lua interpreter: {e}"))
            })?);
        }
        self.engine
            .as_mut()
            .ok_or_else(|| Reply::error("ERR Lua interpreter unavailable"))
    }

    /// Compiles and caches `body` unless cached; returns its SHA-1 (lowercase hex).
    pub fn load(&mut self, body: &Bytes) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        let engine = self.engine()?;
        if engine.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags_line, code) = split_shebang(body)?;
        let no_writes = flags_line.as_ref().is_some_and(|f| f.no_writes);
        let allow_oom = flags_line.as_ref().is_some_and(|f| f.allow_oom);
        let function = engine
            .lua
            .load(code)
            .set_name("@user_script")
            .set_environment(engine.env.clone())
            .into_function()
            .map_err(|e| {
                Reply::error(one_line(&format!(
                    "ERR Error compiling script (new function): {}",
                    lua_error_text(&e)
                )))
            })?;
        engine
            .compiled
            .raw_set(sha.as_str(), function)
            .map_err(|e| Reply::error(format!("ERR {e}")))?;
        engine.scripts.insert(
            sha.clone(),
            CachedScript {
                body: body.clone(),
                no_writes,
                allow_oom,
                shebang: flags_line.is_some(),
            },
        );
        Ok(sha)
    }
}

impl Engine {
    fn handle(&self) -> EngineHandle {
        EngineHandle {
            lua: self.lua.clone(),
            runner: self.runner.clone(),
            resp: self.resp.clone(),
        }
    }

    fn new() -> mlua::Result<Engine> {
        // SAFETY: `debug` is loaded only for the error handler, which keeps a
        // private reference and removes the global before any script runs.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        let globals = lua.globals();
        let api = lua.create_table()?;
        api.set("REDIS_VERSION", crate::REDIS_VERSION)?;
        api.set("REDIS_VERSION_NUM", redis_version_num())?;
        api.set(
            "sha1hex",
            lib_function(&lua, |lua, args| {
                if args.len() != 1 {
                    return Err(Raise::Redis("wrong number of arguments".into()));
                }
                let bytes = match args.front() {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    Some(Value::Number(n)) => format_number(*n).into_bytes(),
                    Some(Value::Integer(n)) => n.to_string().into_bytes(),
                    _ => Vec::new(),
                };
                let hex = lua
                    .create_string(sha1_hex(&bytes))
                    .map_err(|e| Raise::Lua(e.to_string()))?;
                values([Value::String(hex)])
            })?,
        )?;
        api.set(
            "error_reply",
            lua.create_function(|lua, args: MultiValue| match single_string(&args) {
                Some(text) => {
                    let text = if text.starts_with('-') {
                        text
                    } else {
                        format!("-{text}")
                    };
                    error_table(lua, &text)
                }
                None => error_table(lua, "wrong number or type of arguments"),
            })?,
        )?;
        api.set(
            "status_reply",
            lua.create_function(|lua, args: MultiValue| match single_string(&args) {
                Some(text) => {
                    let t = lua.create_table()?;
                    t.set("ok", text)?;
                    Ok(t)
                }
                None => error_table(lua, "wrong number or type of arguments"),
            })?,
        )?;
        api.set(
            "log",
            lib_function(&lua, |_, args| {
                if args.len() < 2 {
                    return Err(Raise::Redis(
                        "redis.log() requires two arguments or more.".into(),
                    ));
                }
                let level = match args.front() {
                    Some(Value::Number(n)) => *n as i64,
                    Some(Value::Integer(n)) => *n,
                    _ => {
                        return Err(Raise::Redis(
                            "First argument must be a number (log level).".into(),
                        ))
                    }
                };
                if !(0..=3).contains(&level) {
                    return Err(Raise::Redis("Invalid debug level.".into()));
                }
                let text: Vec<String> = args
                    .iter()
                    .skip(1)
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s.to_string_lossy().to_string()),
                        Value::Number(n) => Some(format_number(*n)),
                        Value::Integer(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect();
                let text = text.join(" ");
                match level {
                    0 | 1 => tracing::debug!("{text}"),
                    2 => tracing::info!("{text}"),
                    _ => tracing::warn!("{text}"),
                }
                values([])
            })?,
        )?;
        for (name, level) in [
            ("LOG_DEBUG", 0),
            ("LOG_VERBOSE", 1),
            ("LOG_NOTICE", 2),
            ("LOG_WARNING", 3),
        ] {
            api.set(name, level)?;
        }
        for (name, flag) in [
            ("REPL_NONE", 0),
            ("REPL_AOF", 1),
            ("REPL_SLAVE", 2),
            ("REPL_REPLICA", 2),
            ("REPL_ALL", 3),
        ] {
            api.set(name, flag)?;
        }
        // Effects replication is the only mode since Redis 7.0.
        api.set(
            "replicate_commands",
            lua.create_function(|_, _: MultiValue| Ok(true))?,
        )?;
        api.set(
            "set_repl",
            lib_function(&lua, |_, args| {
                let flags = match args.front() {
                    Some(Value::Number(n)) if args.len() == 1 => *n as i64,
                    Some(Value::Integer(n)) if args.len() == 1 => *n,
                    _ if args.len() != 1 => {
                        return Err(Raise::Redis(
                            "redis.set_repl() requires two arguments.".into(),
                        ))
                    }
                    _ => 0,
                };
                if flags & !3 != 0 {
                    return Err(Raise::Redis(
                        "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
                            .into(),
                    ));
                }
                // A script's effects always replicate: the stream must hold
                // every change the dataset saw (see the module docs).
                values([])
            })?,
        )?;
        api.set(
            "breakpoint",
            lua.create_function(|_, _: MultiValue| Ok(false))?,
        )?;
        api.set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        let resp = Arc::new(AtomicU8::new(2));
        let chosen = resp.clone();
        api.set(
            "setresp",
            lib_function(&lua, move |_, args| {
                if args.len() != 1 {
                    return Err(Raise::Redis(
                        "redis.setresp() requires one argument.".into(),
                    ));
                }
                let version = match args.front() {
                    Some(Value::Number(n)) => *n as i64,
                    Some(Value::Integer(n)) => *n,
                    _ => 0,
                };
                if version != 2 && version != 3 {
                    return Err(Raise::Redis("RESP version must be 2 or 3.".into()));
                }
                chosen.store(version as u8, Ordering::Relaxed);
                values([])
            })?,
        )?;

        // `redis.call` and `redis.pcall` are C functions, as in Redis, so
        // that `return redis.call(...)` keeps the script's frame (a Lua
        // wrapper would be tail-called and lose the line an error names).
        // Both go through the dispatcher in the registry, which calls the
        // run's scoped entry point (see `eval`).
        let raw_slot = lua.create_table()?;
        // Outside a run the slots answer that they need one.
        for (slot, api_name) in [("f", "redis.call/pcall"), ("acl", "redis.acl_check_cmd")] {
            let message = format!("ERR {api_name} can only be called inside a script invocation");
            raw_slot.set(
                slot,
                lua.create_function(move |lua, _: MultiValue| {
                    let t = lua.create_table()?;
                    t.set("err", message.as_str())?;
                    Ok((true, t))
                })?,
            )?;
        }
        lua.set_named_registry_value("tandem_raw_slot", raw_slot.clone())?;
        let (dispatcher, acl_dispatcher): (Function, Function) = lua
            .load(
                "local slot = ...\n\
                 return function(...) return slot.f(...) end, function(...) return slot.acl(...) end",
            )
            .set_name(API_CHUNK)
            .call(raw_slot)?;
        lua.set_named_registry_value(ACL_DISPATCH_KEY, acl_dispatcher)?;
        lua.set_named_registry_value(DISPATCH_KEY, dispatcher)?;
        // SAFETY: both are plain C-ABI functions using only the Lua C API.
        unsafe {
            api.set("call", lua.create_c_function(redis_call_c)?)?;
            api.set("pcall", lua.create_c_function(redis_pcall_c)?)?;
            api.set("acl_check_cmd", lua.create_c_function(redis_acl_check_c)?)?;
        }
        globals.set("redis", api)?;
        globals.set("bit", libs::bit_library(&lua)?)?;
        globals.set("cjson", libs::cjson_library(&lua)?)?;
        globals.set("cmsgpack", msgpack::cmsgpack_library(&lua)?)?;
        globals.set("struct", msgpack::struct_library(&lua)?)?;
        libs::install_random(&lua, &globals.get::<Table>("math")?)?;

        // Lua's own pcall, before the API replaces the global: function
        // loading needs the error value as raised.
        lua.set_named_registry_value(RAW_PCALL_KEY, globals.get::<Function>("pcall")?)?;
        let (env, strict_view, runner): (Table, Function, Function) = lua
            .load(API_SOURCE)
            .set_name(API_CHUNK)
            .call(busy::KILLED)?;
        lua.set_named_registry_value(STRICT_VIEW_KEY, strict_view)?;
        let compiled = lua.create_table()?;
        Ok(Engine {
            compiled,
            lua,
            env,
            runner,
            resp,
            scripts: HashMap::new(),
        })
    }
}

/// `#!lua [flags=a,b]` on the first line, as EVAL accepts it.
#[derive(Debug, Default, PartialEq)]
struct ShebangFlags {
    no_writes: bool,
    allow_oom: bool,
}

/// Splits an optional shebang line off `body`, keeping its newline so line
/// numbers stay the user's.
fn split_shebang(body: &[u8]) -> Result<(Option<ShebangFlags>, &[u8]), Reply> {
    if !body.starts_with(b"#!") {
        return Ok((None, body));
    }
    let Some((words, rest)) = shebang_words(body) else {
        return Err(Reply::error("ERR Invalid script shebang"));
    };
    let mut parts = words.iter().map(String::as_str);
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(Reply::error(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut flags = ShebangFlags::default();
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(Reply::error(format!(
                "ERR Unknown lua shebang option: {part}"
            )));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(Reply::error(format!(
                        "ERR Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    Ok((Some(flags), rest))
}

/// The words of a `#!` first line (split at blanks, as Redis's
/// `sdssplitargs` does for shebangs) and the code after it, which keeps the
/// line's newline so line numbers stay the user's. `None` without a newline.
pub(crate) fn shebang_words(code: &[u8]) -> Option<(Vec<String>, &[u8])> {
    let end = code.iter().position(|&b| b == b'\n')?;
    let words = String::from_utf8_lossy(&code[..end])
        .split([' ', '\t', '\r'])
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    Some((words, &code[end..]))
}

/// What one running script's `redis.call` needs.
struct ScriptRun<'a> {
    server: &'a crate::state::Server,
    data: &'a mut crate::state::Data,
    client: ClientState,
    ops: &'a mut Vec<crate::exec::Op>,
    now_ms: u64,
    read_only: bool,
    /// Write commands may run while memory is full.
    allow_oom: bool,
    resp: Arc<AtomicU8>,
    /// The full name of the command that runs the script (EVAL, FCALL...),
    /// for the ACL log's client description.
    caller_command: &'static str,
}

/// The key count at `argv[2]` of `[name, script, numkeys, keys..., args...]`,
/// checked against the arguments; `not_a_number` is the caller's reply for
/// a count that is not an integer.
pub(crate) fn numkeys(
    argv: &[Bytes],
    not_a_number: impl FnOnce() -> Reply,
) -> Result<usize, Reply> {
    let Some(n) = std::str::from_utf8(&argv[2])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return Err(not_a_number());
    };
    if n > (argv.len() - 3) as i64 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO: `argv` is `[name, script-or-sha,
/// numkeys, keys..., args...]`.
pub fn eval(ctx: &mut ExecCtx<'_>, argv: &[Bytes], by_sha: bool, read_only: bool) -> Reply {
    let numkeys = match numkeys(argv, Reply::not_integer) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        if !ctx.data.scripts.exists(sha.as_bytes()) {
            return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
        }
        sha
    } else {
        match ctx.data.scripts.load(&argv[1]) {
            Ok(sha) => sha,
            Err(reply) => return reply,
        }
    };
    let (handle, function, no_writes, allow_oom, shebang) = {
        let Ok(engine) = ctx.data.scripts.engine() else {
            return Reply::error("ERR Lua interpreter unavailable");
        };
        let (Some(script), Ok(function)) = (
            engine.scripts.get(&sha),
            engine.compiled.raw_get::<Function>(sha.as_str()),
        ) else {
            return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
        };
        (
            engine.handle(),
            function,
            script.no_writes,
            script.allow_oom,
            script.shebang,
        )
    };
    if shebang {
        if let Some(refused) = refuse_by_flags(ctx, no_writes, allow_oom, read_only) {
            return refused;
        }
    }
    let keys = &argv[3..3 + numkeys];
    let args = &argv[3 + numkeys..];
    run_script(
        ctx,
        &handle,
        Invocation::Eval(function),
        keys,
        args,
        &sha,
        argv,
        Allowed {
            read_only: read_only || no_writes,
            // Without a shebang (Redis's compatibility mode) only the first
            // write waits for memory; `no-writes` implies `allow-oom`.
            allow_oom: shebang && (allow_oom || no_writes),
        },
    )
}

/// What is needed to run something on one interpreter.
#[derive(Clone)]
pub(crate) struct EngineHandle {
    lua: Lua,
    runner: Function,
    resp: Arc<AtomicU8>,
}

/// How a script receives its keys and arguments.
pub(crate) enum Invocation {
    /// An EVAL body: `KEYS` and `ARGV` are globals.
    Eval(Function),
    /// A function's callback: `keys` and `args` are its two parameters.
    Function(Function),
}

/// The refusals Redis makes from a script's declared flags before it runs
/// (scripts with a shebang and functions): a writing script without
/// `allow-oom` while memory is full, a writing script through a `_RO`
/// command, or on a read-only replica.
pub(crate) fn refuse_by_flags(
    ctx: &mut ExecCtx<'_>,
    no_writes: bool,
    allow_oom: bool,
    read_only: bool,
) -> Option<Reply> {
    if no_writes {
        return None;
    }
    if !allow_oom && ctx.data.maxmemory.oom && !ctx.client.is_master {
        return Some(Reply::error(crate::maxmemory::OOM_ERROR));
    }
    if read_only {
        return Some(Reply::error(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    if ctx.data.replica_of
        && !ctx.client.is_master
        && ctx
            .server
            .config
            .read()
            .flag("replica-read-only")
            .unwrap_or(true)
    {
        // Redis counts such a script as a write command, so the generic
        // read-only check refuses it before the script is looked at.
        return Some(Reply::error(
            "READONLY You can't write against a read only replica.",
        ));
    }
    None
}

/// What a running script's `redis.call` may do, from its flags and the
/// command that runs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Allowed {
    /// Only reads (`_RO` commands, `no-writes`).
    pub(crate) read_only: bool,
    /// Writes even while memory is full (`allow-oom`, `no-writes`).
    pub(crate) allow_oom: bool,
}

/// Runs a script or function with its `redis.call` bound to this command's
/// context; `name` is what error replies call it (a SHA or a function name),
/// `command` the caller's arguments (FUNCTION STATS shows them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_script(
    ctx: &mut ExecCtx<'_>,
    engine: &EngineHandle,
    invocation: Invocation,
    keys: &[Bytes],
    args: &[Bytes],
    name: &str,
    command: &[Bytes],
    allowed: Allowed,
) -> Reply {
    let Allowed {
        read_only,
        allow_oom,
    } = allowed;
    // Only the script's effects replicate (recorded by its commands).
    ctx.propagate_none();
    let threshold = ctx
        .server
        .config
        .read()
        .number("busy-reply-threshold")
        .unwrap_or(5000)
        .max(0) as u64;
    let EngineHandle { lua, runner, resp } = engine.clone();
    resp.store(2, Ordering::Relaxed);
    let mut client = ClientState::new(ctx.client.handle.clone(), true);
    client.db = ctx.client.db;
    client.in_script = true;
    // The script's commands run with the caller's ACL user.
    client.user = ctx.client.user.clone();
    let watch = ctx.server.running_script.clone();
    watch.begin();
    if threshold > 0 {
        let functions = &ctx.data.scripts.functions;
        let info = busy::RunInfo {
            name: name.to_string(),
            command: command.to_vec(),
            eval: matches!(invocation, Invocation::Eval(_)),
            from_master: ctx.client.is_master,
            threshold_ms: threshold,
            libraries: functions.libraries().len(),
            functions: functions.function_count(),
        };
        let watch = watch.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| watch.hook(&info),
        );
    }
    let run = RefCell::new(ScriptRun {
        server: ctx.server,
        data: &mut *ctx.data,
        client,
        ops: &mut *ctx.ops,
        now_ms: ctx.now_ms,
        read_only,
        // Redis never refuses its primary's (or AOF's) scripts.
        allow_oom: allow_oom || ctx.client.is_master,
        resp,
        caller_command: ctx.spec.name,
    });

    let outcome = lua.scope(|scope| {
        let raw = scope.create_function(|lua, args: MultiValue| script_call(lua, &run, args))?;
        let acl = scope.create_function(|lua, args: MultiValue| {
            acl_check_cmd(lua, &run.borrow().client.user, args)
        })?;
        let slot: Table = lua.named_registry_value("tandem_raw_slot")?;
        let previous: Function = slot.get("f")?;
        let previous_acl: Function = slot.get("acl")?;
        slot.set("f", raw)?;
        slot.set("acl", acl)?;
        let result = match &invocation {
            Invocation::Eval(function) => {
                let globals = lua.globals();
                globals.raw_set("KEYS", string_array(&lua, keys)?)?;
                globals.raw_set("ARGV", string_array(&lua, args)?)?;
                runner.call::<MultiValue>(function.clone())
            }
            Invocation::Function(function) => runner.call::<MultiValue>((
                function.clone(),
                string_array(&lua, keys)?,
                string_array(&lua, args)?,
            )),
        };
        slot.set("f", previous)?;
        slot.set("acl", previous_acl)?;
        let mut values = result?.into_iter();
        let ok = matches!(values.next(), Some(Value::Boolean(true)));
        let value = values.next().unwrap_or(Value::Nil);
        let resp = if run.borrow().resp.load(Ordering::Relaxed) == 3 {
            Proto::Resp3
        } else {
            run.borrow().client.proto
        };
        // An error a command inside the script replied was counted in the
        // error stats then; the script passing it on is not a second one.
        let counted = matches!(&value, Value::Table(t)
            if t.raw_get::<bool>("ignore_error_stats_update").unwrap_or(false));
        let reply = if ok {
            lua_to_reply(&value, resp, 0)
        } else {
            failure_reply(&value, name)
        };
        Ok((reply, counted))
    });
    watch.end();
    if threshold > 0 {
        lua.remove_hook();
    }
    lua.gc_step().ok();
    match outcome {
        Ok((reply, counted)) => {
            if counted && reply.is_error() {
                ctx.client.error_already_counted = true;
            }
            reply
        }
        Err(e) => Reply::error(one_line(&format!(
            "ERR Error running script {name}, {}",
            lua_error_text(&e)
        ))),
    }
}

/// What `redis_call_generic` passes: `(raise, args...)`, or packed as
/// `(raise as integer, {args...}, count)`.
fn call_args(args: MultiValue) -> mlua::Result<(bool, Vec<Value>)> {
    let mut args = args.into_iter();
    Ok(match args.next() {
        Some(Value::Integer(raise)) => {
            let (Some(Value::Table(packed)), Some(Value::Integer(count))) =
                (args.next(), args.next())
            else {
                return Err(mlua::Error::runtime(
                    "malformed packed redis.call arguments",
                ));
            };
            let rest: Vec<Value> = (1..=count)
                .map(|i| packed.raw_get::<Value>(i))
                .collect::<mlua::Result<_>>()?;
            (raise != 0, rest)
        }
        first => (matches!(first, Some(Value::Boolean(true))), args.collect()),
    })
}

/// A `redis.*` call's arguments as a command line, or Redis's error.
fn lua_argv(values: &[Value]) -> Result<Vec<Bytes>, &'static str> {
    if values.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    values
        .iter()
        .map(|value| match value {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Number(n) => Ok(Bytes::from(format_g17(*n))),
            Value::Integer(n) => Ok(Bytes::from(n.to_string())),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// `redis.acl_check_cmd(command, args...)`: whether the script's user may
/// run that command line, as `(failed, value)` (an unknown command fails).
fn acl_check_cmd(
    lua: &Lua,
    user: &crate::acl::UserSlot,
    args: MultiValue,
) -> mlua::Result<(bool, Value)> {
    let (_, values) = call_args(args)?;
    let argv = match lua_argv(&values) {
        Ok(argv) => argv,
        Err(message) => return Ok((true, Value::Table(error_table(lua, message)?))),
    };
    let spec = table().lookup(&argv[0]).and_then(|base| {
        if base.subcommands.is_empty() {
            Some(base)
        } else {
            argv.get(1).and_then(|sub| lookup_subcommand(base, sub))
        }
    });
    let Some(spec) = spec else {
        let message = "Invalid command passed to redis.acl_check_cmd()";
        return Ok((true, Value::Table(error_table(lua, message)?)));
    };
    let allowed = user.is_open() || user.check(spec, table().stat_id(spec), &argv).is_ok();
    Ok((false, Value::Boolean(allowed)))
}

/// `redis.call` / `redis.pcall`: `(raise, command, args...)` → `(failed, reply)`.
fn script_call(
    lua: &Lua,
    run: &RefCell<ScriptRun<'_>>,
    args: MultiValue,
) -> mlua::Result<(bool, Value)> {
    let (raise, rest) = call_args(args)?;
    let argv = match lua_argv(&rest) {
        Ok(argv) => argv,
        Err(message) => return Ok((raise, Value::Table(error_table(lua, message)?))),
    };
    let mut guard = run
        .try_borrow_mut()
        .map_err(|_| mlua::Error::runtime("recursive redis.call"))?;
    let run = &mut *guard;
    run.client.proto = if run.resp.load(Ordering::Relaxed) == 3 {
        Proto::Resp3
    } else {
        Proto::Resp2
    };
    let deny_noscript = !run.data.debug.deny_scripts_disabled;
    if let Err(message) = script_may_run(&argv, run.read_only, deny_noscript) {
        return Ok((raise, Value::Table(error_table(lua, message)?)));
    }
    if !run.client.user.is_open() {
        if let Ok(spec) = crate::exec::resolve(&argv) {
            let id = table().stat_id(spec);
            if let Err(denied) = run.client.user.check(spec, id, &argv) {
                crate::acl::log_denied(
                    run.server,
                    &run.client,
                    run.data.repl.offset,
                    denied,
                    crate::acl::Context::Lua,
                    id,
                    &argv,
                    Some(run.caller_command),
                );
                let message = denied.script_message();
                return Ok((raise, Value::Table(error_table(lua, &message)?)));
            }
        }
    }
    if let Ok(spec) = crate::exec::resolve(&argv) {
        // Redis's scriptVerifyOOM: a script that found memory full may not
        // start writing, but one that already wrote must be let finish.
        if spec.has(flags::DENYOOM)
            && !run.allow_oom
            && run.data.maxmemory.oom
            && !run.server.running_script.wrote.load(Ordering::Relaxed)
        {
            let message = format!("-{}", crate::maxmemory::OOM_ERROR);
            return Ok((raise, Value::Table(error_table(lua, &message)?)));
        }
        if spec.is_write() {
            run.server
                .running_script
                .wrote
                .store(true, Ordering::Relaxed);
        }
    }
    let reply = run_command(
        run.server,
        run.data,
        &mut run.client,
        &argv,
        run.now_ms,
        false,
        run.ops,
    );
    let mut encoded = BytesMut::new();
    reply.encode(run.client.proto, &mut encoded);
    let failed = reply.is_error();
    let mut pos = 0;
    let value = resp_to_lua(lua, &encoded, &mut pos, 0)?;
    Ok((raise && failed, value))
}

/// Redis's checks before a script's command runs (`scriptCall`): arity,
/// commands scripts may not call, writes from read-only scripts.
fn script_may_run(
    argv: &[Bytes],
    read_only: bool,
    deny_noscript: bool,
) -> Result<(), &'static str> {
    const UNKNOWN: &str = "Unknown Redis command called from script";
    const ARITY: &str = "Wrong number of args calling Redis command from script";
    let Some(spec) = table().lookup(&argv[0]) else {
        return Err(UNKNOWN);
    };
    let spec = if spec.subcommands.is_empty() || argv.len() < 2 {
        spec
    } else {
        lookup_subcommand(spec, &argv[1]).ok_or(UNKNOWN)?
    };
    if !spec.arity_ok(argv.len()) {
        return Err(ARITY);
    }
    if deny_noscript && spec.has(flags::NOSCRIPT) {
        return Err("This Redis command is not allowed from script");
    }
    if read_only && (spec.is_write() || spec.has(flags::MAY_REPLICATE)) {
        return Err("Write commands are not allowed from read-only scripts.");
    }
    Ok(())
}

/// The reply for a script that raised `err` (a table from the error handler).
fn failure_reply(err: &Value, sha: &str) -> Reply {
    let Value::Table(t) = err else {
        return Reply::error(format!("ERR Error running script {sha}, execution failure"));
    };
    let msg = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy().to_string(),
        Ok(Value::Number(n)) => format_number(n),
        Ok(Value::Integer(n)) => n.to_string(),
        _ => "ERR unknown error".to_string(),
    };
    let source = match t.raw_get::<Value>("source") {
        Ok(Value::String(s)) => Some(s.to_string_lossy().to_string()),
        _ => None,
    };
    let line = match t.raw_get::<Value>("line") {
        Ok(Value::Number(n)) => Some(format_number(n)),
        Ok(Value::Integer(n)) => Some(n.to_string()),
        Ok(Value::String(s)) => Some(s.to_string_lossy().to_string()),
        _ => None,
    };
    let text = match (source, line) {
        (Some(source), Some(line)) => format!("{msg} script: {sha}, on {source}:{line}."),
        _ => msg,
    };
    Reply::error(one_line(&text))
}

/// A script's return value as a reply (`luaReplyToRedisReply`).
fn lua_to_reply(value: &Value, resp: Proto, depth: usize) -> Reply {
    if depth > 1000 {
        return Reply::error("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => match resp {
            Proto::Resp2 if *b => Reply::Int(1),
            Proto::Resp2 => Reply::Null,
            _ => Reply::Bool(*b),
        },
        Value::Number(n) => Reply::Int(lua_number_to_int(*n)),
        Value::Integer(n) => Reply::Int(*n),
        Value::Table(t) => table_to_reply(t, resp, depth),
        _ => Reply::Null,
    }
}

fn table_to_reply(t: &Table, resp: Proto, depth: usize) -> Reply {
    match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => {
            return Reply::error(one_line(&s.to_string_lossy()));
        }
        Ok(Value::Number(n)) => return Reply::error(one_line(&format_number(n))),
        _ => {}
    }
    match t.raw_get::<Value>("ok") {
        Ok(Value::String(s)) => return Reply::Simple(one_line(&s.to_string_lossy()).into()),
        Ok(Value::Number(n)) => return Reply::Simple(format_number(n).into()),
        _ => {}
    }
    if let Ok(Value::Number(n)) = t.raw_get::<Value>("double") {
        return Reply::Double(n);
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        // Line breaks would end the reply: Redis writes spaces for them.
        let text: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        return Reply::BigNumber(Bytes::from(text));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let Ok(Value::String(s)) = v.raw_get::<Value>("string") {
            let format = match v.raw_get::<Value>("format") {
                Ok(Value::String(f)) if f.as_bytes().as_ref() == b"mkd" => "mkd",
                _ => "txt",
            };
            return Reply::Verbatim(format, Bytes::copy_from_slice(&s.as_bytes()));
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok())
            .map(|(k, v)| {
                (
                    lua_to_reply(&k, resp, depth + 1),
                    lua_to_reply(&v, resp, depth + 1),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let items = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok())
            .map(|(k, _)| lua_to_reply(&k, resp, depth + 1))
            .collect();
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(lua_to_reply(&v, resp, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// Reads one RESP reply at `pos` into a Lua value, as Redis converts a
/// command's reply for a script.
fn resp_to_lua(lua: &Lua, buf: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    let bad = || mlua::Error::runtime("malformed reply");
    if depth > 1000 {
        return Err(bad());
    }
    let kind = *buf.get(*pos).ok_or_else(bad)?;
    let line_end = buf[*pos..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| *pos + p)
        .ok_or_else(bad)?;
    let line = &buf[*pos + 1..line_end];
    *pos = line_end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    let number = || -> mlua::Result<i64> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let single = |field: &str, value: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.set(field, value)?;
        Ok(Value::Table(t))
    };
    Ok(match kind {
        b'+' => single("ok", Value::String(lua.create_string(line)?))?,
        b'-' => {
            let t = lua.create_table()?;
            t.set("err", lua_error_message(&format!("-{}", text())))?;
            t.set("ignore_error_stats_update", true)?;
            Value::Table(t)
        }
        b':' => Value::Number(number()? as f64),
        b'$' | b'=' => {
            let len = number()?;
            if len < 0 {
                return Ok(Value::Boolean(false));
            }
            let len = len as usize;
            let data = buf.get(*pos..*pos + len).ok_or_else(bad)?;
            *pos += len + 2;
            if kind == b'=' {
                let t = lua.create_table()?;
                let (format, body) = if data.len() >= 4 {
                    (&data[..3], &data[4..])
                } else {
                    (&b"txt"[..], data)
                };
                t.set("format", lua.create_string(format)?)?;
                t.set("string", lua.create_string(body)?)?;
                single("verbatim_string", Value::Table(t))?
            } else {
                Value::String(lua.create_string(data)?)
            }
        }
        b'*' | b'>' => {
            let len = number()?;
            if len < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table()?;
            for i in 1..=len {
                t.raw_set(i, resp_to_lua(lua, buf, pos, depth + 1)?)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let len = number()?;
            let m = lua.create_table()?;
            for _ in 0..len.max(0) {
                let k = resp_to_lua(lua, buf, pos, depth + 1)?;
                let v = resp_to_lua(lua, buf, pos, depth + 1)?;
                m.raw_set(k, v)?;
            }
            single("map", Value::Table(m))?
        }
        b'~' => {
            let len = number()?;
            let s = lua.create_table()?;
            for _ in 0..len.max(0) {
                let k = resp_to_lua(lua, buf, pos, depth + 1)?;
                s.raw_set(k, true)?;
            }
            single("set", Value::Table(s))?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(line == b"t"),
        b',' => {
            let d = match line {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                _ => std::str::from_utf8(line)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN),
            };
            single("double", Value::Number(d))?
        }
        b'(' => single("big_number", Value::String(lua.create_string(line)?))?,
        _ => return Err(bad()),
    })
}

/// A command error as a script sees it: `CODE message` (Redis prefixes `ERR`
/// An error's text as a script sees it, built as Redis's `luaPushErrorBuff`
/// builds it: from `-CODE message` the code and message (a text with no
/// space gets `ERR`), and from a bare message `ERR message`.
fn lua_error_message(text: &str) -> String {
    match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => format!("{code} {}", msg.trim_end_matches(['\r', '\n'])),
            None => format!("ERR {}", rest.trim_end_matches(['\r', '\n'])),
        },
        None => format!("ERR {}", text.trim_end_matches(['\r', '\n'])),
    }
}

/// `{err = ...}` for `text`, as [`lua_error_message`] reads it.
fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("err", lua_error_message(text))?;
    Ok(t)
}

fn single_string(args: &MultiValue) -> Option<String> {
    match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => Some(s.to_string_lossy().to_string()),
        _ => None,
    }
}

fn string_array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// `(long long)` of a Lua number as x86-64 computes it: truncation, and
/// the "integer indefinite" value for NaN and out-of-range numbers.
fn lua_number_to_int(n: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// `%.17g`, as Redis turns a Lua number into a command argument.
fn format_g17(n: f64) -> String {
    c_format(n, b"%.17g\0")
}

/// `%.14g`, Lua 5.1's own number-to-string format.
pub(super) fn format_number(n: f64) -> String {
    c_format(n, b"%.14g\0")
}

/// `n` through C's `snprintf` with `format` (NUL-terminated, one double).
pub(super) fn c_format(n: f64, format: &[u8]) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: `format` is NUL-terminated and takes one double; snprintf
    // writes at most `buf.len()` bytes including the terminator.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr().cast(),
            buf.len(),
            format.as_ptr().cast(),
            n,
        )
    };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The text of a Lua error (the message, without mlua's traceback).
fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// Error and status texts may not carry line breaks (they would end the reply).
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Lowercase hex SHA-1, as script names are.
pub fn sha1_hex(data: &[u8]) -> String {
    tandem_storage::digest::to_hex(&sha1_smol::Sha1::from(data).digest().bytes())
}

fn redis_version_num() -> i64 {
    let mut parts = crate::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags_parse_as_redis_does() {
        assert_eq!(split_shebang(b"return 1").unwrap().0, None);
        let (flags, rest) = split_shebang(b"#!lua flags=no-writes\nreturn 1").unwrap();
        assert_eq!(
            flags,
            Some(ShebangFlags {
                no_writes: true,
                allow_oom: false
            })
        );
        assert_eq!(rest, b"\nreturn 1");
        assert!(split_shebang(b"#!python\n").is_err());
        assert!(split_shebang(b"#!lua").is_err());
        assert!(split_shebang(b"#!lua flags=bogus\n").is_err());
    }

    #[test]
    fn numbers_format_like_c() {
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_number(0.1), "0.1");
    }

    #[test]
    fn error_texts_get_a_code() {
        assert_eq!(
            lua_error_message("-WRONGTYPE Operation\r\n"),
            "WRONGTYPE Operation"
        );
        assert_eq!(lua_error_message("-BUSYKEY"), "ERR BUSYKEY");
        assert_eq!(lua_error_message("Unknown command"), "ERR Unknown command");
    }
}
