//! `INFO [section ...]` as Redis 7.0 answers it: every section, its field names in Redis's
//! order, and the figures the backend knows ([`Figures`]); what a mock has no counterpart for
//! (forks, replication offsets, allocator internals) reads as an idle Redis reports it.

use super::conn::VERSION;
use super::reply::Reply;

/// What the backend measured; the defaults are those of an idle server with no data.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub uptime_seconds: u64,
    pub hz: i64,
    pub connected_clients: usize,
    pub blocked_clients: usize,
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub total_error_replies: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    /// An estimate: Redis's memory at startup plus the size of keys and values.
    pub used_memory: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub cached_scripts: usize,
    pub pubsub_channels: usize,
    pub pubsub_patterns: usize,
    pub pubsubshard_channels: usize,
    /// Client-side caching: connections with tracking on, keys in the tracking table, their
    /// connections in all, and distinct `BCAST` prefixes.
    pub tracking_clients: usize,
    pub tracking_total_keys: usize,
    pub tracking_total_items: usize,
    pub tracking_total_prefixes: usize,
    /// `cmdstat_get:calls=...` lines.
    pub commandstats: Vec<String>,
    /// `errorstat_ERR:count=...` lines.
    pub errorstats: Vec<String>,
    /// `db0:keys=...` lines.
    pub keyspace: Vec<String>,
}

/// What Redis 7.0 reports as `used_memory` right after starting.
pub const STARTUP_MEMORY: u64 = 876_216;

impl Default for Figures {
    fn default() -> Self {
        Figures {
            uptime_seconds: 0,
            hz: 10,
            connected_clients: 1,
            blocked_clients: 0,
            total_connections_received: 1,
            total_commands_processed: 0,
            total_error_replies: 0,
            keyspace_hits: 0,
            keyspace_misses: 0,
            expired_keys: 0,
            used_memory: STARTUP_MEMORY,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            cached_scripts: 0,
            pubsub_channels: 0,
            pubsub_patterns: 0,
            pubsubshard_channels: 0,
            tracking_clients: 0,
            tracking_total_keys: 0,
            tracking_total_items: 0,
            tracking_total_prefixes: 0,
            commandstats: Vec::new(),
            errorstats: Vec::new(),
            keyspace: Vec::new(),
        }
    }
}

/// The sections in Redis's order, and whether `INFO` without arguments (`default`) has them.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// `INFO [section ...]`: the sections asked for, in Redis's order whatever the order asked.
pub fn info(params: &[Vec<u8>], figures: &Figures) -> Reply {
    let wanted: Vec<String> = params
        .iter()
        .map(|p| String::from_utf8_lossy(p).to_ascii_lowercase())
        .collect();
    let asked = |word: &str| wanted.iter().any(|w| w == word);
    let all = asked("all") || asked("everything");
    let default = wanted.is_empty() || asked("default");
    let sections: Vec<String> = SECTIONS
        .iter()
        .filter(|(name, in_default)| all || (default && *in_default) || asked(name))
        .map(|(name, _)| section(name, figures))
        .collect();
    Reply::Verbatim(sections.join("\r\n"))
}

fn section(name: &str, f: &Figures) -> String {
    let (title, lines) = match name {
        "server" => ("Server", fields(&server(f))),
        "clients" => ("Clients", fields(&clients(f))),
        "memory" => ("Memory", fields(&memory(f))),
        "persistence" => ("Persistence", fields(&persistence())),
        "stats" => ("Stats", fields(&stats(f))),
        "replication" => ("Replication", fields(&replication())),
        "cpu" => ("CPU", fields(&cpu())),
        "modules" => ("Modules", Vec::new()),
        "commandstats" => ("Commandstats", f.commandstats.clone()),
        "errorstats" => ("Errorstats", f.errorstats.clone()),
        // The emulator keeps no latency histograms.
        "latencystats" => ("Latencystats", Vec::new()),
        "cluster" => ("Cluster", vec!["cluster_enabled:0".into()]),
        _ => ("Keyspace", f.keyspace.clone()),
    };
    let mut text = format!("# {title}\r\n");
    for line in lines {
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text
}

type Field = (&'static str, String);

fn fields(pairs: &[Field]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("{k}:{v}")).collect()
}

fn s(text: &str) -> String {
    text.to_string()
}

fn server(f: &Figures) -> Vec<Field> {
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let executable = std::env::current_exe().map_or_else(|_| s(""), |p| p.display().to_string());
    vec![
        ("redis_version", s(VERSION)),
        ("redis_git_sha1", s("00000000")),
        ("redis_git_dirty", s("0")),
        ("redis_build_id", s("mocket")),
        ("redis_mode", s("standalone")),
        ("os", s("mocket emulator")),
        ("arch_bits", s("64")),
        ("monotonic_clock", s("POSIX clock_gettime")),
        ("multiplexing_api", s("epoll")),
        ("atomicvar_api", s("c11-builtin")),
        ("gcc_version", s("0.0.0")),
        ("process_id", std::process::id().to_string()),
        ("process_supervised", s("no")),
        ("run_id", "0".repeat(40)),
        ("tcp_port", s("6379")),
        ("server_time_usec", now_us.to_string()),
        ("uptime_in_seconds", f.uptime_seconds.to_string()),
        ("uptime_in_days", (f.uptime_seconds / 86_400).to_string()),
        ("hz", f.hz.to_string()),
        ("configured_hz", f.hz.to_string()),
        ("lru_clock", ((now_us / 1_000_000) & 0xff_ffff).to_string()),
        ("executable", executable),
        ("config_file", s("")),
        ("io_threads_active", s("0")),
    ]
}

fn clients(f: &Figures) -> Vec<Field> {
    vec![
        ("connected_clients", f.connected_clients.to_string()),
        ("cluster_connections", s("0")),
        ("maxclients", s("10000")),
        ("client_recent_max_input_buffer", s("0")),
        ("client_recent_max_output_buffer", s("0")),
        ("blocked_clients", f.blocked_clients.to_string()),
        ("tracking_clients", f.tracking_clients.to_string()),
        ("clients_in_timeout_table", f.blocked_clients.to_string()),
    ]
}

/// `943.24K` as Redis's `bytesToHuman` writes sizes.
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    let units = [
        (1u64 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
    ];
    for (size, unit) in units {
        if n >= size as f64 {
            return format!("{:.2}{unit}", n / size as f64);
        }
    }
    if n >= 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else {
        format!("{n}B")
    }
}

fn memory(f: &Figures) -> Vec<Field> {
    let used = f.used_memory;
    let dataset = used.saturating_sub(STARTUP_MEMORY);
    let dataset_perc = 100.0 * dataset as f64 / used.max(1) as f64;
    vec![
        ("used_memory", used.to_string()),
        ("used_memory_human", human_bytes(used)),
        ("used_memory_rss", used.to_string()),
        ("used_memory_rss_human", human_bytes(used)),
        ("used_memory_peak", used.to_string()),
        ("used_memory_peak_human", human_bytes(used)),
        ("used_memory_peak_perc", s("100.00%")),
        ("used_memory_overhead", STARTUP_MEMORY.to_string()),
        ("used_memory_startup", STARTUP_MEMORY.to_string()),
        ("used_memory_dataset", dataset.to_string()),
        ("used_memory_dataset_perc", format!("{dataset_perc:.2}%")),
        ("allocator_allocated", used.to_string()),
        ("allocator_active", used.to_string()),
        ("allocator_resident", used.to_string()),
        ("total_system_memory", s("0")),
        ("total_system_memory_human", s("0B")),
        ("used_memory_lua", s("32768")),
        ("used_memory_vm_eval", s("32768")),
        ("used_memory_lua_human", s("32.00K")),
        ("used_memory_scripts_eval", s("0")),
        ("number_of_cached_scripts", f.cached_scripts.to_string()),
        ("number_of_functions", s("0")),
        ("number_of_libraries", s("0")),
        ("used_memory_vm_functions", s("32768")),
        ("used_memory_vm_total", s("65536")),
        ("used_memory_vm_total_human", s("64.00K")),
        ("used_memory_functions", s("0")),
        ("used_memory_scripts", s("0")),
        ("used_memory_scripts_human", s("0B")),
        ("maxmemory", f.maxmemory.to_string()),
        ("maxmemory_human", human_bytes(f.maxmemory)),
        ("maxmemory_policy", f.maxmemory_policy.clone()),
        ("allocator_frag_ratio", s("1.00")),
        ("allocator_frag_bytes", s("0")),
        ("allocator_rss_ratio", s("1.00")),
        ("allocator_rss_bytes", s("0")),
        ("rss_overhead_ratio", s("1.00")),
        ("rss_overhead_bytes", s("0")),
        ("mem_fragmentation_ratio", s("1.00")),
        ("mem_fragmentation_bytes", s("0")),
        ("mem_not_counted_for_evict", s("0")),
        ("mem_replication_backlog", s("0")),
        ("mem_total_replication_buffers", s("0")),
        ("mem_clients_slaves", s("0")),
        ("mem_clients_normal", s("0")),
        ("mem_cluster_links", s("0")),
        ("mem_aof_buffer", s("0")),
        ("mem_allocator", s("libc")),
        ("active_defrag_running", s("0")),
        ("lazyfree_pending_objects", s("0")),
        ("lazyfreed_objects", s("0")),
    ]
}

fn persistence() -> Vec<Field> {
    let zero = [
        "loading",
        "async_loading",
        "current_cow_peak",
        "current_cow_size",
        "current_cow_size_age",
    ];
    let mut out: Vec<Field> = zero.iter().map(|k| (*k, s("0"))).collect();
    out.extend([
        ("current_fork_perc", s("0.00")),
        ("current_save_keys_processed", s("0")),
        ("current_save_keys_total", s("0")),
        ("rdb_changes_since_last_save", s("0")),
        ("rdb_bgsave_in_progress", s("0")),
        ("rdb_last_save_time", s("0")),
        ("rdb_last_bgsave_status", s("ok")),
        ("rdb_last_bgsave_time_sec", s("-1")),
        ("rdb_current_bgsave_time_sec", s("-1")),
        ("rdb_saves", s("0")),
        ("rdb_last_cow_size", s("0")),
        ("rdb_last_load_keys_expired", s("0")),
        ("rdb_last_load_keys_loaded", s("0")),
        ("aof_enabled", s("0")),
        ("aof_rewrite_in_progress", s("0")),
        ("aof_rewrite_scheduled", s("0")),
        ("aof_last_rewrite_time_sec", s("-1")),
        ("aof_current_rewrite_time_sec", s("-1")),
        ("aof_last_bgrewrite_status", s("ok")),
        ("aof_rewrites", s("0")),
        ("aof_rewrites_consecutive_failures", s("0")),
        ("aof_last_write_status", s("ok")),
        ("aof_last_cow_size", s("0")),
        ("module_fork_in_progress", s("0")),
        ("module_fork_last_cow_size", s("0")),
    ]);
    out
}

fn stats(f: &Figures) -> Vec<Field> {
    let zeros =
        |names: &[&'static str]| -> Vec<Field> { names.iter().map(|k| (*k, s("0"))).collect() };
    let mut out = vec![
        (
            "total_connections_received",
            f.total_connections_received.to_string(),
        ),
        (
            "total_commands_processed",
            f.total_commands_processed.to_string(),
        ),
        ("instantaneous_ops_per_sec", s("0")),
        ("total_net_input_bytes", s("0")),
        ("total_net_output_bytes", s("0")),
        ("total_net_repl_input_bytes", s("0")),
        ("total_net_repl_output_bytes", s("0")),
        ("instantaneous_input_kbps", s("0.00")),
        ("instantaneous_output_kbps", s("0.00")),
        ("instantaneous_input_repl_kbps", s("0.00")),
        ("instantaneous_output_repl_kbps", s("0.00")),
    ];
    out.extend(zeros(&[
        "rejected_connections",
        "sync_full",
        "sync_partial_ok",
        "sync_partial_err",
    ]));
    out.extend([
        ("expired_keys", f.expired_keys.to_string()),
        ("expired_stale_perc", s("0.00")),
    ]);
    out.extend(zeros(&[
        "expired_time_cap_reached_count",
        "expire_cycle_cpu_milliseconds",
        "evicted_keys",
        "evicted_clients",
        "total_eviction_exceeded_time",
        "current_eviction_exceeded_time",
    ]));
    out.extend([
        ("keyspace_hits", f.keyspace_hits.to_string()),
        ("keyspace_misses", f.keyspace_misses.to_string()),
        ("pubsub_channels", f.pubsub_channels.to_string()),
        ("pubsub_patterns", f.pubsub_patterns.to_string()),
        ("pubsubshard_channels", f.pubsubshard_channels.to_string()),
    ]);
    out.extend(zeros(&[
        "latest_fork_usec",
        "total_forks",
        "migrate_cached_sockets",
        "slave_expires_tracked_keys",
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ]));
    out.extend([
        ("tracking_total_keys", f.tracking_total_keys.to_string()),
        ("tracking_total_items", f.tracking_total_items.to_string()),
        (
            "tracking_total_prefixes",
            f.tracking_total_prefixes.to_string(),
        ),
    ]);
    out.extend(zeros(&["unexpected_error_replies"]));
    out.push(("total_error_replies", f.total_error_replies.to_string()));
    out.extend(zeros(&["dump_payload_sanitizations"]));
    out.extend([
        (
            "total_reads_processed",
            f.total_commands_processed.to_string(),
        ),
        (
            "total_writes_processed",
            f.total_commands_processed.to_string(),
        ),
    ]);
    out.extend(zeros(&[
        "io_threaded_reads_processed",
        "io_threaded_writes_processed",
        "reply_buffer_shrinks",
        "reply_buffer_expands",
    ]));
    out
}

fn replication() -> Vec<Field> {
    vec![
        ("role", s("master")),
        ("connected_slaves", s("0")),
        ("master_failover_state", s("no-failover")),
        ("master_replid", "0".repeat(40)),
        ("master_replid2", "0".repeat(40)),
        ("master_repl_offset", s("0")),
        ("second_repl_offset", s("-1")),
        ("repl_backlog_active", s("0")),
        ("repl_backlog_size", s("1048576")),
        ("repl_backlog_first_byte_offset", s("0")),
        ("repl_backlog_histlen", s("0")),
    ]
}

fn cpu() -> Vec<Field> {
    [
        "used_cpu_sys",
        "used_cpu_user",
        "used_cpu_sys_children",
        "used_cpu_user_children",
        "used_cpu_sys_main_thread",
        "used_cpu_user_main_thread",
    ]
    .iter()
    .map(|k| (*k, s("0.000000")))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(params: &[&str], f: &Figures) -> String {
        let params: Vec<Vec<u8>> = params.iter().map(|p| p.as_bytes().to_vec()).collect();
        let Reply::Verbatim(text) = info(&params, f) else {
            panic!("INFO answers verbatim text");
        };
        text
    }

    fn headers(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with('#')).collect()
    }

    #[test]
    fn sections_come_in_redis_order_whatever_was_asked() {
        let f = Figures::default();
        assert_eq!(
            headers(&text(&[], &f)),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        assert_eq!(headers(&text(&["all"], &f)).len(), 13);
        assert_eq!(headers(&text(&["everything"], &f)).len(), 13);
        assert_eq!(
            headers(&text(&["KEYSPACE", "server", "nosuch"], &f)),
            ["# Server", "# Keyspace"]
        );
        assert_eq!(headers(&text(&["default", "commandstats"], &f)).len(), 12);
        assert_eq!(text(&["nosuch"], &f), "");
    }

    #[test]
    fn figures_are_reported_and_sections_end_lines_with_crlf() {
        let f = Figures {
            keyspace_hits: 3,
            commandstats: vec!["cmdstat_get:calls=1".into()],
            keyspace: vec!["db0:keys=1,expires=0,avg_ttl=0".into()],
            ..Figures::default()
        };
        let all = text(&["all"], &f);
        assert!(all.contains("\r\nkeyspace_hits:3\r\n"));
        assert!(all.contains("# Commandstats\r\ncmdstat_get:calls=1\r\n\r\n# Errorstats"));
        assert!(all.ends_with("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"));
        assert_eq!(human_bytes(965_880), "943.24K");
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1 << 30), "1.00G");
    }
}
