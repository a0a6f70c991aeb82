/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The mq launcher and the per-database workers.
 *
 * With mq in shared_preload_libraries, _PG_init registers one static
 * background worker, the launcher ("mq launcher").  It connects to no
 * database, reads pg_database (a shared catalog), and starts one dynamic
 * worker ("mq worker") per connectable, non-template database.  A worker
 * that finds no extension mq in its database says so in its shared slot
 * and leaves; the launcher then leaves that database alone until it is
 * asked again: CREATE EXTENSION mq calls mq._start_worker(), which at
 * commit asks the launcher to start a worker there at once.  New
 * databases are found by a rescan every mq.launcher_naptime.
 *
 * A worker's work, all driven by shared memory (cursor.c):
 *	- waiters: when a queue with waiting consumers has a due time (a
 *	  delayed message, a lease) that has passed, wake one of them; sleep
 *	  until the next due time, or until a committing transaction or a read
 *	  records an earlier one and sets our latch;
 *	- notifications: for queues with notify on, send NOTIFY mq_<name>
 *	  after sends to them committed, from the worker's own transaction, so
 *	  senders never run NOTIFY (PREPARE TRANSACTION refuses it, and its
 *	  commit-time lock would serialise every sender);
 *	- every mq.worker_naptime, check the extension is still there,
 *	  delete dedup keys and processed-keys whose time has passed, forget
 *	  privileges of dropped roles, and record expired leases as failed
 *	  deliveries, dead-lettering messages that have no delivery left (a
 *	  read does that too, but a queue nobody reads would keep them);
 *	- every mq.vacuum_naptime, vacuum the message tables that churn left
 *	  full of dead rows, when vacuum can remove them (reclaim.c).
 *
 * Its SQL runs as the owner of mq's objects in a security-restricted
 * operation (acl.c), only on queue tables in the shape mq made them
 * (shape.c); each queue is swept in a transaction of its own, and an error
 * in one is logged once and does not stop the others.
 *
 * Lifecycle: a worker terminated by pg_terminate_backend (or failing) is
 * started again by the launcher after a second; after a crash restart the
 * launcher (restart_time 1 s) starts everything again.  A worker would
 * keep DROP DATABASE, ALTER DATABASE RENAME / SET TABLESPACE and CREATE
 * DATABASE ... TEMPLATE from running ("being accessed by other users"), so
 * a ProcessUtility hook pauses the database first: the launcher will not
 * start a worker there, the running one is told to leave, and the pause
 * ends with the transaction.  The same hook settles prepared transactions
 * after COMMIT/ROLLBACK PREPARED, to wake waiters (cursor.c).
 *
 * Its part of the read path (read.c): what reads cannot do themselves:
 * expired leases nobody reads, the check of each read position, the due
 * times waiters sleep through, and (rollback.c, reclaim.c) recording
 * rolled-back deliveries and vacuuming the tables reads walk.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "cursor.h"
#include "events.h"
#include "metrics.h"
#include "mq.h"
#include "reclaim.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(mq_start_worker);

PGDLLEXPORT void mq_launcher_main(Datum main_arg);
PGDLLEXPORT void mq_worker_main(Datum main_arg);

#define MQ_MAX_PROBES 16		/* databases asking for a worker at once */
#define MQ_MAX_PAUSED 16		/* databases paused at once */
#define MQ_RESTART_DELAY_USECS USECS_PER_SEC
#define MQ_NOTIFY_GATHER_MS 5	/* least time between NOTIFY transactions */

/* GUCs */
static int	mq_launcher_naptime = 10;	/* seconds */
static int	mq_worker_naptime = 10; /* seconds */
static int	mq_max_workers = 8;

typedef struct MqWorkerSlot
{
	Oid			dbid;			/* InvalidOid: free */
	bool		starting;		/* registered, not yet attached or gone */
	PGPROC	   *proc;			/* the worker, once running */
	bool		absent;			/* it found no extension mq and left */
	bool		recheck;		/* look at the extension again now */
} MqWorkerSlot;

typedef struct MqPause
{
	Oid			dbid;
	int			pid;			/* the backend that paused it */
} MqPause;

typedef struct MqWorkerShared
{
	slock_t		mutex;
	PGPROC	   *launcher;
	bool		rescan;			/* look at pg_database now */
	int			nprobe;
	bool		probe_all;		/* probe requests overflowed */
	Oid			probe[MQ_MAX_PROBES];
	MqPause		paused[MQ_MAX_PAUSED];
	MqWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} MqWorkerShared;

static MqWorkerShared *ws = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Backend-local: what to do when this transaction ends. */
static bool start_at_commit = false;
static bool recheck_at_commit = false;
static bool paused_any = false;

static Size
worker_shmem_size(void)
{
	return add_size(offsetof(MqWorkerShared, slots),
					mul_size(mq_max_workers, sizeof(MqWorkerSlot)));
}

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(worker_shmem_size());
}

static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ws = ShmemInitStruct("mq workers", worker_shmem_size(), &found);
	if (!found)
	{
		memset(ws, 0, worker_shmem_size());
		SpinLockInit(&ws->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * mq_worker_signal
 *		Set the latch of the worker of a database, if it runs.  Called from
 *		transaction callbacks: does not throw.
 */
void
mq_worker_signal(Oid dbid)
{
	PGPROC	   *proc = NULL;
	int			i;

	if (ws == NULL)
		return;
	SpinLockAcquire(&ws->mutex);
	for (i = 0; i < mq_max_workers; i++)
		if (ws->slots[i].dbid == dbid && ws->slots[i].proc != NULL)
		{
			proc = ws->slots[i].proc;
			break;
		}
	SpinLockRelease(&ws->mutex);
	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/*
 * mq_worker_running
 *		Does a worker serve this database now?
 */
bool
mq_worker_running(Oid dbid)
{
	bool		running = false;
	int			i;

	if (ws == NULL)
		return false;
	SpinLockAcquire(&ws->mutex);
	for (i = 0; i < mq_max_workers; i++)
		if (ws->slots[i].dbid == dbid && ws->slots[i].proc != NULL)
			running = true;
	SpinLockRelease(&ws->mutex);
	return running;
}

/*
 * mq_worker_recheck_at_commit
 *		DROP EXTENSION mq is under way: when it commits, the worker must
 *		look again and leave.
 */
void
mq_worker_recheck_at_commit(void)
{
	if (ws != NULL)
		recheck_at_commit = true;
}

/*
 * mq._start_worker(): called by the extension's install script; at commit
 * the launcher starts this database's worker.  Returns whether a launcher
 * exists to ask (false without shared_preload_libraries).
 */
Datum
mq_start_worker(PG_FUNCTION_ARGS)
{
	if (ws == NULL)
		PG_RETURN_BOOL(false);
	start_at_commit = true;
	PG_RETURN_BOOL(true);
}

static bool
database_paused(Oid dbid)
{
	bool		paused = false;
	int			i;

	SpinLockAcquire(&ws->mutex);
	for (i = 0; i < MQ_MAX_PAUSED; i++)
		if (ws->paused[i].dbid == dbid)
			paused = true;
	SpinLockRelease(&ws->mutex);
	return paused;
}

static void
wake_launcher(void)
{
	PGPROC	   *launcher;

	SpinLockAcquire(&ws->mutex);
	ws->rescan = true;
	launcher = ws->launcher;
	SpinLockRelease(&ws->mutex);
	if (launcher != NULL)
		SetLatch(&launcher->procLatch);
}

/*
 * mq_worker_xact_end
 *		Act on what this transaction asked for once it ends.  Called by
 *		events.c.  Must not throw.
 */
void
mq_worker_xact_end(XactEvent event)
{
	int			i;

	if (ws == NULL)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;

	if (event == XACT_EVENT_COMMIT && start_at_commit)
	{
		SpinLockAcquire(&ws->mutex);
		if (ws->nprobe < MQ_MAX_PROBES)
			ws->probe[ws->nprobe++] = MyDatabaseId;
		else
			ws->probe_all = true;
		SpinLockRelease(&ws->mutex);
		wake_launcher();
	}
	if (event == XACT_EVENT_COMMIT && recheck_at_commit)
	{
		PGPROC	   *proc = NULL;

		SpinLockAcquire(&ws->mutex);
		for (i = 0; i < mq_max_workers; i++)
			if (ws->slots[i].dbid == MyDatabaseId && ws->slots[i].proc != NULL)
			{
				ws->slots[i].recheck = true;
				proc = ws->slots[i].proc;
			}
		SpinLockRelease(&ws->mutex);
		if (proc != NULL)
			SetLatch(&proc->procLatch);
	}
	if (paused_any)
	{
		SpinLockAcquire(&ws->mutex);
		for (i = 0; i < MQ_MAX_PAUSED; i++)
			if (ws->paused[i].pid == MyProcPid)
			{
				ws->paused[i].dbid = InvalidOid;
				ws->paused[i].pid = 0;
			}
		SpinLockRelease(&ws->mutex);
		paused_any = false;
		wake_launcher();
	}
	start_at_commit = false;
	recheck_at_commit = false;
}

/*
 * pause_database
 *		Keep mq's worker out of a database for the rest of this transaction,
 *		so a command needing it free of other sessions can run.
 */
static void
pause_database(const char *dbname)
{
	Oid			dbid = get_database_oid(dbname, true);
	TimestampTz give_up;
	int			i;
	bool		added = false;

	if (!OidIsValid(dbid))
		return;

	SpinLockAcquire(&ws->mutex);
	for (i = 0; i < MQ_MAX_PAUSED && !added; i++)
		if (ws->paused[i].dbid == InvalidOid)
		{
			ws->paused[i].dbid = dbid;
			ws->paused[i].pid = MyProcPid;
			added = true;
		}
	SpinLockRelease(&ws->mutex);
	if (!added)
		return;					/* too many at once; the command may then wait */
	paused_any = true;

	/* Tell the worker to leave, and wait (a little) until it has. */
	give_up = GetCurrentTimestamp() + 10 * USECS_PER_SEC;
	for (;;)
	{
		int			pids[8];
		int			npids = 0;
		bool		present = false;

		SpinLockAcquire(&ws->mutex);
		for (i = 0; i < mq_max_workers; i++)
		{
			MqWorkerSlot *slot = &ws->slots[i];

			if (slot->dbid != dbid)
				continue;
			if (slot->proc != NULL || slot->starting)
				present = true;
			if (slot->proc != NULL && npids < lengthof(pids))
				pids[npids++] = slot->proc->pid;
		}
		SpinLockRelease(&ws->mutex);
		if (!present || GetCurrentTimestamp() >= give_up)
			break;
		for (i = 0; i < npids; i++)
			kill(pids[i], SIGTERM);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * option_value
 *		The string value of option name in a DefElem list, or NULL.
 */
static char *
option_value(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, name) == 0 && def->arg != NULL)
			return defGetString(def);
	}
	return NULL;
}

/*
 * mq_ProcessUtility
 *		Pause our worker before commands that need a database to themselves;
 *		settle prepared transactions after COMMIT/ROLLBACK PREPARED.
 */
static void
mq_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				  ProcessUtilityContext context, ParamListInfo params,
				  QueryEnvironment *queryEnv, DestReceiver *dest,
				  QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	const char *dbname = NULL;
	bool		settle = false;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			dbname = ((DropdbStmt *) parsetree)->dbname;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				dbname = ((RenameStmt *) parsetree)->subname;
			break;
		case T_AlterDatabaseStmt:
			if (option_value(((AlterDatabaseStmt *) parsetree)->options, "tablespace") != NULL)
				dbname = ((AlterDatabaseStmt *) parsetree)->dbname;
			break;
		case T_CreatedbStmt:
			dbname = option_value(((CreatedbStmt *) parsetree)->options, "template");
			break;
		case T_TransactionStmt:
			{
				TransactionStmtKind kind = ((TransactionStmt *) parsetree)->kind;

				settle = (kind == TRANS_STMT_COMMIT_PREPARED ||
						  kind == TRANS_STMT_ROLLBACK_PREPARED);
			}
			break;
		default:
			break;
	}

	if (dbname != NULL && ws != NULL)
		pause_database(dbname);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (settle)
		mq_events_prepared_ended();
}

/*
 * mq_worker_init
 *		Called from _PG_init: GUCs always; with preloading, shared memory,
 *		hooks and the launcher.
 */
void
mq_worker_init(void)
{
	BackgroundWorker bgw;

	DefineCustomIntVariable("mq.launcher_naptime",
							"Sets how often the mq launcher looks for new databases.",
							NULL,
							&mq_launcher_naptime,
							10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	mq_reclaim_init();
	DefineCustomIntVariable("mq.worker_naptime",
							"Sets how often an idle mq worker checks that the extension is still installed.",
							NULL,
							&mq_worker_naptime,
							10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("mq.max_workers",
							"Sets how many databases can have an mq worker at once.",
							"Each takes one of max_worker_processes; the launcher takes one more.",
							&mq_max_workers,
							8, 1, 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = mq_ProcessUtility;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "mq");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "mq_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "mq launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "mq launcher");
	RegisterBackgroundWorker(&bgw);
}

/* ----------------------------------------------------------------
 * The launcher
 * ----------------------------------------------------------------
 */

typedef struct LauncherDb
{
	Oid			dbid;
	bool		seen;			/* in the latest look at pg_database */
	bool		absent;			/* its worker found no extension */
	bool		probed;			/* asked for since its worker started */
	int			slot;			/* -1: no worker */
	BackgroundWorkerHandle *handle;
	TimestampTz next_start;
} LauncherDb;

static LauncherDb *ldbs = NULL;
static int	nldbs = 0;
static int	maxldbs = 0;
static bool warned_full = false;

static LauncherDb *
launcher_db(Oid dbid, bool create)
{
	int			i;

	for (i = 0; i < nldbs; i++)
		if (ldbs[i].dbid == dbid)
			return &ldbs[i];
	if (!create)
		return NULL;
	if (nldbs == maxldbs)
	{
		maxldbs = maxldbs == 0 ? 16 : maxldbs * 2;
		ldbs = ldbs == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(LauncherDb) * maxldbs) :
			repalloc(ldbs, sizeof(LauncherDb) * maxldbs);
	}
	memset(&ldbs[nldbs], 0, sizeof(LauncherDb));
	ldbs[nldbs].dbid = dbid;
	ldbs[nldbs].slot = -1;
	return &ldbs[nldbs++];
}

/*
 * scan_databases
 *		Note every database a worker could serve: connectable, not a
 *		template (a session in a template would make CREATE DATABASE fail).
 */
static void
scan_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			i;

	for (i = 0; i < nldbs; i++)
		ldbs[i].seen = false;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate || db->datconnlimit == -2)
			continue;
		launcher_db(db->oid, true)->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	/*
	 * Forget dropped databases whose worker is gone, and give back the
	 * read cursors of their queues.
	 */
	for (i = 0; i < nldbs;)
	{
		if (!ldbs[i].seen && ldbs[i].handle == NULL)
		{
			mq_cursor_forget_database(ldbs[i].dbid);
			ldbs[i] = ldbs[--nldbs];
		}
		else
			i++;
	}
}

static void
start_worker(LauncherDb *db, TimestampTz now)
{
	BackgroundWorker bgw;
	int			slot = -1;
	int			i;
	bool		paused = false;

	/*
	 * Check for a pause and take the slot under one lock: pause_database
	 * adds the pause and then looks for slots under the same lock, so
	 * either it sees our slot (and waits for the worker to leave) or we see
	 * its pause.
	 */
	SpinLockAcquire(&ws->mutex);
	for (i = 0; i < MQ_MAX_PAUSED; i++)
		if (ws->paused[i].dbid == db->dbid)
			paused = true;
	for (i = 0; i < mq_max_workers && !paused; i++)
		if (ws->slots[i].dbid == InvalidOid)
		{
			slot = i;
			ws->slots[i].dbid = db->dbid;
			ws->slots[i].starting = true;
			ws->slots[i].proc = NULL;
			ws->slots[i].absent = false;
			ws->slots[i].recheck = false;
			break;
		}
	SpinLockRelease(&ws->mutex);
	if (paused)
		return;					/* its pause ends with a rescan request */
	if (slot < 0)
	{
		if (!warned_full)
			ereport(WARNING,
					(errmsg("mq launcher cannot start a worker for database %u: all %d mq.max_workers are in use",
							db->dbid, mq_max_workers),
					 errhint("Raise mq.max_workers (and max_worker_processes).")));
		warned_full = true;
		db->next_start = now + (int64) mq_launcher_naptime * USECS_PER_SEC;
		return;
	}

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "mq");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "mq_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "mq worker for database %u", db->dbid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "mq worker");
	bgw.bgw_main_arg = Int32GetDatum(slot);
	memcpy(bgw.bgw_extra, &db->dbid, sizeof(Oid));
	bgw.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&bgw, &db->handle))
	{
		SpinLockAcquire(&ws->mutex);
		ws->slots[slot].dbid = InvalidOid;
		ws->slots[slot].starting = false;
		SpinLockRelease(&ws->mutex);
		db->handle = NULL;
		ereport(WARNING,
				(errmsg("mq launcher could not start a worker for database %u", db->dbid),
				 errhint("Raise max_worker_processes.")));
		db->next_start = now + (int64) mq_launcher_naptime * USECS_PER_SEC;
		return;
	}
	db->slot = slot;
	db->probed = false;
	warned_full = false;
}

/*
 * reap_worker
 *		A worker has stopped: learn why, free its slot, plan a restart.
 */
static void
reap_worker(LauncherDb *db, TimestampTz now)
{
	MqWorkerSlot *slot = &ws->slots[db->slot];
	bool		absent;

	SpinLockAcquire(&ws->mutex);
	absent = slot->absent;
	slot->dbid = InvalidOid;
	slot->starting = false;
	slot->proc = NULL;
	slot->absent = false;
	SpinLockRelease(&ws->mutex);

	pfree(db->handle);
	db->handle = NULL;
	db->slot = -1;

	/*
	 * A worker that found no extension, but was started before a CREATE
	 * EXTENSION asked for one (DROP and CREATE in quick succession), must
	 * look again.
	 */
	db->absent = absent && !db->probed;
	db->probed = false;
	if (absent && !db->absent)
		db->next_start = 0;
	if (absent)
		return;
	if (database_paused(db->dbid))
		ereport(LOG,
				(errmsg("mq worker for database %u stopped for a DROP, ALTER or CREATE DATABASE that needs the database to itself",
						db->dbid)));
	else
		ereport(LOG,
				(errmsg("mq worker for database %u stopped; starting it again", db->dbid)));
	db->next_start = now + MQ_RESTART_DELAY_USECS;
}

static void
launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&ws->mutex);
	if (ws->launcher == MyProc)
		ws->launcher = NULL;
	SpinLockRelease(&ws->mutex);
}

/*
 * adopt_orphans
 *		A new launcher has no handles for workers its predecessor started:
 *		ask them to leave and wait for them, then start afresh.
 */
static void
adopt_orphans(void)
{
	TimestampTz give_up = GetCurrentTimestamp() + 10 * USECS_PER_SEC;
	int			i;

	for (;;)
	{
		bool		left = false;

		SpinLockAcquire(&ws->mutex);
		for (i = 0; i < mq_max_workers; i++)
		{
			MqWorkerSlot *slot = &ws->slots[i];

			if (slot->proc != NULL)
			{
				kill(slot->proc->pid, SIGTERM);
				left = true;
			}
		}
		SpinLockRelease(&ws->mutex);
		if (!left || GetCurrentTimestamp() >= give_up)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	SpinLockAcquire(&ws->mutex);
	for (i = 0; i < mq_max_workers; i++)
		memset(&ws->slots[i], 0, sizeof(MqWorkerSlot));
	SpinLockRelease(&ws->mutex);
}

void
mq_launcher_main(Datum main_arg)
{
	TimestampTz next_scan = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("mq launcher");

	before_shmem_exit(launcher_detach, (Datum) 0);
	adopt_orphans();
	SpinLockAcquire(&ws->mutex);
	ws->launcher = MyProc;
	ws->nprobe = 0;
	ws->probe_all = false;
	SpinLockRelease(&ws->mutex);
	ereport(LOG, (errmsg("mq launcher started")));

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake_at;
		Oid			probe[MQ_MAX_PROBES];
		int			nprobe;
		bool		probe_all;
		bool		rescan;
		long		secs;
		int			usecs;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		SpinLockAcquire(&ws->mutex);
		rescan = ws->rescan;
		ws->rescan = false;
		nprobe = ws->nprobe;
		memcpy(probe, ws->probe, sizeof(Oid) * nprobe);
		probe_all = ws->probe_all;
		ws->nprobe = 0;
		ws->probe_all = false;
		SpinLockRelease(&ws->mutex);

		if (rescan || nprobe > 0 || probe_all || now >= next_scan)
		{
			scan_databases();
			next_scan = now + (int64) mq_launcher_naptime * USECS_PER_SEC;
		}
		/* Reap stopped workers, then take the requests, then start. */
		for (i = 0; i < nldbs; i++)
		{
			pid_t		pid;

			if (ldbs[i].handle != NULL &&
				GetBackgroundWorkerPid(ldbs[i].handle, &pid) == BGWH_STOPPED)
				reap_worker(&ldbs[i], now);
		}
		for (i = 0; i < nldbs; i++)
		{
			int			p;
			bool		asked = probe_all;

			for (p = 0; p < nprobe; p++)
				if (probe[p] == ldbs[i].dbid)
					asked = true;
			if (!asked)
				continue;
			ldbs[i].absent = false;
			ldbs[i].next_start = 0;
			if (ldbs[i].handle != NULL)
				ldbs[i].probed = true;
		}

		wake_at = next_scan;
		for (i = 0; i < nldbs; i++)
		{
			LauncherDb *db = &ldbs[i];

			if (db->handle != NULL || db->absent || !db->seen)
				continue;
			if (database_paused(db->dbid))
				continue;		/* its pause ends with a rescan request */
			if (db->next_start > now)
			{
				if (db->next_start < wake_at)
					wake_at = db->next_start;
				continue;
			}
			start_worker(db, now);
			if (db->handle == NULL && db->next_start < wake_at)
				wake_at = db->next_start;
		}

		TimestampDifference(now, wake_at, &secs, &usecs);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 secs * 1000 + usecs / 1000 + 1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ----------------------------------------------------------------
 * The per-database worker
 * ----------------------------------------------------------------
 */

static int	my_slot = -1;

static void
worker_detach(int code, Datum arg)
{
	MqWorkerSlot *slot = &ws->slots[my_slot];

	SpinLockAcquire(&ws->mutex);
	if (slot->proc == MyProc || slot->starting)
	{
		slot->proc = NULL;
		slot->starting = false;
	}
	SpinLockRelease(&ws->mutex);
}

static bool
extension_present(void)
{
	bool		present;

	StartTransactionCommand();
	present = OidIsValid(get_extension_oid("mq", true));
	CommitTransactionCommand();
	return present;
}

/*
 * leave
 *		Exit because there is nothing to serve (no extension); the launcher
 *		will not start us again until asked.
 */
static void
leave(void)
{
	SpinLockAcquire(&ws->mutex);
	ws->slots[my_slot].absent = true;
	SpinLockRelease(&ws->mutex);
	proc_exit(0);
}

/*
 * Problems already logged, as "queue: message" strings: a queue the
 * worker cannot serve is logged once, not every naptime, and again only
 * if the problem changes or comes back after the queue was served.
 */
static List *logged = NIL;

/*
 * log_once
 *		LOG that the worker skips a queue (name NULL: a step of its own),
 *		unless it said so already.
 */
static void
log_once(const char *name, const char *message, const char *detail)
{
	char	   *key = psprintf("%s: %s", name ? name : "", message);
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, logged)
		if (strcmp((char *) lfirst(lc), key) == 0)
			return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	logged = lappend(logged, pstrdup(key));
	MemoryContextSwitchTo(old);
	if (name != NULL)
		ereport(LOG,
				(errmsg("mq worker for database %u skips queue \"%s\": %s",
						MyDatabaseId, name, message),
				 detail ? errdetail_internal("%s", detail) : 0));
	else
		ereport(LOG,
				(errmsg("mq worker for database %u: %s", MyDatabaseId, message),
				 detail ? errdetail_internal("%s", detail) : 0));
}

/*
 * served
 *		The worker served a queue: forget what was logged about it.
 */
static void
served(const char *name)
{
	size_t		len = strlen(name);
	ListCell   *lc;

	foreach(lc, logged)
	{
		char	   *key = (char *) lfirst(lc);

		if (strncmp(key, name, len) == 0 && key[len] == ':')
		{
			logged = foreach_delete_current(logged, lc);
			pfree(key);
		}
	}
}

typedef bool (*WorkerStep) (const char *name);

/*
 * run_step
 *		Run one unit of the worker's work (a transaction of its own); an
 *		error in it is logged once and rolled back, and the worker goes on
 *		with the next unit: one queue it cannot process must not keep every
 *		other queue of the database from being served.  Returns what the
 *		step returned, false after an error.
 */
static bool
run_step(WorkerStep step, const char *name)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool result = false;

	PG_TRY();
	{
		result = step(name);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		log_once(name, edata->message, edata->detail);
		FreeErrorData(edata);
		pgstat_report_activity(STATE_IDLE, NULL);
		result = false;
	}
	PG_END_TRY();
	return result;
}

/*
 * evaluate_alerts
 *		Evaluate the alert rules (alerts.c), once per mq.worker_naptime, in
 *		a transaction of our own (its notifications go out at commit).
 *		Nothing to do before the version that has them.
 */
static bool
evaluate_alerts(const char *unused)
{
	Oid			nsp;
	MqContext	cx;
	int			n = 0;

	StartTransactionCommand();
	nsp = get_namespace_oid("mq", true);
	if (OidIsValid(nsp) && OidIsValid(get_relname_relid("alert", nsp)))
	{
		pgstat_report_activity(STATE_RUNNING, "mq: alerts");
		mq_enter_worker(&cx);
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		n = mq_alerts_evaluate();
		PopActiveSnapshot();
		SPI_finish();
		mq_leave(&cx);
	}
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	if (n > 0)
		elog(DEBUG1, "mq worker: %d alert events", n);
	return true;
}

/*
 * forget_expired_keys
 *		Delete dedup keys whose window has passed (a send would reuse such
 *		a key anyway; this keeps mq.dedup small), and processed-keys of
 *		mq.mark_processed past their keep time.  With the privilege model,
 *		also forget grants to roles that were dropped, and give queues
 *		whose owner was dropped to the owner of mq's objects (so that a
 *		new role that happens to get the old OID inherits nothing).
 */
static bool
forget_expired_keys(const char *unused)
{
	Oid			nsp;
	int			ret;
	uint64		i;
	MqContext	cx;

	StartTransactionCommand();
	nsp = get_namespace_oid("mq", true);
	if (OidIsValid(nsp) && OidIsValid(get_relname_relid("queue", nsp)) &&
		OidIsValid(get_relname_relid("dedup", nsp)))
	{
		pgstat_report_activity(STATE_RUNNING, "mq: forget expired keys");
		mq_enter_worker(&cx);
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		/*
		 * Rows someone holds (a send claiming an expired key in an open
		 * transaction) are left for the next pass: the worker waits for
		 * no one.
		 */
		ret = SPI_execute("DELETE FROM mq.dedup WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
						  "SELECT ctid FROM mq.dedup WHERE expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
						  " FOR UPDATE SKIP LOCKED))", false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		if (SPI_processed > 0)
			elog(DEBUG1, "mq worker forgot " UINT64_FORMAT " expired dedup keys", SPI_processed);
		if (OidIsValid(get_relname_relid("processed", nsp)))
		{
			ret = SPI_execute("DELETE FROM mq.processed WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
							  "SELECT ctid FROM mq.processed WHERE expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
							  " FOR UPDATE SKIP LOCKED))", false, 0);
			if (ret != SPI_OK_DELETE)
				elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		}
		if (mq_model_active())
		{
			/*
			 * Grants to roles that are gone, and grants on queues that are
			 * gone (a grant that committed while the queue's drop ran
			 * under an older snapshot; create_queue removes them too).
			 */
			ret = SPI_execute("DELETE FROM mq.privilege WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
							  "SELECT p.ctid FROM mq.privilege p WHERE (p.grantee OPERATOR(pg_catalog.<>) 0"
							  " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r"
							  " WHERE r.oid OPERATOR(pg_catalog.=) p.grantee::pg_catalog.oid))"
							  " OR (p.queue_name OPERATOR(pg_catalog.<>) '' AND NOT EXISTS (SELECT 1 FROM mq.queue q"
							  " WHERE q.queue_name OPERATOR(pg_catalog.=) p.queue_name))"
							  " FOR UPDATE SKIP LOCKED))", false, 0);
			if (ret != SPI_OK_DELETE)
				elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
			if (SPI_processed > 0)
				ereport(LOG,
						(errmsg("mq worker for database %u forgot " UINT64_FORMAT " privileges of dropped roles or queues",
								MyDatabaseId, SPI_processed)));
			ret = SPI_execute_with_args("UPDATE mq.queue SET owner = $1 WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
										"SELECT q.ctid FROM mq.queue q WHERE NOT EXISTS"
										" (SELECT 1 FROM pg_catalog.pg_roles r"
										" WHERE r.oid OPERATOR(pg_catalog.=) q.owner::pg_catalog.oid)"
										" FOR UPDATE SKIP LOCKED)) RETURNING queue_name",
										1, (Oid[]) {REGROLEOID},
										(Datum[]) {ObjectIdGetDatum(mq_owner())}, NULL, false, 0);
			if (ret != SPI_OK_UPDATE_RETURNING)
				elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
			for (i = 0; i < SPI_processed; i++)
				ereport(LOG,
						(errmsg("mq worker for database %u gave queue \"%s\", whose owner was dropped, to role \"%s\"",
								MyDatabaseId,
								SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
								GetUserNameFromId(mq_owner(), false))));
			if (SPI_processed > 0)
				CacheInvalidateRelcacheByRelid(mq_registry_relid());
		}
		PopActiveSnapshot();
		SPI_finish();
		mq_leave(&cx);
	}
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

static char *
below_cursor_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * The worker's check of the read cursor: the lowest message
	 * below $1 (where reads start) that is visible at $2 and that no
	 * open transaction holds: a reader's claim not committed yet is
	 * below the position it just moved, and lowering for it would undo
	 * every priority level's position (cursor.c) for nothing.  A row left
	 * locked by a reader that did not claim it is found once that
	 * reader's transaction ends.
	 */
	*nargs = 2;
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	return psprintf("SELECT id FROM ONLY %s WHERE id OPERATOR(pg_catalog.<) $1"
					" AND vt OPERATOR(pg_catalog.<=) $2 ORDER BY id LIMIT 1"
					" FOR UPDATE SKIP LOCKED", q);
}

static char *
expire_mark_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * The worker's sweep: record the expired lease of up to 100
	 * messages (now $1) as their failure and release them; the
	 * caller dead-letters those with no delivery left.  Scanning
	 * from $2, the read cursor's start, skips the dead head of the
	 * queue.
	 */
	*nargs = 2;
	types[0] = TIMESTAMPTZOID;
	types[1] = INT8OID;
	return psprintf("UPDATE ONLY %s SET leased = false,"
					" last_error = " MQ_EXPIRED_NOTE "%s "
					"WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
					"SELECT id FROM ONLY %s WHERE id OPERATOR(pg_catalog.>=) $2"
					" AND leased AND vt OPERATOR(pg_catalog.<=) $1"
					" ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)) "
					"RETURNING id, deliveries, vt, headers",
					q, (cols & MQ_COLS_FAILURES) ? ", failures = failures OPERATOR(pg_catalog.+) 1,"
					" first_error = COALESCE(first_error, " MQ_EXPIRED_NOTE "), failed_at = vt" : "",
					q);
}

static const MqPlanDef expire_mark_plan = {MQ_PLAN_EXPIRE_MARK, expire_mark_sql};

static const MqPlanDef below_cursor_plan = {MQ_PLAN_BELOW_CURSOR, below_cursor_sql};

static char *
level_below_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * The worker's check of a priority level's own start: the lowest
	 * message of level $1 in [$2, $3) (from pos to the level's start)
	 * that is visible at $4.
	 */
	*nargs = 4;
	types[0] = INT4OID;
	types[1] = INT8OID;
	types[2] = INT8OID;
	types[3] = TIMESTAMPTZOID;
	return psprintf("SELECT id FROM ONLY %s WHERE priority OPERATOR(pg_catalog.<>) 0"
					" AND priority OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.>=) $2"
					" AND id OPERATOR(pg_catalog.<) $3 AND vt OPERATOR(pg_catalog.<=) $4"
					" ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", q);
}

static const MqPlanDef level_below_plan = {MQ_PLAN_LEVEL_BELOW, level_below_sql};

/*
 * check_levels
 *		The check of the read cursor, for each priority level whose scans
 *		start past pos (cursor.c): a visible message of the level below its
 *		start brings every level back (a lowering).
 */
static void
check_levels(MqQueue *part, const char *name, TimestampTz now)
{
	int64		pos;
	int64		starts[MQ_MAX_PRIORITY + 1];
	int			l;

	if (!part->ordering_cols || !mq_cursor_level_starts(part, &pos, starts))
		return;
	for (l = 1; l <= MQ_MAX_PRIORITY; l++)
	{
		Datum		args[4];
		int			ret;

		if (starts[l] <= pos)
			continue;
		args[0] = Int32GetDatum(l);
		args[1] = Int64GetDatum(pos);
		args[2] = Int64GetDatum(starts[l]);
		args[3] = TimestampTzGetDatum(now);
		ret = SPI_execute_plan(mq_queue_plan(part, &level_below_plan), args, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 1)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));

			elog(DEBUG1, "mq worker found message %lld of priority %d of queue \"%s\" visible below where its level's reads start",
				 (long long) id, l, name);
			mq_cursor_vt_changed(part, id, now);
			SPI_freetuptable(SPI_tuptable);
			return;
		}
		SPI_freetuptable(SPI_tuptable);
	}
}


/*
 * sweep_partition
 *		sweep_queue's work on one partition's table.  Returns how many
 *		expired leases it recorded (at most 100).
 */
static uint64
sweep_partition(MqQueue *part, const char *name)
{
	Datum		values[2];
	int			ret;
	uint64		n = 0;
	uint64		i;
	int64	   *dead;
	int			ndead = 0;
	TimestampTz now = GetCurrentTimestamp();
	int64		from;
	MqHistory  *hexpired;

	/*
	 * Only leases that ended a naptime ago: one a consumer reads soon
	 * after is recorded by that read, in the same row version.
	 */
	values[0] = TimestampTzGetDatum(now - (int64) mq_worker_naptime * USECS_PER_SEC);
	from = mq_cursor_scan_from(part, now);
	values[1] = Int64GetDatum(from);
	/* The rows we lock may lie below the read cursor. */
	mq_cursor_touch(part, 0);
	ret = SPI_execute_plan(mq_queue_plan(part, &expire_mark_plan), values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	n = SPI_processed;
	dead = palloc(sizeof(int64) * (n > 0 ? n : 1));
	hexpired = mq_history_begin(part, "lease_expired");
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));

		if (hexpired != NULL)
		{
			int32		d = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			TimestampTz vt = DatumGetTimestampTz(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
			Datum		h = SPI_getbinval(tup, SPI_tuptable->tupdesc, 4, &isnull);

			mq_history_add(hexpired, id, d, vt,
						   CStringGetTextDatum(psprintf("lease expired (delivery %d)", d)),
						   isnull ? (Datum) 0 : h);
		}

		if (part->max_deliveries > 0 &&
			DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)) >= part->max_deliveries)
			dead[ndead++] = id;
		else
		{
			/*
			 * Visible, and a reader may have skipped it while we held
			 * it: at commit, let the cursor and a waiter see it.
			 */
			mq_cursor_vt_changed(part, id, now);
		}
	}
	mq_history_end(hexpired);
	SPI_freetuptable(SPI_tuptable);
	mq_cursor_count(part, MQ_COUNT_EXPIRED, (int) n);
	for (i = 0; i < (uint64) ndead; i++)
		(void) mq_dead_letter(part, dead[i], true, (Datum) 0, false, true, NULL);
	if (n > 0)
		elog(DEBUG1, "mq worker recorded " UINT64_FORMAT " expired leases of queue \"%s\" and dead-lettered %d",
			 n, name, ndead);

	/*
	 * The read cursor is a hint that must never hide a message: check
	 * it once per sweep (the last batch).  A visible message below
	 * where reads start is one a read passed while someone held it
	 * locked without claiming it (see docs/architecture.md, Known
	 * limits), or one another reader's open claim holds (harmless to
	 * walk again): at commit, reads go back to it.  This walks the
	 * dead head of the queue once per naptime, not per read.
	 */
	if (n < 100 && from > 0)
	{
		Datum		below[2];

		below[0] = values[1];
		below[1] = TimestampTzGetDatum(now);
		ret = SPI_execute_plan(mq_queue_plan(part, &below_cursor_plan), below, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 1)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));

			elog(DEBUG1, "mq worker found message %lld of queue \"%s\" visible below where reads start",
				 (long long) id, name);
			mq_cursor_vt_changed(part, id, now);
		}
		SPI_freetuptable(SPI_tuptable);
		check_levels(part, name, now);
	}
	return n;
}

/*
 * sweep_queue
 *		In one transaction, record up to 100 leases of one queue that
 *		expired at least mq.worker_naptime ago and that no read took since,
 *		as failed deliveries, and dead-letter those messages that have no
 *		delivery left.  Returns whether a full batch was found (there may
 *		be more).  A queue whose tables are not as mq made them (and owned
 *		by the owner of mq's objects) is skipped and logged once.
 */
static bool
sweep_queue(const char *name)
{
	MqQueue    *queue;
	bool		more = false;
	char	   *why = NULL;
	MqContext	cx;

	StartTransactionCommand();
	mq_enter_worker(&cx);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * A queue dropped since the list was made is skipped, and so is one
	 * whose lock someone holds (a drop or alter in an open transaction):
	 * the next pass looks again.
	 */
	queue = mq_try_open_queue(name, RowExclusiveLock, true, &why);
	if (queue == NULL && why != NULL && mq_lookup_queue(name, true) != NULL)
		log_once(name, "its tables are not as mq made them", why);
	if (queue != NULL)
	{
		int			k;

		for (k = 0; k < queue->nparts; k++)
			if (sweep_partition(queue->parts[k], name) >= 100)
				more = true;
		served(name);
	}
	PopActiveSnapshot();
	SPI_finish();
	mq_leave(&cx);
	CommitTransactionCommand();
	return more;
}

/*
 * list_queues
 *		The names of every queue, into the worker's sweep context, once the
 *		installed version has the failure record (0.3.0): before ALTER
 *		EXTENSION UPDATE, reads alone notice expired leases, as they did.
 */
static List *queue_names = NIL;

static bool
list_queues(const char *unused)
{
	Oid			nsp;
	Oid			registry;
	int			ret;
	uint64		i;
	MqContext	cx;
	MemoryContext old;

	StartTransactionCommand();
	nsp = get_namespace_oid("mq", true);
	registry = OidIsValid(nsp) ? get_relname_relid("queue", nsp) : InvalidOid;
	if (OidIsValid(registry) && get_attnum(registry, "max_deliveries") != InvalidAttrNumber)
	{
		mq_enter_worker(&cx);
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		ret = SPI_execute("SELECT queue_name FROM mq.queue ORDER BY queue_name", true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		for (i = 0; i < SPI_processed; i++)
		{
			char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

			old = MemoryContextSwitchTo(TopMemoryContext);
			queue_names = lappend(queue_names, pstrdup(name));
			MemoryContextSwitchTo(old);
		}
		PopActiveSnapshot();
		SPI_finish();
		mq_leave(&cx);
	}
	CommitTransactionCommand();
	return true;
}

/*
 * sweep_expired_leases
 *		sweep_queue for every queue (at most 100 batches each per pass).
 */
static void
sweep_expired_leases(void)
{
	ListCell   *lc;

	list_free_deep(queue_names);
	queue_names = NIL;
	if (!run_step(list_queues, NULL) || queue_names == NIL)
		return;

	pgstat_report_activity(STATE_RUNNING, "mq: expired leases");
	foreach(lc, queue_names)
	{
		int			batches = 0;

		while (run_step(sweep_queue, (const char *) lfirst(lc)) && ++batches < 100)
			CHECK_FOR_INTERRUPTS();
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * purge_history
 *		mq_history_purge for every queue of the last list (at most 100
 *		batches each per pass).
 */
static void
purge_history(void)
{
	ListCell   *lc;

	foreach(lc, queue_names)
	{
		int			batches = 0;

		while (run_step(mq_history_purge, (const char *) lfirst(lc)) && ++batches < 100)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * vacuum_queues
 *		mq_reclaim_queue for every queue of the last list (made every
 *		mq.worker_naptime, or now if there is none yet).
 */
static void
vacuum_queues(void)
{
	ListCell   *lc;

	if (queue_names == NIL && !run_step(list_queues, NULL))
		return;
	foreach(lc, queue_names)
	{
		(void) run_step(mq_reclaim_queue, (const char *) lfirst(lc));
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * send_notifications
 *		NOTIFY mq_<name> (payload: the name) for each queue, in one
 *		transaction of our own.
 */
static void
send_notifications(List *names)
{
	ListCell   *lc;

	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "mq: NOTIFY");
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		Async_Notify(psprintf("mq_%s", name), name);
	}
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	elog(DEBUG2, "mq worker sent %d notifications", list_length(names));
}

/*
 * record_rollbacks
 *		Record rolled-back deliveries (rollback.c): see which prepared
 *		transactions holding deliveries have ended, then record each
 *		queue's, in batches.  Returns whether some were left for later.
 */
static bool
record_rollbacks(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *names;
	ListCell   *lc;
	bool		again = false;

	/* Each step ends its transaction in TopMemoryContext: come back. */
	if (mq_rollback_prepared_waiting())
	{
		(void) run_step(mq_rollback_settle, NULL);
		MemoryContextSwitchTo(cxt);
	}
	names = mq_cursor_pending_queues();
	foreach(lc, names)
	{
		int			batches = 0;
		bool		more;

		do
		{
			more = run_step(mq_rollback_apply, (const char *) lfirst(lc));
			MemoryContextSwitchTo(cxt);
			CHECK_FOR_INTERRUPTS();
		} while (more && ++batches < 100);
	}

	/*
	 * Left: more than 100 batches, rows or a queue lock someone holds, or
	 * a step that failed (logged once): look again in a second.
	 */
	if (names != NIL)
		again = mq_cursor_pending_queues() != NIL;
	return again;
}

void
mq_worker_main(Datum main_arg)
{
	Oid			dbid;
	MemoryContext loopcxt;
	TimestampTz next_check;
	TimestampTz next_vacuum;

	my_slot = DatumGetInt32(main_arg);
	memcpy(&dbid, MyBgworkerEntry->bgw_extra, sizeof(Oid));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	before_shmem_exit(worker_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	/* The GUC, which the events this worker records name (history.c). */
	SetConfigOption("application_name", "mq worker", PGC_USERSET, PGC_S_SESSION);

	if (database_paused(dbid))
		proc_exit(0);
	if (!extension_present())
		leave();

	SpinLockAcquire(&ws->mutex);
	ws->slots[my_slot].proc = MyProc;
	ws->slots[my_slot].starting = false;
	SpinLockRelease(&ws->mutex);

	StartTransactionCommand();
	ereport(LOG,
			(errmsg("mq worker started for database \"%s\"", get_database_name(dbid))));
	CommitTransactionCommand();

	loopcxt = AllocSetContextCreate(TopMemoryContext, "mq worker loop",
									ALLOCSET_DEFAULT_SIZES);
	next_check = GetCurrentTimestamp() + (int64) mq_worker_naptime * USECS_PER_SEC;
	next_vacuum = GetCurrentTimestamp();
	for (;;)
	{
		TimestampTz now;
		TimestampTz next_due;
		TimestampTz wake_at;
		List	   *notify;
		bool		recheck;
		long		secs;
		int			usecs;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			elog(DEBUG1, "mq worker reloaded its configuration");
		}

		now = GetCurrentTimestamp();
		SpinLockAcquire(&ws->mutex);
		recheck = ws->slots[my_slot].recheck;
		ws->slots[my_slot].recheck = false;
		SpinLockRelease(&ws->mutex);
		if (recheck || now >= next_check)
		{
			if (!extension_present())
			{
				ereport(LOG,
						(errmsg("mq worker leaving database %u: extension mq is not installed any more", dbid)));
				leave();
			}
			(void) run_step(forget_expired_keys, NULL);
			sweep_expired_leases();
			purge_history();
			(void) run_step(evaluate_alerts, NULL);
			next_check = now + (int64) mq_worker_naptime * USECS_PER_SEC;
		}
		if (mq_vacuum_naptime > 0 && now >= next_vacuum)
		{
			vacuum_queues();
			next_vacuum = now + (int64) mq_vacuum_naptime * USECS_PER_SEC;
		}

		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);
		{
			MqEffects	fx;

			mq_effects_init(&fx);
			notify = mq_cursor_worker_pass(now, &next_due, &fx);
			mq_events_apply(&fx);
		}
		if (notify != NIL)
			send_notifications(notify);
		if (record_rollbacks())
		{
			/* Messages someone holds locked: look again in a second. */
			TimestampTz retry = GetCurrentTimestamp() + USECS_PER_SEC;

			if (next_due == 0 || retry < next_due)
				next_due = retry;
		}
		MemoryContextSwitchTo(TopMemoryContext);

		/*
		 * After a NOTIFY, let sends gather for a moment: under a stream of
		 * commits, one NOTIFY per interval instead of one per wake-up keeps
		 * this process (and NOTIFY's global lock) off the senders' backs.
		 */
		if (notify != NIL)
			(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 MQ_NOTIFY_GATHER_MS, PG_WAIT_EXTENSION);

		wake_at = next_check;
		if (mq_vacuum_naptime > 0 && next_vacuum < wake_at)
			wake_at = next_vacuum;
		if (next_due != 0 && next_due < wake_at)
			wake_at = next_due;
		now = GetCurrentTimestamp();
		if (wake_at < now)
			wake_at = now;
		TimestampDifference(now, wake_at, &secs, &usecs);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 secs * 1000 + (usecs + 999) / 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
