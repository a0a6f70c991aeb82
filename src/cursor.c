/*-------------------------------------------------------------------------
 *
 * cursor.c
 *	  The shared read cursor: where a queue's reads start scanning.
 *
 * Acked messages leave dead rows at the head of a queue's table.  While a
 * snapshot older than them is held anywhere in the cluster (a long report,
 * a forgotten BEGIN, a standby's feedback), vacuum cannot remove them, and
 * their index entries cannot be marked dead, so a scan "from the lowest
 * id" walks every one of them on every read: that is why hand-written
 * SKIP LOCKED queues slow down without bound under a held xmin.  mq keeps,
 * per queue and in shared memory, a position `pos` such that no message
 * with id < pos can be visible unless an event recorded here says so, and
 * reads scan from pos.
 *
 * Cursor model
 * ------------
 * 1. A read (read.c) takes pos, claims up to qty visible messages with
 *    id >= pos, then summarises the id range it passed over: the lowest id
 *    and earliest vt of messages with a future vt (leased or delayed), and
 *    the lowest id of a message that is still visible but not its own
 *    (locked by another reader, or committed after its scan started).  It
 *    proposes a new pos just past what it claimed, never past that first
 *    still-visible message; the future messages it passed are recorded
 *    in the "future" mark (fut_id, fut_at).  Its own claims are not: a
 *    claim slot holds the lowest id its transaction claimed until the
 *    transaction ends (reads' floor), and at commit the leases it still
 *    holds join the mark (step 4).
 *
 * 2. When fut_at has passed, the next read lowers pos to fut_id and clears
 *    the mark: the range is walked again, due messages are claimed, and the
 *    ones still in the future are recorded again by step 1.
 *
 * 3. Uncommitted sends are invisible to the summary, so pos must not pass
 *    them: a sender takes a slot in the queue's state before its INSERT
 *    (with id 0, "unknown yet"), fills in its first id, and frees the slot
 *    when its transaction ends; reads cap their new pos at the lowest id of
 *    any taken slot.  A sender that commits between a read's scan and the
 *    read's look at the slots would slip through; so a committing sender
 *    also pushes its first id into a ring numbered by commit_seq, and a
 *    read caps at every id pushed since it started (or, if the ring has
 *    wrapped since, does not advance at all).
 *
 * 4. Events that make a message below pos visible or due later are applied
 *    when the transaction that caused them ends (events.c's callbacks call
 *    mq_cursor_xact_end and mq_cursor_subxact_abort, which must not
 *    throw).  A full read moves past rows other transactions hold
 *    locked, so every call that locks rows (read, ack, nack, archive,
 *    set_vt, purge) first notes the lowest id it may lock, and a rollback
 *    (whole transaction or savepoint) lowers pos to it: the locked rows are
 *    as they were and may be visible; a committed nack/set_vt to "now"
 *    lowers pos to that id; a committed lease, nack delay or set_vt to a
 *    later time merges into the future mark.  Lowering pos bumps `gen`, and
 *    a read only writes back a new pos if gen has not changed since it
 *    started, so a stale read cannot undo a lowering.
 *
 * 5. PREPARE TRANSACTION has no callback at COMMIT/ROLLBACK PREPARED.  A
 *    prepared transaction's slots are kept, tagged with its xid; reads look
 *    at tagged slots and, once the xid is no longer in progress, apply the
 *    outcome conservatively (push the send into the ring; lower pos to the
 *    lowest id it claimed or changed).  After a server restart the shared
 *    state is empty and prepared transactions may survive: tracking stays
 *    off (reads scan from the head, which is always correct) until a check
 *    finds no prepared transaction left from before.
 *
 * Everything here is a hint in the safe direction: a read that cannot
 * track (no shared memory because mq is not preloaded, the queue table is
 * full, REPEATABLE READ or SERIALIZABLE isolation, or a slot overflow)
 * scans from the head or does not write back, which is slower but never
 * misses a message.
 *
 * Shared memory is fixed: mq.max_queues states, allocated at startup, and
 * a hash table from (database, table) to a state, both sized once and
 * never grown (the server's spare shared memory belongs to its lock table
 * and others).  A state is given back when the queue's drop commits
 * (mq.drop_queue, DROP EXTENSION mq: the states the dropping transaction
 * saw, so that queues it created afterwards keep theirs) and when its
 * database is dropped (the launcher).  Nothing can use a dropped queue's
 * state then: every call holds a lock on the queue's table that the drop
 * waited for, and a state's key is cleared under its spinlock before it
 * is reused, so a stale pointer compares unequal (same_queue).
 *
 * Past mq.max_queues queues at once, a queue that finds no free state is
 * marked "denied" in a small shared bitmap (by a hash of its key) and stays
 * untracked, and correct, until the server restarts, even if states are
 * given back meanwhile: a backend that saw "no state" may still send
 * without a slot, so such a queue must never get a state that readers
 * would track.  Other queues (dropped and created again, new ones) get
 * the states given back.  The first denial is logged once.
 *
 * Wake-ups: nothing here wakes a waiter or the worker.  What a change
 * calls for (a commit made messages visible, a due time moved earlier, a
 * notification is pending) is noted in the caller's MqEffects (effects.h),
 * and the caller applies it through events.c once the state is consistent.
 *
 * Locking protocol: the hash table of queue states, the free list, the
 * denied bitmap and each state's in_use flag are protected by the "mq"
 * LWLock (shared to look up, exclusive to add or remove an entry).  Every
 * other field of one MqCursorState, its key included, is protected by its
 * spinlock `mutex` (initialised once, at startup); nothing is done while
 * holding it but reading and writing those fields.
 *
 * Its part of the read path (read.c): step 2 (where the scan starts, and
 * whether a partition can be passed over without SQL), step 6 (moving the
 * position on) and step 8 (what a transaction's end does to the state).
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/cursor.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "common/hashfn.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "effects.h"
#include "mq.h"

#define MQ_SLOTS 64				/* concurrent sending transactions tracked */
#define MQ_RING 128				/* committed sends remembered */
#define MQ_CLAIM_SLOTS 64		/* transactions with claims in flight tracked */

typedef struct MqSlot
{
	bool		in_use;
	bool		prepared;		/* owned by prepared transaction xid */
	bool		touch_only;		/* prepared claims/vt changes, not a send */
	bool		notify;			/* prepared send to a notify queue */
	TransactionId xid;
	int64		min_id;			/* lowest id involved; 0 = not known yet */
} MqSlot;

typedef struct MqCursorKey
{
	Oid			dbid;
	Oid			relid;
} MqCursorKey;

typedef struct MqCursorState
{
	MqCursorKey key;			/* dbid InvalidOid: free */
	Oid			wake_relid;		/* the queue's partition 0: its waiters' key */
	slock_t		mutex;
	bool		in_use;			/* taken (under the "mq" LWLock) */
	bool		disabled;		/* lost track (prepared overflow): scan from head */
	int64		pos;
	uint64		gen;
	int64		lvl_pos[MQ_MAX_PRIORITY + 1];	/* priority level L > 0: where its
												 * scan may start ... */
	uint64		lvl_gen[MQ_MAX_PRIORITY + 1];	/* ... while gen is this */
	bool		lvl_used[MQ_MAX_PRIORITY + 1];	/* it had a position once */
	int64		lvl_top[MQ_MAX_PRIORITY + 1];	/* highest id sent at level L */
	bool		top_known;		/* top_init is set: */
	int64		top_init;		/* no id above it was given before the state */
	bool		has_future;
	int64		fut_id;
	TimestampTz fut_at;
	uint64		commit_seq;
	int64		ring[MQ_RING];
	int			overflow;		/* senders that found no free slot */
	int			nprepared;		/* slots with prepared set */
	int			nwaiters;		/* consumers waiting in mq.read (wait.c) */
	bool		fut_woken;		/* the worker woke a waiter for fut_at */
	bool		notify_pending; /* a send committed; the worker must NOTIFY */
	char		name[NAMEDATALEN];	/* queue name, for the worker's NOTIFY */
	TimestampTz since;			/* when the counters below were reset */
	uint64		counters[MQ_NUM_COUNTERS];	/* committed events, since then */
	uint64		lat[MQ_NUM_LAT][MQ_LAT_BUCKETS];	/* latencies, since then */
	double		lat_sum[MQ_NUM_LAT];	/* their sums, in seconds */
	int64		win_stamp[MQ_WIN_SLOTS];	/* the last minute: which 10 s each
											 * slot counts (time / 10 s) */
	uint32		win_counters[MQ_WIN_SLOTS][MQ_NUM_COUNTERS];
	uint32		win_lat[MQ_WIN_SLOTS][MQ_NUM_LAT][MQ_LAT_BUCKETS];
	double		win_lat_sum[MQ_WIN_SLOTS][MQ_NUM_LAT];
	int			rb_pending;		/* messages with rolled-back deliveries to
								 * record (rollback.c) */
	int			rb_prepared;	/* ... and with deliveries a prepared
								 * transaction holds */
	MqSlot		slots[MQ_SLOTS];
	int64		claim_mins[MQ_CLAIM_SLOTS]; /* lowest id each open transaction
											 * claimed (0: free): see floor */
} MqCursorState;

/* Bits of the denied set (queues untracked until restart). */
#define MQ_DENIED_BITS 8192

typedef struct MqCursorShared
{
	LWLock	   *lock;
	slock_t		mutex;
	volatile bool prepared_clean;	/* no prepared xact from before startup left */
	TimestampTz next_prepared_check;
	bool		warned_full;	/* the first denial was logged */
	int			nfree;			/* free states, their indexes in free[] */
	uint8		denied[MQ_DENIED_BITS / 8];
	int			free[FLEXIBLE_ARRAY_MEMBER];
} MqCursorShared;

/* An entry of the hash table: which state serves a queue. */
typedef struct MqCursorHashEntry
{
	MqCursorKey key;
	int			index;
} MqCursorHashEntry;

/* What this backend's transaction did to one queue. */
typedef struct MqXactNote
{
	MqCursorState *state;
	MqCursorKey key;
	Oid			wake;			/* the queue's waiters' key (wake_relid) */
	int			slot;			/* send slot, or -1 */
	bool		sent;
	bool		overflowed;
	bool		notify;			/* the queue has notify on */
	int			nvisible;		/* messages this commit makes visible now */
	bool		send_due;		/* sent delayed messages */
	int64		send_due_min;
	TimestampTz send_due_at;
	bool		claimed;
	int			nclaimed;
	int64		claim_min;
	TimestampTz claim_vt;
	bool		vt_now;
	int64		vt_now_min;
	bool		vt_future;
	int64		vt_future_min;
	TimestampTz vt_future_at;
	bool		touched;		/* locked rows that an abort makes visible again */
	int64		touched_min;
	bool		claim_ids_lost; /* some claimed ids were not kept (claimed_ids) */
	int			claim_slot;		/* index in claim_mins, or -1 */
	bool		claim_slot_tried;	/* none was free */
} MqXactNote;

/*
 * The ids this transaction claimed, and whether (in which subtransaction)
 * it acked or archived them: at commit only the leases still held join
 * the future mark, so a read and ack in one transaction, the usual
 * consumer, leaves no mark behind (it would hold the mark's id, and the
 * lowest id a message may have, at the oldest message read for a whole
 * visibility timeout).  Past MQ_MAX_CLAIMED_IDS, the note's claim_min
 * counts, as if nothing was acked.
 */
#define MQ_MAX_CLAIMED_IDS 1024

typedef struct MqClaimedId
{
	int			note;			/* index in notes[] */
	int64		id;
	SubTransactionId acked;		/* 0: still leased */
} MqClaimedId;

static MqClaimedId *claimed_ids = NULL;
static int	nclaimed_ids = 0;
static int	maxclaimed_ids = 0;

/*
 * A failure this transaction counted for a queue (nack, lease expiry, dead
 * letter), kept with the subtransaction that counted it: a rolled-back
 * savepoint drops its counts, and a commit adds the rest to the queue's
 * shared counters.
 */
typedef struct MqPendingCount
{
	MqCursorState *state;
	MqCursorKey key;
	int			which;			/* an MqCounter, or -1: a latency */
	int			lat;			/* a latency: its MqLatency, */
	int			bucket;			/* its bucket */
	double		secs;			/* and the sum of the n of it */
	int			n;
	SubTransactionId subid;
	bool		applied;		/* added at commit already (at_commit) */
} MqPendingCount;

static MqPendingCount *counts = NULL;
static int	ncounts = 0;
static int	maxcounts = 0;

static MqCursorShared *cursor_shared = NULL;
static MqCursorState *cursor_states = NULL;
static HTAB *cursor_hash = NULL;

/* States this transaction's drops give back at commit (their keys). */
typedef struct MqForget
{
	MqCursorKey key;
	SubTransactionId subid;
} MqForget;

static MqForget *forgets = NULL;
static int	nforgets = 0;
static int	maxforgets = 0;

static void *grow_array(void *arr, int *max, Size elemsize);
static void processed(MqQueue *queue, int64 id);
static void apply_counts_of(MqCursorState *state, const MqCursorKey *key, TimestampTz now);
static void init_state(MqCursorState *state, const MqCursorKey *key, const char *name,
					   Oid wake_relid);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static MqXactNote *notes = NULL;
static int	nnotes = 0;
static int	maxnotes = 0;
static TransactionId prepare_xid = InvalidTransactionId;

/*
 * reset_metrics
 *		Zero a state's counters and latencies, as of now.  Caller holds the
 *		mutex, or owns the state alone.
 */
static void
reset_metrics(MqCursorState *state, TimestampTz now)
{
	state->since = now;
	memset(state->counters, 0, sizeof(state->counters));
	memset(state->lat, 0, sizeof(state->lat));
	memset(state->lat_sum, 0, sizeof(state->lat_sum));
	memset(state->win_stamp, 0, sizeof(state->win_stamp));
	memset(state->win_counters, 0, sizeof(state->win_counters));
	memset(state->win_lat, 0, sizeof(state->win_lat));
	memset(state->win_lat_sum, 0, sizeof(state->win_lat_sum));
}

/*
 * win_slot
 *		The slot of the last minute that counts now, emptied if it last
 *		counted an older 10 s.  Caller holds the mutex.
 */
static int
win_slot(MqCursorState *state, TimestampTz now)
{
	int64		stamp = now / (MQ_WIN_SECS * USECS_PER_SEC);
	int			i = (int) (stamp % MQ_WIN_SLOTS);

	if (i < 0)
		i += MQ_WIN_SLOTS;
	if (state->win_stamp[i] != stamp)
	{
		state->win_stamp[i] = stamp;
		memset(state->win_counters[i], 0, sizeof(state->win_counters[i]));
		memset(state->win_lat[i], 0, sizeof(state->win_lat[i]));
		memset(state->win_lat_sum[i], 0, sizeof(state->win_lat_sum[i]));
	}
	return i;
}

/* Count n events; caller holds the mutex. */
static void
add_counter(MqCursorState *state, int which, int n, TimestampTz now)
{
	state->counters[which] += n;
	state->win_counters[win_slot(state, now)][which] += n;
}

static Size
cursor_shared_size(void)
{
	return add_size(offsetof(MqCursorShared, free), mul_size(mq_max_queues, sizeof(int)));
}

static Size
cursor_shmem_size(void)
{
	Size		size = MAXALIGN(cursor_shared_size());

	size = add_size(size, MAXALIGN(mul_size(mq_max_queues, sizeof(MqCursorState))));
	return add_size(size, hash_estimate_size(mq_max_queues, sizeof(MqCursorHashEntry)));
}

static void
cursor_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(cursor_shmem_size());
	RequestNamedLWLockTranche("mq", 1);
}

/*
 * Metrics kept over a clean restart, as pg_stat_statements keeps its
 * figures: the postmaster writes every state's counters and latency
 * totals to this file when it shuts down cleanly, and the next start
 * reads them back into states made for those queues, then removes the
 * file (a crash in between leaves none: the counters start again, and
 * counters_since says so).  The last minute's slots are not kept.
 */
#define MQ_METRICS_FILE "pg_stat/mq_metrics.stat"
#define MQ_METRICS_MAGIC (0x6d710001 + MQ_NUM_COUNTERS * 256 + MQ_LAT_BUCKETS * 65536)

typedef struct MqMetricsRecord
{
	MqCursorKey key;
	Oid			wake_relid;
	char		name[NAMEDATALEN];
	TimestampTz since;
	uint64		counters[MQ_NUM_COUNTERS];
	uint64		lat[MQ_NUM_LAT][MQ_LAT_BUCKETS];
	double		lat_sum[MQ_NUM_LAT];
} MqMetricsRecord;

/* on_shmem_exit of the postmaster: write the file (not after a crash). */
static void
metrics_dump(int code, Datum arg)
{
	FILE	   *f;
	int			i;
	int32		magic = MQ_METRICS_MAGIC;
	int32		n = 0;

	if (code != 0 || cursor_states == NULL)
		return;
	f = AllocateFile(MQ_METRICS_FILE ".tmp", PG_BINARY_W);
	if (f == NULL)
		goto error;
	for (i = 0; i < mq_max_queues; i++)
		if (cursor_states[i].in_use && OidIsValid(cursor_states[i].key.dbid))
			n++;
	if (fwrite(&magic, sizeof(magic), 1, f) != 1 || fwrite(&n, sizeof(n), 1, f) != 1)
		goto error;
	for (i = 0; i < mq_max_queues; i++)
	{
		MqCursorState *state = &cursor_states[i];
		MqMetricsRecord rec;

		if (!state->in_use || !OidIsValid(state->key.dbid))
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.key = state->key;
		rec.wake_relid = state->wake_relid;
		strlcpy(rec.name, state->name, NAMEDATALEN);
		rec.since = state->since;
		memcpy(rec.counters, state->counters, sizeof(rec.counters));
		memcpy(rec.lat, state->lat, sizeof(rec.lat));
		memcpy(rec.lat_sum, state->lat_sum, sizeof(rec.lat_sum));
		if (fwrite(&rec, sizeof(rec), 1, f) != 1)
			goto error;
	}
	if (FreeFile(f))
	{
		f = NULL;
		goto error;
	}
	(void) durable_rename(MQ_METRICS_FILE ".tmp", MQ_METRICS_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", MQ_METRICS_FILE ".tmp")));
	if (f != NULL)
		FreeFile(f);
	unlink(MQ_METRICS_FILE ".tmp");
}

/*
 * metrics_load
 *		At startup, in the postmaster, with the states fresh: read the file
 *		a clean shutdown wrote, give each queue in it a state with its
 *		counters, and remove the file.  A file that is not ours, or short,
 *		is logged and ignored.
 */
static void
metrics_load(void)
{
	FILE	   *f;
	int32		magic;
	int32		n;
	int32		i;

	f = AllocateFile(MQ_METRICS_FILE, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", MQ_METRICS_FILE)));
		return;
	}
	if (fread(&magic, sizeof(magic), 1, f) != 1 || magic != MQ_METRICS_MAGIC ||
		fread(&n, sizeof(n), 1, f) != 1 || n < 0)
		goto bad;
	for (i = 0; i < n && cursor_shared->nfree > 0; i++)
	{
		MqMetricsRecord rec;
		MqCursorHashEntry *ent;
		MqCursorState *state;
		bool		found;

		if (fread(&rec, sizeof(rec), 1, f) != 1)
			goto bad;
		rec.name[NAMEDATALEN - 1] = '\0';
		ent = hash_search(cursor_hash, &rec.key, HASH_ENTER_NULL, &found);
		if (ent == NULL || found)
			continue;
		ent->index = cursor_shared->free[--cursor_shared->nfree];
		state = &cursor_states[ent->index];
		state->in_use = true;
		init_state(state, &rec.key, rec.name, rec.wake_relid);
		state->since = rec.since;
		memcpy(state->counters, rec.counters, sizeof(rec.counters));
		memcpy(state->lat, rec.lat, sizeof(rec.lat));
		memcpy(state->lat_sum, rec.lat_sum, sizeof(rec.lat_sum));
	}
	FreeFile(f);
	unlink(MQ_METRICS_FILE);
	return;

bad:
	ereport(LOG,
			(errmsg("ignoring file \"%s\": it is not a metrics file of this version of mq", MQ_METRICS_FILE)));
	FreeFile(f);
	unlink(MQ_METRICS_FILE);
}

static void
cursor_shmem_startup(void)
{
	bool		found;
	bool		found_states;
	HASHCTL		info;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	cursor_shared = ShmemInitStruct("mq cursor", cursor_shared_size(), &found);
	cursor_states = ShmemInitStruct("mq cursor states",
									mul_size(mq_max_queues, sizeof(MqCursorState)),
									&found_states);
	if (!found)
	{
		memset(cursor_shared, 0, cursor_shared_size());
		cursor_shared->lock = &(GetNamedLWLockTranche("mq"))->lock;
		SpinLockInit(&cursor_shared->mutex);
		cursor_shared->prepared_clean = false;
		cursor_shared->next_prepared_check = 0;
		cursor_shared->warned_full = false;
		cursor_shared->nfree = mq_max_queues;
		for (i = 0; i < mq_max_queues; i++)
			cursor_shared->free[i] = mq_max_queues - 1 - i;
	}
	if (!found_states)
	{
		memset(cursor_states, 0, mul_size(mq_max_queues, sizeof(MqCursorState)));
		for (i = 0; i < mq_max_queues; i++)
			SpinLockInit(&cursor_states[i].mutex);
	}

	/* Every entry allocated now; HASH_FIXED_SIZE: never one more. */
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MqCursorKey);
	info.entrysize = sizeof(MqCursorHashEntry);
	cursor_hash = ShmemInitHash("mq cursor hash", mq_max_queues, mq_max_queues,
								&info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);

	/*
	 * In the postmaster: the counters a clean shutdown kept, and the
	 * callback that keeps them at the next one.
	 */
	if (!IsUnderPostmaster)
	{
		if (!found_states)
			metrics_load();
		on_shmem_exit(metrics_dump, (Datum) 0);
	}
	LWLockRelease(AddinShmemInitLock);
}


/*
 * mq_cursor_init
 *		Called from _PG_init; sets up shared memory only when preloading.
 */
void
mq_cursor_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cursor_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cursor_shmem_startup;
}

/*
 * denied_bit
 *		The bit of a queue in the denied set.
 */
static inline uint32
denied_bit(const MqCursorKey *key)
{
	return hash_bytes((const unsigned char *) key, sizeof(MqCursorKey)) % MQ_DENIED_BITS;
}

/*
 * init_state
 *		Make a state serve a queue afresh (nothing known, counters zero).
 *		Caller holds the mutex, or owns the state alone (startup).
 */
static void
init_state(MqCursorState *state, const MqCursorKey *key, const char *name, Oid wake_relid)
{
	state->key = *key;
	state->wake_relid = wake_relid;
	state->disabled = false;
	state->pos = 0;
	state->gen = 0;
	memset(state->lvl_pos, 0, sizeof(state->lvl_pos));
	memset(state->lvl_gen, 0, sizeof(state->lvl_gen));
	memset(state->lvl_used, 0, sizeof(state->lvl_used));
	memset(state->lvl_top, 0, sizeof(state->lvl_top));
	state->top_known = false;
	state->top_init = 0;
	state->has_future = false;
	state->fut_id = 0;
	state->fut_at = 0;
	state->commit_seq = 0;
	state->overflow = 0;
	state->nprepared = 0;
	state->nwaiters = 0;
	state->fut_woken = false;
	state->notify_pending = false;
	strlcpy(state->name, name, NAMEDATALEN);
	reset_metrics(state, GetCurrentTimestamp());
	state->rb_pending = 0;
	state->rb_prepared = 0;
	memset(state->slots, 0, sizeof(state->slots));
	memset(state->claim_mins, 0, sizeof(state->claim_mins));
}

/*
 * mq_cursor_attach
 *		The shared state for a queue table, created if needed; NULL when
 *		not preloaded, or when no state is free (then the queue stays
 *		untracked until restart: see the file header).
 */
MqCursorState *
mq_cursor_attach(Oid relid, const char *name, Oid wake_relid)
{
	MqCursorKey key;
	MqCursorHashEntry *ent;
	MqCursorState *state = NULL;
	bool		found;
	bool		warn = false;
	uint32		bit;

	if (cursor_hash == NULL)
		return NULL;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.relid = relid;

	LWLockAcquire(cursor_shared->lock, LW_SHARED);
	ent = hash_search(cursor_hash, &key, HASH_FIND, NULL);
	if (ent != NULL)
		state = &cursor_states[ent->index];
	LWLockRelease(cursor_shared->lock);
	if (state != NULL)
		return state;

	bit = denied_bit(&key);
	LWLockAcquire(cursor_shared->lock, LW_EXCLUSIVE);
	ent = hash_search(cursor_hash, &key, HASH_FIND, NULL);
	if (ent != NULL)
		state = &cursor_states[ent->index];
	else if ((cursor_shared->denied[bit / 8] & (1 << (bit % 8))) != 0)
		state = NULL;
	else if (cursor_shared->nfree == 0)
	{
		cursor_shared->denied[bit / 8] |= (1 << (bit % 8));
		warn = !cursor_shared->warned_full;
		cursor_shared->warned_full = true;
	}
	else
	{
		int			index = cursor_shared->free[--cursor_shared->nfree];

		ent = hash_search(cursor_hash, &key, HASH_ENTER_NULL, &found);
		Assert(ent != NULL && !found);
		ent->index = index;
		state = &cursor_states[index];
		state->in_use = true;

		SpinLockAcquire(&state->mutex);
		init_state(state, &key, name, wake_relid);
		SpinLockRelease(&state->mutex);
	}
	LWLockRelease(cursor_shared->lock);

	if (warn)
		ereport(LOG,
				(errmsg("mq cannot track queue \"%s\": all %d read cursors (mq.max_queues) are in use",
						name, mq_max_queues),
				 errdetail("Such queues work, but reads scan them from the head and waiting reads poll them every second, until the server restarts."),
				 errhint("Raise mq.max_queues.")));
	return state;
}

/*
 * free_state
 *		Give back the state of one queue, if it has one.  Caller holds the
 *		"mq" LWLock exclusively.  Does not throw.
 */
static void
free_state(const MqCursorKey *key)
{
	MqCursorHashEntry *ent = hash_search(cursor_hash, key, HASH_FIND, NULL);
	MqCursorState *state;

	if (ent == NULL)
		return;
	state = &cursor_states[ent->index];
	SpinLockAcquire(&state->mutex);
	state->key.dbid = InvalidOid;
	state->key.relid = InvalidOid;
	state->nwaiters = 0;
	state->nprepared = 0;
	state->notify_pending = false;
	state->rb_pending = 0;
	state->rb_prepared = 0;
	SpinLockRelease(&state->mutex);
	state->in_use = false;
	cursor_shared->free[cursor_shared->nfree++] = ent->index;
	(void) hash_search(cursor_hash, key, HASH_REMOVE, NULL);
	mq_rollback_forget(key->dbid, key->relid);
}

/*
 * mq_cursor_forget_at_commit
 *		A queue (by name; or with whole_database, every queue of this
 *		database) is being dropped: give back the states it has now when
 *		this transaction commits.
 */
void
mq_cursor_forget_at_commit(const char *name, bool whole_database)
{
	int			i;

	if (cursor_hash == NULL)
		return;
	LWLockAcquire(cursor_shared->lock, LW_SHARED);
	for (i = 0; i < mq_max_queues; i++)
	{
		MqCursorState *state = &cursor_states[i];
		MqCursorKey key;
		bool		match;

		if (!state->in_use)
			continue;
		SpinLockAcquire(&state->mutex);
		key = state->key;
		match = key.dbid == MyDatabaseId &&
			(whole_database || strcmp(state->name, name) == 0);
		SpinLockRelease(&state->mutex);
		if (!match)
			continue;
		if (nforgets == maxforgets)
			forgets = grow_array(forgets, &maxforgets, sizeof(MqForget));
		forgets[nforgets].key = key;
		forgets[nforgets].subid = GetCurrentSubTransactionId();
		nforgets++;
	}
	LWLockRelease(cursor_shared->lock);
}

/*
 * mq_cursor_forget_database
 *		The launcher saw a database go: give back every state it had.
 *		Does not throw.
 */
void
mq_cursor_forget_database(Oid dbid)
{
	int			i;

	if (cursor_hash == NULL)
		return;
	LWLockAcquire(cursor_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < mq_max_queues; i++)
	{
		MqCursorKey key;

		if (!cursor_states[i].in_use)
			continue;
		SpinLockAcquire(&cursor_states[i].mutex);
		key = cursor_states[i].key;
		SpinLockRelease(&cursor_states[i].mutex);
		if (key.dbid == dbid)
			free_state(&key);
	}
	LWLockRelease(cursor_shared->lock);
}

/*
 * apply_forgets
 *		At commit: give back the states of the queues this transaction
 *		dropped.  Does not throw.
 */
static void
apply_forgets(void)
{
	int			i;

	if (nforgets == 0)
		return;
	LWLockAcquire(cursor_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < nforgets; i++)
		free_state(&forgets[i].key);
	LWLockRelease(cursor_shared->lock);
}

/*
 * same_queue
 *		Does the state still belong to this key?  Caller holds its mutex.
 */
static inline bool
same_queue(MqCursorState *state, const MqCursorKey *key)
{
	return state->key.dbid == key->dbid && state->key.relid == key->relid;
}

/* a + b, saturating: counts of messages to wake waiters for. */
static inline int
add_count(int a, int b)
{
	return (a > INT_MAX - b) ? INT_MAX : a + b;
}

/*
 * grow_array
 *		Double a backend-lifetime array of elements of elemsize (8 at
 *		first); *max is its capacity.
 */
static void *
grow_array(void *arr, int *max, Size elemsize)
{
	int			newmax = *max == 0 ? 8 : *max * 2;

	arr = arr == NULL ? MemoryContextAlloc(TopMemoryContext, elemsize * newmax) :
		repalloc(arr, elemsize * newmax);
	*max = newmax;
	return arr;
}

/*
 * note_for
 *		This transaction's note for a queue, created on first use.
 */
static MqXactNote *
note_for(MqQueue *queue)
{
	int			i;
	MqXactNote *note;

	for (i = 0; i < nnotes; i++)
		if (notes[i].state == queue->cursor && notes[i].key.relid == queue->relid)
			return &notes[i];

	if (nnotes == maxnotes)
		notes = grow_array(notes, &maxnotes, sizeof(MqXactNote));
	note = &notes[nnotes++];
	memset(note, 0, sizeof(*note));
	note->state = queue->cursor;
	note->key.dbid = MyDatabaseId;
	note->key.relid = queue->relid;
	note->wake = queue->wake_relid;
	note->slot = -1;
	note->claim_slot = -1;
	return note;
}

/* pos lowering; caller holds the mutex. */
static inline void
lower_pos(MqCursorState *state, int64 id)
{
	if (id < state->pos)
		state->pos = id;
	state->gen++;
}

/*
 * level_pos
 *		Where a scan of priority level l (1 to MQ_MAX_PRIORITY) may start:
 *		the level's own position while no lowering happened since it was
 *		set (every lowering bumps gen, so it lowers every level at once),
 *		and never below pos.  Caller holds the mutex.
 */
static inline int64
level_pos(MqCursorState *state, int l)
{
	if (state->lvl_gen[l] == state->gen && state->lvl_pos[l] > state->pos)
		return state->lvl_pos[l];
	return state->pos;
}

/*
 * cap_newpos
 *		A position a read proposes, capped so that it passes no send that
 *		was uncommitted when it looked (the ring since the scan began, the
 *		taken slots); floor when the ring wrapped or senders went without a
 *		slot.  Caller holds the mutex.
 */
static int64
cap_newpos(MqCursorState *state, MqReadScan *scan, int64 newpos, int64 floor)
{
	int			i;

	if (state->overflow > 0 || state->commit_seq - scan->seq >= MQ_RING)
		return floor;
	else
	{
		uint64		s;

		for (s = scan->seq + 1; s <= state->commit_seq; s++)
			if (state->ring[s % MQ_RING] < newpos)
				newpos = state->ring[s % MQ_RING];
	}
	for (i = 0; i < MQ_SLOTS; i++)
	{
		MqSlot	   *slot = &state->slots[i];

		if (slot->in_use && !slot->touch_only && slot->min_id < newpos)
			newpos = slot->min_id;
	}
	return newpos;
}

/*
 * future-mark merge; caller holds the mutex.  Returns true if the mark's
 * time moved earlier (or the mark is new): the worker, which sleeps until
 * fut_at on behalf of waiters, must look again.
 */
static inline bool
merge_future(MqCursorState *state, int64 id, TimestampTz at)
{
	if (!state->has_future)
	{
		state->has_future = true;
		state->fut_id = id;
		state->fut_at = at;
		state->fut_woken = false;
		return true;
	}
	if (id < state->fut_id)
		state->fut_id = id;
	if (at < state->fut_at)
	{
		state->fut_at = at;
		state->fut_woken = false;
		return true;
	}
	return false;
}

/* ring push; caller holds the mutex. */
static inline void
push_commit(MqCursorState *state, int64 min_id)
{
	state->commit_seq++;
	state->ring[state->commit_seq % MQ_RING] = min_id;
}

/*
 * check_prepared_clean
 *		After startup, tracking waits until no prepared transaction is left
 *		that could predate the shared state.  Looks at most once a second.
 *		Caller is connected to SPI.
 */
static void request_notify(MqCursorState *state, const MqCursorKey *key, MqEffects *fx);

static bool
check_prepared_clean(void)
{
	TimestampTz now;
	bool		clean;
	int			ret;

	/*
	 * Once clean, always clean (new prepared transactions are tracked by
	 * the callbacks), so the common case reads the flag without the lock; a
	 * stale false only sends us down the locked path.
	 */
	if (cursor_shared->prepared_clean)
		return true;

	SpinLockAcquire(&cursor_shared->mutex);
	clean = cursor_shared->prepared_clean;
	now = GetCurrentTimestamp();
	if (!clean && now < cursor_shared->next_prepared_check)
	{
		SpinLockRelease(&cursor_shared->mutex);
		return false;
	}
	if (!clean)
		cursor_shared->next_prepared_check = now + USECS_PER_SEC;
	SpinLockRelease(&cursor_shared->mutex);
	if (clean)
		return true;

	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_prepared_xacts LIMIT 1", true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		SpinLockAcquire(&cursor_shared->mutex);
		cursor_shared->prepared_clean = true;
		SpinLockRelease(&cursor_shared->mutex);
		return true;
	}
	return false;
}

/*
 * settle_prepared
 *		Apply the outcome of prepared transactions that have finished.
 */
static void
settle_prepared(MqCursorState *state, const MqCursorKey *key, MqEffects *fx)
{
	TransactionId xids[MQ_SLOTS];
	int			idx[MQ_SLOTS];
	int			n = 0;
	int			settled = 0;
	int			i;
	Oid			wake = InvalidOid;

	SpinLockAcquire(&state->mutex);
	if (state->nprepared > 0 && same_queue(state, key))
	{
		wake = state->wake_relid;
		for (i = 0; i < MQ_SLOTS; i++)
			if (state->slots[i].in_use && state->slots[i].prepared)
			{
				xids[n] = state->slots[i].xid;
				idx[n++] = i;
			}
	}
	SpinLockRelease(&state->mutex);

	for (i = 0; i < n; i++)
	{
		MqSlot	   *slot = &state->slots[idx[i]];
		bool		notify = false;

		if (TransactionIdIsInProgress(xids[i]))
			continue;
		SpinLockAcquire(&state->mutex);
		if (same_queue(state, key) && slot->in_use && slot->prepared &&
			TransactionIdEquals(slot->xid, xids[i]))
		{
			if (slot->touch_only)
				lower_pos(state, slot->min_id);
			else
				push_commit(state, slot->min_id);
			notify = slot->notify;
			slot->in_use = false;
			state->nprepared--;
			settled++;
		}
		SpinLockRelease(&state->mutex);

		/* Only a commit delivers; a rollback leaves nothing to announce. */
		if (notify && TransactionIdDidCommit(xids[i]))
			request_notify(state, key, fx);
	}

	/*
	 * We do not know what became visible (sends, claims given back, due
	 * times): let every waiter look.  Prepared transactions are rare.
	 */
	if (settled > 0)
		mq_effects_wake(fx, wake, MQ_WAKE_ALL);
}

/*
 * request_notify
 *		Ask the worker to NOTIFY for this queue.
 */
static void
request_notify(MqCursorState *state, const MqCursorKey *key, MqEffects *fx)
{
	SpinLockAcquire(&state->mutex);
	if (same_queue(state, key))
		state->notify_pending = true;
	SpinLockRelease(&state->mutex);
	mq_effects_signal_worker(fx);
}

/*
 * mq_cursor_settle_database
 *		After COMMIT/ROLLBACK PREPARED: settle the prepared slots of every
 *		queue of this database now, waking their waiters, instead of
 *		waiting for the next read.  Not connected to SPI; no catalog access.
 */
void
mq_cursor_settle_database(MqEffects *fx)
{
	MqCursorState *state;
	MqCursorState **found = NULL;
	int			nfound = 0;
	int			maxfound = 0;
	int			i;

	if (cursor_hash == NULL)
		return;

	/*
	 * A prepared transaction from before the last restart is in no slot:
	 * whatever it did, wake every waiter of the database to look.
	 */
	if (!cursor_shared->prepared_clean)
		mq_effects_wake_database(fx);

	LWLockAcquire(cursor_shared->lock, LW_SHARED);
	for (i = 0; i < mq_max_queues; i++)
	{
		state = &cursor_states[i];
		if (!state->in_use || state->key.dbid != MyDatabaseId || state->nprepared == 0)
			continue;
		if (nfound == maxfound)
		{
			maxfound = maxfound == 0 ? 8 : maxfound * 2;
			found = found == NULL ? palloc(sizeof(*found) * maxfound) :
				repalloc(found, sizeof(*found) * maxfound);
		}
		found[nfound++] = state;
	}
	LWLockRelease(cursor_shared->lock);

	/* States stay in shared memory; settle_prepared checks the key. */
	for (i = 0; i < nfound; i++)
	{
		MqCursorKey key = found[i]->key;

		settle_prepared(found[i], &key, fx);
	}
	if (found != NULL)
		pfree(found);
}

static char *
max_id_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 0;
	return psprintf("SELECT pg_catalog.max(id) FROM ONLY %s", q);
}

static const MqPlanDef max_id_plan = {MQ_PLAN_MAX_ID, max_id_sql};

/*
 * learn_top
 *		A new state knows nothing of the levels of the messages already in
 *		the table: take the highest id committed as the top of every level.
 *		Messages above it were sent by transactions still open, each of
 *		which notes its level's top itself before it commits
 *		(mq_cursor_send_done): every sender attached to this state before
 *		it inserted.  The prepared transactions of before a restart, which
 *		will not, are gone: tracking waits for them (check_prepared_clean).
 *		Not the sequence's last value: reading it locks the sequence until
 *		the transaction ends, and a waiting read would hold that lock
 *		against mq.alter_queue.  Caller is connected to SPI.
 */
static void
learn_top(MqQueue *queue, MqCursorState *state, const MqCursorKey *key)
{
	int64		last = 0;
	bool		isnull;

	if (mq_run_plan(queue, &max_id_plan, NULL, NULL, SPI_OK_SELECT) == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			last = DatumGetInt64(d);
	}
	SPI_freetuptable(SPI_tuptable);
	SpinLockAcquire(&state->mutex);
	if (same_queue(state, key) && !state->top_known)
	{
		state->top_init = last;
		state->top_known = true;
	}
	SpinLockRelease(&state->mutex);
}

/*
 * mq_cursor_read_start
 *		Decide where a read scans from.  Caller is connected to SPI.
 */
void
mq_cursor_read_start(MqQueue *queue, TimestampTz now, MqReadScan *scan)
{
	MqCursorState *state = queue->cursor;
	MqCursorKey key;
	int			l;
	bool		learn;

	scan->state = NULL;
	scan->from = 0;
	scan->floor = 0;
	memset(scan->lvl_from, 0, sizeof(scan->lvl_from));
	memset(scan->lvl_used, 0, sizeof(scan->lvl_used));
	memset(scan->lvl_empty, 0, sizeof(scan->lvl_empty));
	for (l = 0; l <= MQ_MAX_PRIORITY; l++)
		scan->lvl_top[l] = -1;
	scan->gen = 0;
	scan->seq = 0;
	scan->track = false;
	mq_effects_init(&scan->fx);
	if (state == NULL || !check_prepared_clean())
		return;

	key.dbid = MyDatabaseId;
	key.relid = queue->relid;
	settle_prepared(state, &key, &scan->fx);

	SpinLockAcquire(&state->mutex);
	if (!same_queue(state, &key) || state->disabled)
	{
		SpinLockRelease(&state->mutex);
		return;
	}
	if (state->has_future && state->fut_at <= now)
	{
		lower_pos(state, state->fut_id);
		state->has_future = false;
	}
	scan->state = state;
	scan->from = state->pos;

	/*
	 * The lowest id a message still in the queue may have: below pos
	 * there are only messages a read passed because they were in the
	 * future (leased, delayed), and each is in the future mark, whose id
	 * is the lowest of them (a mark that fired lowered pos to it).  Rows
	 * a full read passed while other readers held them locked are the
	 * exception: a FIFO group's are never passed (read.c), and the group
	 * probe is floor's only user.
	 */
	scan->floor = state->has_future && state->fut_id < state->pos ? state->fut_id : state->pos;
	for (l = 0; l < MQ_CLAIM_SLOTS; l++)
		if (state->claim_mins[l] > 0 && state->claim_mins[l] < scan->floor)
			scan->floor = state->claim_mins[l];
	for (l = 0; l < MQ_SLOTS; l++)
		if (state->slots[l].in_use && state->slots[l].touch_only &&
			state->slots[l].min_id < scan->floor)
			scan->floor = state->slots[l].min_id;
	scan->gen = state->gen;
	scan->seq = state->commit_seq;
	for (l = 1; l <= MQ_MAX_PRIORITY; l++)
	{
		scan->lvl_from[l] = level_pos(state, l);
		scan->lvl_used[l] = state->lvl_used[l];

		/*
		 * Every message of level l has an id at most lvl_top[l] (or
		 * top_init), or was sent by a transaction still open, or one that
		 * committed after this look (sends note their level's top before
		 * they commit).  Below lvl_from nothing of the level is visible
		 * but what an event says (the position's rule).  So past its top,
		 * the level is empty for this read; a send committing meanwhile is
		 * taken by a later read, and no position passes it (the ring).
		 */
		if (state->top_known)
		{
			scan->lvl_top[l] = Max(state->lvl_top[l], state->top_init);
			scan->lvl_empty[l] = scan->lvl_from[l] > scan->lvl_top[l];
		}
	}
	learn = !state->top_known;
	SpinLockRelease(&state->mutex);

	if (learn)
		learn_top(queue, state, &key);

	/* Only a fresh snapshot per statement can move the cursor forward. */
	scan->track = !IsolationUsesXactSnapshot();
}

/*
 * mq_cursor_nothing_visible
 *		May a read of this queue (a partition) skip its SQL?  Only when no
 *		message at or past the read position was ever given an id (the id
 *		sequence's last value is below pos, or it never gave one), no
 *		future mark is due, and
 *		nothing the position does not cover is in the state (prepared
 *		transactions, senders without a slot, rolled-back deliveries).
 *		False whenever unsure: then the read runs as always.  A send that
 *		takes its id after this look commits after the read began, as it
 *		could have done after a read's snapshot.
 */
bool
mq_cursor_nothing_visible(MqQueue *queue, TimestampTz now)
{
	MqCursorState *state = queue->cursor;
	bool		sure;
	int64		pos;
	int64		last = 0;
	LOCAL_FCINFO(fcinfo, 1);
	Datum		d;

	if (state == NULL || !OidIsValid(queue->seq_relid) || !cursor_shared->prepared_clean)
		return false;
	SpinLockAcquire(&state->mutex);
	sure = state->key.dbid == MyDatabaseId && state->key.relid == queue->relid &&
		!state->disabled && state->nprepared == 0 && state->overflow == 0 &&
		state->rb_pending == 0 && state->rb_prepared == 0 &&
		!(state->has_future && state->fut_at <= now);
	pos = state->pos;

	/* The latest committed send is at or past pos: not empty, surely. */
	if (state->commit_seq > 0 && state->ring[state->commit_seq % MQ_RING] >= pos)
		sure = false;
	SpinLockRelease(&state->mutex);
	if (!sure)
		return false;

	/* The sequence's last value: NULL when it never gave an id. */
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(queue->seq_relid);
	fcinfo->args[0].isnull = false;
	d = pg_sequence_last_value(fcinfo);
	if (fcinfo->isnull)
		return true;			/* no message was ever sent to it */
	last = DatumGetInt64(d);
	return last < pos;
}

/*
 * finish_begin
 *		The common start of a read's write-back (read, level, own): lock
 *		the state and merge the future messages the read passed into the
 *		mark.  Returns the state with its mutex held, or NULL (nothing
 *		held) when the read has no state or it serves another queue now.
 *		*signal: the worker must look again (finish_end).
 */
static MqCursorState *
finish_begin(MqQueue *queue, MqReadScan *scan, bool has_future, int64 future_id,
			 TimestampTz future_at, bool *signal)
{
	MqCursorState *state = scan->state;
	MqCursorKey key;

	*signal = false;
	if (state == NULL)
		return NULL;
	key.dbid = MyDatabaseId;
	key.relid = queue->relid;

	SpinLockAcquire(&state->mutex);
	if (!same_queue(state, &key))
	{
		SpinLockRelease(&state->mutex);
		return NULL;
	}

	/* Someone waits, and the due time the worker sleeps until moved up. */
	if (has_future && merge_future(state, future_id, future_at))
		*signal = state->nwaiters > 0;
	return state;
}

/* The end of a write-back that finish_begin started. */
static void
finish_end(MqCursorState *state, MqReadScan *scan, bool signal)
{
	SpinLockRelease(&state->mutex);
	if (signal)
		mq_effects_signal_worker(&scan->fx);
}

/*
 * mq_cursor_read_finish
 *		Move pos forward to newpos if nothing forbids it, and record the
 *		future messages the read passed over.
 */
void
mq_cursor_read_finish(MqQueue *queue, MqReadScan *scan, int64 newpos,
					  bool has_future, int64 future_id, TimestampTz future_at)
{
	bool		signal;
	MqCursorState *state = finish_begin(queue, scan, has_future, future_id, future_at, &signal);

	if (state == NULL)
		return;
	if (state->gen == scan->gen && newpos > state->pos)
	{
		newpos = cap_newpos(state, scan, newpos, scan->from);
		if (newpos > state->pos)
			state->pos = newpos;
	}
	finish_end(state, scan, signal);
}

/*
 * mq_cursor_level_finish
 *		mq_cursor_read_finish for one priority level (1 to MQ_MAX_PRIORITY)
 *		of a claim by priority: the future messages it passed join the
 *		future mark, and the level's position moves to newpos, capped as
 *		pos is, if no lowering happened since the scan began.  So a level
 *		whose messages are taken while older ones of a lower level wait
 *		starts its next scan past what it took, not at pos (the head of
 *		the lower level) with every dead entry of the level in between.
 */
void
mq_cursor_level_finish(MqQueue *queue, MqReadScan *scan, int level, int64 newpos,
					   bool has_future, int64 future_id, TimestampTz future_at)
{
	bool		signal;
	MqCursorState *state;

	if (level < 1 || level > MQ_MAX_PRIORITY)
		return;
	state = finish_begin(queue, scan, has_future, future_id, future_at, &signal);
	if (state == NULL)
		return;
	if (state->gen == scan->gen && newpos > level_pos(state, level))
	{
		newpos = cap_newpos(state, scan, newpos, scan->lvl_from[level]);
		if (newpos > level_pos(state, level))
		{
			state->lvl_pos[level] = newpos;
			state->lvl_gen[level] = state->gen;
			state->lvl_used[level] = true;
		}
	}
	finish_end(state, scan, signal);
}

/*
 * mq_cursor_own_finish
 *		For a read that keeps a position of its own (a filtered read, in
 *		its backend: read.c): the future messages it passed join the
 *		future mark, and *newpos is capped as pos would be.  Returns false
 *		(nothing may be kept) when a lowering happened since the scan
 *		began.  The caller keeps *newpos with scan->gen, and uses it only
 *		while a scan starts with that generation.
 */
bool
mq_cursor_own_finish(MqQueue *queue, MqReadScan *scan, int64 own_from, int64 *newpos,
					 bool has_future, int64 future_id, TimestampTz future_at)
{
	bool		signal;
	bool		ok = false;
	MqCursorState *state = finish_begin(queue, scan, has_future, future_id, future_at, &signal);

	if (state == NULL)
		return false;
	if (state->gen == scan->gen)
	{
		*newpos = cap_newpos(state, scan, *newpos, own_from);
		ok = true;
	}
	finish_end(state, scan, signal);
	return ok;
}

/*
 * mq_cursor_level_starts
 *		For the worker's check: pos, and each priority level's own start
 *		(starts[1 .. MQ_MAX_PRIORITY]; pos where it has none).  False when
 *		the queue is not tracked.
 */
bool
mq_cursor_level_starts(MqQueue *queue, int64 *pos, int64 *starts)
{
	MqCursorState *state = queue->cursor;
	bool		ok = false;
	int			l;

	if (state == NULL)
		return false;
	SpinLockAcquire(&state->mutex);
	if (state->key.dbid == MyDatabaseId && state->key.relid == queue->relid &&
		!state->disabled)
	{
		*pos = state->pos;
		for (l = 1; l <= MQ_MAX_PRIORITY; l++)
			starts[l] = level_pos(state, l);
		ok = true;
	}
	SpinLockRelease(&state->mutex);
	return ok;
}

/*
 * mq_cursor_send_begin
 *		Take a send slot for this transaction before its first INSERT.
 */
void
mq_cursor_send_begin(MqQueue *queue)
{
	MqXactNote *note;
	MqCursorState *state = queue->cursor;
	int			i;

	if (state == NULL)
		return;
	note = note_for(queue);
	if (note->sent)
		return;

	SpinLockAcquire(&state->mutex);
	if (same_queue(state, &note->key))
	{
		for (i = 0; i < MQ_SLOTS; i++)
		{
			if (!state->slots[i].in_use)
			{
				state->slots[i].in_use = true;
				state->slots[i].prepared = false;
				state->slots[i].touch_only = false;
				state->slots[i].notify = false;
				state->slots[i].xid = InvalidTransactionId;
				state->slots[i].min_id = 0;
				note->slot = i;
				break;
			}
		}
		if (note->slot < 0)
		{
			state->overflow++;
			note->overflowed = true;
		}
		note->sent = true;
	}
	SpinLockRelease(&state->mutex);
}

/*
 * mq_cursor_send_done
 *		Fill in the first id this transaction sent to the queue, and note
 *		what its commit must do: wake one waiter per message visible at
 *		once (vt <= now), or record when delayed ones become due.
 */
void
mq_cursor_send_done(MqQueue *queue, int64 min_id, int n, TimestampTz vt,
					TimestampTz now, const int *prios, const int64 *ids)
{
	MqXactNote *note;
	MqCursorState *state = queue->cursor;
	int64		top[MQ_MAX_PRIORITY + 1];
	bool		levels = false;
	int			i;

	if (state == NULL)
		return;
	note = note_for(queue);
	note->notify = queue->notify;
	mq_cursor_count(queue, MQ_COUNT_SENT, n);
	if (vt <= now)
		note->nvisible = add_count(note->nvisible, n);
	else
	{
		if (!note->send_due || min_id < note->send_due_min)
			note->send_due_min = min_id;
		if (!note->send_due || vt < note->send_due_at)
			note->send_due_at = vt;
		note->send_due = true;
	}

	/* The highest id of each level above 0 among these (read_start). */
	memset(top, 0, sizeof(top));
	for (i = 0; prios != NULL && i < n; i++)
	{
		if (prios[i] > 0 && prios[i] <= MQ_MAX_PRIORITY && ids[i] > top[prios[i]])
		{
			top[prios[i]] = ids[i];
			levels = true;
		}
	}
	if (note->slot < 0 && !levels)
		return;
	SpinLockAcquire(&state->mutex);
	if (same_queue(state, &note->key))
	{
		if (note->slot >= 0 && state->slots[note->slot].min_id == 0)
			state->slots[note->slot].min_id = min_id;
		for (i = 1; levels && i <= MQ_MAX_PRIORITY; i++)
			if (top[i] > state->lvl_top[i])
				state->lvl_top[i] = top[i];
	}
	SpinLockRelease(&state->mutex);
}

/*
 * mq_cursor_acked
 *		This transaction (its current subtransaction) removed message id
 *		(ack, archive): if it had claimed it, the lease is gone with it.
 */
void
mq_cursor_acked(MqQueue *queue, int64 id)
{
	int			i;

	if (queue->cursor == NULL)
		return;
	processed(queue, id);
	for (i = 0; i < nclaimed_ids; i++)
	{
		MqClaimedId *c = &claimed_ids[i];

		if (c->id == id && c->acked == InvalidSubTransactionId &&
			notes[c->note].state == queue->cursor && notes[c->note].key.relid == queue->relid)
			c->acked = GetCurrentSubTransactionId();
	}
}

/*
 * live_claims
 *		At commit: does the note hold leases that outlive the transaction,
 *		and from which id?  Its claim_min when some claimed ids were not
 *		kept.
 */
static bool
live_claims(MqXactNote *note, int64 *min_id)
{
	int			idx = (int) (note - notes);
	bool		any = false;
	int			i;

	if (!note->claimed)
		return false;
	if (note->claim_ids_lost)
	{
		*min_id = note->claim_min;
		return true;
	}
	for (i = 0; i < nclaimed_ids; i++)
	{
		MqClaimedId *c = &claimed_ids[i];

		if (c->note != idx || c->acked != InvalidSubTransactionId)
			continue;
		if (!any || c->id < *min_id)
			*min_id = c->id;
		any = true;
	}
	return any;
}

/*
 * mq_cursor_claimed
 *		Remember that this transaction leased messages (ids, the lowest
 *		min_id).
 */
bool
mq_cursor_claimed(MqQueue *queue, const int64 *ids, int64 min_id, int n, TimestampTz lease_end)
{
	MqXactNote *note;
	MqCursorState *state = queue->cursor;
	bool		held = false;
	int			i;

	if (state == NULL)
		return false;
	note = note_for(queue);
	for (i = 0; i < n; i++)
	{
		if (nclaimed_ids >= MQ_MAX_CLAIMED_IDS)
		{
			note->claim_ids_lost = true;
			break;
		}
		if (nclaimed_ids == maxclaimed_ids)
			claimed_ids = grow_array(claimed_ids, &maxclaimed_ids, sizeof(MqClaimedId));
		claimed_ids[nclaimed_ids].note = (int) (note - notes);
		claimed_ids[nclaimed_ids].id = ids[i];
		claimed_ids[nclaimed_ids].acked = InvalidSubTransactionId;
		nclaimed_ids++;
	}
	note->nclaimed = add_count(note->nclaimed, n);
	if (!note->claimed || min_id < note->claim_min)
		note->claim_min = min_id;
	if (!note->claimed || lease_end < note->claim_vt)
		note->claim_vt = lease_end;
	note->claimed = true;

	/*
	 * In a claim slot until the transaction ends, the claims count in
	 * every read's floor (read_start) without being in the future mark;
	 * at commit those still leased join the mark (at_commit).  So the read
	 * need not put them in the mark now (read.c), which would hold the
	 * mark, and with it the floor, for a whole lease after they were
	 * acked.  Past MQ_CLAIM_SLOTS open transactions, the mark it is.
	 */
	if (note->claim_slot < 0 && note->claim_slot_tried)
		return false;
	SpinLockAcquire(&state->mutex);
	if (same_queue(state, &note->key))
	{
		if (note->claim_slot < 0)
		{
			for (i = 0; i < MQ_CLAIM_SLOTS; i++)
			{
				if (state->claim_mins[i] == 0)
				{
					note->claim_slot = i;
					break;
				}
			}
			note->claim_slot_tried = true;
		}
		if (note->claim_slot >= 0)
		{
			state->claim_mins[note->claim_slot] = note->claim_min;
			held = true;
		}
	}
	SpinLockRelease(&state->mutex);
	return held;
}

/*
 * mq_cursor_vt_changed
 *		Remember that this transaction set a message's vt (nack, set_vt).
 */
void
mq_cursor_vt_changed(MqQueue *queue, int64 id, TimestampTz vt)
{
	MqXactNote *note;

	if (queue->cursor == NULL)
		return;
	note = note_for(queue);
	if (vt <= GetCurrentTimestamp())
	{
		if (!note->vt_now || id < note->vt_now_min)
			note->vt_now_min = id;
		note->vt_now = true;
		note->nvisible = add_count(note->nvisible, 1);
	}
	else
	{
		if (!note->vt_future || id < note->vt_future_min)
			note->vt_future_min = id;
		if (!note->vt_future || vt < note->vt_future_at)
			note->vt_future_at = vt;
		note->vt_future = true;
	}
}

/*
 * mq_cursor_touch
 *		Note, before locking them, that this transaction may lock rows with
 *		id >= min_id; if it rolls back they may be visible below pos.
 */
void
mq_cursor_touch(MqQueue *queue, int64 min_id)
{
	MqXactNote *note;

	if (queue->cursor == NULL)
		return;
	note = note_for(queue);
	if (!note->touched || min_id < note->touched_min)
		note->touched_min = min_id;
	note->touched = true;
}

/*
 * touched_min
 *		Lowest id a note's claims and vt changes involve; false if none.
 */
static bool
touched_min(MqXactNote *note, int64 *min_id)
{
	bool		any = false;

	if (note->touched)
	{
		*min_id = note->touched_min;
		any = true;
	}

	if (note->claimed && (!any || note->claim_min < *min_id))
	{
		*min_id = note->claim_min;
		any = true;
	}
	if (note->vt_now && (!any || note->vt_now_min < *min_id))
	{
		*min_id = note->vt_now_min;
		any = true;
	}
	if (note->vt_future && (!any || note->vt_future_min < *min_id))
	{
		*min_id = note->vt_future_min;
		any = true;
	}
	return any;
}

/* Give back the note's claim slot; caller holds the mutex (same queue). */
static inline void
release_claim_slot(MqCursorState *state, MqXactNote *note)
{
	if (note->claim_slot >= 0)
		state->claim_mins[note->claim_slot] = 0;
	note->claim_slot = -1;
}

/*
 * at_commit / at_abort / at_prepare
 *		Apply one note at the end of its transaction.  Must not throw.
 */
static void
at_commit(MqXactNote *note, MqEffects *fx, TimestampTz now)
{
	MqCursorState *state = note->state;
	bool		earlier = false;
	bool		signal = false;
	int			wake = 0;
	int64		live_min = 0;

	SpinLockAcquire(&state->mutex);
	if (same_queue(state, &note->key))
	{
		if (note->sent)
		{
			if (note->slot >= 0)
			{
				push_commit(state, state->slots[note->slot].min_id);
				state->slots[note->slot].in_use = false;
			}
			else if (note->overflowed)
				state->overflow--;
			if (note->send_due)
				earlier |= merge_future(state, note->send_due_min, note->send_due_at);
			if (note->notify && !state->notify_pending)
			{
				/* Not pending yet: the worker must wake; else it will anyway. */
				state->notify_pending = true;
				signal = true;
			}
		}
		if (live_claims(note, &live_min))
			earlier |= merge_future(state, live_min, note->claim_vt);
		release_claim_slot(state, note);
		if (ncounts > 0)
			apply_counts_of(state, &note->key, now);
		if (note->vt_future)
			earlier |= merge_future(state, note->vt_future_min, note->vt_future_at);
		if (note->vt_now)
			lower_pos(state, note->vt_now_min);
		if (state->nwaiters > 0)
		{
			wake = note->nvisible;
			signal |= earlier;
		}
	}
	SpinLockRelease(&state->mutex);

	/* Our commit is visible now: wake one waiter per visible message. */
	if (wake > 0)
		mq_effects_wake(fx, note->wake, wake);
	if (signal)
		mq_effects_signal_worker(fx);
}

static void
at_abort(MqXactNote *note, MqEffects *fx)
{
	MqCursorState *state = note->state;
	int			wake = 0;

	SpinLockAcquire(&state->mutex);
	if (same_queue(state, &note->key))
	{
		if (note->sent)
		{
			if (note->slot >= 0)
				state->slots[note->slot].in_use = false;
			else if (note->overflowed)
				state->overflow--;
		}
		if (note->claimed)
			lower_pos(state, note->claim_min);
		if (note->touched)
			lower_pos(state, note->touched_min);
		release_claim_slot(state, note);

		/*
		 * Claims rolled back are visible again; rows we only locked may be
		 * too (a lease that expired while we held them): one wake-up for
		 * those, passed on by the waiter if it finds more.
		 */
		if (state->nwaiters > 0 && (note->claimed || note->touched))
			wake = add_count(note->nclaimed, 1);
	}
	SpinLockRelease(&state->mutex);

	/* A rolled-back send made nothing visible: it wakes nobody. */
	if (wake > 0)
		mq_effects_wake(fx, note->wake, wake);
}

static void
at_prepare(MqXactNote *note, TransactionId xid)
{
	MqCursorState *state = note->state;
	int64		min_id;
	int			i;

	SpinLockAcquire(&state->mutex);
	if (same_queue(state, &note->key))
	{
		if (note->sent)
		{
			if (note->slot >= 0 && TransactionIdIsValid(xid))
			{
				state->slots[note->slot].prepared = true;
				state->slots[note->slot].notify = note->notify;
				state->slots[note->slot].xid = xid;
				state->nprepared++;
			}
			else
			{
				if (note->slot >= 0)
					state->slots[note->slot].in_use = false;
				else if (note->overflowed)
					state->overflow--;
				state->disabled = true;
			}
		}
		if (touched_min(note, &min_id))
		{
			bool		placed = false;

			if (TransactionIdIsValid(xid))
			{
				for (i = 0; i < MQ_SLOTS && !placed; i++)
				{
					MqSlot	   *slot = &state->slots[i];

					if (slot->in_use)
						continue;
					slot->in_use = true;
					slot->prepared = true;
					slot->touch_only = true;
					slot->notify = false;
					slot->xid = xid;
					slot->min_id = min_id;
					state->nprepared++;
					placed = true;
				}
			}
			if (!placed)
				state->disabled = true;
		}

		/* The prepared slot (in floor too) holds the claims now. */
		release_claim_slot(state, note);
	}
	SpinLockRelease(&state->mutex);
}

/* A new pending entry of this transaction for a queue table, zeroed. */
static MqPendingCount *
new_count(MqQueue *queue, SubTransactionId subid)
{
	MqPendingCount *c;

	if (ncounts == maxcounts)
		counts = grow_array(counts, &maxcounts, sizeof(MqPendingCount));
	c = &counts[ncounts++];
	memset(c, 0, sizeof(*c));
	c->state = queue->cursor;
	c->key.dbid = MyDatabaseId;
	c->key.relid = queue->relid;
	c->subid = subid;
	return c;
}

/*
 * mq_cursor_count
 *		Count n failures of one kind for a queue, applied if and when the
 *		(sub)transaction that counted them commits.
 */
void
mq_cursor_count(MqQueue *queue, MqCounter which, int n)
{
	MqPendingCount *c;

	if (queue->cursor == NULL || n <= 0)
		return;

	/* The same count again in the same subtransaction: add to it. */
	if (ncounts > 0)
	{
		c = &counts[ncounts - 1];
		if (c->state == queue->cursor && c->key.relid == queue->relid &&
			c->which == (int) which && c->subid == GetCurrentSubTransactionId())
		{
			c->n = add_count(c->n, n);
			return;
		}
	}
	c = new_count(queue, GetCurrentSubTransactionId());
	c->which = which;
	c->n = n;
}

/*
 * mq_cursor_latency
 *		Note one latency of a queue (usecs), applied if and when the
 *		(sub)transaction that noted it commits, as counts are.
 */
void
mq_cursor_latency(MqQueue *queue, MqLatency which, int64 usecs)
{
	MqPendingCount *c;
	int			bucket = mq_latency_bucket(usecs);
	SubTransactionId subid = GetCurrentSubTransactionId();
	int			i;

	if (queue->cursor == NULL)
		return;
	if (usecs < 0)
		usecs = 0;

	/* Most transactions note few distinct buckets: merge with one. */
	for (i = ncounts - 1; i >= 0 && counts[i].subid == subid; i--)
	{
		c = &counts[i];
		if (c->which < 0 && c->state == queue->cursor && c->key.relid == queue->relid &&
			c->lat == (int) which && c->bucket == bucket)
		{
			c->n = add_count(c->n, 1);
			c->secs += (double) usecs / USECS_PER_SEC;
			return;
		}
	}
	c = new_count(queue, subid);
	c->which = -1;
	c->lat = which;
	c->bucket = bucket;
	c->secs = (double) usecs / USECS_PER_SEC;
	c->n = 1;
}

/*
 * mq_cursor_count_now
 *		Add n to a shared counter of the queue whose state this is (if it
 *		still is), at once, outside any transaction's accounting.  Does
 *		not throw.
 */
void
mq_cursor_count_now(MqCursorState *state, Oid dbid, Oid relid, MqCounter which, int n)
{
	MqCursorKey key;

	if (state == NULL || n <= 0)
		return;
	memset(&key, 0, sizeof(key));
	key.dbid = dbid;
	key.relid = relid;
	SpinLockAcquire(&state->mutex);
	if (same_queue(state, &key))
		add_counter(state, which, n, GetCurrentTimestamp());
	SpinLockRelease(&state->mutex);
}

/* Add one pending count or latency to its state; caller holds the mutex. */
static void
apply_one(MqCursorState *state, MqPendingCount *c, TimestampTz now)
{
	if (c->which >= 0)
		add_counter(state, c->which, c->n, now);
	else
	{
		int			w = win_slot(state, now);

		state->lat[c->lat][c->bucket] += c->n;
		state->lat_sum[c->lat] += c->secs;
		state->win_lat[w][c->lat][c->bucket] += c->n;
		state->win_lat_sum[w][c->lat] += c->secs;
	}
	c->applied = true;
}

/*
 * apply_counts_of
 *		At commit, while at_commit holds a state's mutex for its note: add
 *		the pending counts of that queue table too, with no lock taken
 *		again for them (a read and ack counts four things).
 */
static void
apply_counts_of(MqCursorState *state, const MqCursorKey *key, TimestampTz now)
{
	int			i;

	for (i = 0; i < ncounts; i++)
	{
		MqPendingCount *c = &counts[i];

		if (!c->applied && c->state == state && c->key.relid == key->relid &&
			c->key.dbid == key->dbid)
			apply_one(state, c, now);
	}
}

/* Add the pending counts left to the shared counters.  Must not throw. */
static void
apply_counts(void)
{
	int			i;

	TimestampTz now = 0;

	for (i = 0; i < ncounts; i++)
	{
		MqPendingCount *c = &counts[i];
		MqCursorState *state = c->state;

		if (c->applied)
			continue;
		if (now == 0)
			now = GetCurrentTimestamp();
		SpinLockAcquire(&state->mutex);
		if (same_queue(state, &c->key))
			apply_counts_of(state, &c->key, now);
		SpinLockRelease(&state->mutex);
	}
}

/*
 * mq_cursor_scan_from
 *		Where a read starting now would scan from, without moving anything:
 *		no message below it is visible.  0 when the queue is not tracked.
 */
int64
mq_cursor_scan_from(MqQueue *queue, TimestampTz now)
{
	MqCursorState *state = queue->cursor;
	int64		from = 0;

	if (state == NULL || !check_prepared_clean())
		return 0;
	SpinLockAcquire(&state->mutex);
	if (state->key.dbid == MyDatabaseId && state->key.relid == queue->relid &&
		!state->disabled)
	{
		from = state->pos;
		if (state->has_future && state->fut_at <= now && state->fut_id < from)
			from = state->fut_id;
	}
	SpinLockRelease(&state->mutex);
	return from;
}

/*
 * mq_cursor_counters
 *		A queue's failure counters (zeros when it has no shared state yet).
 *		Returns false when there is no shared memory (mq not preloaded).
 */
bool
mq_cursor_counters(Oid relid, uint64 *out)
{
	MqCursorKey key;
	MqCursorState *state;
	MqCursorHashEntry *ent;
	int			i;

	for (i = 0; i < MQ_NUM_COUNTERS; i++)
		out[i] = 0;
	if (cursor_hash == NULL)
		return false;
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.relid = relid;
	LWLockAcquire(cursor_shared->lock, LW_SHARED);
	ent = hash_search(cursor_hash, &key, HASH_FIND, NULL);
	if (ent != NULL)
	{
		state = &cursor_states[ent->index];
		SpinLockAcquire(&state->mutex);
		for (i = 0; i < MQ_NUM_COUNTERS; i++)
			out[i] = state->counters[i];
		SpinLockRelease(&state->mutex);
	}
	LWLockRelease(cursor_shared->lock);
	return true;
}

/* Is there shared memory (mq preloaded)? */
bool
mq_cursor_available(void)
{
	return cursor_hash != NULL;
}

/*
 * lookup_state
 *		The state of a queue table of this database, with the "mq" LWLock
 *		held shared (the caller releases it), or NULL (lock released).
 */
static MqCursorState *
lookup_state(Oid relid)
{
	MqCursorKey key;
	MqCursorHashEntry *ent;

	if (cursor_hash == NULL)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.relid = relid;
	LWLockAcquire(cursor_shared->lock, LW_SHARED);
	ent = hash_search(cursor_hash, &key, HASH_FIND, NULL);
	if (ent == NULL)
	{
		LWLockRelease(cursor_shared->lock);
		return NULL;
	}
	return &cursor_states[ent->index];
}

/*
 * mq_cursor_metrics
 *		A copy of one queue table's counters and latencies, the last
 *		minute's included.  False when it has no state (not preloaded, or
 *		nothing was done to the queue since the server started and no
 *		counters were kept from before: out is then zero, since now).
 */
bool
mq_cursor_metrics(Oid relid, MqMetricsSnap *out)
{
	MqCursorState *state;
	TimestampTz now = GetCurrentTimestamp();
	int64		stamp = now / (MQ_WIN_SECS * USECS_PER_SEC);
	int64		oldest = stamp;
	int			w;
	int			i;
	int			b;

	memset(out, 0, sizeof(*out));
	out->since = now;
	state = lookup_state(relid);
	if (state == NULL)
		return false;
	SpinLockAcquire(&state->mutex);
	out->since = state->since;
	memcpy(out->counters, state->counters, sizeof(out->counters));
	memcpy(out->lat, state->lat, sizeof(out->lat));
	memcpy(out->lat_sum, state->lat_sum, sizeof(out->lat_sum));
	for (w = 0; w < MQ_WIN_SLOTS; w++)
	{
		/* A slot counts if it is one of the last MQ_WIN_SLOTS periods. */
		if (state->win_stamp[w] <= stamp - MQ_WIN_SLOTS || state->win_stamp[w] > stamp)
			continue;
		if (state->win_stamp[w] < oldest)
			oldest = state->win_stamp[w];
		for (i = 0; i < MQ_NUM_COUNTERS; i++)
			out->win_counters[i] += state->win_counters[w][i];
		for (i = 0; i < MQ_NUM_LAT; i++)
		{
			out->win_lat_sum[i] += state->win_lat_sum[w][i];
			for (b = 0; b < MQ_LAT_BUCKETS; b++)
				out->win_lat[i][b] += state->win_lat[w][i][b];
		}
	}
	out->waiting = state->nwaiters;
	SpinLockRelease(&state->mutex);
	LWLockRelease(cursor_shared->lock);

	/*
	 * The window runs from the start of its oldest slot to now, but not
	 * from before the counters' reset: at most a minute.
	 */
	out->win_secs = (double) (now - Max(oldest * MQ_WIN_SECS * USECS_PER_SEC, out->since)) / USECS_PER_SEC;
	if (out->win_secs > MQ_WIN_SLOTS * MQ_WIN_SECS)
		out->win_secs = MQ_WIN_SLOTS * MQ_WIN_SECS;
	return true;
}

/*
 * mq_cursor_reset_metrics
 *		Zero one queue table's counters and latencies (mq.reset_metrics).
 */
void
mq_cursor_reset_metrics(Oid relid)
{
	MqCursorState *state = lookup_state(relid);
	TimestampTz now = GetCurrentTimestamp();

	if (state == NULL)
		return;
	SpinLockAcquire(&state->mutex);
	reset_metrics(state, now);
	SpinLockRelease(&state->mutex);
	LWLockRelease(cursor_shared->lock);
}

/*
 * The messages this backend delivered lately, and when: an ack or archive
 * of one of them, in this transaction or a later one, measures its
 * processing time.  A ring: the oldest are forgotten (their acks measure
 * nothing); so are messages acked through another backend (a pooler that
 * hands the ack to another server connection).
 */
#define MQ_DELIVERED_RING 1024

typedef struct MqDelivered
{
	Oid			relid;
	int64		id;				/* 0: free */
	TimestampTz at;
} MqDelivered;

static MqDelivered delivered_ring[MQ_DELIVERED_RING];
static int	delivered_next = 0;

/*
 * mq_cursor_delivered
 *		Remember that message id of this queue table was delivered at "at".
 */
void
mq_cursor_delivered(MqQueue *queue, int64 id, TimestampTz at)
{
	MqDelivered *d;

	if (queue->cursor == NULL)
		return;
	d = &delivered_ring[delivered_next];
	delivered_next = (delivered_next + 1) % MQ_DELIVERED_RING;
	d->relid = queue->relid;
	d->id = id;
	d->at = at;
}

/* The processing time of message id, if this backend delivered it. */
static void
processed(MqQueue *queue, int64 id)
{
	int			k;

	for (k = 1; k <= MQ_DELIVERED_RING; k++)
	{
		MqDelivered *d = &delivered_ring[(delivered_next - k + MQ_DELIVERED_RING) % MQ_DELIVERED_RING];

		if (d->id == id && d->relid == queue->relid)
		{
			mq_cursor_latency(queue, MQ_LAT_PROCESS, GetCurrentTimestamp() - d->at);
			d->id = 0;
			return;
		}
	}
}

/*
 * mq_cursor_xact_end
 *		Apply this transaction's notes at commit, abort or prepare (called
 *		by events.c's transaction callback).  Must not throw.
 */
void
mq_cursor_xact_end(XactEvent event, MqEffects *fx)
{
	int			i;

	if (cursor_shared == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			prepare_xid = GetTopTransactionIdIfAny();
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			{
				TimestampTz now = ncounts > 0 ? GetCurrentTimestamp() : 0;

				for (i = 0; i < nnotes; i++)
					at_commit(&notes[i], fx, now);
			}
			apply_counts();
			apply_forgets();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			for (i = 0; i < nnotes; i++)
				at_abort(&notes[i], fx);
			break;
		case XACT_EVENT_PREPARE:
			for (i = 0; i < nnotes; i++)
				at_prepare(&notes[i], prepare_xid);
			prepare_xid = InvalidTransactionId;
			/* Counted at PREPARE: nothing runs at COMMIT PREPARED. */
			apply_counts();
			break;
		default:
			return;
	}
	nnotes = 0;
	ncounts = 0;
	nforgets = 0;
	nclaimed_ids = 0;
}

/*
 * mq_cursor_subxact_abort
 *		A rolled-back savepoint undoes claims and releases row locks at
 *		once: let readers see those messages again (conservatively, for
 *		everything the whole transaction touched so far).  Called by
 *		events.c.  Must not throw.
 */
void
mq_cursor_subxact_abort(SubTransactionId mySubid, MqEffects *fx)
{
	int			i;

	if (cursor_shared == NULL)
		return;

	/*
	 * Subtransaction ids grow, and all that began after this one and are
	 * still counted are inside it: drop their counts with its own.
	 */
	while (ncounts > 0 && counts[ncounts - 1].subid >= mySubid)
		ncounts--;
	while (nforgets > 0 && forgets[nforgets - 1].subid >= mySubid)
		nforgets--;
	/* Its acks are undone: those leases are held again. */
	for (i = 0; i < nclaimed_ids; i++)
		if (claimed_ids[i].acked >= mySubid)
			claimed_ids[i].acked = InvalidSubTransactionId;

	for (i = 0; i < nnotes; i++)
	{
		MqXactNote *note = &notes[i];
		int64		min_id;
		int			wake = 0;

		if (!touched_min(note, &min_id))
			continue;
		SpinLockAcquire(&note->state->mutex);
		if (same_queue(note->state, &note->key))
		{
			lower_pos(note->state, min_id);
			if (note->state->nwaiters > 0)
				wake = add_count(note->nclaimed, 1);
		}
		SpinLockRelease(&note->state->mutex);
		if (wake > 0)
			mq_effects_wake(fx, note->wake, wake);
	}
}

/*
 * mq_cursor_waiters_add
 *		Count a waiter in (delta 1) or out (-1) of a queue's state.
 *		Returns whether the state holds a due time for the worker to watch.
 */
bool
mq_cursor_waiters_add(MqCursorState *state, Oid relid, int delta)
{
	bool		has_future;

	SpinLockAcquire(&state->mutex);
	if (state->key.relid == relid && state->key.dbid == MyDatabaseId)
		state->nwaiters += delta;
	has_future = state->has_future;
	SpinLockRelease(&state->mutex);
	return has_future;
}

/*
 * mq_cursor_wait_hint
 *		For a waiter about to sleep: is the queue tracked (so that due
 *		times reach the worker), and the earliest due time it knows of.
 */
bool
mq_cursor_wait_hint(MqQueue *queue, TimestampTz *due)
{
	int			k;

	*due = 0;
	if (cursor_shared == NULL || !cursor_shared->prepared_clean)
		return false;

	/* Every partition must be tracked; the earliest due time of any. */
	for (k = 0; k < queue->nparts; k++)
	{
		MqQueue    *part = queue->parts[k];
		MqCursorState *state = part->cursor;
		bool		tracked;

		if (state == NULL)
			return false;
		SpinLockAcquire(&state->mutex);
		tracked = state->key.relid == part->relid &&
			state->key.dbid == MyDatabaseId && !state->disabled;
		if (tracked && state->has_future && (*due == 0 || state->fut_at < *due))
			*due = state->fut_at;
		SpinLockRelease(&state->mutex);
		if (!tracked)
			return false;
	}
	return true;
}

/*
 * mq_cursor_worker_pass
 *		The database worker's look at the queues of its database: wake one
 *		waiter of each queue whose due time has come, collect the names of
 *		queues to NOTIFY, and report the next due time (0 if none) that
 *		some waiter depends on.
 */
List *
mq_cursor_worker_pass(TimestampTz now, TimestampTz *next_due, MqEffects *fx)
{
	MqCursorState *state;
	List	   *notify = NIL;
	Oid		   *due = NULL;
	int			ndue = 0;
	int			maxdue = 0;
	int			i;

	*next_due = 0;
	if (cursor_hash == NULL)
		return NIL;

	LWLockAcquire(cursor_shared->lock, LW_SHARED);
	for (i = 0; i < mq_max_queues; i++)
	{
		bool		fire = false;
		bool		announce = false;

		state = &cursor_states[i];
		if (!state->in_use || state->key.dbid != MyDatabaseId)
			continue;
		SpinLockAcquire(&state->mutex);
		if (state->nwaiters > 0 && state->has_future && !state->fut_woken)
		{
			if (state->fut_at <= now)
			{
				state->fut_woken = true;
				fire = true;
			}
			else if (*next_due == 0 || state->fut_at < *next_due)
				*next_due = state->fut_at;
		}
		if (state->notify_pending)
		{
			state->notify_pending = false;
			announce = true;
		}
		SpinLockRelease(&state->mutex);

		if (announce)
			notify = lappend(notify, pstrdup(state->name));
		if (fire)
		{
			if (ndue == maxdue)
			{
				maxdue = maxdue == 0 ? 8 : maxdue * 2;
				due = due == NULL ? palloc(sizeof(Oid) * maxdue) :
					repalloc(due, sizeof(Oid) * maxdue);
			}
			due[ndue++] = state->wake_relid;
		}
	}
	LWLockRelease(cursor_shared->lock);

	for (i = 0; i < ndue; i++)
		mq_effects_wake(fx, due[i], 1);
	if (due != NULL)
		pfree(due);
	return notify;
}

/*
 * mq_cursor_pending_add
 *		Count messages with rolled-back deliveries of a queue in (or out
 *		of) its state: pending ones, to be recorded, and prepared ones,
 *		waiting for their transaction's outcome.  Caller holds rollback.c's
 *		lock.  Does not throw.
 */
void
mq_cursor_pending_add(MqCursorState *state, Oid dbid, Oid relid, int pending, int prepared)
{
	SpinLockAcquire(&state->mutex);
	if (state->key.dbid == dbid && state->key.relid == relid)
	{
		state->rb_pending = Max(state->rb_pending + pending, 0);
		state->rb_prepared = Max(state->rb_prepared + prepared, 0);
	}
	SpinLockRelease(&state->mutex);
}

/*
 * mq_cursor_state_named
 *		Is state still queue "name" of database dbid, table relid?  Does
 *		not throw.
 */
bool
mq_cursor_state_named(MqCursorState *state, Oid dbid, Oid relid, const char *name)
{
	bool		same;

	SpinLockAcquire(&state->mutex);
	same = state->key.dbid == dbid && state->key.relid == relid &&
		strcmp(state->name, name) == 0;
	SpinLockRelease(&state->mutex);
	return same;
}

/*
 * mq_cursor_pending_any
 *		Has this queue messages with rolled-back deliveries not recorded yet
 *		(pending or prepared)?  The read's quick test before it looks for
 *		their ids.
 */
bool
mq_cursor_pending_any(MqQueue *queue)
{
	MqCursorState *state = queue->cursor;
	bool		any = false;

	if (state == NULL)
		return false;
	SpinLockAcquire(&state->mutex);
	if (state->key.dbid == MyDatabaseId && state->key.relid == queue->relid)
		any = state->rb_pending > 0 || state->rb_prepared > 0;
	SpinLockRelease(&state->mutex);
	return any;
}

/*
 * mq_cursor_pending_queues
 *		Names of this database's queues with rolled-back deliveries to
 *		record (for the worker).
 */
List *
mq_cursor_pending_queues(void)
{
	List	   *names = NIL;
	int			i;

	if (cursor_hash == NULL)
		return NIL;
	LWLockAcquire(cursor_shared->lock, LW_SHARED);
	for (i = 0; i < mq_max_queues; i++)
	{
		MqCursorState *state = &cursor_states[i];
		bool		has;

		if (!state->in_use)
			continue;
		SpinLockAcquire(&state->mutex);
		has = state->key.dbid == MyDatabaseId && state->rb_pending > 0;
		SpinLockRelease(&state->mutex);
		/* A partitioned queue's states share its name: list it once. */
		if (has)
		{
			ListCell   *lc;

			foreach(lc, names)
				if (strcmp((char *) lfirst(lc), state->name) == 0)
					has = false;
		}
		if (has)
			names = lappend(names, pstrdup(state->name));
	}
	LWLockRelease(cursor_shared->lock);
	return names;
}
