/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  Consumers waiting in mq.read, and the wake-ups that end their sleep.
 *
 * A read with a `wait` that finds nothing registers in a waiter slot in
 * shared memory (one per backend, indexed by BackendId), reads once more
 * (a message committed between the first read and the registration would
 * otherwise be missed), and sleeps on its latch.  Whoever makes messages
 * visible wakes waiters of that queue:
 *
 *	- a committing sender (xact callback, after ProcArrayEndTransaction has
 *	  made the commit visible): one waiter per message sent;
 *	- a committed nack or set_vt to "now", a rolled-back read: one waiter
 *	  per message made visible;
 *	- COMMIT/ROLLBACK PREPARED (utility hook, after the statement): every
 *	  waiter of the queues the prepared transaction touched;
 *	- the database's background worker (worker.c), when a delayed message
 *	  or a lease recorded in the queue's read cursor becomes due: one.
 *
 * Who is woken: among the waiters of the queue that have no wake-up
 * pending, the highest priority first, equal priorities in arrival order;
 * and besides them every waiter that reads with a filter (mq.read's
 * filter, payload_filter), since only the waiter can tell whether a
 * message matches.  Without sends nobody is woken, filtered or not.
 * A woken waiter reads again with a fresh snapshot; if another consumer
 * won the message it sleeps again for the rest of its time.  A waiter that
 * leaves with a wake-up it did not use (timeout or error right after the
 * wake-up), or that claimed as many messages as it asked for (so more may
 * be there), passes one wake-up on to the next waiter; so no message is
 * left behind while someone waits for it.
 *
 * Locking: the slot array is protected by the "mq_wait" LWLock.  The
 * number of waiters of a queue is also kept in the queue's cursor state
 * (cursor.c), so a committing sender of a queue nobody waits on never
 * takes the lock; queues without a cursor state use the global count.
 * A slot is released on every exit path: PG_TRY in read.c for errors, and
 * a before_shmem_exit callback for FATAL and process exit.
 *
 * Its part of the read path (read.c): step 7, waiting.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/wait.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#include "cursor.h"
#include "wait.h"

typedef struct MqWaiter
{
	bool		in_use;
	bool		woken;			/* a wake-up arrived that no read has used */
	Oid			dbid;
	Oid			relid;
	int			priority;
	bool		filtered;		/* reads with a filter (woken by every wake-up) */
	uint64		seq;			/* arrival order */
	PGPROC	   *proc;
	struct MqCursorState *state;	/* the queue's cursor state, or NULL */
} MqWaiter;

/*
 * A drop under way (mq.drop_queue: one queue; DROP EXTENSION: relid
 * InvalidOid, the whole database): until the dropping transaction ends,
 * waiters of what it drops end their wait, so that the drop does not wait
 * for them (it needs their locks) with every other call queued behind it.
 */
#define MQ_MAX_DROPS 16

typedef struct MqDropping
{
	Oid			dbid;			/* InvalidOid: free */
	Oid			relid;
	int			pid;			/* the dropping backend */
} MqDropping;

typedef struct MqWaitShared
{
	LWLock	   *lock;
	uint64		next_seq;
	pg_atomic_uint32 nwaiting;	/* slots in use, all queues */
	pg_atomic_uint32 ndrops;	/* drops[] in use */
	MqDropping	drops[MQ_MAX_DROPS];
	MqWaiter	waiters[FLEXIBLE_ARRAY_MEMBER];
} MqWaitShared;

static MqWaitShared *wait_shared = NULL;
static MqWaiter *my_slot = NULL;

/* The cursor states (one per partition) this backend counts itself in. */
static struct MqCursorState *my_states[MQ_MAX_PARTITIONS];
static Oid	my_relids[MQ_MAX_PARTITIONS];
static int	my_nparts = 0;
static bool exit_callback_set = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
wait_shmem_size(void)
{
	return add_size(offsetof(MqWaitShared, waiters),
					mul_size(MaxBackends, sizeof(MqWaiter)));
}

static void
wait_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(wait_shmem_size());
	RequestNamedLWLockTranche("mq_wait", 1);
}

static void
wait_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wait_shared = ShmemInitStruct("mq waiters", wait_shmem_size(), &found);
	if (!found)
	{
		memset(wait_shared, 0, wait_shmem_size());
		wait_shared->lock = &(GetNamedLWLockTranche("mq_wait"))->lock;
		pg_atomic_init_u32(&wait_shared->nwaiting, 0);
		pg_atomic_init_u32(&wait_shared->ndrops, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * mq_wait_init
 *		Called from _PG_init; shared memory only when preloading.
 */
void
mq_wait_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wait_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wait_shmem_startup;
}

/*
 * mq_wait_available
 *		Can this backend wait?  Only with mq in shared_preload_libraries.
 */
bool
mq_wait_available(void)
{
	return wait_shared != NULL && MyBackendId != InvalidBackendId &&
		MyBackendId <= MaxBackends;
}

/*
 * wake_best
 *		Wake up to n waiters of a queue (all if n < 0): highest priority
 *		first, then arrival order; skip those with a wake-up pending.
 *		Caller holds the lock exclusively.  Returns how many were woken.
 */
static int
wake_best(Oid dbid, Oid relid, int n, MqWaiter *except)
{
	int			woke = 0;
	int			i;

	/*
	 * A waiter with a filter is woken by every wake-up, besides the n
	 * chosen: whoever made a message visible cannot tell whether it
	 * matches, so the waiter reads again and looks.  It is not counted:
	 * a message it does not want still wakes a waiter without a filter.
	 */
	if (n != 0)
	{
		for (i = 0; i < MaxBackends; i++)
		{
			MqWaiter   *w = &wait_shared->waiters[i];

			if (w->in_use && w->filtered && !w->woken && w != except &&
				w->dbid == dbid && w->relid == relid)
			{
				w->woken = true;
				SetLatch(&w->proc->procLatch);
			}
		}
	}

	while (n < 0 || woke < n)
	{
		MqWaiter   *best = NULL;

		for (i = 0; i < MaxBackends; i++)
		{
			MqWaiter   *w = &wait_shared->waiters[i];

			if (!w->in_use || w->woken || w == except || w->filtered ||
				w->dbid != dbid || w->relid != relid)
				continue;
			if (n < 0)
			{
				w->woken = true;
				SetLatch(&w->proc->procLatch);
				woke++;
				continue;
			}
			if (best == NULL || w->priority > best->priority ||
				(w->priority == best->priority && w->seq < best->seq))
				best = w;
		}
		if (best == NULL)
			break;
		best->woken = true;
		SetLatch(&best->proc->procLatch);
		woke++;
	}
	return woke;
}

/*
 * release_slot
 *		Leave the waiters, passing on a wake-up if asked or if one arrived
 *		that we did not use.  Safe to call when not registered.
 */
static void
release_slot(bool pass_on)
{
	MqWaiter   *slot = my_slot;
	struct MqCursorState *state;

	if (slot == NULL)
		return;
	my_slot = NULL;

	LWLockAcquire(wait_shared->lock, LW_EXCLUSIVE);
	if (slot->woken || pass_on)
		wake_best(slot->dbid, slot->relid, 1, slot);
	state = slot->state;
	slot->in_use = false;
	slot->woken = false;
	slot->state = NULL;
	pg_atomic_fetch_sub_u32(&wait_shared->nwaiting, 1);
	LWLockRelease(wait_shared->lock);

	if (state != NULL)
	{
		int			k;

		for (k = 0; k < my_nparts; k++)
			mq_cursor_waiters_add(my_states[k], my_relids[k], -1);
	}
	my_nparts = 0;
}

static void
wait_before_shmem_exit(int code, Datum arg)
{
	release_slot(false);
}

/*
 * mq_wait_register
 *		Join the waiters of a queue.  The caller must read again after this
 *		and before sleeping, and apply fx (the worker must watch a due time
 *		for us).
 */
void
mq_wait_register(MqQueue *queue, int priority, bool filtered, MqEffects *fx)
{
	MqWaiter   *slot;

	Assert(mq_wait_available());
	if (my_slot != NULL)
		release_slot(false);	/* left over from an earlier error */
	my_nparts = 0;

	if (!exit_callback_set)
	{
		before_shmem_exit(wait_before_shmem_exit, (Datum) 0);
		exit_callback_set = true;
	}

	slot = &wait_shared->waiters[MyBackendId - 1];
	LWLockAcquire(wait_shared->lock, LW_EXCLUSIVE);
	slot->in_use = true;
	slot->woken = false;
	slot->dbid = MyDatabaseId;
	slot->relid = queue->relid;
	slot->priority = priority;
	slot->filtered = filtered;
	slot->seq = ++wait_shared->next_seq;
	slot->proc = MyProc;
	slot->state = queue->cursor;
	pg_atomic_fetch_add_u32(&wait_shared->nwaiting, 1);
	LWLockRelease(wait_shared->lock);
	my_slot = slot;

	/*
	 * Count ourselves in the cursor state of every partition of the queue:
	 * senders look there before taking the lock, and a send to any
	 * partition wakes the queue's waiters (their key is partition 0's
	 * table).  If a cursor holds a due time, the worker must now watch it
	 * for us.
	 */
	if (queue->cursor != NULL)
	{
		bool		due = false;
		int			k;

		my_nparts = 0;
		for (k = 0; k < queue->nparts; k++)
		{
			MqQueue    *part = queue->parts[k];

			if (part->cursor == NULL)
				continue;
			my_states[my_nparts] = part->cursor;
			my_relids[my_nparts] = part->relid;
			my_nparts++;
			due |= mq_cursor_waiters_add(part->cursor, part->relid, 1);
		}
		if (due)
			mq_effects_signal_worker(fx);
	}
}

/*
 * mq_wait_consume
 *		Before reading again: take the pending wake-up, if any, so that a
 *		new one can arrive.  Returns whether there was one.
 */
bool
mq_wait_consume(void)
{
	bool		had;

	if (my_slot == NULL || !my_slot->woken)
		return false;
	LWLockAcquire(wait_shared->lock, LW_EXCLUSIVE);
	had = my_slot->woken;
	my_slot->woken = false;
	LWLockRelease(wait_shared->lock);
	return had;
}

/*
 * mq_wait_unregister
 *		Leave the waiters; pass_on wakes the next one (we filled our qty,
 *		so more messages may be there).
 */
void
mq_wait_unregister(bool pass_on)
{
	release_slot(pass_on);
}

/*
 * mq_wait_wake
 *		Wake up to n waiters of queue relid in database dbid (MQ_WAKE_ALL:
 *		every one).  Callable from transaction callbacks: does not throw.
 */
void
mq_wait_wake(Oid dbid, Oid relid, int n)
{
	if (wait_shared == NULL || n == 0)
		return;
	pg_memory_barrier();
	if (pg_atomic_read_u32(&wait_shared->nwaiting) == 0)
		return;
	LWLockAcquire(wait_shared->lock, LW_EXCLUSIVE);
	wake_best(dbid, relid, n, NULL);
	LWLockRelease(wait_shared->lock);
}

/*
 * mq_wait_wake_database
 *		Wake every waiter in a database (an event we cannot place).
 */
void
mq_wait_wake_database(Oid dbid)
{
	int			i;

	if (wait_shared == NULL)
		return;
	pg_memory_barrier();
	if (pg_atomic_read_u32(&wait_shared->nwaiting) == 0)
		return;
	LWLockAcquire(wait_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < MaxBackends; i++)
	{
		MqWaiter   *w = &wait_shared->waiters[i];

		if (w->in_use && !w->woken && w->dbid == dbid)
		{
			w->woken = true;
			SetLatch(&w->proc->procLatch);
		}
	}
	LWLockRelease(wait_shared->lock);
}

/*
 * mq_wait_count
 *		How many consumers wait on a queue now (for mq.queues).
 */
int
mq_wait_count(Oid dbid, Oid relid)
{
	int			n = 0;
	int			i;

	if (wait_shared == NULL || pg_atomic_read_u32(&wait_shared->nwaiting) == 0)
		return 0;
	LWLockAcquire(wait_shared->lock, LW_SHARED);
	for (i = 0; i < MaxBackends; i++)
	{
		MqWaiter   *w = &wait_shared->waiters[i];

		if (w->in_use && w->dbid == dbid && w->relid == relid)
			n++;
	}
	LWLockRelease(wait_shared->lock);
	return n;
}

static bool dropping = false;

/*
 * mq_wait_xact_end
 *		Our transaction ended: the drops it began are over.  Called by
 *		events.c.  Must not throw.
 */
void
mq_wait_xact_end(XactEvent event)
{
	int			i;

	if (!dropping || wait_shared == NULL)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	LWLockAcquire(wait_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < MQ_MAX_DROPS; i++)
		if (OidIsValid(wait_shared->drops[i].dbid) && wait_shared->drops[i].pid == MyProcPid)
		{
			wait_shared->drops[i].dbid = InvalidOid;
			pg_atomic_fetch_sub_u32(&wait_shared->ndrops, 1);
		}
	LWLockRelease(wait_shared->lock);
	dropping = false;
}

/*
 * mq_wait_drop_begin
 *		We are about to drop queue relid (InvalidOid: every queue of this
 *		database) and will wait for the locks its callers hold: tell its
 *		waiters to end their wait, until our transaction ends.  Should the
 *		table of drops be full, waiters simply wait on (their wait ends).
 */
void
mq_wait_drop_begin(Oid relid)
{
	int			i;

	if (wait_shared == NULL)
		return;
	LWLockAcquire(wait_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < MQ_MAX_DROPS; i++)
		if (OidIsValid(wait_shared->drops[i].dbid) && wait_shared->drops[i].pid == MyProcPid &&
			wait_shared->drops[i].relid == relid)
			break;				/* begun already (drop_queue tries again) */
	for (i = (i < MQ_MAX_DROPS) ? MQ_MAX_DROPS : 0; i < MQ_MAX_DROPS; i++)
		if (!OidIsValid(wait_shared->drops[i].dbid))
		{
			wait_shared->drops[i].dbid = MyDatabaseId;
			wait_shared->drops[i].relid = relid;
			wait_shared->drops[i].pid = MyProcPid;
			pg_atomic_fetch_add_u32(&wait_shared->ndrops, 1);
			dropping = true;
			break;
		}
	LWLockRelease(wait_shared->lock);
	mq_wait_wake_database(MyDatabaseId);
}

/*
 * mq_wait_drop_pending
 *		For a waiter: is a drop of its queue (or of the extension) under
 *		way in another backend?
 */
bool
mq_wait_drop_pending(Oid relid)
{
	bool		pending = false;
	int			i;

	if (wait_shared == NULL)
		return false;
	pg_memory_barrier();
	if (pg_atomic_read_u32(&wait_shared->ndrops) == 0)
		return false;
	LWLockAcquire(wait_shared->lock, LW_SHARED);
	for (i = 0; i < MQ_MAX_DROPS && !pending; i++)
	{
		MqDropping *d = &wait_shared->drops[i];

		pending = d->dbid == MyDatabaseId && d->pid != MyProcPid &&
			(!OidIsValid(d->relid) || d->relid == relid);
	}
	LWLockRelease(wait_shared->lock);
	return pending;
}
