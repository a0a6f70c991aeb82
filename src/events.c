/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The one place where transaction ends move read positions, wake
 *	  waiters and signal the database's worker.
 *
 * mq's shared state changes in two steps.  During a transaction, the
 * calls note what they did in backend memory (cursor.c: sends, claims,
 * vt changes, counters, drops; rollback.c: deliveries).  When the
 * transaction ends, this file's callbacks hand each note to its owner, in
 * this order:
 *
 *	1. rollback.c: at abort, the deliveries that rolled back go to the
 *	   shared table the worker records them from (and the worker is to be
 *	   woken); at prepare, they wait there for the outcome;
 *	2. cursor.c: at commit, sends are pushed into the commit ring, claims
 *	   and later due times merge into the future mark, nacks to "now"
 *	   lower the read position, counters are added; at abort, what the
 *	   transaction locked lowers the read position; at prepare, its slots
 *	   stay, tagged with its xid;
 *	3. wait.c: drops this transaction announced are over;
 *	4. worker.c: requests to the launcher (start a worker, recheck the
 *	   extension, end a database's pause);
 *	5. and only then, with all shared state consistent, the wake-ups
 *	   steps 1 and 2 asked for (MqEffects, effects.h): waiters of each
 *	   queue (wait.c), and the database's worker.
 *
 * A rolled-back savepoint runs steps 1, 2 and 5 for what it undid.  The
 * same effects come from a read that settles prepared transactions or
 * moves a due time earlier (read.c), from the worker's pass over due times
 * (worker.c), and after COMMIT/ROLLBACK PREPARED (worker.c's
 * ProcessUtility hook, through mq_events_prepared_ended): each applies
 * them with mq_events_apply.
 *
 * The commit callback runs after the transaction became visible to other
 * snapshots (ProcArrayEndTransaction), so a woken reader sees what woke
 * it.  Nothing here may throw: an error in a commit callback would be a
 * PANIC.
 *
 * Its part of the read path (read.c): step 8, the transaction's end, and
 * the wake-ups of steps 2 and 6.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"

#include "cursor.h"
#include "events.h"
#include "wait.h"
#include "worker.h"

static void events_xact_callback(XactEvent event, void *arg);
static void events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);

/*
 * mq_events_init
 *		Register the callbacks (only with shared memory: without preloading
 *		there is no shared state to update and nobody to wake).
 */
void
mq_events_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	RegisterXactCallback(events_xact_callback, NULL);
	RegisterSubXactCallback(events_subxact_callback, NULL);
}

/*
 * mq_events_apply
 *		Carry out the wake-ups noted in fx.  Does not throw.
 */
void
mq_events_apply(MqEffects *fx)
{
	int			i;

	if (fx->wake_database)
		mq_wait_wake_database(MyDatabaseId);
	else
		for (i = 0; i < fx->nwakes; i++)
			mq_wait_wake(MyDatabaseId, fx->wakes[i].relid, fx->wakes[i].n);
	if (fx->signal_worker)
		mq_worker_signal(MyDatabaseId);
	mq_effects_init(fx);
}

/*
 * mq_events_prepared_ended
 *		COMMIT PREPARED or ROLLBACK PREPARED ran in this backend: settle
 *		the prepared slots of every queue of the database now, waking their
 *		waiters, instead of at the next read; and let the worker record
 *		deliveries the prepared transaction rolled back.
 */
void
mq_events_prepared_ended(void)
{
	MqEffects	fx;

	mq_effects_init(&fx);
	mq_cursor_settle_database(&fx);
	if (mq_rollback_prepared_waiting())
		mq_effects_signal_worker(&fx);
	mq_events_apply(&fx);
}

static void
events_xact_callback(XactEvent event, void *arg)
{
	MqEffects	fx;

	mq_effects_init(&fx);
	mq_rollback_xact_end(event, &fx);
	mq_cursor_xact_end(event, &fx);
	mq_wait_xact_end(event);
	mq_worker_xact_end(event);
	mq_events_apply(&fx);
}

static void
events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	MqEffects	fx;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	mq_effects_init(&fx);
	mq_rollback_subxact_abort(mySubid, &fx);
	mq_cursor_subxact_abort(mySubid, &fx);
	mq_events_apply(&fx);
}
