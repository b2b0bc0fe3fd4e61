//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (LOAD, EXISTS, FLUSH, KILL,
//! DEBUG, HELP): the command-table face of [`crate::scripting`], which owns
//! the interpreter and the cache. These handlers parse arguments and reply;
//! they never replicate themselves (a script's commands do).

use bytes::Bytes;

use crate::command::{container_handler, flags::*, CommandSpec, KeySpec};
use crate::commands::args::is;
use crate::exec::ExecCtx;
use crate::reply::Reply;

/// Redis 7.0's flags for the EVAL family (`movablekeys` and
/// `no_mandatory_keys` have no counterpart in the table).
const EVAL_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE;
const EVAL_RO_FLAGS: u32 = READONLY | NOSCRIPT | SKIP_MONITOR | STALE;

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

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, EVAL_FLAGS, KeySpec::NONE, eval)
        .doc("scripting", "2.6.0", "Execute a Lua script server side")
        .complexity("Depends on the script that is executed.")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("evalsha", -3, EVAL_FLAGS, KeySpec::NONE, evalsha)
        .doc("scripting", "2.6.0", "Execute a Lua script server side")
        .complexity("Depends on the script that is executed.")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("eval_ro", -3, EVAL_RO_FLAGS, KeySpec::NONE, eval_ro)
        .doc(
            "scripting",
            "7.0.0",
            "Execute a read-only Lua script server side",
        )
        .complexity("Depends on the script that is executed.")
        .acl(&["slow", "scripting"]),
    CommandSpec::new("evalsha_ro", -3, EVAL_RO_FLAGS, KeySpec::NONE, evalsha_ro)
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
    crate::scripting::eval(ctx, argv, false, false)
}

fn evalsha(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::scripting::eval(ctx, argv, true, false)
}

fn eval_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::scripting::eval(ctx, argv, false, true)
}

fn evalsha_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::scripting::eval(ctx, argv, true, true)
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
