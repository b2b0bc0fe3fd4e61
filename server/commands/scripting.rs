//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT (LOAD, EXISTS, FLUSH, KILL,
//! DEBUG, HELP), FCALL, FCALL_RO and FUNCTION (LOAD, DELETE, FLUSH, LIST,
//! STATS, KILL, HELP): the command-table face of [`crate::scripting`], which
//! owns the interpreters, the script cache and the function libraries.
//! Scripts and functions never replicate themselves (their commands do);
//! the FUNCTION commands that change libraries replicate as sent.

use bytes::Bytes;

use crate::command::{container_handler, flags::*, CommandSpec, KeySpec};
use crate::commands::args::is;
use crate::exec::ExecCtx;
use crate::reply::Reply;
use crate::scripting::{self, functions};

/// Redis 7.0's flags for the EVAL and FCALL families.
const EVAL_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | NO_MANDATORY_KEYS;
const EVAL_RO_FLAGS: u32 = READONLY | NOSCRIPT | SKIP_MONITOR | STALE | NO_MANDATORY_KEYS;

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("debug", 3, NOSCRIPT, KeySpec::NONE, script_debug)
        .doc("scripting", "3.2.0", "Set the debug mode for executed scripts.")
        .complexity("O(1)")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("exists", -3, NOSCRIPT, KeySpec::NONE, script_exists)
        .doc(
            "scripting",
            "2.6.0",
            "Check existence of scripts in the script cache.",
        )
        .complexity("O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("flush", -2, NOSCRIPT, KeySpec::NONE, script_flush)
        .doc("scripting", "2.6.0", "Remove all the scripts from the script cache.")
        .complexity("O(N) with N being the number of scripts in cache")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, script_help)
        .doc(
            "scripting",
            "5.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("kill", 2, NOSCRIPT | ALLOW_BUSY, KeySpec::NONE, script_kill)
        .doc(
            "scripting",
            "2.6.0",
            "Kill the script currently in execution.",
        )
        .complexity("O(1)")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("load", 3, NOSCRIPT | STALE, KeySpec::NONE, script_load)
        .doc(
            "scripting",
            "2.6.0",
            "Load the specified Lua script into the script cache.",
        )
        .complexity("O(N) with N being the length in bytes of the script body.")
        .acl(&["slow", "scripting"]),
];

const FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "delete",
        3,
        WRITE | NOSCRIPT,
        KeySpec::NONE,
        function_delete,
    )
    .doc("scripting", "7.0.0", "Delete a function by name")
    .complexity("O(1)")
    .acl(&["write", "slow", "scripting"]),
    CommandSpec::new("dump", 2, NOSCRIPT, KeySpec::NONE, function_dump)
        .doc(
            "scripting",
            "7.0.0",
            "Dump all functions into a serialized binary payload",
        )
        .complexity("O(N) where N is the number of functions")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("flush", -2, WRITE | NOSCRIPT, KeySpec::NONE, function_flush)
        .doc("scripting", "7.0.0", "Deleting all functions")
        .complexity("O(N) where N is the number of functions deleted")
        .acl(&["write", "slow", "scripting"]),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, function_help)
        .doc(
            "scripting",
            "7.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("kill", 2, NOSCRIPT | ALLOW_BUSY, KeySpec::NONE, script_kill)
        .doc(
            "scripting",
            "7.0.0",
            "Kill the function currently in execution.",
        )
        .complexity("O(1)")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("list", -2, NOSCRIPT, KeySpec::NONE, function_list)
        .doc(
            "scripting",
            "7.0.0",
            "List information about all the functions",
        )
        .complexity("O(N) where N is the number of functions")
        .acl(&["slow", "scripting"]),
    CommandSpec::new(
        "load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        KeySpec::NONE,
        function_load,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Create a function with the given arguments (name, code, description)",
    )
    .complexity("O(1) (considering compilation time is redundant)")
    .acl(&["write", "slow", "scripting"]),
    CommandSpec::new(
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        KeySpec::NONE,
        function_restore,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Restore all the functions on the given payload",
    )
    .complexity("O(N) where N is the number of functions on the payload")
    .acl(&["write", "slow", "scripting"]),
    CommandSpec::new(
        "stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        KeySpec::NONE,
        function_stats,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Return information about the function currently running (name, description, duration)",
    )
    .complexity("O(1)")
    .acl(&["slow", "scripting"]),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("fcall", -3, EVAL_FLAGS | MOVABLE_KEYS, KeySpec::NONE, fcall)
        .doc("scripting", "7.0.0", "Invoke a function")
        .complexity("Depends on the function that is executed.")
        .acl(&["slow", "scripting"]),
    CommandSpec::new(
        "fcall_ro",
        -3,
        EVAL_RO_FLAGS | MOVABLE_KEYS,
        KeySpec::NONE,
        fcall_ro,
    )
    .doc("scripting", "7.0.0", "Invoke a read-only function")
    .complexity("Depends on the function that is executed.")
    .acl(&["slow", "scripting"]),
    CommandSpec::new("function", -2, 0, KeySpec::NONE, container_handler)
        .doc("scripting", "7.0.0", "A container for function commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(FUNCTION_SUBCOMMANDS),
    CommandSpec::new("eval", -3, EVAL_FLAGS | MOVABLE_KEYS, KeySpec::NONE, eval)
        .doc("scripting", "2.6.0", "Execute a Lua script server side")
        .complexity("Depends on the script that is executed.")
        .acl(&["slow", "scripting"]),
    CommandSpec::new(
        "evalsha",
        -3,
        EVAL_FLAGS | MOVABLE_KEYS,
        KeySpec::NONE,
        evalsha,
    )
    .doc("scripting", "2.6.0", "Execute a Lua script server side")
    .complexity("Depends on the script that is executed.")
    .acl(&["slow", "scripting"]),
    CommandSpec::new(
        "eval_ro",
        -3,
        EVAL_RO_FLAGS | MOVABLE_KEYS,
        KeySpec::NONE,
        eval_ro,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Execute a read-only Lua script server side",
    )
    .complexity("Depends on the script that is executed.")
    .acl(&["slow", "scripting"]),
    CommandSpec::new(
        "evalsha_ro",
        -3,
        EVAL_RO_FLAGS | MOVABLE_KEYS,
        KeySpec::NONE,
        evalsha_ro,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Execute a read-only Lua script server side",
    )
    .complexity("Depends on the script that is executed.")
    .acl(&["slow", "scripting"]),
    CommandSpec::new("script", -2, 0, KeySpec::NONE, container_handler)
        .doc(
            "scripting",
            "2.6.0",
            "A container for Lua scripts management commands",
        )
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(SUBCOMMANDS),
];

fn eval(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::exec::feed_monitors_explicitly(ctx.server, ctx.client, argv);
    scripting::eval(ctx, argv, false, false)
}

fn evalsha(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::exec::feed_monitors_explicitly(ctx.server, ctx.client, argv);
    scripting::eval(ctx, argv, true, false)
}

fn eval_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::exec::feed_monitors_explicitly(ctx.server, ctx.client, argv);
    scripting::eval(ctx, argv, false, true)
}

fn evalsha_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::exec::feed_monitors_explicitly(ctx.server, ctx.client, argv);
    scripting::eval(ctx, argv, true, true)
}

fn script_load(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match ctx.data.scripts.load(&argv[2]) {
        Ok(sha) => Reply::Bulk(Bytes::from(sha)),
        Err(reply) => reply,
    }
}

fn script_exists(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    Reply::Array(
        argv[2..]
            .iter()
            .map(|sha| Reply::Int(i64::from(ctx.data.scripts.exists(sha))))
            .collect(),
    )
}

fn script_flush(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => {}
        3 if is(&argv[2], "sync") || is(&argv[2], "async") => {}
        _ => return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option"),
    }
    ctx.data.scripts.flush();
    Reply::ok()
}

/// No script can be running while a command is served (a script runs to its
/// end, or past `busy-reply-threshold` is stopped, before anything else).
fn script_kill(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::error("NOTBUSY No scripts in execution right now.")
}

fn script_debug(_ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if is(&argv[2], "no") {
        return Reply::ok();
    }
    if is(&argv[2], "yes") || is(&argv[2], "sync") {
        return Reply::error("ERR tandem has no Lua debugger; SCRIPT DEBUG NO is the only mode");
    }
    Reply::error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
}

fn script_help(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    crate::commands::server::help_reply(
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}

fn fcall(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    fcall_generic(ctx, argv, false)
}

fn fcall_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    fcall_generic(ctx, argv, true)
}

fn fcall_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    crate::exec::feed_monitors_explicitly(ctx.server, ctx.client, argv);
    let Some((def, callback, engine)) = ctx.data.scripts.functions.find(&argv[1]) else {
        return Reply::error("ERR Function not found");
    };
    let numkeys = match scripting::numkeys(argv, || Reply::error("ERR Bad number of keys provided"))
    {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    if let Some(refused) =
        scripting::refuse_by_flags(ctx, def.no_writes(), def.allow_oom(), read_only)
    {
        return refused;
    }
    scripting::run_script(
        ctx,
        &engine,
        scripting::Invocation::Function(callback),
        &argv[3..3 + numkeys],
        &argv[3 + numkeys..],
        &def.name,
        argv,
        scripting::Allowed {
            read_only: def.no_writes(),
            allow_oom: def.allow_oom() || def.no_writes(),
        },
    )
}

fn function_load(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let mut replace = false;
    let mut pos = 2;
    while pos < argv.len() - 1 {
        if is(&argv[pos], "replace") {
            replace = true;
            pos += 1;
            continue;
        }
        return functions::error_reply(&format!(
            "Unknown option given: {}",
            String::from_utf8_lossy(&argv[pos])
        ));
    }
    if pos >= argv.len() {
        return functions::error_reply("Function code is missing");
    }
    match ctx.data.scripts.functions.load(&argv[pos], replace) {
        Ok(name) => {
            ctx.force_propagation();
            Reply::Bulk(Bytes::from(name))
        }
        Err(message) => functions::error_reply(&message),
    }
}

fn function_delete(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if !ctx.data.scripts.functions.delete(&argv[2]) {
        return Reply::error("ERR Library not found");
    }
    ctx.force_propagation();
    Reply::ok()
}

fn function_flush(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => {}
        3 if is(&argv[2], "sync") || is(&argv[2], "async") => {}
        3 => return Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
        _ => return crate::commands::server::subcommand_syntax_error("function", &argv[1]),
    }
    ctx.data.scripts.functions.flush();
    ctx.force_propagation();
    Reply::ok()
}

fn function_list(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (mut with_code, mut pattern): (bool, Option<&Bytes>) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        if !with_code && is(&argv[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(&argv[i], "libraryname") {
            if i + 1 >= argv.len() {
                return Reply::error("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(&argv[i]);
        } else {
            return Reply::error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&argv[i])
            ));
        }
        i += 1;
    }
    let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let libraries = ctx
        .data
        .scripts
        .functions
        .libraries()
        .iter()
        .filter(|(name, _)| {
            pattern.is_none_or(|p| tandem_storage::glob::glob_match(p, name.as_bytes(), true))
        })
        .map(|(name, library)| {
            let functions = library
                .functions
                .iter()
                .map(|f| {
                    Reply::Map(vec![
                        (bulk("name"), bulk(&f.name)),
                        (
                            bulk("description"),
                            f.description.as_deref().map_or(Reply::Null, bulk),
                        ),
                        (
                            bulk("flags"),
                            Reply::Set(
                                f.flags
                                    .iter()
                                    .map(|&i| Reply::Simple(functions::FLAG_NAMES[i].into()))
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (bulk("library_name"), bulk(name)),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((bulk("library_code"), Reply::Bulk(library.code.clone())));
            }
            Reply::Map(fields)
        })
        .collect();
    Reply::Array(libraries)
}

fn function_dump(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    let opts = crate::persist::payload_options(&ctx.server.config.read());
    let sources = ctx.data.scripts.functions.sources();
    Reply::Bulk(Bytes::from(tandem_storage::rdb::dump::dump_functions(
        &sources, opts,
    )))
}

fn function_restore(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 4 {
        return crate::commands::server::subcommand_syntax_error("function", &argv[1]);
    }
    let policy =
        match argv.get(3) {
            None => functions::RestorePolicy::Append,
            Some(p) if is(p, "append") => functions::RestorePolicy::Append,
            Some(p) if is(p, "replace") => functions::RestorePolicy::Replace,
            Some(p) if is(p, "flush") => functions::RestorePolicy::Flush,
            Some(_) => return Reply::error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    let sources = match tandem_storage::rdb::dump::load_functions(&argv[2]) {
        Ok(sources) => sources,
        Err(e) => return functions::error_reply(&e.to_string()),
    };
    match ctx.data.scripts.functions.restore(&sources, policy) {
        Ok(()) => {
            ctx.force_propagation();
            Reply::ok()
        }
        Err(message) => functions::error_reply(&message),
    }
}

fn function_stats(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    // No script runs while a command holds the data (a busy one is shown
    // by `scripting::busy`).
    let functions = &ctx.data.scripts.functions;
    scripting::busy::stats_reply(
        Reply::Null,
        functions.libraries().len(),
        functions.function_count(),
    )
}

fn function_help(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    crate::commands::server::help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::commands::testing::Harness;
    use crate::reply::Reply;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn eval_runs_commands_and_converts_replies() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&[
                "EVAL",
                "return redis.call('SET', KEYS[1], ARGV[1])",
                "1",
                "k",
                "v"
            ]),
            Reply::ok()
        );
        assert_eq!(
            h.run(&["EVAL", "return redis.call('GET', KEYS[1])", "1", "k"]),
            bulk("v")
        );
        assert_eq!(
            h.run(&["EVAL", "return {1, 'a', {2}, nil, 3}", "0"]),
            Reply::Array(vec![
                Reply::Int(1),
                bulk("a"),
                Reply::Array(vec![Reply::Int(2)])
            ])
        );
        assert_eq!(h.run(&["EVAL", "return 3.99", "0"]), Reply::Int(3));
        assert_eq!(
            h.run(&["EVAL", "return redis.call('GET', 'nokey')", "0"]),
            Reply::Null
        );
    }

    #[test]
    fn a_scripts_writes_replicate_as_one_transaction() {
        let mut h = Harness::new();
        h.run(&[
            "EVAL",
            "redis.call('SET', 'a', 1); redis.call('INCR', 'a'); return redis.call('GET', 'nokey')",
            "0",
        ]);
        assert_eq!(h.ops(), vec!["MULTI", "SET a 1", "INCR a", "EXEC"]);
        // A read-only script replicates nothing.
        h.run(&["EVAL", "return redis.call('GET', 'a')", "0"]);
        assert!(h.ops().is_empty());
    }
}
