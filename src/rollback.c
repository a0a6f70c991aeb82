/*-------------------------------------------------------------------------
 *
 * rollback.c
 *	  Deliveries undone by a rollback still count.
 *
 * A consumer reads, works and acks in one transaction.  When the work
 * fails and the transaction (or a savepoint around the read) rolls back,
 * the rollback also undoes the read's lease and delivery count: without
 * more, a message that makes every consumer fail would be delivered
 * forever, and max_deliveries and the dead-letter queue would never see
 * it.  The rolled-back transaction cannot write anything, so the fact is
 * kept outside it:
 *
 * 1. Each message a read delivers is noted in backend memory with its
 *    delivery number and subtransaction.  The note becomes firm when the
 *    read returns (a read that fails delivered nothing); a commit forgets
 *    the notes.
 *
 * 2. At abort (whole transaction, savepoint, or a backend that exits in a
 *    transaction: pg_terminate_backend, a lost client), the notes of what
 *    was rolled back go into a shared hash table keyed by database, queue
 *    table and message id, counting the deliveries rolled back.  At
 *    PREPARE TRANSACTION they go in tagged with the transaction's xid, and
 *    count only if it is rolled back (COMMIT/ROLLBACK PREPARED wakes the
 *    worker to find out).  The database's worker is woken (events.c calls
 *    mq_rollback_xact_end and mq_rollback_subxact_abort, and wakes it
 *    once every module has seen the transaction's end).
 *
 * 3. The worker records them, in a transaction of its own that commits
 *    whatever the consumers do: deliveries and failures grow by the
 *    number rolled back, last_error says "rolled back (delivery N)", the
 *    queue's retry backoff applies as after a nack, and a message with no
 *    delivery left is dead-lettered (or archived) as after a nack.  A
 *    message another consumer holds at that moment is counted but keeps
 *    its lease; one locked by an open transaction is tried again a second
 *    later.  The shared entry is reduced only once the worker's
 *    transaction has committed.
 *
 * 4. While the worker runs, reads skip messages whose rolled-back
 *    deliveries are not recorded yet, so that the next delivery comes
 *    after the count and the backoff (for ten seconds at most: should
 *    recording fail, the message must not stay hidden).  A reader may still take such a
 *    message in the instant between the rollback becoming visible and
 *    step 2 (the abort is visible to others before transaction callbacks
 *    run); the count is then recorded without delaying that delivery.
 *
 * What this does not cover: queues the read cursor cannot track (no state
 * left in mq.max_queues, or mq not preloaded: without shared memory
 * nothing can outlive the rollback), queues the worker cannot open (not
 * as mq made them: their entries are dropped, logged), databases no
 * worker serves for over a minute once the table is full (their entries
 * make room for others), tables still in the layout of 0.2.0 (no failure
 * columns), and more than MQ_MAX_ROLLBACKS messages waiting to be
 * recorded at once (the rest are not counted; logged once).  A
 * crash restart empties shared memory, so rollbacks not yet recorded (the
 * worker records them within milliseconds) and prepared transactions
 * still open are forgotten: those messages keep the counts they had.
 *
 * Locking: the hash table, its counts and each entry are protected by the
 * "mq_rollback" LWLock.  While holding it we only take a queue state's
 * spinlock (cursor.c), never cursor.c's LWLock; cursor.c calls
 * mq_rollback_forget holding its LWLock, so the order is always cursor
 * lock, then ours.
 *
 * Its part of the read path (read.c): step 3 (the ids a claim skips),
 * step 5 (each delivery noted) and step 8 (a rollback records them).
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/rollback.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "mq.h"
#include "wait.h"
#include "worker.h"

/* Messages with rolled-back deliveries waiting to be recorded, at most. */
#define MQ_MAX_ROLLBACKS 16384

/* Messages the worker records in one transaction, at most. */
#define MQ_ROLLBACK_BATCH 1000

/*
 * How long reads skip a message waiting to be recorded.  The worker takes
 * milliseconds; this bound only keeps a message from being hidden for good
 * should recording it keep failing (an error the worker logs).
 */
#define MQ_ROLLBACK_HOLD_USECS (10 * USECS_PER_SEC)

typedef struct MqRollbackKey
{
	Oid			dbid;
	Oid			relid;			/* the queue's message table */
	int64		id;				/* the message */
	TransactionId xid;			/* prepared transaction holding the
								 * deliveries; Invalid: rolled back */
	uint32		pad;			/* zero: keys are hashed as bytes */
} MqRollbackKey;

typedef struct MqRollbackEntry
{
	MqRollbackKey key;
	struct MqCursorState *state;	/* the queue's cursor state */
	int			n;				/* deliveries rolled back */
	int			delivery;		/* the highest delivery number among them */
	TimestampTz since;			/* when the entry was made */
	int			pid;			/* the backend that rolled back the last one */
	Oid			role;			/* the role whose read delivered it */
} MqRollbackEntry;

typedef struct MqRollbackShared
{
	LWLock	   *lock;
	int			nentries;
	int			nprepared;		/* entries with a valid xid */
	bool		full;			/* an entry was refused: the worker logs it */
	bool		logged_full;
} MqRollbackShared;

static MqRollbackShared *rb_shared = NULL;
static HTAB *rb_hash = NULL;

/* Deliveries of this backend's transaction (step 1). */
typedef struct MqDelivered
{
	struct MqCursorState *state;
	Oid			relid;
	int64		id;
	int			delivery;
	SubTransactionId subid;
	bool		firm;			/* the read returned */
	Oid			role;			/* the role whose read it was */
} MqDelivered;

static MqDelivered *delivered = NULL;
static int	ndelivered = 0;
static int	maxdelivered = 0;
static TransactionId prepare_xid = InvalidTransactionId;

/* What the worker's batch took, to take off once it has committed. */
typedef struct MqTaken
{
	MqRollbackKey key;
	int			n;
	int			delivery;
	int			pid;
	Oid			role;
} MqTaken;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;


static void
rollback_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(MqRollbackShared)),
									hash_estimate_size(MQ_MAX_ROLLBACKS,
													   sizeof(MqRollbackEntry))));
	RequestNamedLWLockTranche("mq_rollback", 1);
}

static void
rollback_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rb_shared = ShmemInitStruct("mq rollback", sizeof(MqRollbackShared), &found);
	if (!found)
	{
		memset(rb_shared, 0, sizeof(MqRollbackShared));
		rb_shared->lock = &(GetNamedLWLockTranche("mq_rollback"))->lock;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MqRollbackKey);
	info.entrysize = sizeof(MqRollbackEntry);
	rb_hash = ShmemInitHash("mq rollback hash", MQ_MAX_ROLLBACKS, MQ_MAX_ROLLBACKS,
							&info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * mq_rollback_init
 *		Called from _PG_init: with preloading, ask for shared memory.
 */
void
mq_rollback_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rollback_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rollback_shmem_startup;
}

/*
 * mq_rollback_delivered
 *		A read of ours is delivering message id (its delivery-th delivery):
 *		note it, in case our transaction or savepoint rolls back.
 */
void
mq_rollback_delivered(MqQueue *queue, int64 id, int delivery)
{
	MqDelivered *d;

	if (rb_hash == NULL || queue->cursor == NULL || !queue->failure_cols)
		return;
	if (ndelivered == maxdelivered)
	{
		int			newmax = maxdelivered == 0 ? 64 : maxdelivered * 2;

		if (delivered == NULL)
			delivered = MemoryContextAlloc(TopMemoryContext, sizeof(MqDelivered) * newmax);
		else
			delivered = repalloc(delivered, sizeof(MqDelivered) * newmax);
		maxdelivered = newmax;
	}
	d = &delivered[ndelivered++];
	d->state = queue->cursor;
	d->relid = queue->relid;
	d->id = id;
	d->delivery = delivery;
	d->subid = GetCurrentSubTransactionId();
	d->firm = false;
	d->role = mq_current_caller;
}

/*
 * mq_rollback_confirm
 *		The read returned: what it noted was delivered.
 */
void
mq_rollback_confirm(void)
{
	int			i;

	for (i = ndelivered - 1; i >= 0 && !delivered[i].firm; i--)
		delivered[i].firm = true;
}

/*
 * evict_unserved
 *		The table is full: drop entries older than a minute of databases
 *		no worker serves now (a worker that is restarting or starting
 *		records its database's entries when it comes; one that cannot
 *		start must not keep every other database's rollbacks from being
 *		counted).  Caller holds our lock exclusively.  Does not throw.
 */
static void
evict_unserved(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	MqRollbackEntry *ent;
	TimestampTz before = now - 60 * USECS_PER_SEC;

	hash_seq_init(&seq, rb_hash);
	while ((ent = hash_seq_search(&seq)) != NULL)
	{
		MqRollbackKey key = ent->key;
		bool		prepared = TransactionIdIsValid(key.xid);

		if (ent->since >= before || mq_worker_running(key.dbid))
			continue;
		mq_cursor_pending_add(ent->state, key.dbid, key.relid, prepared ? 0 : -1, prepared ? -1 : 0);
		if (prepared)
			rb_shared->nprepared--;
		rb_shared->nentries--;
		(void) hash_search(rb_hash, &key, HASH_REMOVE, NULL);
	}
}

/*
 * push
 *		Put the firm notes among delivered[0..n) into the shared table, as
 *		rolled back (xid invalid) or held by prepared transaction xid, and
 *		ask for the worker to be woken.  Must not throw.
 */
static void
push(MqDelivered *notes, int n, TransactionId xid, MqEffects *fx)
{
	bool		any = false;
	bool		full = false;
	TimestampTz now;
	int			i;

	if (n == 0 || rb_hash == NULL)
		return;
	now = GetCurrentTimestamp();
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		MqDelivered *d = &notes[i];
		MqRollbackKey key;
		MqRollbackEntry *ent;
		bool		found;

		if (!d->firm)
			continue;
		memset(&key, 0, sizeof(key));
		key.dbid = MyDatabaseId;
		key.relid = d->relid;
		key.id = d->id;
		key.xid = xid;
		ent = hash_search(rb_hash, &key, HASH_FIND, NULL);
		if (ent == NULL)
		{
			if (rb_shared->nentries >= MQ_MAX_ROLLBACKS)
				evict_unserved(now);
			if (rb_shared->nentries >= MQ_MAX_ROLLBACKS ||
				(ent = hash_search(rb_hash, &key, HASH_ENTER_NULL, &found)) == NULL)
			{
				full = true;
				continue;
			}
			ent->state = d->state;
			ent->n = 0;
			ent->delivery = 0;
			ent->since = now;
			rb_shared->nentries++;
			if (TransactionIdIsValid(xid))
			{
				rb_shared->nprepared++;
				mq_cursor_pending_add(d->state, MyDatabaseId, d->relid, 0, 1);
			}
			else
				mq_cursor_pending_add(d->state, MyDatabaseId, d->relid, 1, 0);
		}
		ent->n++;
		ent->delivery = Max(ent->delivery, d->delivery);
		ent->pid = MyProcPid;
		ent->role = d->role;
		ent->since = now;		/* hidden from reads for a while again */
		any = true;
	}
	if (full)
		rb_shared->full = true;
	LWLockRelease(rb_shared->lock);

	if (any && !TransactionIdIsValid(xid))
		mq_effects_signal_worker(fx);
}

/*
 * mq_rollback_xact_end
 *		At abort, what this transaction delivered was rolled back: into the
 *		shared table.  At prepare, held there until the outcome is known.
 *		Called by events.c.  Must not throw.
 */
void
mq_rollback_xact_end(XactEvent event, MqEffects *fx)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			prepare_xid = GetTopTransactionIdIfAny();
			return;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			push(delivered, ndelivered, InvalidTransactionId, fx);
			break;
		case XACT_EVENT_PREPARE:
			/* A read that delivered wrote: the transaction has an xid. */
			if (TransactionIdIsValid(prepare_xid))
				push(delivered, ndelivered, prepare_xid, fx);
			prepare_xid = InvalidTransactionId;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			break;
		default:
			return;
	}
	ndelivered = 0;
}

/*
 * mq_rollback_subxact_abort
 *		A savepoint rolled back: what was delivered inside it (in it or in a
 *		subtransaction begun after it, which can only be inside it) was
 *		rolled back.  Called by events.c.  Must not throw.
 */
void
mq_rollback_subxact_abort(SubTransactionId mySubid, MqEffects *fx)
{
	int			i;
	int			kept = 0;
	int			first = -1;

	if (ndelivered == 0)
		return;
	for (i = 0; i < ndelivered; i++)
		if (delivered[i].subid >= mySubid)
		{
			first = i;
			break;
		}
	if (first < 0)
		return;

	/* Move the rolled-back notes to the end, push them, drop them. */
	for (i = 0; i < ndelivered; i++)
	{
		if (delivered[i].subid < mySubid)
		{
			if (i != kept)
			{
				MqDelivered tmp = delivered[kept];

				delivered[kept] = delivered[i];
				delivered[i] = tmp;
			}
			kept++;
		}
	}
	push(delivered + kept, ndelivered - kept, InvalidTransactionId, fx);
	ndelivered = kept;
}

/*
 * mq_rollback_exclusions
 *		The ids a read must skip: messages of this queue with rolled-back
 *		deliveries the worker has yet to record (or held by a prepared
 *		transaction, whose rows are locked anyway).  Null when there are
 *		none, or when no worker runs to record them (they are not held
 *		back then).  *min_id: the lowest of those the worker is to record
 *		(not held by a prepared transaction) at or past from, PG_INT64_MAX
 *		if none: the read must not move the cursor past it.  A prepared
 *		transaction's rows are locked, and its settling lowers the cursor
 *		anyway.
 */
Datum
mq_rollback_exclusions(MqQueue *queue, bool *isnull, int64 from, int64 *min_id)
{
	HASH_SEQ_STATUS seq;
	MqRollbackEntry *ent;
	Datum	   *ids;
	int			n = 0;
	int			max;
	TimestampTz since = GetCurrentTimestamp() - MQ_ROLLBACK_HOLD_USECS;

	*isnull = true;
	*min_id = PG_INT64_MAX;
	if (rb_hash == NULL || !mq_cursor_pending_any(queue) ||
		!mq_worker_running(MyDatabaseId))
		return (Datum) 0;

	LWLockAcquire(rb_shared->lock, LW_SHARED);
	max = rb_shared->nentries;
	ids = palloc(sizeof(Datum) * Max(max, 1));
	hash_seq_init(&seq, rb_hash);
	while ((ent = hash_seq_search(&seq)) != NULL)
	{
		if (n < max && ent->key.dbid == MyDatabaseId && ent->key.relid == queue->relid &&
			(TransactionIdIsValid(ent->key.xid) || ent->since >= since))
		{
			ids[n++] = Int64GetDatum(ent->key.id);
			if (!TransactionIdIsValid(ent->key.xid) && ent->key.id >= from)
				*min_id = Min(*min_id, ent->key.id);
		}
	}
	LWLockRelease(rb_shared->lock);
	if (n == 0)
	{
		pfree(ids);
		return (Datum) 0;
	}
	*isnull = false;
	return PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * mq_rollback_prepared_waiting
 *		Are deliveries of prepared transactions of this database waiting for
 *		their outcome?  (A cheap look, for the worker's loop.)
 */
bool
mq_rollback_prepared_waiting(void)
{
	bool		any;

	if (rb_hash == NULL)
		return false;
	LWLockAcquire(rb_shared->lock, LW_SHARED);
	any = rb_shared->nprepared > 0;
	LWLockRelease(rb_shared->lock);
	return any;
}

/*
 * mq_rollback_settle
 *		Worker step: entries of prepared transactions of this database that
 *		have ended: committed ones are dropped, rolled-back ones become
 *		rolled-back deliveries to record.  Returns whether any did.
 */
bool
mq_rollback_settle(const char *unused)
{
	HASH_SEQ_STATUS seq;
	MqRollbackEntry *ent;
	TransactionId *xids;
	bool	   *ended;
	bool	   *committed;
	int			nxids = 0;
	int			max;
	int			i;
	bool		moved = false;

	if (!mq_rollback_prepared_waiting())
		return false;

	StartTransactionCommand();
	LWLockAcquire(rb_shared->lock, LW_SHARED);
	max = Max(rb_shared->nprepared, 1);
	xids = palloc(sizeof(TransactionId) * max);
	hash_seq_init(&seq, rb_hash);
	while ((ent = hash_seq_search(&seq)) != NULL)
	{
		if (ent->key.dbid != MyDatabaseId || !TransactionIdIsValid(ent->key.xid))
			continue;
		for (i = 0; i < nxids; i++)
			if (xids[i] == ent->key.xid)
				break;
		if (i == nxids && nxids < max)
			xids[nxids++] = ent->key.xid;
	}
	LWLockRelease(rb_shared->lock);

	ended = palloc0(sizeof(bool) * max);
	committed = palloc0(sizeof(bool) * max);
	for (i = 0; i < nxids; i++)
	{
		bool		known;

		if (TransactionIdIsInProgress(xids[i]))
			continue;
		ended[i] = true;
		/* Too old to look up (cannot be: it was prepared until lately). */
		LWLockAcquire(XactTruncationLock, LW_SHARED);
		known = !TransactionIdPrecedes(xids[i], ShmemVariableCache->oldestClogXid);
		LWLockRelease(XactTruncationLock);
		committed[i] = !known || TransactionIdDidCommit(xids[i]);
	}

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, rb_hash);
	while ((ent = hash_seq_search(&seq)) != NULL)
	{
		MqRollbackKey key;
		MqRollbackEntry *to;
		bool		found;
		int			n;
		int			delivery;
		struct MqCursorState *state;

		if (ent->key.dbid != MyDatabaseId || !TransactionIdIsValid(ent->key.xid))
			continue;
		for (i = 0; i < nxids; i++)
			if (xids[i] == ent->key.xid)
				break;
		if (i == nxids || !ended[i])
			continue;

		/* Removing the entry the scan is on is allowed (dynahash). */
		key = ent->key;
		n = ent->n;
		delivery = ent->delivery;
		state = ent->state;
		(void) hash_search(rb_hash, &key, HASH_REMOVE, NULL);
		rb_shared->nentries--;
		rb_shared->nprepared--;
		mq_cursor_pending_add(state, key.dbid, key.relid, 0, -1);
		if (committed[i])
			continue;

		key.xid = InvalidTransactionId;
		to = hash_search(rb_hash, &key, HASH_ENTER_NULL, &found);
		if (to == NULL)
		{
			rb_shared->full = true;
			continue;
		}
		if (!found)
		{
			to->state = state;
			to->n = 0;
			to->delivery = 0;
			to->since = GetCurrentTimestamp();
			rb_shared->nentries++;
			mq_cursor_pending_add(state, key.dbid, key.relid, 1, 0);
		}
		to->n += n;
		to->delivery = Max(to->delivery, delivery);
		moved = true;
	}
	LWLockRelease(rb_shared->lock);
	CommitTransactionCommand();
	return moved;
}

/*
 * mq_rollback_forget
 *		A queue's cursor state is given back (the queue was dropped): drop
 *		its entries.  Does not throw.
 */
void
mq_rollback_forget(Oid dbid, Oid relid)
{
	HASH_SEQ_STATUS seq;
	MqRollbackEntry *ent;

	if (rb_hash == NULL)
		return;
	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, rb_hash);
	while ((ent = hash_seq_search(&seq)) != NULL)
	{
		if (ent->key.dbid != dbid || ent->key.relid != relid)
			continue;
		if (TransactionIdIsValid(ent->key.xid))
			rb_shared->nprepared--;
		rb_shared->nentries--;
		(void) hash_search(rb_hash, &ent->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(rb_shared->lock);
}

/*
 * take_off
 *		After the worker's transaction committed: the deliveries it
 *		recorded (or found nothing left to record for) are done.
 */
static void
take_off(MqTaken *taken, int n)
{
	int			i;

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		MqRollbackEntry *ent = hash_search(rb_hash, &taken[i].key, HASH_FIND, NULL);

		if (ent == NULL)
			continue;
		ent->n -= taken[i].n;
		if (ent->n <= 0)
		{
			mq_cursor_pending_add(ent->state, ent->key.dbid, ent->key.relid, -1, 0);
			(void) hash_search(rb_hash, &taken[i].key, HASH_REMOVE, NULL);
			rb_shared->nentries--;
		}
	}
	LWLockRelease(rb_shared->lock);
}

/*
 * drop_unrecordable
 *		Queue "name" cannot be opened (why): its entries could never be
 *		recorded, and would keep the worker trying and fill the shared
 *		table.  Drop them (not those of prepared transactions still open,
 *		which are settled first) and say so.  Does not throw before the
 *		log line.
 */
static void
drop_unrecordable(const char *name, const char *why)
{
	HASH_SEQ_STATUS seq;
	MqRollbackEntry *ent;
	int			dropped = 0;

	LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, rb_hash);
	while ((ent = hash_seq_search(&seq)) != NULL)
	{
		MqRollbackKey key = ent->key;

		if (key.dbid != MyDatabaseId || TransactionIdIsValid(key.xid) ||
			!mq_cursor_state_named(ent->state, key.dbid, key.relid, name))
			continue;
		mq_cursor_pending_add(ent->state, key.dbid, key.relid, -1, 0);
		(void) hash_search(rb_hash, &key, HASH_REMOVE, NULL);
		rb_shared->nentries--;
		dropped++;
	}
	LWLockRelease(rb_shared->lock);
	if (dropped > 0)
		ereport(LOG,
				(errmsg("mq worker could not record the rolled-back deliveries of %d messages of queue \"%s\"",
						dropped, name),
				 errdetail("%s", why)));
}

/* A failed delivery that a rollback undid (r.delivery: its number). */
#define MQ_ROLLED_BACK_NOTE "('rolled back (delivery ' OPERATOR(pg_catalog.||) r.delivery OPERATOR(pg_catalog.||) ')')"

static char *
rollback_mark_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * The worker records rolled-back deliveries (rollback.c): $1
	 * message ids, $2 how many deliveries of each were rolled back,
	 * $3 the last such delivery's number, $4 now, $5/$6 the queue's
	 * backoff (as $4/$5 of ack.c's nack_plan).  A message another
	 * consumer holds now ("held": leased, lease running) keeps its
	 * lease; otherwise it is released with the backoff applied (a
	 * later visibility time set meanwhile, a nack's delay, is kept).  A
	 * lease that had expired before the rolled-back read took the
	 * message was a failed delivery too, which that read recorded
	 * and its rollback undid: it is recorded again here.  Rows
	 * someone holds locked are left for later.  Only for tables
	 * with the failure columns.
	 */
	*nargs = 6;
	types[0] = INT8ARRAYOID;
	types[1] = INT4ARRAYOID;
	types[2] = INT4ARRAYOID;
	types[3] = TIMESTAMPTZOID;
	types[4] = INTERVALOID;
	types[5] = INTERVALOID;
	return psprintf("WITH r AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
					" pg_catalog.unnest($3)) AS r(id, n, delivery)),"
					" c AS MATERIALIZED (SELECT id, leased AND vt OPERATOR(pg_catalog.>) $4 AS held,"
					" leased AND vt OPERATOR(pg_catalog.<=) $4 AS expired FROM ONLY %s"
					" WHERE id OPERATOR(pg_catalog.=) ANY ($1) FOR UPDATE SKIP LOCKED) "
					"UPDATE ONLY %s m SET deliveries = m.deliveries OPERATOR(pg_catalog.+) r.n,"
					" failures = m.failures OPERATOR(pg_catalog.+) r.n"
					" OPERATOR(pg_catalog.+) CASE WHEN c.expired THEN 1 ELSE 0 END,"
					" last_error = " MQ_ROLLED_BACK_NOTE ","
					" first_error = COALESCE(m.first_error, CASE WHEN c.expired THEN "
					MQ_EXPIRED_NOTE " ELSE " MQ_ROLLED_BACK_NOTE " END),"
					" failed_at = $4, leased = m.leased AND NOT c.expired,"
					" vt = CASE WHEN c.held OR $5 IS NULL THEN m.vt ELSE GREATEST(m.vt, $4 OPERATOR(pg_catalog.+)"
					" pg_catalog.interval_mul(LEAST(pg_catalog.interval_mul($5,"
					" pg_catalog.power(2, LEAST(GREATEST(m.deliveries OPERATOR(pg_catalog.+) r.n"
					" OPERATOR(pg_catalog.-) 1, 0), 20))),"
					" COALESCE($6, pg_catalog.interval_mul($5, 1048576))),"
					" 0.5 OPERATOR(pg_catalog.+) (0.5 OPERATOR(pg_catalog.*) pg_catalog.random()))) END "
					"FROM r, c WHERE m.id OPERATOR(pg_catalog.=) r.id AND c.id OPERATOR(pg_catalog.=) r.id "
					"RETURNING m.id, m.deliveries, c.held, m.vt, c.expired, m.headers", q, q);
}

static char *
rollback_existing_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/* Which of messages $1 are still there (locked: not recorded). */
	*nargs = 1;
	types[0] = INT8ARRAYOID;
	return psprintf("SELECT id FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) ANY ($1)", q);
}

static const MqPlanDef rollback_existing_plan = {MQ_PLAN_ROLLBACK_EXISTING, rollback_existing_sql};

static const MqPlanDef rollback_mark_plan = {MQ_PLAN_ROLLBACK_MARK, rollback_mark_sql};

/*
 * mq_rollback_apply
 *		Worker step: record up to MQ_ROLLBACK_BATCH messages' rolled-back
 *		deliveries of one queue, in a transaction of our own (step 3).
 *		Returns whether there may be more to record at once (a full
 *		batch).  What is left because someone holds it (the rows, or the
 *		queue's lock) stays pending, for the worker's next look a second
 *		later.
 */
bool
mq_rollback_apply(const char *name)
{
	MqQueue    *queue;
	char	   *why = NULL;
	MqContext	cx;
	MqTaken    *taken;
	Oid			relid = InvalidOid;
	struct MqCursorState *state = NULL;
	int			nrolled = 0;
	int			ntaken = 0;
	bool		again = false;
	bool		full_logged = false;
	MqQueue    *part = NULL;
	Oid			wake_relid = InvalidOid;

	/* Outlives the transaction: entries are taken off after its commit. */
	taken = palloc(sizeof(MqTaken) * MQ_ROLLBACK_BATCH);

	StartTransactionCommand();
	mq_enter_worker(&cx);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	/* Not waiting for anyone: a queue being dropped or altered is left. */
	queue = mq_try_open_queue(name, RowExclusiveLock, true, &why);
	if (queue == NULL && why != NULL)
		drop_unrecordable(name, why);
	if (queue != NULL && queue->cursor != NULL && queue->failure_cols)
	{
		HASH_SEQ_STATUS seq;
		MqRollbackEntry *ent;
		Datum	   *ids;
		Datum	   *ns;
		Datum	   *deliveries;
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		TimestampTz now = GetCurrentTimestamp();
		int64		min_id = PG_INT64_MAX;
		int64	   *dead;
		int			ndead = 0;
		int			nexpired = 0;
		int			ret;
		uint64		i;
		int			j;
		bool	   *done;
		MqHistory  *hexpired = NULL;
		MqHistory  *hrolled = NULL;

		ids = palloc(sizeof(Datum) * MQ_ROLLBACK_BATCH);
		ns = palloc(sizeof(Datum) * MQ_ROLLBACK_BATCH);
		deliveries = palloc(sizeof(Datum) * MQ_ROLLBACK_BATCH);

		LWLockAcquire(rb_shared->lock, LW_SHARED);
		full_logged = rb_shared->full && !rb_shared->logged_full;
		hash_seq_init(&seq, rb_hash);
		while ((ent = hash_seq_search(&seq)) != NULL)
		{
			if (ent->key.dbid != MyDatabaseId ||
				TransactionIdIsValid(ent->key.xid) || ent->n <= 0)
				continue;

			/*
			 * One partition's table per batch: the first one found; the
			 * others' entries are left for the next batch.
			 */
			if (part == NULL)
			{
				int			k;

				for (k = 0; k < queue->nparts; k++)
					if (queue->parts[k]->relid == ent->key.relid)
						part = queue->parts[k];
				if (part == NULL)
					continue;
			}
			else if (ent->key.relid != part->relid)
			{
				int			k;

				for (k = 0; k < queue->nparts; k++)
					if (queue->parts[k]->relid == ent->key.relid)
						again = true;
				continue;
			}
			if (ntaken == MQ_ROLLBACK_BATCH)
			{
				again = true;
				hash_seq_term(&seq);
				break;
			}
			taken[ntaken].key = ent->key;
			taken[ntaken].n = ent->n;
			taken[ntaken].delivery = ent->delivery;
			taken[ntaken].pid = ent->pid;
			taken[ntaken].role = ent->role;
			ids[ntaken] = Int64GetDatum(ent->key.id);
			ns[ntaken] = Int32GetDatum(ent->n);
			deliveries[ntaken] = Int32GetDatum(ent->delivery);
			min_id = Min(min_id, ent->key.id);
			ntaken++;
		}
		LWLockRelease(rb_shared->lock);
		if (part != NULL)
		{
			relid = part->relid;
			wake_relid = part->wake_relid;
			state = part->cursor;
		}
		if (state == NULL)
			ntaken = 0;

		if (ntaken > 0 && state != NULL)
		{
			pgstat_report_activity(STATE_RUNNING, "mq: rolled-back deliveries");
			/* The rows we lock may lie below the read cursor. */
			mq_cursor_touch(part, min_id);
			values[0] = PointerGetDatum(construct_array(ids, ntaken, INT8OID, sizeof(int64),
														FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			values[1] = PointerGetDatum(construct_array(ns, ntaken, INT4OID, sizeof(int32),
														true, TYPALIGN_INT));
			values[2] = PointerGetDatum(construct_array(deliveries, ntaken, INT4OID, sizeof(int32),
														true, TYPALIGN_INT));
			values[3] = TimestampTzGetDatum(now);

			/*
			 * Without a backoff the message keeps its vt: one moved to our
			 * "now" would be later than the "now" of a read already under
			 * way, whose SKIP LOCKED claim, rechecking the row we changed,
			 * would leave it locked but unclaimed, and a full read passing
			 * it meanwhile would move the cursor past a visible message.
			 * (A backoff puts it in the future: the cursor's future mark
			 * brings reads back to it when it is due.)
			 */
			if (part->has_retry_delay &&
				(part->retry_delay.time != 0 || part->retry_delay.day != 0 ||
				 part->retry_delay.month != 0))
				values[4] = IntervalPGetDatum(&part->retry_delay);
			else
				nulls[4] = 'n';
			if (part->has_retry_delay_max)
				values[5] = IntervalPGetDatum(&part->retry_delay_max);
			else
				nulls[5] = 'n';
			ret = SPI_execute_plan(mq_queue_plan(part, &rollback_mark_plan), values, nulls, false, 0);
			if (ret != SPI_OK_UPDATE_RETURNING)
				elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));

			/*
			 * done[j]: taken[j] was recorded now, or its message is gone
			 * (acked, archived, dead-lettered meanwhile); either way it is
			 * finished.  What is left was locked by someone.
			 */
			done = palloc0(sizeof(bool) * ntaken);
			dead = palloc(sizeof(int64) * (SPI_processed > 0 ? SPI_processed : 1));
			hexpired = mq_history_begin(part, "lease_expired");
			hrolled = mq_history_begin(part, "rolled_back");
			for (i = 0; i < SPI_processed; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				bool		isnull;
				int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
				int32		d = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
				bool		held = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
				TimestampTz vt = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));

				bool		hnull;
				Datum		headers = SPI_getbinval(tup, desc, 6, &hnull);

				if (hnull)
					headers = (Datum) 0;
				if (DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)))
				{
					nexpired++;
					mq_history_add(hexpired, id, 0, 0,
								   CStringGetTextDatum("lease expired"), headers);
				}
				for (j = 0; j < ntaken; j++)
					if (taken[j].key.id == id)
					{
						done[j] = true;
						nrolled += taken[j].n;
						mq_history_add(hrolled, id, taken[j].delivery, held ? 0 : vt,
									   CStringGetTextDatum(psprintf("rolled back (delivery %d)",
																	taken[j].delivery)),
									   headers);
						mq_history_by(hrolled, taken[j].pid, taken[j].role);
						break;
					}
				if (held)
					continue;
				if (part->max_deliveries > 0 && d >= part->max_deliveries)
					dead[ndead++] = id;
				else
					mq_cursor_vt_changed(part, id, vt);
			}
			mq_history_end(hexpired);
			mq_history_end(hrolled);
			SPI_freetuptable(SPI_tuptable);

			if ((int) SPI_processed < ntaken)
			{
				/* Which of the others still exist (locked), which are gone. */
				ret = SPI_execute_plan(mq_queue_plan(part, &rollback_existing_plan), values, NULL, true, 0);
				if (ret != SPI_OK_SELECT)
					elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
				for (j = 0; j < ntaken; j++)
				{
					bool		exists = false;

					if (done[j])
						continue;
					for (i = 0; i < SPI_processed && !exists; i++)
					{
						bool		isnull;

						exists = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull)) == taken[j].key.id;
					}
					if (!exists)
						done[j] = true;
				}
				SPI_freetuptable(SPI_tuptable);
			}

			mq_cursor_count(part, MQ_COUNT_EXPIRED, nexpired);
			for (j = 0; j < ndead; j++)
				(void) mq_dead_letter(part, dead[j], true, (Datum) 0, false, true, NULL);
			if (nrolled > 0)
				elog(DEBUG1, "mq worker recorded %d rolled-back deliveries of queue \"%s\" and dead-lettered %d",
					 nrolled, name, ndead);

			/* Only the finished ones are taken off after commit. */
			for (i = 0, j = 0; j < ntaken; j++)
				if (done[j])
					taken[i++] = taken[j];
			ntaken = (int) i;
		}
	}
	PopActiveSnapshot();
	SPI_finish();
	mq_leave(&cx);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	if (ntaken > 0)
	{
		take_off(taken, ntaken);

		/*
		 * Counted once the messages are no longer skipped: whoever sees
		 * the count can read them.
		 */
		mq_cursor_count_now(state, MyDatabaseId, relid, MQ_COUNT_ROLLBACK, nrolled);

		/*
		 * Our commit woke waiters for the messages made visible, but a
		 * waiter that looked before take_off still found them skipped:
		 * wake as many again (one that finds nothing sleeps again).
		 */
		mq_wait_wake(MyDatabaseId, wake_relid, ntaken);
	}
	pfree(taken);
	if (full_logged)
	{
		LWLockAcquire(rb_shared->lock, LW_EXCLUSIVE);
		rb_shared->logged_full = true;
		LWLockRelease(rb_shared->lock);
		ereport(LOG,
				(errmsg("mq: more than %d messages with rolled-back deliveries waited to be recorded; the rest were not counted",
						MQ_MAX_ROLLBACKS)));
	}
	return again;
}
