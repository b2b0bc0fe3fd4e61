//! The binary-data libraries Redis 7.0 bundles for scripts: `cmsgpack`
//! (MessagePack, lua-cmsgpack 0.4.0) and `struct` (Roberto Ierusalimschy's
//! struct library as Redis patches it).
//!
//! Scripts store and compare the bytes these produce, so every encoding
//! choice follows Redis's build on x86-64: integral numbers pack as the
//! smallest MessagePack integer, other numbers as float32 when that is exact,
//! tables as arrays only when their keys are exactly `1..n`, and C's
//! out-of-range float-to-integer conversions give what the CPU gives.
//!
//! Both libraries can take and return thousands of values, more than mlua
//! can hold as references at once, so their functions go through their own
//! C trampoline ([`spread_function`]): it hands the Rust body its arguments
//! as one table and pushes the results the body leaves in another. The body
//! also counts the C stack slots Redis's code would use and fails where it
//! would, with the same messages.

use std::ffi::c_int;

use mlua::{ffi, Function, Lua, MultiValue, Table, Value};

use super::libs::string_to_number;

/// `LUAI_MAXCSTACK`: the most stack slots one C function may use.
const MAX_C_STACK: usize = 8000;

/// How deep `cmsgpack.pack` follows nested tables before packing `nil`.
const MAX_NESTING: usize = 16;

/// How a library function fails.
#[derive(Debug)]
enum Throw {
    /// A `luaL_error`: the message after the calling script's position.
    Located(Vec<u8>),
    /// A Lua runtime error raised inside C code: the message alone.
    Bare(Vec<u8>),
    /// A `luaL_argerror`: "bad argument #n to 'name' (message)", the name
    /// (and, for method calls, the number) as the call site gives them.
    Arg(usize, Vec<u8>),
}

fn arg_error(index: usize, message: impl Into<Vec<u8>>) -> Throw {
    Throw::Arg(index, message.into())
}

fn located(message: impl Into<Vec<u8>>) -> Throw {
    Throw::Located(message.into())
}

fn lua_failure(e: mlua::Error) -> Throw {
    located(e.to_string())
}

/// One call's arguments, kept in a Lua table.
struct Args {
    table: Table,
    len: usize,
}

impl Args {
    /// Argument `index` (1-based); `None` past the last one.
    fn get(&self, index: usize) -> Option<Value> {
        if index > self.len {
            return None;
        }
        Some(exact(&self.table, index).unwrap_or(Value::Nil))
    }
}

/// `t[index]` without mlua's rounding: it reads a number within
/// `f64::EPSILON` of an integer (such as 1e-300) as that integer.
fn exact(t: &Table, index: usize) -> mlua::Result<Value> {
    match t.raw_get(index)? {
        Value::Integer(_) => t.raw_get::<f64>(index).map(Value::Number),
        other => Ok(other),
    }
}

/// Registry key of the Lua function listing a table's entries.
const ENTRIES_KEY: &str = "tandem_cmsgpack_entries";

/// A table's keys and values in `next` order, as `{k1, v1, k2, v2, ...}`
/// (read back with [`exact`], so numbers keep every bit).
const ENTRIES_SOURCE: &str = r#"
local next = next
return function(t)
  local out, n = {}, 0
  local k, v = next(t)
  while k ~= nil do
    out[n + 1], out[n + 2] = k, v
    n = n + 2
    k, v = next(t, k)
  end
  return out, n
end
"#;

/// A table's entries: `(keys and values, 2 * count)`.
fn entries(lua: &Lua, t: &Table) -> Result<(Table, usize), Throw> {
    let list: Function = lua.named_registry_value(ENTRIES_KEY).map_err(lua_failure)?;
    list.call(t).map_err(lua_failure)
}

/// One call's results, kept in a Lua table (nil results leave holes).
struct Out {
    table: Table,
    len: usize,
}

impl Out {
    fn set(&mut self, index: usize, value: Value) -> Result<(), Throw> {
        self.table.raw_set(index, value).map_err(lua_failure)?;
        self.len = self.len.max(index);
        Ok(())
    }

    fn push(&mut self, value: Value) -> Result<(), Throw> {
        self.set(self.len + 1, value)
    }
}

type Body = fn(&Lua, &Args, &mut Out) -> Result<(), Throw>;

/// Status markers the trampoline reads for [`Throw::Bare`] and
/// [`Throw::Arg`] failures.
const THROW_BARE: &[u8] = b"bare";
const THROW_ARG: &[u8] = b"arg";

/// Passes this call's arguments to upvalue 1 (the Rust body) as a table,
/// then either pushes the results it answers `(true, results, count)` or
/// raises the failure it answers `(false, kind, message, argument)`.
unsafe extern "C-unwind" fn spread_trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    if ffi::lua_checkstack(state, 4) == 0 {
        return ffi::luaL_error(state, c"stack overflow".as_ptr());
    }
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_createtable(state, nargs, 0);
    for i in 1..=nargs {
        ffi::lua_pushvalue(state, i);
        ffi::lua_rawseti(state, -2, ffi::lua_Integer::from(i));
    }
    ffi::lua_pushnumber(state, f64::from(nargs));
    ffi::lua_call(state, 2, 4);
    let (status, second, third, fourth) = (nargs + 1, nargs + 2, nargs + 3, nargs + 4);
    if ffi::lua_toboolean(state, status) != 0 {
        let count = ffi::lua_tonumber(state, third);
        ffi::lua_pushvalue(state, second);
        ffi::lua_replace(state, 1);
        ffi::lua_settop(state, 1);
        let count = if count > 0.0 && count < f64::from(c_int::MAX) {
            count as c_int
        } else {
            0
        };
        if ffi::lua_checkstack(state, count) == 0 {
            return ffi::luaL_error(state, c"too many results".as_ptr());
        }
        for i in 1..=count {
            ffi::lua_rawgeti(state, 1, ffi::lua_Integer::from(i));
        }
        return count;
    }
    let mut len = 0usize;
    let p = ffi::lua_tolstring(state, second, &mut len);
    let kind: &[u8] = if p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    };
    if kind == THROW_ARG {
        let narg = ffi::lua_tonumber(state, fourth) as c_int;
        let message = ffi::lua_tolstring(state, third, std::ptr::null_mut());
        return ffi::luaL_argerror(state, narg, message);
    }
    if kind == THROW_BARE {
        ffi::lua_pushvalue(state, third);
    } else {
        ffi::luaL_where(state, 1);
        ffi::lua_pushvalue(state, third);
        ffi::lua_concat(state, 2);
    }
    ffi::lua_error(state)
}

/// A Lua (C) function running `body` through [`spread_trampoline`].
fn spread_function(lua: &Lua, body: Body) -> mlua::Result<Function> {
    let inner = lua.create_function(move |lua, (table, len): (Table, usize)| {
        let args = Args { table, len };
        let mut out = Out {
            table: lua.create_table()?,
            len: 0,
        };
        let mut reply = MultiValue::new();
        match body(lua, &args, &mut out) {
            Ok(()) => {
                reply.push_back(Value::Boolean(true));
                reply.push_back(Value::Table(out.table));
                reply.push_back(Value::Number(out.len as f64));
            }
            Err(throw) => {
                let (kind, message, narg) = match throw {
                    Throw::Located(m) => (&b"located"[..], m, 0),
                    Throw::Bare(m) => (THROW_BARE, m, 0),
                    Throw::Arg(n, m) => (THROW_ARG, m, n),
                };
                reply.push_back(Value::Boolean(false));
                reply.push_back(Value::String(lua.create_string(kind)?));
                reply.push_back(Value::String(lua.create_string(message)?));
                reply.push_back(Value::Number(narg as f64));
            }
        }
        Ok(reply)
    })?;
    // SAFETY: the closure takes the one value `exec_raw` pushed (the Rust
    // body) as its upvalue and leaves the closure as the only result.
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, spread_trampoline, 1);
        })
    }
}

// ---- argument checks (lauxlib's) --------------------------------------------

/// `luaL_typename`.
fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Number(_)) | Some(Value::Integer(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

fn type_error(args: &Args, index: usize, expected: &str) -> Throw {
    arg_error(
        index,
        format!(
            "{expected} expected, got {}",
            type_name(args.get(index).as_ref())
        ),
    )
}

/// `lua_tonumber`'s reading of a value, if it has one.
fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        // Lua parses the string as a C string: up to its first NUL.
        Value::String(s) => {
            let bytes = s.as_bytes();
            let text = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
            std::str::from_utf8(text).ok().and_then(string_to_number)
        }
        _ => None,
    }
}

/// `luaL_checknumber`.
fn check_number(args: &Args, index: usize) -> Result<f64, Throw> {
    args.get(index)
        .as_ref()
        .and_then(to_number)
        .ok_or_else(|| type_error(args, index, "number"))
}

/// `luaL_checkinteger`: the number truncated as C converts it.
fn check_integer(args: &Args, index: usize) -> Result<i64, Throw> {
    check_number(args, index).map(c_i64)
}

/// `luaL_optinteger`.
fn opt_integer(args: &Args, index: usize, default: i64) -> Result<i64, Throw> {
    match args.get(index) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => check_integer(args, index),
    }
}

/// `luaL_checklstring`: strings, and numbers as Lua prints them.
fn check_bytes(args: &Args, index: usize) -> Result<Vec<u8>, Throw> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Number(n)) => Ok(super::format_number(n).into_bytes()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        _ => Err(type_error(args, index, "string")),
    }
}

/// `(int64_t)d` as x86-64 computes it: out of range (or NaN) gives the
/// "integer indefinite" value, `i64::MIN`.
fn c_i64(d: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// `(int)d` as x86-64 computes it.
fn c_i32(d: f64) -> i32 {
    let t = d.trunc();
    if (-2_147_483_648.0..=2_147_483_647.0).contains(&t) {
        t as i32
    } else {
        i32::MIN
    }
}

/// `(uint64_t)d` as gcc compiles it for x86-64: below 2^63 (or NaN) a signed
/// conversion, above it a signed conversion of `d - 2^63` with the top bit
/// flipped.
fn c_u64(d: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO_63 {
        (c_i64(d - TWO_63) as u64) ^ (1 << 63)
    } else {
        c_i64(d) as u64
    }
}

fn string_value(lua: &Lua, bytes: &[u8]) -> Result<Value, Throw> {
    lua.create_string(bytes)
        .map(Value::String)
        .map_err(lua_failure)
}

// ---- cmsgpack ---------------------------------------------------------------

/// The `cmsgpack` table: pack, unpack, unpack_one, unpack_limit.
pub(super) fn cmsgpack_library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", spread_function(lua, mp_pack)?)?;
    t.set("unpack", spread_function(lua, mp_unpack)?)?;
    t.set("unpack_one", spread_function(lua, mp_unpack_one)?)?;
    t.set("unpack_limit", spread_function(lua, mp_unpack_limit)?)?;
    let list: Function = lua.load(ENTRIES_SOURCE).set_name("=cmsgpack").call(())?;
    lua.set_named_registry_value(ENTRIES_KEY, list)?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

fn mp_pack(lua: &Lua, args: &Args, out: &mut Out) -> Result<(), Throw> {
    if args.len == 0 {
        return Err(arg_error(0, "MessagePack pack needs input."));
    }
    // Redis reserves a stack slot per argument on top of the arguments.
    if args.len * 2 > MAX_C_STACK {
        return Err(arg_error(0, "Too many arguments for MessagePack pack."));
    }
    let mut bytes = Vec::new();
    for i in 1..=args.len {
        encode(lua, &args.get(i).unwrap_or(Value::Nil), 0, &mut bytes)?;
    }
    out.push(string_value(lua, &bytes)?)
}

/// One Lua value, tables nested `level` deep.
fn encode(lua: &Lua, value: &Value, level: usize, out: &mut Vec<u8>) -> Result<(), Throw> {
    match value {
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => encode_number(*n, out),
        Value::Integer(n) => encode_int(*n, out),
        Value::Table(t) if level < MAX_NESTING => encode_table(lua, t, level, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// Lua 5.1 numbers are doubles: integral ones (in `int64_t` range) pack as
/// integers, others as float32 when that loses nothing, else float64.
fn encode_number(n: f64, out: &mut Vec<u8>) {
    if c_i64(n) as f64 == n {
        encode_int(c_i64(n), out);
        return;
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_table(lua: &Lua, t: &Table, level: usize, out: &mut Vec<u8>) -> Result<(), Throw> {
    let (list, n) = entries(lua, t)?;
    if table_is_an_array(&list, n)? {
        let len = t.raw_len();
        encode_header(0x90, 0xdc, len, out);
        for j in 1..=len {
            let item = exact(t, j).map_err(lua_failure)?;
            encode(lua, &item, level + 1, out)?;
        }
        return Ok(());
    }
    encode_header(0x80, 0xde, n / 2, out);
    for i in (1..n).step_by(2) {
        let k = exact(&list, i).map_err(lua_failure)?;
        encode(lua, &k, level + 1, out)?;
        let v = exact(&list, i + 1).map_err(lua_failure)?;
        encode(lua, &v, level + 1, out)?;
    }
    Ok(())
}

/// An array or map header: `fix | n` up to 15, then 16- and 32-bit counts.
fn encode_header(fix: u8, wide: u8, n: usize, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// cmsgpack's test: every key a positive number that survives `(int)`, and
/// the largest equal to the count (so the keys are exactly `1..n`; the empty
/// table counts as an array).
fn table_is_an_array(list: &Table, n: usize) -> Result<bool, Throw> {
    let (mut count, mut max) = (0i32, 0i32);
    for i in (1..n).step_by(2) {
        let n = match exact(list, i).map_err(lua_failure)? {
            Value::Number(n) => n,
            Value::Integer(n) => n as f64,
            _ => return Ok(false),
        };
        if n <= 0.0 || f64::from(c_i32(n)) != n {
            return Ok(false);
        }
        if n > f64::from(max) {
            max = c_i32(n);
        }
        count = count.wrapping_add(1);
    }
    Ok(max == count)
}

fn mp_unpack(lua: &Lua, args: &Args, out: &mut Out) -> Result<(), Throw> {
    // The plain form leaves all its arguments on the stack.
    unpack_full(lua, args, out, 0, 0, args.len.max(1))
}

fn mp_unpack_one(lua: &Lua, args: &Args, out: &mut Out) -> Result<(), Throw> {
    let offset = opt_integer(args, 2, 0)?;
    unpack_full(lua, args, out, 1, offset, 1)
}

fn mp_unpack_limit(lua: &Lua, args: &Args, out: &mut Out) -> Result<(), Throw> {
    let limit = check_integer(args, 2)?;
    let offset = opt_integer(args, 3, 0)?;
    unpack_full(lua, args, out, limit, offset, 1)
}

/// Decodes up to `limit` values from `offset` (both 0: every value, with no
/// offset in the results); `base` is the stack slots the arguments take.
fn unpack_full(
    lua: &Lua,
    args: &Args,
    out: &mut Out,
    limit: i64,
    offset: i64,
    base: usize,
) -> Result<(), Throw> {
    let data = check_bytes(args, 1)?;
    let len = data.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // Redis prints the input length where the limit belongs.
        return Err(located(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(located(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let first = if decode_all { 1 } else { 2 };
    let mut decoder = Decoder {
        lua,
        data: &data,
        pos: offset as usize,
        path: lua.create_table().map_err(lua_failure)?,
    };
    let mut count = 0usize;
    while decoder.pos < len && (count as i64) < limit {
        let value = match decoder.value(base + count) {
            Ok(v) => v,
            Err(Fault::Eof) => return Err(located("Missing bytes in input.")),
            Err(Fault::BadFormat) => return Err(located("Bad data format in input.")),
            Err(Fault::Throw(t)) => return Err(t),
        };
        out.set(first + count, value)?;
        count += 1;
    }
    if !decode_all {
        if base + count + 1 > MAX_C_STACK {
            return Err(located("stack overflow (in function mp_unpack_full)"));
        }
        let next = if decoder.pos >= len {
            -1.0
        } else {
            decoder.pos as f64
        };
        out.set(1, Value::Number(next))?;
        out.len = count + 1;
    } else {
        out.len = count;
    }
    Ok(())
}

/// Why decoding stopped.
enum Fault {
    Eof,
    BadFormat,
    Throw(Throw),
}

impl From<Throw> for Fault {
    fn from(t: Throw) -> Fault {
        Fault::Throw(t)
    }
}

/// An array or map being filled.
struct Open {
    map: bool,
    remaining: usize,
    next_index: usize,
    /// A map's key is decoded and waits (in `path`) for its value.
    have_key: bool,
}

/// Decodes MessagePack into Lua values. Open containers and waiting keys
/// live in the Lua table `path` (slots `2d+1` and `2d+2` at depth `d`), so
/// deep nesting holds no Rust-side references.
struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    path: Table,
}

impl Decoder<'_> {
    fn need(&self, n: usize) -> Result<(), Fault> {
        if self.data.len() - self.pos < n {
            return Err(Fault::Eof);
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Fault> {
        self.need(n)?;
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..start + n])
    }

    fn be(&mut self, n: usize) -> Result<u64, Fault> {
        let bytes = self.take(n)?;
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn string(&mut self, n: usize) -> Result<Value, Fault> {
        let lua = self.lua;
        let bytes = self.take(n)?;
        let s = lua.create_string(bytes).map_err(lua_failure)?;
        Ok(Value::String(s))
    }

    fn slot(&self, index: usize) -> Result<Value, Fault> {
        exact(&self.path, index).map_err(|e| Fault::Throw(lua_failure(e)))
    }

    fn set_slot(&self, index: usize, value: Value) -> Result<(), Fault> {
        self.path
            .raw_set(index, value)
            .map_err(|e| Fault::Throw(lua_failure(e)))
    }

    /// One whole value; `slots` is the C stack in use before it is pushed.
    fn value(&mut self, mut slots: usize) -> Result<Value, Fault> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            self.need(1)?;
            if slots + 1 > MAX_C_STACK {
                return Err(located(
                    "stack overflow (too many return values at once; \
                     use unpack_one or unpack_limit instead.)",
                )
                .into());
            }
            let tag = self.data[self.pos];
            let container = match tag {
                0xdc | 0xdd | 0x90..=0x9f => {
                    let n = match tag {
                        0xdc => {
                            self.pos += 1;
                            self.be(2)?
                        }
                        0xdd => {
                            self.pos += 1;
                            self.be(4)?
                        }
                        _ => {
                            self.pos += 1;
                            u64::from(tag & 0x0f)
                        }
                    };
                    Some((false, n as usize))
                }
                0xde | 0xdf | 0x80..=0x8f => {
                    let n = match tag {
                        0xde => {
                            self.pos += 1;
                            self.be(2)?
                        }
                        0xdf => {
                            self.pos += 1;
                            self.be(4)?
                        }
                        _ => {
                            self.pos += 1;
                            u64::from(tag & 0x0f)
                        }
                    };
                    Some((true, n as usize))
                }
                _ => None,
            };
            let mut done = match container {
                Some((map, n)) => {
                    let table = self.lua.create_table().map_err(lua_failure)?;
                    if !map && slots + 2 > MAX_C_STACK {
                        return Err(
                            located("stack overflow (in function mp_decode_to_lua_array)").into(),
                        );
                    }
                    if n == 0 {
                        Value::Table(table)
                    } else {
                        self.set_slot(2 * open.len() + 1, Value::Table(table))?;
                        open.push(Open {
                            map,
                            remaining: n,
                            next_index: 1,
                            have_key: false,
                        });
                        // An array pushes its table and each index; a map
                        // its table (and later each key).
                        slots += if map { 1 } else { 2 };
                        continue;
                    }
                }
                None => self.scalar(tag)?,
            };
            // Store the finished value in its container, closing every
            // container that it completes.
            loop {
                let depth = open.len();
                let Some(top) = open.last_mut() else {
                    return Ok(done);
                };
                let table_slot = 2 * depth - 1;
                if top.map && !top.have_key {
                    top.have_key = true;
                    self.set_slot(table_slot + 1, done)?;
                    slots += 1;
                    break;
                }
                let Value::Table(table) = self.slot(table_slot)? else {
                    return Err(located("corrupt decoder state").into());
                };
                if top.map {
                    let key = self.slot(table_slot + 1)?;
                    match key {
                        Value::Nil => {
                            return Err(Throw::Bare(b"table index is nil".to_vec()).into())
                        }
                        Value::Number(n) if n.is_nan() => {
                            return Err(Throw::Bare(b"table index is NaN".to_vec()).into())
                        }
                        _ => {}
                    }
                    table.raw_set(key, done).map_err(lua_failure)?;
                    top.have_key = false;
                    slots -= 1;
                } else {
                    table.raw_set(top.next_index, done).map_err(lua_failure)?;
                    top.next_index += 1;
                }
                top.remaining -= 1;
                if top.remaining > 0 {
                    break;
                }
                slots -= if top.map { 1 } else { 2 };
                open.pop();
                done = Value::Table(table);
            }
        }
    }

    /// A value that is not a container, starting at `tag`.
    fn scalar(&mut self, tag: u8) -> Result<Value, Fault> {
        let number = |n: f64| Ok(Value::Number(n));
        match tag {
            0xcc => {
                self.need(2)?;
                self.pos += 1;
                number(self.be(1)? as f64)
            }
            0xd0 => {
                self.need(2)?;
                self.pos += 1;
                number(f64::from(self.be(1)? as u8 as i8))
            }
            0xcd => {
                self.need(3)?;
                self.pos += 1;
                number(self.be(2)? as f64)
            }
            0xd1 => {
                self.need(3)?;
                self.pos += 1;
                number(f64::from(self.be(2)? as u16 as i16))
            }
            0xce => {
                self.need(5)?;
                self.pos += 1;
                number(self.be(4)? as f64)
            }
            0xd2 => {
                self.need(5)?;
                self.pos += 1;
                number(f64::from(self.be(4)? as u32 as i32))
            }
            // Pushed through lua_Integer: the top half wraps negative.
            0xcf | 0xd3 => {
                self.need(9)?;
                self.pos += 1;
                number(self.be(8)? as i64 as f64)
            }
            0xc0 => {
                self.pos += 1;
                Ok(Value::Nil)
            }
            0xc2 | 0xc3 => {
                self.pos += 1;
                Ok(Value::Boolean(tag == 0xc3))
            }
            0xca => {
                self.need(5)?;
                self.pos += 1;
                number(f64::from(f32::from_bits(self.be(4)? as u32)))
            }
            0xcb => {
                self.need(9)?;
                self.pos += 1;
                number(f64::from_bits(self.be(8)?))
            }
            0xd9 => {
                self.need(2)?;
                let n = usize::from(self.data[self.pos + 1]);
                self.need(2 + n)?;
                self.pos += 2;
                self.string(n)
            }
            0xda => {
                self.need(3)?;
                let n = usize::from(u16::from_be_bytes([
                    self.data[self.pos + 1],
                    self.data[self.pos + 2],
                ]));
                self.need(3 + n)?;
                self.pos += 3;
                self.string(n)
            }
            0xdb => {
                self.need(5)?;
                self.pos += 1;
                let n = self.be(4)? as usize;
                self.string(n)
            }
            0x00..=0x7f => {
                self.pos += 1;
                number(f64::from(tag))
            }
            0xe0..=0xff => {
                self.pos += 1;
                number(f64::from(tag as i8))
            }
            0xa0..=0xbf => {
                let n = usize::from(tag & 0x1f);
                self.need(1 + n)?;
                self.pos += 1;
                self.string(n)
            }
            _ => Err(Fault::BadFormat),
        }
    }
}

// ---- struct -----------------------------------------------------------------

/// The `struct` table: pack, unpack, size.
pub(super) fn struct_library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", spread_function(lua, struct_pack)?)?;
    t.set("unpack", spread_function(lua, struct_unpack)?)?;
    t.set("size", spread_function(lua, struct_size)?)?;
    Ok(t)
}

/// `!` without a number: the platform's largest alignment.
const MAX_ALIGN: i32 = 8;
/// The widest `i`/`I` integer.
const MAX_INT_SIZE: i32 = 32;

/// Byte order and alignment, as the format's control options set them.
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

/// A format string up to its first NUL (the C library reads a C string).
struct Format {
    text: Vec<u8>,
    pos: usize,
}

impl Format {
    fn new(mut text: Vec<u8>) -> Format {
        if let Some(nul) = text.iter().position(|&b| b == 0) {
            text.truncate(nul);
        }
        Format { text, pos: 0 }
    }

    fn next_option(&mut self) -> Option<u8> {
        let opt = *self.text.get(self.pos)?;
        self.pos += 1;
        Some(opt)
    }

    /// The decimal number at the cursor, or `default` if there is none.
    fn number(&mut self, default: i32) -> Result<i32, Throw> {
        if !self.text.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while let Some(&d) = self.text.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let d = i32::from(d - b'0');
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(located("integral size overflow"));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (reading its count, if it takes one).
    fn size(&mut self, opt: u8) -> Result<usize, Throw> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(1)? as usize,
            b'i' | b'I' => {
                let sz = self.number(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(located(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz as usize
            }
            _ => 0,
        })
    }

    /// Applies a control option (` `, `>`, `<`, `!n`); anything else is an
    /// invalid option.
    fn control(&mut self, opt: u8, h: &mut Header) -> Result<(), Throw> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if a <= 0 || a & (a - 1) != 0 {
                    return Err(located(format!("alignment {a} is not a power of 2")));
                }
                h.align = a as usize;
            }
            _ => {
                let mut message = b"invalid format option '".to_vec();
                message.push(opt);
                message.push(b'\'');
                return Err(arg_error(1, message));
            }
        }
        Ok(())
    }
}

/// Padding before an item of `size` bytes at offset `len`.
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & (size - 1)) & (size - 1)
}

fn is_integer_option(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn struct_pack(lua: &Lua, args: &Args, out: &mut Out) -> Result<(), Throw> {
    let mut fmt = Format::new(check_bytes(args, 1)?);
    // The C code then pushes a nil after its arguments: a missing one reads
    // as that nil.
    let args = &Args {
        table: args.table.clone(),
        len: args.len + 1,
    };
    let mut h = Header::default();
    let mut arg = 2;
    let mut total = 0usize;
    let mut buf = Vec::new();
    while let Some(opt) = fmt.next_option() {
        let mut size = fmt.size(opt)?;
        let pad = padding(total, &h, opt, size);
        total += pad;
        buf.resize(buf.len() + pad, 0);
        match opt {
            _ if is_integer_option(opt) => {
                let n = check_number(args, arg)?;
                arg += 1;
                let mut value = if n < 0.0 { c_i64(n) as u64 } else { c_u64(n) };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    bytes[at] = value as u8;
                    value >>= 8;
                }
                buf.extend_from_slice(&bytes);
            }
            b'x' => buf.push(0),
            b'f' => {
                let f = check_number(args, arg)? as f32;
                arg += 1;
                buf.extend_from_slice(&if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                });
            }
            b'd' => {
                let d = check_number(args, arg)?;
                arg += 1;
                buf.extend_from_slice(&if h.little {
                    d.to_le_bytes()
                } else {
                    d.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_bytes(args, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // Redis names the argument after the string.
                    return Err(arg_error(arg, "string too short"));
                }
                buf.extend_from_slice(&s[..size]);
                if opt == b's' {
                    buf.push(0);
                    size += 1;
                }
            }
            _ => fmt.control(opt, &mut h)?,
        }
        total += size;
    }
    out.push(string_value(lua, &buf)?)
}

/// An integer of `bytes.len()` bytes, as `struct.unpack` reads it into a
/// 64-bit accumulator (longer integers keep their low 64 bits).
fn read_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
    let mut l = if little {
        bytes.iter().rev().fold(0, fold)
    } else {
        bytes.iter().fold(0, fold)
    };
    if !signed {
        return l as f64;
    }
    // x86 masks the shift count to six bits.
    let shift = ((bytes.len() as i64 * 8 - 1) & 63) as u32;
    let mask = u64::MAX << shift;
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn struct_unpack(lua: &Lua, args: &Args, out: &mut Out) -> Result<(), Throw> {
    let mut fmt = Format::new(check_bytes(args, 1)?);
    let data = check_bytes(args, 2)?;
    let ld = data.len();
    let mut pos = opt_integer(args, 3, 1)? as u64 as usize;
    if pos == 0 {
        return Err(arg_error(3, "offset must be 1 or greater"));
    }
    pos -= 1;
    let short = || arg_error(2, "data string too short");
    let mut h = Header::default();
    // The last result, which `c0` may take as its length.
    let mut last: Option<Value> = None;
    while let Some(opt) = fmt.next_option() {
        let mut size = fmt.size(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if size > ld || pos > ld - size {
            return Err(short());
        }
        if args.len + out.len + 2 > MAX_C_STACK {
            return Err(located("stack overflow (too many results)"));
        }
        let item = match opt {
            _ if is_integer_option(opt) => Some(Value::Number(read_integer(
                &data[pos..pos + size],
                h.little,
                opt.is_ascii_lowercase(),
            ))),
            b'x' => None,
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes checked");
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                Some(Value::Number(f64::from(f)))
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes checked");
                let d = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                Some(Value::Number(d))
            }
            b'c' => {
                if size == 0 {
                    let previous = last.as_ref().filter(|_| out.len > 0).and_then(to_number);
                    let Some(n) = previous else {
                        return Err(located("format 'c0' needs a previous size"));
                    };
                    size = c_u64(n) as usize;
                    out.table
                        .raw_set(out.len, Value::Nil)
                        .map_err(lua_failure)?;
                    out.len -= 1;
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                Some(string_value(lua, &data[pos..pos + size])?)
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(located("unfinished string in data"));
                };
                size = end + 1;
                Some(string_value(lua, &data[pos..pos + end])?)
            }
            _ => {
                fmt.control(opt, &mut h)?;
                None
            }
        };
        if let Some(item) = item {
            last = Some(item.clone());
            out.push(item)?;
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number(pos.wrapping_add(1) as i64 as f64))
}

fn struct_size(_: &Lua, args: &Args, out: &mut Out) -> Result<(), Throw> {
    let mut fmt = Format::new(check_bytes(args, 1)?);
    let mut h = Header::default();
    let mut pos = 0usize;
    while let Some(opt) = fmt.next_option() {
        let size = fmt.size(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            fmt.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number(pos as i64 as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        let globals = lua.globals();
        globals
            .set("cmsgpack", cmsgpack_library(&lua).expect("cmsgpack"))
            .expect("set");
        globals
            .set("struct", struct_library(&lua).expect("struct"))
            .expect("set");
        lua
    }

    fn bytes(lua: &Lua, script: &str) -> Vec<u8> {
        let s: mlua::String = lua.load(script).eval().expect(script);
        s.as_bytes().to_vec()
    }

    fn error(lua: &Lua, script: &str) -> String {
        let e = lua.load(script).set_name("=s").exec().expect_err(script);
        let text = match e {
            mlua::Error::RuntimeError(m) => m,
            other => other.to_string(),
        };
        match text.split_once("\nstack traceback") {
            Some((message, _)) => message.to_string(),
            None => text,
        }
    }

    #[test]
    fn integers_take_the_smallest_encoding() {
        let cases: &[(i64, &[u8])] = &[
            (0, b"\x00"),
            (127, b"\x7f"),
            (128, b"\xcc\x80"),
            (256, b"\xcd\x01\x00"),
            (65536, b"\xce\x00\x01\x00\x00"),
            (1 << 32, b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00"),
            (-1, b"\xff"),
            (-32, b"\xe0"),
            (-33, b"\xd0\xdf"),
            (-129, b"\xd1\xff\x7f"),
            (-32769, b"\xd2\xff\xff\x7f\xff"),
            (i64::MIN, b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
        ];
        for &(n, want) in cases {
            let mut out = Vec::new();
            encode_int(n, &mut out);
            assert_eq!(out, want, "{n}");
        }
    }

    #[test]
    fn numbers_pack_as_integers_floats_or_doubles() {
        let mut out = Vec::new();
        encode_number(1.5, &mut out);
        encode_number(0.1, &mut out);
        encode_number(-0.0, &mut out);
        encode_number(9_223_372_036_854_775_808.0, &mut out);
        assert_eq!(
            out,
            b"\xca\x3f\xc0\x00\x00\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\x00\xca\x5f\x00\x00\x00"
        );
    }

    #[test]
    fn c_conversions_match_x86() {
        assert_eq!(c_i64(f64::NAN), i64::MIN);
        assert_eq!(c_i64(1e300), i64::MIN);
        assert_eq!(c_u64(f64::NAN), 1 << 63);
        assert_eq!(c_u64(18_446_744_073_709_551_616.0), 0);
        assert_eq!(c_u64(9_223_372_036_854_779_904.0), (1 << 63) | 4096);
        assert_eq!(c_i32(2_147_483_648.0), i32::MIN);
    }

    #[test]
    fn tables_pack_as_arrays_only_with_keys_one_to_n() {
        let lua = lua();
        assert_eq!(bytes(&lua, "return cmsgpack.pack({})"), b"\x90");
        assert_eq!(
            bytes(&lua, "return cmsgpack.pack({1, 'a'})"),
            b"\x92\x01\xa1a"
        );
        assert_eq!(
            bytes(&lua, "return cmsgpack.pack({[2] = 1})"),
            b"\x81\x02\x01"
        );
        assert_eq!(
            bytes(&lua, "return cmsgpack.pack({a = 1e-300})")[..3],
            *b"\x81\xa1a"
        );
        // Nested beyond 16 levels packs nil.
        let deep = bytes(
            &lua,
            "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end \
             return cmsgpack.pack(t)",
        );
        assert_eq!(deep, [&[0x91u8; 16][..], b"\xc0"].concat());
    }

    #[test]
    fn unpack_returns_values_and_offsets() {
        let lua = lua();
        let (a, b): (i64, String) = lua
            .load("return cmsgpack.unpack(cmsgpack.pack(7, 'x'))")
            .eval()
            .expect("unpack");
        assert_eq!((a, b.as_str()), (7, "x"));
        let (offset, v): (i64, i64) = lua
            .load("return cmsgpack.unpack_one('\\1\\2', 0)")
            .eval()
            .expect("unpack_one");
        assert_eq!((offset, v), (1, 1));
        let offset: i64 = lua
            .load("return cmsgpack.unpack_limit('\\1\\2', 2)")
            .eval()
            .expect("unpack_limit");
        assert_eq!(offset, -1);
    }

    #[test]
    fn bad_input_raises_redis_texts() {
        let lua = lua();
        assert_eq!(
            error(&lua, "cmsgpack.unpack('\\193')"),
            "s:1: Bad data format in input."
        );
        assert_eq!(
            error(&lua, "cmsgpack.unpack('\\146\\1')"),
            "s:1: Missing bytes in input."
        );
        assert_eq!(
            error(&lua, "cmsgpack.unpack('\\129\\192\\1')"),
            "table index is nil"
        );
        assert_eq!(
            error(&lua, "cmsgpack.pack()"),
            "s:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"
        );
        assert_eq!(
            error(&lua, "struct.pack('q', 1)"),
            "s:1: bad argument #1 to 'pack' (invalid format option 'q')"
        );
        assert_eq!(
            error(&lua, "struct.unpack('i', 'ab')"),
            "s:1: bad argument #2 to 'unpack' (data string too short)"
        );
    }

    #[test]
    fn struct_packs_sizes_and_unpacks() {
        let lua = lua();
        assert_eq!(
            bytes(&lua, "return struct.pack('>hI3<i2', -2, 65536, 258)"),
            b"\xff\xfe\x01\x00\x00\x02\x01"
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('!4bi', 1, 2)"),
            b"\x01\x00\x00\x00\x02\x00\x00\x00"
        );
        let size: i64 = lua.load("return struct.size('!8bd')").eval().expect("size");
        assert_eq!(size, 16);
        // `c0` takes the count before it as its length, in place of it.
        let (s, next): (String, i64) = lua
            .load("return struct.unpack('bc0', '\\3abcd')")
            .eval()
            .expect("unpack");
        assert_eq!((s.as_str(), next), ("abc", 5));
        assert_eq!(read_integer(&[0xff, 0xfe], false, true), -2.0);
        assert_eq!(read_integer(&[0xff, 0xfe], true, false), 65_279.0);
    }
}
