/*-------------------------------------------------------------------------
 *
 * reclaim.c
 *	  Keeping queue tables small: the database's worker vacuums them on a
 *	  short deadline.
 *
 * A queue table is written at one end and deleted at the other, so under
 * churn it is mostly dead row versions.  Autovacuum visits a table at most
 * once per autovacuum_naptime (a minute by default), and at a few thousand
 * messages a second that is enough dead rows to grow a 2 MB queue to 50 MB
 * (docs/benchmarks.md, churn).  The worker (worker.c) therefore looks at its
 * queues every mq.vacuum_naptime (1 s) and vacuums one when:
 *
 *	1. the cumulative statistics count at least mq.vacuum_threshold dead
 *	   row versions in its message table (backends report them within a
 *	   second or so of their commits), and
 *	2. the removal horizon of the table has moved since the worker last
 *	   vacuumed it.  Every transaction older than the horizon had ended when
 *	   that vacuum started, so whatever it left is still needed by someone;
 *	   while a snapshot is held (a long report, an idle transaction, a
 *	   standby's feedback) the horizon stands still and the worker does not
 *	   vacuum again for nothing.  Reads stay fast meanwhile because they
 *	   never walk the dead head (the read cursor, cursor.c); the table grows
 *	   until the snapshot is let go, and the next pass vacuums it.
 *
 * The vacuum is PostgreSQL's own (vacuum()), as VACUUM (SKIP_LOCKED,
 * TRUNCATE false) of the one table would run it: it skips a table that
 * another vacuum or DDL holds, never blocks sends or reads (SHARE UPDATE
 * EXCLUSIVE, and no truncation, which would take ACCESS EXCLUSIVE), runs the
 * table's index functions as the table's owner in a restricted operation,
 * and marks itself PROC_IN_VACUUM so that its own snapshot holds back no
 * one.  Only queues whose tables are as mq made them (shape.c) are
 * vacuumed, as for every other step of the worker.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/reclaim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "commands/vacuum.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "mq.h"
#include "reclaim.h"

int			mq_vacuum_naptime = 1;	/* seconds; 0 = leave it to autovacuum */
int			mq_vacuum_threshold = 1000; /* dead row versions */

/* What the worker remembers of each message table it vacuumed. */
typedef struct ReclaimEntry
{
	Oid			relid;			/* hash key */
	TransactionId horizon;		/* removal horizon when last vacuumed */
} ReclaimEntry;

static HTAB *reclaimed = NULL;

/* The parent of vacuum()'s working memory, as autovacuum has one. */
static MemoryContext reclaim_portal = NULL;

void
mq_reclaim_init(void)
{
	DefineCustomIntVariable("mq.vacuum_naptime",
							"Sets how often the mq worker looks for queue tables to vacuum.",
							"0 leaves queue tables to autovacuum.",
							&mq_vacuum_naptime,
							1, 0, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mq.vacuum_threshold",
							"Sets how many dead row versions make the mq worker vacuum a queue table.",
							NULL,
							&mq_vacuum_threshold,
							1000, 1, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

static ReclaimEntry *
reclaim_entry(Oid relid)
{
	bool		found;
	ReclaimEntry *entry;

	if (reclaimed == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ReclaimEntry);
		reclaimed = hash_create("mq vacuumed tables", 64, &ctl,
								HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(reclaimed, &relid, HASH_ENTER, &found);
	if (!found)
		entry->horizon = InvalidTransactionId;
	return entry;
}

/*
 * mq_reclaim_queue
 *		A step of the worker (run in its error guard): vacuum the message
 *		table of one queue if it has enough dead rows and vacuum could
 *		remove some of them.  Returns whether it vacuumed.
 */
bool
mq_reclaim_queue(const char *name)
{
	MqQueue    *queue;
	MqContext	cx;
	char	   *why = NULL;
	Oid			relids[MQ_MAX_PARTITIONS];
	TransactionId horizons[MQ_MAX_PARTITIONS];
	ReclaimEntry *entries[MQ_MAX_PARTITIONS];
	int			nrels = 0;
	int			k;
	bool		vacuumed = false;

	StartTransactionCommand();
	mq_enter_worker(&cx);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * A lock someone holds (a drop or alter in an open transaction), a
	 * dropped queue, or one not in shape: not now.  The sweep logs the
	 * last two.
	 */
	queue = mq_try_open_queue(name, AccessShareLock, true, &why);
	for (k = 0; queue != NULL && k < queue->nparts; k++)
	{
		MqQueue    *part = queue->parts[k];
		PgStat_StatTabEntry *stats = pgstat_fetch_stat_tabentry(part->relid);

		if (stats != NULL && stats->n_dead_tuples >= mq_vacuum_threshold)
		{
			Relation	rel;
			TransactionId horizon;
			ReclaimEntry *entry;

			/* Partition 0 is locked; another partition's lock, if free. */
			if (k > 0 && !ConditionalLockRelationOid(part->relid, AccessShareLock))
				continue;
			rel = relation_open(part->relid, NoLock);
			horizon = GetOldestNonRemovableTransactionId(rel);
			relation_close(rel, NoLock);
			entry = reclaim_entry(part->relid);
			if (TransactionIdIsValid(entry->horizon) &&
				!TransactionIdFollows(horizon, entry->horizon))
				continue;		/* nothing new to remove */
			relids[nrels] = part->relid;
			horizons[nrels] = horizon;
			entries[nrels] = entry;
			nrels++;
		}
	}
	PopActiveSnapshot();
	SPI_finish();
	mq_leave(&cx);

	if (nrels > 0)
	{
		VacuumParams params;
		MemoryContext old;
		List	   *rels = NIL;

		if (reclaim_portal == NULL)
			reclaim_portal = AllocSetContextCreate(TopMemoryContext,
												   "mq worker vacuum",
												   ALLOCSET_DEFAULT_SIZES);
		memset(&params, 0, sizeof(params));
		params.options = VACOPT_VACUUM | VACOPT_SKIP_LOCKED | VACOPT_PROCESS_TOAST;
		params.freeze_min_age = -1;
		params.freeze_table_age = -1;
		params.multixact_freeze_min_age = -1;
		params.multixact_freeze_table_age = -1;
		params.is_wraparound = false;
		params.log_min_duration = -1;
		params.index_cleanup = VACOPTVALUE_UNSPECIFIED;
		/*
		 * No truncation: it takes an ACCESS EXCLUSIVE lock (conditionally,
		 * but then holds it while it scans back over the empty tail), which
		 * stalls the next send or read, and is replayed on standbys.  Freed
		 * pages are reused by later sends through the free space map;
		 * autovacuum still gives back an empty tail now and then.
		 */
		params.truncate = VACOPTVALUE_DISABLED;
		params.nworkers = -1;	/* a queue table is small: no parallel workers */

		/* vacuum() wants its arguments in memory that outlives commits. */
		old = MemoryContextSwitchTo(reclaim_portal);
		for (k = 0; k < nrels; k++)
			rels = lappend(rels, makeVacuumRelation(NULL, relids[k], NIL));
		MemoryContextSwitchTo(old);

		pgstat_report_activity(STATE_RUNNING, "mq: vacuum");
		PortalContext = reclaim_portal;
		vacuum(rels, &params, NULL, true);
		PortalContext = NULL;
		for (k = 0; k < nrels; k++)
			entries[k]->horizon = horizons[k];
		vacuumed = true;
		elog(DEBUG1, "mq worker vacuumed the message table of queue \"%s\"", name);
	}
	CommitTransactionCommand();
	if (reclaim_portal != NULL)
		MemoryContextReset(reclaim_portal);
	pgstat_report_activity(STATE_IDLE, NULL);
	return vacuumed;
}
