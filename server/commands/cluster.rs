//! The cluster and module commands of a Redis 7.0 that runs without
//! cluster support and without modules, as tandem always does: CLUSTER (every
//! subcommand), READONLY, READWRITE and ASKING answer that cluster support is
//! disabled; MODULE LIST is empty, and MODULE LOAD/LOADEX/UNLOAD are refused
//! as `enable-module-command` says (tandem cannot load modules). Clients probe
//! with these to learn what kind of server they talk to, so the replies and
//! the command table entries are Redis's. Nothing here touches the keyspace.

use bytes::Bytes;

use crate::command::{container_handler, flags::*, CommandSpec, KeySpec};
use crate::exec::ExecCtx;
use crate::reply::Reply;

const CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("addslots", -3, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Assign new hash slots to receiving node")
        .complexity("O(N) where N is the total number of hash slot arguments")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("addslotsrange", -4, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "7.0.0", "Assign new hash slots to receiving node")
        .complexity("O(N) where N is the total number of the slots between the start slot and end slot arguments.")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("bumpepoch", 2, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Advance the cluster config epoch")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("count-failure-reports", 3, ADMIN | STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Return the number of failure reports active for a given node")
        .complexity("O(N) where N is the number of failure reports")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("countkeysinslot", 3, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Return the number of local keys in the specified hash slot")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("delslots", -3, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Set hash slots as unbound in receiving node")
        .complexity("O(N) where N is the total number of hash slot arguments")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("delslotsrange", -4, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "7.0.0", "Set hash slots as unbound in receiving node")
        .complexity("O(N) where N is the total number of the slots between the start slot and end slot arguments.")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("failover", -2, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Forces a replica to perform a manual failover of its master.")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("flushslots", 2, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Delete a node's own slots information")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("forget", 3, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Remove a node from the nodes table")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("getkeysinslot", 4, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Return local key names in the specified hash slot")
        .complexity("O(log(N)) where N is the number of requested keys")
        .acl(&["slow"]),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "5.0.0", "Show helpful text about the different subcommands")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("info", 2, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Provides info about Redis Cluster node state")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("keyslot", 3, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Returns the hash slot of the specified key")
        .complexity("O(N) where N is the number of bytes in the key")
        .acl(&["slow"]),
    CommandSpec::new("links", 2, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "7.0.0", "Returns a list of all TCP links to and from peer nodes in cluster")
        .complexity("O(N) where N is the total number of Cluster nodes")
        .acl(&["slow"]),
    CommandSpec::new("meet", -4, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Force a node cluster to handshake with another node")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("myid", 2, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Return the node id")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("nodes", 2, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Get Cluster config for the node")
        .complexity("O(N) where N is the total number of Cluster nodes")
        .acl(&["slow"]),
    CommandSpec::new("replicas", 3, ADMIN | STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "5.0.0", "List replica nodes of the specified master node")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("replicate", 3, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Reconfigure a node as a replica of the specified master node")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("reset", -2, ADMIN | NOSCRIPT | STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Reset a Redis Cluster node")
        .complexity("O(N) where N is the number of known nodes. The command may execute a FLUSHALL as a side effect.")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("saveconfig", 2, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Forces the node to save cluster state on disk")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("set-config-epoch", 3, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Set the configuration epoch in a new node")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("setslot", -4, ADMIN | STALE | NO_ASYNC_LOADING, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Bind a hash slot to a specific node")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("shards", 2, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "7.0.0", "Get array of cluster slots to node mappings")
        .complexity("O(N) where N is the total number of cluster nodes")
        .acl(&["slow"]),
    CommandSpec::new("slaves", 3, ADMIN | STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "List replica nodes of the specified master node")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("slots", 2, STALE, KeySpec::NONE, cluster_disabled)
        .doc("cluster", "3.0.0", "Get array of Cluster slot to node mappings")
        .complexity("O(N) where N is the total number of Cluster nodes")
        .acl(&["slow"]),
];

const MODULE_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, module_help)
        .doc(
            "server",
            "5.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("list", 2, ADMIN | NOSCRIPT, KeySpec::NONE, module_list)
        .doc("server", "4.0.0", "List all modules loaded by the server")
        .complexity("O(N) where N is the number of loaded modules.")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new(
        "load",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        KeySpec::NONE,
        module_load,
    )
    .doc("server", "4.0.0", "Load a module")
    .complexity("O(1)")
    .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new(
        "loadex",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        KeySpec::NONE,
        module_loadex,
    )
    .doc("server", "7.0.0", "Load a module with extended parameters")
    .complexity("O(1)")
    .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new(
        "unload",
        3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        KeySpec::NONE,
        module_unload,
    )
    .doc("server", "4.0.0", "Unload a module")
    .complexity("O(1)")
    .acl(&["admin", "slow", "dangerous"]),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("cluster", -2, 0, KeySpec::NONE, container_handler)
        .doc("cluster", "3.0.0", "A container for cluster commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(CLUSTER_SUBCOMMANDS),
    CommandSpec::new("module", -2, 0, KeySpec::NONE, container_handler)
        .doc("server", "4.0.0", "A container for module commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(MODULE_SUBCOMMANDS),
    CommandSpec::new(
        "readonly",
        1,
        LOADING | STALE | FAST,
        KeySpec::NONE,
        cluster_disabled,
    )
    .doc(
        "cluster",
        "3.0.0",
        "Enables read queries for a connection to a cluster replica node",
    )
    .complexity("O(1)")
    .acl(&["fast", "connection"]),
    CommandSpec::new(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        KeySpec::NONE,
        cluster_disabled,
    )
    .doc(
        "cluster",
        "3.0.0",
        "Disables read queries for a connection to a cluster replica node",
    )
    .complexity("O(1)")
    .acl(&["fast", "connection"]),
    CommandSpec::new("asking", 1, FAST, KeySpec::NONE, cluster_disabled)
        .doc(
            "cluster",
            "3.0.0",
            "Sent by cluster clients after an -ASK redirect",
        )
        .complexity("O(1)")
        .acl(&["fast", "connection"]),
];

fn cluster_disabled(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::error("ERR This instance has cluster support disabled")
}

fn module_list(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Array(Vec::new())
}

const MODULE_NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the enable-module-command \
option is set to \"local\", you can run it from a local connection, otherwise you need to set this \
option in the configuration file, and then restart the server.";

/// Whether this client may load or unload modules (`enable-module-command`).
fn module_allowed(ctx: &ExecCtx<'_>) -> bool {
    ctx.server
        .config
        .read()
        .enable_module_command
        .allows(crate::commands::server::origin(&ctx.client.handle))
}

fn module_load(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    if !module_allowed(ctx) {
        return Reply::error(MODULE_NOT_ALLOWED);
    }
    tracing::warn!("Module loading is not supported by tandem");
    Reply::error("ERR Error loading the extension. Please check the server logs.")
}

fn module_loadex(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    module_load(ctx, argv)
}

fn module_unload(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    if !module_allowed(ctx) {
        return Reply::error(MODULE_NOT_ALLOWED);
    }
    Reply::error("ERR Error unloading module: no such module with that name")
}

fn module_help(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    crate::commands::server::help_reply(
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    )
}
