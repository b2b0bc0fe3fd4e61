//! The libraries a Redis script sees beyond Lua's own: `bit` (LuaBitOp's
//! API), `cjson`, Redis's deterministic `math.random`, and the way their
//! Rust bodies raise Lua errors.
//!
//! A Rust function cannot raise a plain Lua error through mlua (its errors
//! arrive in Lua as opaque objects with a traceback), so every library
//! function here is wrapped in a small C trampoline ([`lib_function`]): the
//! Rust body answers `(true, results...)` or `(false, kind, message)`, and
//! the trampoline raises the failure as Redis's C code would, either as
//! `{err = "ERR message"}` (the Redis API's `luaPushError`) or as a string
//! carrying the caller's position (`luaL_error`).

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlua::{ffi, Function, Lua, MultiValue, Table, Value};

/// How a library function fails.
#[derive(Debug)]
pub(super) enum Raise {
    /// Raised as the table `{err = "ERR <message>"}` (Redis API functions).
    Redis(String),
    /// Raised as `"<script>:<line>: <message>"` (Lua libraries' `luaL_error`).
    Lua(String),
}

pub(super) type LibResult = Result<MultiValue, Raise>;

/// Status markers the trampoline reads from the Rust body's first result.
const RAISE_REDIS: &str = "redis";

/// Calls upvalue 1 (the Rust body) with this call's arguments and turns a
/// `(false, kind, message)` answer into the Lua error it stands for.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    if ffi::lua_checkstack(state, 4) == 0 {
        return ffi::luaL_error(state, c"stack overflow".as_ptr());
    }
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    let results = ffi::lua_gettop(state);
    if results >= 1 && ffi::lua_toboolean(state, 1) != 0 {
        return results - 1;
    }
    // (false, kind, message)
    let redis_kind = ffi::lua_type(state, 2) == ffi::LUA_TSTRING && {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(state, 2, &mut len);
        !p.is_null() && std::slice::from_raw_parts(p.cast::<u8>(), len) == RAISE_REDIS.as_bytes()
    };
    if redis_kind {
        ffi::lua_createtable(state, 0, 1);
        ffi::lua_pushstring(state, c"err".as_ptr());
        ffi::lua_pushvalue(state, 3);
        ffi::lua_settable(state, -3);
        ffi::lua_error(state)
    } else {
        ffi::luaL_where(state, 1);
        ffi::lua_pushvalue(state, 3);
        ffi::lua_concat(state, 2);
        ffi::lua_error(state)
    }
}

/// A Lua function running `body`, whose failures raise as [`Raise`] says.
pub(super) fn lib_function<F>(lua: &Lua, body: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> LibResult + Send + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        let mut out = MultiValue::new();
        match body(lua, args) {
            Ok(values) => {
                out.push_back(Value::Boolean(true));
                out.extend(values);
            }
            Err(raise) => {
                let (kind, message) = match raise {
                    Raise::Redis(m) => (RAISE_REDIS, format!("ERR {m}")),
                    Raise::Lua(m) => ("lua", m),
                };
                out.push_back(Value::Boolean(false));
                out.push_back(Value::String(lua.create_string(kind)?));
                out.push_back(Value::String(lua.create_string(message)?));
            }
        }
        Ok(out)
    })?;
    // SAFETY: the closure takes the one value `exec_raw` pushed (the Rust
    // body) as its upvalue and leaves the closure as the only result.
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// Results from a list of values.
pub(super) fn values<const N: usize>(items: [Value; N]) -> LibResult {
    Ok(MultiValue::from_iter(items))
}

/// Lua's type name of a value, as error messages print it.
pub(super) fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None | Some(Value::Nil) => "no value",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Number(_)) | Some(Value::Integer(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::LightUserData(_)) => "userdata",
        Some(Value::UserData(_)) => "userdata",
        Some(Value::Thread(_)) => "thread",
        _ => "userdata",
    }
}

/// A number as Lua's `tonumber` reads a string (decimal or hex).
pub(super) fn string_to_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if negative { -v } else { v });
    }
    // Decimal, and strtod's inf and nan, which Lua 5.1 keeps.
    t.parse::<f64>().ok()
}

/// `luaL_checknumber`: argument `index` (0-based) of `func` as a number.
pub(super) fn check_number(args: &MultiValue, index: usize, func: &str) -> Result<f64, Raise> {
    let value = args.get(index);
    let number = match value {
        Some(Value::Number(n)) => Some(*n),
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::String(s)) => s.to_str().ok().and_then(|s| string_to_number(&s)),
        _ => None,
    };
    number.ok_or_else(|| {
        Raise::Lua(format!(
            "bad argument #{} to '{func}' (number expected, got {})",
            index + 1,
            type_name(value)
        ))
    })
}

/// `luaL_checkint`.
pub(super) fn check_int(args: &MultiValue, index: usize, func: &str) -> Result<i64, Raise> {
    check_number(args, index, func).map(|n| n as i64)
}

// ---- math.random ----------------------------------------------------------

/// Redis's `rand48` state before any `math.randomseed`.
pub(super) const RAND48_INITIAL: u64 = 0x1234_ABCD_330E;
const RAND48_MASK: u64 = (1 << 48) - 1;

/// One step of `rand48`: the top 31 of the 48 state bits.
pub(super) fn rand48_next(state: &AtomicU64) -> u64 {
    let x = state.load(Ordering::Relaxed);
    let next = x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & RAND48_MASK;
    state.store(next, Ordering::Relaxed);
    next >> 17
}

/// Replaces `math.random` and `math.randomseed` with Redis's: a script's
/// random numbers depend only on the seed, the same on every node.
pub(super) fn install_random(lua: &Lua, math: &Table) -> mlua::Result<()> {
    let state = Arc::new(AtomicU64::new(RAND48_INITIAL));
    let rng = state.clone();
    math.set(
        "random",
        lib_function(lua, move |_, args| {
            let r = (rand48_next(&rng) % i32::MAX as u64) as f64 / i32::MAX as f64;
            let n = match args.len() {
                0 => r,
                1 => {
                    let u = check_int(&args, 0, "random")?;
                    if u < 1 {
                        return Err(Raise::Lua(
                            "bad argument #1 to 'random' (interval is empty)".into(),
                        ));
                    }
                    (r * u as f64).floor() + 1.0
                }
                2 => {
                    let l = check_int(&args, 0, "random")?;
                    let u = check_int(&args, 1, "random")?;
                    if l > u {
                        return Err(Raise::Lua(
                            "bad argument #2 to 'random' (interval is empty)".into(),
                        ));
                    }
                    (r * (u - l + 1) as f64).floor() + l as f64
                }
                _ => return Err(Raise::Lua("wrong number of arguments".into())),
            };
            values([Value::Number(n)])
        })?,
    )?;
    math.set(
        "randomseed",
        lib_function(lua, move |_, args| {
            let seed = check_int(&args, 0, "randomseed")? as i32 as u32 as u64;
            state.store((seed << 16) | 0x330E, Ordering::Relaxed);
            values([])
        })?,
    )?;
    Ok(())
}

// ---- bit ------------------------------------------------------------------

/// LuaBitOp's normalisation: the low 32 bits of the number, signed.
fn tobit(v: f64) -> i32 {
    // LuaBitOp adds 2^52+2^51 to read the low word; rounding to nearest even
    // then wrapping gives the same bits.
    let v = v.round_ties_even();
    if !v.is_finite() {
        return 0;
    }
    (v.rem_euclid(4_294_967_296.0) as u64 as u32) as i32
}

fn bit_arg(args: &MultiValue, index: usize, func: &str) -> Result<i32, Raise> {
    check_number(args, index, func).map(tobit)
}

fn bit_result(v: i32) -> LibResult {
    values([Value::Number(f64::from(v))])
}

/// The `bit` table: tobit, tohex, bnot, band, bor, bxor, lshift, rshift,
/// arshift, rol, ror, bswap.
pub(super) fn bit_library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "tobit",
        lib_function(lua, |_, a| bit_result(bit_arg(&a, 0, "tobit")?))?,
    )?;
    t.set(
        "bnot",
        lib_function(lua, |_, a| bit_result(!bit_arg(&a, 0, "bnot")?))?,
    )?;
    type Fold = fn(i32, i32) -> i32;
    let folds: [(&'static str, Fold); 3] = [
        ("band", |x, y| x & y),
        ("bor", |x, y| x | y),
        ("bxor", |x, y| x ^ y),
    ];
    for (name, op) in folds {
        t.set(
            name,
            lib_function(lua, move |_, a| {
                let mut acc = bit_arg(&a, 0, name)?;
                for i in 1..a.len() {
                    acc = op(acc, bit_arg(&a, i, name)?);
                }
                bit_result(acc)
            })?,
        )?;
    }
    type Shift = fn(i32, u32) -> i32;
    let shifts: [(&'static str, Shift); 5] = [
        ("lshift", |x, n| ((x as u32) << n) as i32),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| (x as u32).rotate_left(n) as i32),
        ("ror", |x, n| (x as u32).rotate_right(n) as i32),
    ];
    for (name, op) in shifts {
        t.set(
            name,
            lib_function(lua, move |_, a| {
                let x = bit_arg(&a, 0, name)?;
                let n = bit_arg(&a, 1, name)? as u32 & 31;
                bit_result(op(x, n))
            })?,
        )?;
    }
    t.set(
        "bswap",
        lib_function(lua, |_, a| {
            bit_result((bit_arg(&a, 0, "bswap")? as u32).swap_bytes() as i32)
        })?,
    )?;
    t.set(
        "tohex",
        lib_function(lua, |lua, a| {
            let x = bit_arg(&a, 0, "tohex")? as u32;
            let n = if matches!(a.get(1), None | Some(Value::Nil)) {
                8
            } else {
                bit_arg(&a, 1, "tohex")?
            };
            let width = n.unsigned_abs().min(8) as usize;
            let full = if n < 0 {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            let text = lua
                .create_string(&full[8 - width..])
                .map_err(|e| Raise::Lua(e.to_string()))?;
            values([Value::String(text)])
        })?,
    )?;
    Ok(t)
}

// ---- cjson ----------------------------------------------------------------

/// lua-cjson's settings, changed by the `cjson.encode_*` / `decode_*`
/// calls; they last as long as the interpreter, as in Redis.
#[derive(Clone, Copy, Debug)]
struct JsonConfig {
    encode_max_depth: i64,
    decode_max_depth: i64,
    /// 0 = refuse NaN and Inf, 1 = write `NaN` / `Infinity`, 2 = write `null`.
    encode_invalid_numbers: i64,
    decode_invalid_numbers: i64,
    encode_number_precision: i64,
    encode_keep_buffer: i64,
    sparse_convert: i64,
    sparse_ratio: i64,
    sparse_safe: i64,
}

impl Default for JsonConfig {
    fn default() -> Self {
        JsonConfig {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: 1,
            encode_number_precision: 14,
            encode_keep_buffer: 1,
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
        }
    }
}

type SharedJsonConfig = Arc<parking_lot::Mutex<JsonConfig>>;

/// One `cjson.*` settings call: reads (and with arguments sets) the config.
type JsonSetting = fn(&Lua, &[Value], &mut JsonConfig) -> LibResult;

/// A lua-cjson integer setting: sets it from argument `index` when given
/// (within `min..=max`), and returns its value.
fn json_integer_option(
    args: &[Value],
    index: usize,
    setting: &mut i64,
    min: i64,
    max: i64,
) -> Result<Value, Raise> {
    match args.get(index) {
        None | Some(Value::Nil) => {}
        Some(v) => {
            let n = match v {
                Value::Integer(n) => Some(*n),
                Value::Number(n) => Some(*n as i64),
                Value::String(s) => s
                    .to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .map(|n| n as i64),
                _ => None,
            };
            match n {
                Some(n) if (min..=max).contains(&n) => *setting = n,
                Some(_) => {
                    return Err(Raise::Lua(format!(
                        "bad argument #{} to '?' (expected integer between {min} and {max})",
                        index + 1
                    )))
                }
                None => {
                    return Err(Raise::Lua(format!(
                        "bad argument #{} to '?' (number expected, got {})",
                        index + 1,
                        type_name(Some(v))
                    )))
                }
            }
        }
    }
    Ok(Value::Integer(*setting))
}

/// A lua-cjson on/off setting (`true`, `false`, or a name of `options`,
/// whose index is stored); returns it as a boolean or that name.
fn json_enum_option(
    lua: &Lua,
    args: &[Value],
    index: usize,
    setting: &mut i64,
    options: &[&str],
) -> Result<Value, Raise> {
    match args.get(index) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = i64::from(*b),
        Some(Value::String(s)) => {
            let text = s.to_string_lossy();
            match options.iter().position(|o| *o == text) {
                Some(i) => *setting = i as i64,
                None => {
                    return Err(Raise::Lua(format!(
                        "bad argument #{} to '?' (invalid option '{text}')",
                        index + 1
                    )))
                }
            }
        }
        Some(Value::Integer(n)) => {
            return Err(Raise::Lua(format!(
                "bad argument #{} to '?' (invalid option '{n}')",
                index + 1
            )))
        }
        Some(Value::Number(n)) => {
            return Err(Raise::Lua(format!(
                "bad argument #{} to '?' (invalid option '{}')",
                index + 1,
                super::format_number(*n)
            )))
        }
        Some(other) => {
            return Err(Raise::Lua(format!(
                "bad argument #{} to '?' (string expected, got {})",
                index + 1,
                type_name(Some(other))
            )))
        }
    }
    Ok(match *setting {
        0 => Value::Boolean(false),
        1 => Value::Boolean(true),
        i => Value::String(
            lua.create_string(options[i as usize])
                .map_err(|e| Raise::Lua(e.to_string()))?,
        ),
    })
}

/// The `cjson` table: encode, decode, null, and lua-cjson's settings.
pub(super) fn cjson_library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let null = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
    t.set("null", null.clone())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    let config: SharedJsonConfig = Arc::default();
    let encoding = config.clone();
    t.set(
        "encode",
        lib_function(lua, move |lua, args| {
            if args.len() != 1 {
                return Err(Raise::Lua(
                    "bad argument #1 to 'encode' (expected 1 argument)".into(),
                ));
            }
            let config = *encoding.lock();
            let mut out = Vec::new();
            encode_json(&config, args.front().unwrap_or(&Value::Nil), 0, &mut out)?;
            let s = lua
                .create_string(&out)
                .map_err(|e| Raise::Lua(e.to_string()))?;
            values([Value::String(s)])
        })?,
    )?;
    let decoding = config.clone();
    t.set(
        "decode",
        lib_function(lua, move |lua, args| {
            if args.len() != 1 {
                return Err(Raise::Lua(
                    "bad argument #1 to 'decode' (expected 1 argument)".into(),
                ));
            }
            let bytes = match args.front() {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(Value::Number(n)) => super::format_number(*n).into_bytes(),
                other => {
                    return Err(Raise::Lua(format!(
                        "bad argument #1 to 'decode' (string expected, got {})",
                        type_name(other)
                    )))
                }
            };
            let mut parser = JsonParser {
                lua,
                text: &bytes,
                pos: 0,
                config: *decoding.lock(),
            };
            let value = parser.document()?;
            values([value])
        })?,
    )?;
    let settings: [(&str, JsonSetting); 7] = [
        ("encode_keep_buffer", |lua, a, c| {
            values([json_enum_option(
                lua,
                a,
                0,
                &mut c.encode_keep_buffer,
                &["off", "on"],
            )?])
        }),
        ("encode_max_depth", |_, a, c| {
            values([json_integer_option(
                a,
                0,
                &mut c.encode_max_depth,
                1,
                i64::from(i32::MAX),
            )?])
        }),
        ("decode_max_depth", |_, a, c| {
            values([json_integer_option(
                a,
                0,
                &mut c.decode_max_depth,
                1,
                i64::from(i32::MAX),
            )?])
        }),
        ("encode_number_precision", |_, a, c| {
            values([json_integer_option(
                a,
                0,
                &mut c.encode_number_precision,
                1,
                14,
            )?])
        }),
        ("encode_sparse_array", |lua, a, c| {
            let convert = json_enum_option(lua, a, 0, &mut c.sparse_convert, &["off", "on"])?;
            let ratio = json_integer_option(a, 1, &mut c.sparse_ratio, 0, i64::from(i32::MAX))?;
            let safe = json_integer_option(a, 2, &mut c.sparse_safe, 0, i64::from(i32::MAX))?;
            values([convert, ratio, safe])
        }),
        ("encode_invalid_numbers", |lua, a, c| {
            values([json_enum_option(
                lua,
                a,
                0,
                &mut c.encode_invalid_numbers,
                &["off", "on", "null"],
            )?])
        }),
        ("decode_invalid_numbers", |lua, a, c| {
            values([json_enum_option(
                lua,
                a,
                0,
                &mut c.decode_invalid_numbers,
                &["off", "on"],
            )?])
        }),
    ];
    for (name, setting) in settings {
        let config = config.clone();
        t.set(
            name,
            lib_function(lua, move |lua, args| {
                let args: Vec<Value> = args.into_iter().collect();
                setting(lua, &args, &mut config.lock())
            })?,
        )?;
    }
    Ok(t)
}

fn json_exception(value: &Value, reason: &str) -> Raise {
    Raise::Lua(format!(
        "Cannot serialise {}: {reason}",
        type_name(Some(value))
    ))
}

fn encode_json(
    config: &JsonConfig,
    value: &Value,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), Raise> {
    match value {
        Value::String(s) => encode_json_string(&s.as_bytes(), out),
        Value::Number(n) => encode_json_number(config, *n, value, out)?,
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth as i64 > config.encode_max_depth {
                return Err(Raise::Lua(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            match json_array_length(config, t, value)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i).unwrap_or(Value::Nil);
                        encode_json(config, &item, depth, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, v) = pair.map_err(|e| Raise::Lua(e.to_string()))?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::Number(n) => {
                                out.push(b'"');
                                encode_json_number(config, *n, &k, out)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::Integer(n) => {
                                out.push(b'"');
                                out.extend_from_slice(n.to_string().as_bytes());
                                out.extend_from_slice(b"\":");
                            }
                            Value::String(s) => {
                                encode_json_string(&s.as_bytes(), out);
                                out.push(b':');
                            }
                            other => {
                                return Err(json_exception(
                                    other,
                                    "table key must be a number or string",
                                ))
                            }
                        }
                        encode_json(config, &v, depth, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(json_exception(other, "type not supported")),
    }
    Ok(())
}

/// `Some(max index)` for a table whose keys are all positive integers (and
/// not excessively sparse), `None` for an object.
fn json_array_length(
    config: &JsonConfig,
    t: &Table,
    value: &Value,
) -> Result<Option<usize>, Raise> {
    let mut max = 0f64;
    let mut items = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| Raise::Lua(e.to_string()))?;
        let k = match k {
            Value::Number(n) => n,
            Value::Integer(n) => n as f64,
            _ => return Ok(None),
        };
        if k.floor() != k || k < 1.0 {
            return Ok(None);
        }
        max = max.max(k);
        items += 1;
    }
    let ratio = config.sparse_ratio as f64;
    if ratio > 0.0 && max > items as f64 * ratio && max > config.sparse_safe as f64 {
        if config.sparse_convert == 0 {
            return Err(json_exception(value, "excessively sparse array"));
        }
        return Ok(None);
    }
    Ok(Some(max as usize))
}

fn encode_json_number(
    config: &JsonConfig,
    n: f64,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), Raise> {
    if !n.is_finite() {
        match config.encode_invalid_numbers {
            0 => return Err(json_exception(value, "must not be NaN or Inf")),
            // As printf spells them (Redis's build does not use the
            // JavaScript names).
            1 if n.is_nan() => out.extend_from_slice(b"nan"),
            1 if n < 0.0 => out.extend_from_slice(b"-inf"),
            1 => out.extend_from_slice(b"inf"),
            _ => out.extend_from_slice(b"null"),
        }
        return Ok(());
    }
    let format = format!("%.{}g\0", config.encode_number_precision);
    out.extend_from_slice(super::c_format(n, format.as_bytes()).as_bytes());
    Ok(())
}

fn encode_json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

struct JsonParser<'a> {
    lua: &'a Lua,
    text: &'a [u8],
    pos: usize,
    config: JsonConfig,
}

impl JsonParser<'_> {
    fn fail(&self, expected: &str) -> Raise {
        let found = match self.text.get(self.pos) {
            None => "T_END".to_string(),
            Some(_) => "invalid token".to_string(),
        };
        Raise::Lua(format!(
            "Expected {expected} but found {found} at character {}",
            self.pos + 1
        ))
    }

    fn lua_err(e: mlua::Error) -> Raise {
        Raise::Lua(e.to_string())
    }

    fn skip_ws(&mut self) {
        while matches!(self.text.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn document(&mut self) -> Result<Value, Raise> {
        let value = self.value(0)?;
        self.skip_ws();
        if self.pos < self.text.len() {
            return Err(self.fail("the end"));
        }
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Value, Raise> {
        self.skip_ws();
        match self.text.get(self.pos) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value::String(
                    self.lua.create_string(&s).map_err(Self::lua_err)?,
                ))
            }
            Some(b't') if self.text[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.text[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.text[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(Value::LightUserData(mlua::LightUserData(
                    std::ptr::null_mut(),
                )))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'i' | b'I' | b'n' | b'N') if self.config.decode_invalid_numbers != 0 => {
                self.number()
            }
            _ => Err(self.fail("value")),
        }
    }

    fn number(&mut self) -> Result<Value, Raise> {
        let start = self.pos;
        // With decode_invalid_numbers, `inf`, `nan` and `infinity` (any
        // case, signed) are numbers too, as strtod reads them.
        let word = |text: &[u8], at: usize| {
            let rest = text.get(at..).unwrap_or_default();
            ["infinity", "inf", "nan"]
                .iter()
                .find(|w| {
                    rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes())
                })
                .map(|w| w.len())
        };
        if self.config.decode_invalid_numbers != 0 {
            let sign = usize::from(matches!(self.text.get(self.pos), Some(b'-' | b'+')));
            if let Some(len) = word(self.text, self.pos + sign) {
                let negative = self.text.get(self.pos) == Some(&b'-');
                let nan = self.text[self.pos + sign].eq_ignore_ascii_case(&b'n');
                self.pos += sign + len;
                let n = match (nan, negative) {
                    (true, _) => f64::NAN,
                    (false, true) => f64::NEG_INFINITY,
                    (false, false) => f64::INFINITY,
                };
                return Ok(Value::Number(n));
            }
        }
        while matches!(
            self.text.get(self.pos),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.text[start..self.pos])
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Value::Number)
            .ok_or_else(|| {
                self.pos = start;
                self.fail("value")
            })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }

    fn string(&mut self) -> Result<Vec<u8>, Raise> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.text.get(self.pos) {
                None => {
                    self.pos = start;
                    return Err(self.fail("value"));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(&escape) = self.text.get(self.pos) else {
                        continue;
                    };
                    self.pos += 1;
                    match escape {
                        b'"' | b'\\' | b'/' => out.push(escape),
                        b'b' => out.push(b'\x08'),
                        b'f' => out.push(b'\x0c'),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let Some(mut code) = self.hex4() else {
                                self.pos = start;
                                return Err(self.fail("value"));
                            };
                            if (0xD800..0xDC00).contains(&code)
                                && self.text[self.pos..].starts_with(b"\\u")
                            {
                                self.pos += 2;
                                if let Some(low) = self.hex4() {
                                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                                }
                            }
                            let c = char::from_u32(code).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.pos = start;
                            return Err(self.fail("value"));
                        }
                    }
                }
                Some(&b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), Raise> {
        if depth as i64 > self.config.decode_max_depth {
            return Err(Raise::Lua(format!(
                "Found too many nested data structures ({depth}) at character {}",
                self.pos + 1
            )));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Value, Raise> {
        self.check_depth(depth)?;
        self.pos += 1;
        let t = self.lua.create_table().map_err(Self::lua_err)?;
        self.skip_ws();
        if self.text.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1;
        loop {
            let v = self.value(depth)?;
            t.raw_set(i, v).map_err(Self::lua_err)?;
            i += 1;
            self.skip_ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.fail("comma or array end")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Raise> {
        self.check_depth(depth)?;
        self.pos += 1;
        let t = self.lua.create_table().map_err(Self::lua_err)?;
        self.skip_ws();
        if self.text.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.skip_ws();
            if self.text.get(self.pos) != Some(&b'"') {
                return Err(self.fail("object key string"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.text.get(self.pos) != Some(&b':') {
                return Err(self.fail("colon"));
            }
            self.pos += 1;
            let v = self.value(depth)?;
            let key = self.lua.create_string(&key).map_err(Self::lua_err)?;
            t.raw_set(key, v).map_err(Self::lua_err)?;
            self.skip_ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.fail("comma or object end")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_wraps_like_luabitop() {
        assert_eq!(tobit(4_294_967_295.0), -1);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2_147_483_648.0), i32::MIN);
        assert_eq!(tobit(5.0), 5);
    }

    #[test]
    fn rand48_matches_the_c_library() {
        // Seeded as srand48(seed) seeds: the high 32 bits, then 0x330E.
        for seed in [0i64, 1, 42, 123_456] {
            let state = AtomicU64::new(((seed as u64 & 0xFFFF_FFFF) << 16) | 0x330E);
            // SAFETY: srand48/lrand48 only touch libc's own static state.
            unsafe { libc::srand48(seed as libc::c_long) };
            for _ in 0..5 {
                let theirs = unsafe { libc::lrand48() } as u64;
                assert_eq!(rand48_next(&state), theirs);
            }
        }
    }

    #[test]
    fn json_strings_escape_as_cjson_does() {
        let mut out = Vec::new();
        encode_json_string(b"a\"/\\\n\x01\x7f", &mut out);
        assert_eq!(out, b"\"a\\\"\\/\\\\\\n\\u0001\\u007f\"".to_vec());
    }
}
