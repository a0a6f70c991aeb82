/*-------------------------------------------------------------------------
 *
 * effects.h
 *	  What a change to a queue's shared state asks of others: waiters to
 *	  wake, the database's worker to signal.
 *
 * The code that changes shared state (cursor.c, rollback.c) does not wake
 * anyone itself: it notes the wake-ups in an MqEffects, and its caller
 * hands them to events.c (mq_events_apply) once the state is consistent.
 * So the shared-state layer never calls up into the waiters (wait.c) or
 * the worker (worker.c), and the transaction-end callbacks live in one
 * place (events.c).  Only types and inline helpers here: including this
 * header calls nothing.
 *
 * Every field is about the backend's own database (MyDatabaseId).  Noting
 * a wake-up cannot fail and allocates nothing, so it is safe in
 * transaction-abort callbacks: past MQ_MAX_WAKES queues, the effects
 * widen to "wake every waiter of the database", which is always safe (a
 * woken waiter that finds nothing sleeps again).
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/effects.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_EFFECTS_H
#define MQ_EFFECTS_H

#include "postgres.h"

/* Wake every waiter of a queue (as a count of wake-ups). */
#define MQ_WAKE_ALL (-1)

#define MQ_MAX_WAKES 32

typedef struct MqWake
{
	Oid			relid;			/* the queue's message table */
	int			n;				/* wake-ups, or MQ_WAKE_ALL */
} MqWake;

typedef struct MqEffects
{
	int			nwakes;
	MqWake		wakes[MQ_MAX_WAKES];
	bool		wake_database;	/* every waiter of the database */
	bool		signal_worker;	/* set the database worker's latch */
} MqEffects;

static inline void
mq_effects_init(MqEffects *fx)
{
	fx->nwakes = 0;
	fx->wake_database = false;
	fx->signal_worker = false;
}

/* n wake-ups for a queue's waiters (n > 0, or MQ_WAKE_ALL). */
static inline void
mq_effects_wake(MqEffects *fx, Oid relid, int n)
{
	int			i;

	if (n == 0 || fx->wake_database)
		return;
	for (i = 0; i < fx->nwakes; i++)
		if (fx->wakes[i].relid == relid)
		{
			if (n == MQ_WAKE_ALL || fx->wakes[i].n == MQ_WAKE_ALL)
				fx->wakes[i].n = MQ_WAKE_ALL;
			else if (fx->wakes[i].n > PG_INT32_MAX - n)
				fx->wakes[i].n = MQ_WAKE_ALL;
			else
				fx->wakes[i].n += n;
			return;
		}
	if (fx->nwakes == MQ_MAX_WAKES)
	{
		fx->wake_database = true;
		return;
	}
	fx->wakes[fx->nwakes].relid = relid;
	fx->wakes[fx->nwakes].n = n;
	fx->nwakes++;
}

static inline void
mq_effects_wake_database(MqEffects *fx)
{
	fx->wake_database = true;
}

static inline void
mq_effects_signal_worker(MqEffects *fx)
{
	fx->signal_worker = true;
}

#endif							/* MQ_EFFECTS_H */
