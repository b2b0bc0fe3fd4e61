//! The `cmsgpack` and `struct` script libraries against redis-server 7.0:
//! packed bytes, unpacked values and error replies must be identical.
//!
//! Besides the fixed cases, a seeded generator feeds both servers
//! MessagePack-like byte strings to unpack (`TANDEM_MSGPACK_SEED`,
//! comma-separated seeds; `TANDEM_MSGPACK_STEPS`, inputs per seed).

mod common;

use common::rng::{env_count, env_seeds, Rng};
use common::ServerProcess;

/// Lua values whose `cmsgpack.pack` bytes are compared (edge integers of
/// every width, floats, strings at every length boundary, tables).
const VALUES: &[&str] = &[
    "0",
    "1",
    "127",
    "128",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "2^53",
    "2^63",
    "-2^63",
    "2^64",
    "-1",
    "-32",
    "-33",
    "-128",
    "-129",
    "-32768",
    "-32769",
    "-2147483648",
    "-2147483649",
    "-2^53",
    "-0.0",
    "0.5",
    "1.5",
    "-1.5",
    "0.1",
    "1/3",
    "1e300",
    "-1e-300",
    "1e-300",
    "2^-1074",
    "{1e-300, -1e-300}",
    "{[1e-300]=1}",
    "{[-1e-300]=1e-300}",
    "3.4028234663852886e38",
    "1/0",
    "-1/0",
    "0/0",
    "''",
    "'a'",
    "string.rep('x', 31)",
    "string.rep('x', 32)",
    "string.rep('x', 255)",
    "string.rep('x', 256)",
    "string.rep('x', 65535)",
    "string.rep('x', 65536)",
    "'\\0\\255binary'",
    "true",
    "false",
    "nil",
    "{}",
    "{1,2,3}",
    "{1,nil,3}",
    "{[1]=1,[2]=2,[4]=4}",
    "{[2]=2}",
    "{[1.5]=1}",
    "{[0]=0,1}",
    "{[-1]=1}",
    "{['1']=1}",
    "{a=1}",
    "{a=1,b={c={1,2,{d=true}}}}",
    "{1,2,a=3}",
    "{[2^31]=1}",
    "{[2^40]=1}",
    "{{}, {{}}, {a={}}}",
    "{[{1}]=2}",
    "{[true]=false}",
    "print",
    "coroutine and coroutine.create(print) or 1",
];

/// Whole scripts: round trips, streams, offsets, struct, and errors.
const SCRIPTS: &[&str] = &[
    "return cmsgpack.pack(1, 'a', {1}, nil, true)",
    "return cmsgpack.pack(nil)",
    "return cmsgpack.pack()",
    "local t = {} for i = 1, 4001 do t[i] = i end return cmsgpack.pack(unpack(t))",
    "local t = {} for i = 1, 4000 do t[i] = i end return #cmsgpack.pack(unpack(t))",
    "local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 70000 do t[i] = i % 3 end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 20 do t['k'..i] = i end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 70000 do t['k'..i] = i end return #cmsgpack.pack(t)",
    "local t = {} local c = t for i = 1, 30 do c[1] = {} c = c[1] end return cmsgpack.pack(t)",
    "local t = {} t.self = t return cmsgpack.pack(t)",
    "local t = {1,2,3} t[2] = nil return cmsgpack.pack(t)",
    "local a = {} for i = 1, 10 do a[i] = i end for i = 1, 9 do a[i] = nil end return cmsgpack.pack(a)",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, {4}}, -5, 2^40))}",
    "local v = {cmsgpack.unpack(cmsgpack.pack(0.5, 1e300, -2^63, 2^63, 0/0))} \
     return {tostring(v[1]), tostring(v[2]), tostring(v[3]), tostring(v[4]), tostring(v[5])}",
    "local t = cmsgpack.unpack(cmsgpack.pack({a=1, b={2,3}, [5]='x'})) return {t.a, t.b[2], t[5]}",
    "return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({x={y={z={1,2,3}}}, 'q'})))",
    "return {cmsgpack.unpack('')}",
    "return {cmsgpack.unpack('\\1\\2\\3')}",
    "return {cmsgpack.unpack_one('\\1\\2\\3')}",
    "return {cmsgpack.unpack_one('\\1\\2\\3', 1)}",
    "return {cmsgpack.unpack_one('\\1\\2\\3', 2)}",
    "return {cmsgpack.unpack_one('\\1\\2\\3', 3)}",
    "return {cmsgpack.unpack_one('\\1\\2\\3', 4)}",
    "return {cmsgpack.unpack_one('\\1\\2\\3', -1)}",
    "return {cmsgpack.unpack_one('\\1\\2\\3', 'x')}",
    "return {cmsgpack.unpack_one('')}",
    "return {cmsgpack.unpack_one()}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3', 2)}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3', 2, 2)}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3', 0)}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3', 0, 1)}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3', 5)}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3', -1)}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3')}",
    "return {cmsgpack.unpack_limit('\\1\\2\\3', 1.9)}",
    "return {cmsgpack.unpack(nil)}",
    "return {cmsgpack.unpack({})}",
    "return {cmsgpack.unpack(12)}",
    "return {cmsgpack.unpack('\\193')}",
    "return {cmsgpack.unpack('\\196\\1a')}",
    "return {cmsgpack.unpack('\\212\\1\\1')}",
    "return {cmsgpack.unpack('\\205\\1')}",
    "return {cmsgpack.unpack('\\146\\1')}",
    "return {cmsgpack.unpack('\\130\\1')}",
    "return {cmsgpack.unpack('\\129\\192\\1')}",
    "return {cmsgpack.unpack('\\129\\203\\255\\248\\0\\0\\0\\0\\0\\0\\1')}",
    "return {cmsgpack.unpack('\\129\\192')}",
    "return {cmsgpack.unpack('\\219\\0\\0\\0\\5abc')}",
    "return {cmsgpack.unpack('\\217\\5abc')}",
    "return {cmsgpack.unpack('\\165abc')}",
    "return {cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')}",
    "return {cmsgpack.unpack('\\207\\0\\0\\0\\0\\255\\255\\255\\255')}",
    "return {cmsgpack.unpack('\\211\\128\\0\\0\\0\\0\\0\\0\\1')}",
    "return {cmsgpack.unpack('\\208\\128\\209\\128\\0\\210\\128\\0\\0\\0\\204\\255\\205\\255\\255\\206\\255\\255\\255\\255')}",
    "return tostring(cmsgpack.unpack('\\202\\63\\192\\0\\0'))",
    "return {cmsgpack.unpack('\\192\\194\\195\\192')}",
    "return {cmsgpack.unpack('\\220\\0\\2\\1\\2\\222\\0\\1\\161a\\1')}",
    "return {cmsgpack.unpack(string.rep('\\145', 5000))}",
    "return #{cmsgpack.unpack(string.rep('\\145', 3990) .. '\\1')}",
    "return #{cmsgpack.unpack(string.rep('\\129\\1', 3990) .. '\\1')}",
    "return {cmsgpack.unpack(string.rep('\\129\\1', 8000))}",
    "return #{cmsgpack.unpack(string.rep('\\161a', 7999))}",
    "return #{cmsgpack.unpack(string.rep('\\161a', 8000))}",
    "return #{cmsgpack.unpack(string.rep('\\161a', 7998), 'x')}",
    "return {cmsgpack.unpack_limit(string.rep('\\1', 9000), 7999)}",
    "return #{cmsgpack.unpack_limit(string.rep('\\1', 9000), 7998)}",
    "return #{cmsgpack.unpack_limit(string.rep('\\1', 9000), 7997)}",
    "return {cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION}",
    "return {type(cmsgpack), type(struct), type(cmsgpack.pack), type(struct.size)}",
    "return cmsgpack_safe",
    "local t = cmsgpack.unpack('\\129\\203\\1\\0\\0\\0\\0\\0\\0\\0\\1') \
     local k = next(t) return {tostring(k), tostring(k > 0)}",
    "return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({[2^-1074]={2^-1074}})))",
    "return struct.pack('<d', 1e-300)",
    "return struct.pack('<d', -2^-1074)",
    "return tostring(struct.unpack('<d', struct.pack('<d', 1e-300)))",
    // struct
    "return struct.pack('>i', 1)",
    "return struct.pack('<i', -2)",
    "return struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 2^40, 7, -4, 5)",
    "return struct.pack('>bBhHlLTiI', -1, 255, -2, 65535, -3, 2^40, 7, -4, 5)",
    "return struct.pack('>i3I5i16I32', -2, 2^33, -3, 9)",
    "return struct.pack('i0', 5)",
    "return struct.pack('i33', 5)",
    "return struct.pack('i99999999999', 5)",
    "return struct.pack('>L', 0/0)",
    "return struct.pack('>L', 2^64)",
    "return struct.pack('>L', 2^63 + 4096)",
    "return struct.pack('>l', -2^64)",
    "return struct.pack('>l', 1e300)",
    "return struct.pack('>b', 300)",
    "return struct.pack('>h', 1.9)",
    "return struct.pack('<fd', 1.5, 0.1)",
    "return struct.pack('>fd', 1.5, 0.1)",
    "return struct.pack('f', 1e300)",
    "return struct.pack('xcxc3c0s', 'a', 'bcd', 'efgh', 'ij')",
    "return struct.pack('c3', 'ab')",
    "return struct.pack('c', 12)",
    "return struct.pack('s', 3.5)",
    "return struct.pack('!4bi!2bh!bd', 1, 2, 3, 4, 5, 6)",
    "return struct.pack('!bi3bh', 1, 2, 3, 4)",
    "return struct.pack('!3i', 1)",
    "return struct.pack('!0i', 1)",
    "return struct.pack('< > i', 1)",
    "return struct.pack('z', 1)",
    "return struct.pack('i', 'x')",
    "return struct.pack('i', nil)",
    "return struct.pack('i')",
    "return struct.pack('c', {})",
    "return struct.pack()",
    "return struct.pack('i\\0i', 1, 2)",
    "return struct.pack('', 1)",
    "return struct.pack(123, 1)",
    "return {struct.unpack('>i', struct.pack('>i', -7))}",
    "return {struct.unpack('<bBhHlLiI', struct.pack('<bBhHlLiI', -1, 255, -2, 65535, -3, 2^40, -4, 5))}",
    "return {struct.unpack('>i9', '\\255\\255\\255\\255\\255\\255\\255\\255\\254')}",
    "return {struct.unpack('<i9', '\\255\\255\\255\\255\\255\\255\\255\\255\\254')}",
    "return {struct.unpack('>I9', '\\255\\255\\255\\255\\255\\255\\255\\255\\254')}",
    "return {struct.unpack('>i3', '\\255\\0\\1')}",
    "return {struct.unpack('i0', 'abc')}",
    "local a, b = struct.unpack('<fd', struct.pack('<fd', 1.5, 0.1)) return {tostring(a), tostring(b)}",
    "local a, b = struct.unpack('>fd', struct.pack('>fd', 0.1, 1/3)) return {tostring(a), tostring(b)}",
    "return {struct.unpack('b', 'abc', 2)}",
    "return {struct.unpack('b', 'abc', 3)}",
    "return {struct.unpack('b', 'abc', 4)}",
    "return {struct.unpack('b', 'abc', 0)}",
    "return {struct.unpack('b', 'abc', -1)}",
    "return {struct.unpack('', 'abc', -1)}",
    "return {struct.unpack('b', 'abc', 'x')}",
    "return {struct.unpack('b', 'abc', 2.9)}",
    "return {struct.unpack('xcc2', 'abcd')}",
    "return {struct.unpack('bc0', '\\3abcd')}",
    "return {struct.unpack('c1c0', '3abcd')}",
    "return {struct.unpack('c1c0', 'xabcd')}",
    "return {struct.unpack('c0', 'abc')}",
    "return {struct.unpack('bc0', '\\9abc')}",
    "return {struct.unpack('ss', 'ab\\0\\0cd')}",
    "return {struct.unpack('s', 'abc')}",
    "return {struct.unpack('!4bi', '\\1\\0\\0\\0\\2\\0\\0\\0')}",
    "return {struct.unpack('!4bi', '\\1\\0\\0\\0\\2\\0\\0')}",
    "return {struct.unpack('z', 'abc')}",
    "return {struct.unpack('i', nil)}",
    "return {struct.unpack(nil, 'a')}",
    "return {struct.unpack('i33', 'a')}",
    "return {struct.unpack(' <>!', 'a')}",
    "return #{struct.unpack(string.rep('b', 7997), string.rep('a', 8000))}",
    "return #{struct.unpack(string.rep('b', 7996), string.rep('a', 8000))}",
    "return #{struct.unpack(string.rep('b', 7995), string.rep('a', 8000))}",
    "return struct.size('bBhHlLTiIfdxc5i3')",
    "return struct.size('!bi!2bi')",
    "return struct.size('!bdbc3i')",
    "return struct.size('s')",
    "return struct.size('c0')",
    "return struct.size('c')",
    "return struct.size('zq')",
    "return struct.size('#')",
    "return struct.size('!6')",
    "return struct.size('i40')",
    "return struct.size()",
    "return struct.size(12)",
];

/// Every script as an EVAL command with no keys.
fn cases() -> Vec<String> {
    VALUES
        .iter()
        .map(|v| format!("return cmsgpack.pack({v})"))
        .chain(
            VALUES
                .iter()
                .map(|v| format!("return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({v}, {v})))")),
        )
        .chain(SCRIPTS.iter().map(|s| s.to_string()))
        .collect()
}

#[test]
fn cmsgpack_and_struct_match_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let mut differences = Vec::new();
    for script in cases() {
        let command = ["EVAL", script.as_str(), "0"];
        let ours = t.cmd(&command).expect("tandem replies");
        let theirs = r.cmd(&command).expect("redis-server replies");
        if ours != theirs {
            differences.push(format!(
                "{script}\n  tandem: {ours:?}\n  redis:  {theirs:?}"
            ));
        }
    }
    // Functions see the same libraries.
    let library = "#!lua name=mp\n\
        redis.register_function('mp', function(keys, args) \
          return {cmsgpack.pack({args[1], 1.5, {a = -1}}), struct.pack('>i2', 258), \
                  struct.size('bi'), cmsgpack.unpack(args[2])} \
        end)";
    for command in [
        vec!["FUNCTION", "LOAD", library],
        vec!["FCALL", "mp", "0", "x", "\u{a3}abc"],
        vec!["FCALL", "mp", "0", "y", "\u{c1}"],
    ] {
        let ours = t.cmd(&command).expect("tandem replies");
        let theirs = r.cmd(&command).expect("redis-server replies");
        if ours != theirs {
            differences.push(format!(
                "{command:?}\n  tandem: {ours:?}\n  redis:  {theirs:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} replies differ from redis-server:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// First bytes worth hitting: every tag class and its boundaries.
const TAGS: &[u8] = &[
    0x00, 0x05, 0x7f, 0x80, 0x81, 0x82, 0x8f, 0x90, 0x91, 0x92, 0x9f, 0xa0, 0xa1, 0xa3, 0xbf, 0xc0,
    0xc1, 0xc2, 0xc3, 0xc4, 0xc7, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4,
    0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
];

/// Repacks a script's results, except where a table is a map key: such
/// keys hash by address, so even two runs of Redis order them differently.
const REPACK: &str = "local function table_key(v, depth) \
      if type(v) ~= 'table' or depth > 20 then return false end \
      for k, x in pairs(v) do \
        if type(k) == 'table' or table_key(x, depth + 1) then return true end \
      end \
      return false \
    end \
    local function repack(...) \
      local r = {...} \
      for i = 1, select('#', ...) do \
        if table_key(r[i], 0) then return 'table key' end \
      end \
      return cmsgpack.pack(...) \
    end";

/// Unpacks ARGV[1] (hex) one of four ways (ARGV[2]), with ARGV[3] as the
/// offset and ARGV[4] as the limit. `pcall` also checks errors raised with
/// a C function as the caller.
const RANDOM_CALL: &str = "local data = ARGV[1]:gsub('..', \
      function(h) return string.char(tonumber(h, 16)) end) \
    local mode, offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]) \
    if mode == 0 then return repack(pcall(cmsgpack.unpack, data)) end \
    if mode == 1 then return repack(cmsgpack.unpack_one(data, offset)) end \
    if mode == 2 then return repack(cmsgpack.unpack_limit(data, limit, offset)) end \
    return repack(cmsgpack.unpack(data))";

/// Random input: mostly tags, some small and some arbitrary bytes.
fn random_input(rng: &mut Rng) -> Vec<u8> {
    let len = rng.between(1, 24) as usize;
    (0..len)
        .map(|_| match rng.below(3) {
            0 => TAGS[rng.below(TAGS.len() as u64) as usize],
            1 => rng.below(4) as u8,
            _ => rng.byte(),
        })
        .collect()
}

#[test]
fn random_inputs_unpack_as_in_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let steps = env_count("TANDEM_MSGPACK_STEPS", 400);
    let script = format!("{REPACK}\n{RANDOM_CALL}");
    for seed in env_seeds("TANDEM_MSGPACK_SEED", &[1, 2, 3]) {
        let mut rng = Rng::new(seed);
        for step in 0..steps {
            let data: String = random_input(&mut rng)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let (mode, offset, limit) = (rng.below(4), rng.below(6), rng.below(4));
            let (mode, offset, limit) = (mode.to_string(), offset.to_string(), limit.to_string());
            // One script for every input: each distinct script stays cached.
            let command = ["EVAL", &script, "0", &data, &mode, &offset, &limit];
            let ours = t.cmd(&command).expect("tandem replies");
            let theirs = r.cmd(&command).expect("redis-server replies");
            assert_eq!(
                ours, theirs,
                "seed {seed} step {step}: input {data} mode {mode} offset {offset} \
                 limit {limit} differs from redis-server"
            );
        }
    }
}

/// Packs with the format ARGV[1] and the rest of ARGV (numbers where they
/// read as numbers), then sizes the format and unpacks what was packed.
const STRUCT_CALL: &str = "local fmt = ARGV[1] \
    local args = {} \
    for i = 2, #ARGV do args[i - 1] = tonumber(ARGV[i]) or ARGV[i] end \
    local function pk(...) return cmsgpack.pack(...) end \
    local ok, packed = pcall(struct.pack, fmt, unpack(args, 1, #ARGV - 1)) \
    local data = ok and packed or (ARGV[2] or '') \
    return {tostring(ok), packed, pk(pcall(struct.size, fmt)), \
            pk(pcall(struct.unpack, fmt, data)), pk(pcall(struct.unpack, fmt, data, 2))}";

const STRUCT_OPTIONS: &[&str] = &[
    "b", "B", "h", "H", "l", "L", "T", "i", "I", "i3", "I5", "i9", "i16", "i0", "f", "d", "x", "c",
    "c2", "c0", "s", "<", ">", "!", "!2", "!4", "!8", " ", "z", "!3",
];

const STRUCT_ARGS: &[&str] = &[
    "0",
    "1",
    "-1",
    "127",
    "128",
    "255",
    "-129",
    "65536",
    "-70000",
    "2147483648",
    "1e10",
    "-2.5",
    "0.1",
    "1e300",
    "-1e300",
    "abc",
    "",
    "4",
    "hello world",
    "2",
];

#[test]
fn random_struct_formats_as_in_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let steps = env_count("TANDEM_MSGPACK_STEPS", 400);
    for seed in env_seeds("TANDEM_MSGPACK_SEED", &[1, 2, 3]) {
        let mut rng = Rng::new(seed);
        for step in 0..steps {
            let options = rng.between(1, 6);
            let format: String = (0..options).map(|_| rng.pick(STRUCT_OPTIONS)).collect();
            let argc = rng.between(0, options + 1);
            let args: Vec<&str> = (0..argc).map(|_| rng.pick(STRUCT_ARGS)).collect();
            let mut command = vec!["EVAL", STRUCT_CALL, "0", &format];
            command.extend(&args);
            let ours = t.cmd(&command).expect("tandem replies");
            let theirs = r.cmd(&command).expect("redis-server replies");
            assert_eq!(
                ours, theirs,
                "seed {seed} step {step}: format {format:?} args {args:?} differs from redis-server"
            );
        }
    }
}
