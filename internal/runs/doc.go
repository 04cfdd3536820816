// Package runs is the registry of batch runs in the PostgreSQL table batch_runs, and
// the lock that lets one batch run at a time across every replica.
//
// # Life of a run
//
//	running ──► published ──► expired
//	   │
//	   └──────► failed
//
// Start records a run as running once its caller holds the Lock; the table's partial
// unique index allows one running row, whoever inserts it. Publish makes the run the
// served one in one transaction, which also sends NOTIFY batch_published with the run
// id as payload (delivered at commit) for whoever wants to react at once, such as the
// speed layer rebasing onto the new view. Fail records why a run ended without
// publishing. Expire retires published runs beyond the newest few, whose batch_view
// partitions the caller drops. Every transition out of running is guarded by
// status = 'running', so a run that a new trigger already declared abandoned cannot
// publish any more.
//
// Readers only ever see published runs: Published returns the served one, the
// published run with the newest published_at.
//
// # Lock
//
// TryLock takes a PostgreSQL session advisory lock on a connection of its own and holds
// it until Release. A process that dies, or loses its connection, loses the lock with
// its session, so a lock holder that finds a running row knows that its process is
// gone: AbandonRunning marks such rows failed. LockImports is a second lock, which
// serialises Parquet imports into the master dataset.
//
// # Shards
//
// A sharded run has a row per shard in batch_run_shards (CreateShards), each
// pending ──► running ──► succeeded | failed. ClaimShard hands a pending shard of a
// running run to one worker, once; CompleteShard and FailShard record its counts or
// its error. The worker holds LockShard (an advisory lock on the pair run id, shard)
// while it works, so WorkerGone can tell a running shard whose worker died. PublishShards
// publishes the run only if every shard row, locked FOR UPDATE in the same transaction,
// says succeeded, with the sums of their counts.
package runs
