/*-------------------------------------------------------------------------
 *
 * mq.c
 *	  Module entry point of the mq extension: _PG_init and the GUCs, and
 *	  the interval argument helpers every entry point shares.
 *
 * _PG_init only defines the GUCs and calls the per-module init functions.
 * The SQL API works without shared_preload_libraries; preloading adds the
 * shared read cursors (cursor.c) that keep reads fast on queues with many
 * dead rows at the head, waiting reads (wait.c), and the launcher and
 * per-database workers (worker.c).
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/mq.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "events.h"
#include "mq.h"
#include "wait.h"
#include "worker.h"

PG_MODULE_MAGIC;

/* Largest payload + headers, in bytes, that send accepts. */
int			mq_max_payload_size = 1024 * 1024;

/* How many queues the shared read cursors can track (preload only). */
int			mq_max_queues = 1024;

void		_PG_init(void);

/*
 * _PG_init
 *		Define GUCs and initialise the modules.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("mq.max_payload_size",
							"Sets the largest payload plus headers a send accepts.",
							"Sends larger than this (uncompressed) are refused with SQLSTATE 54000. Only superusers may change it, so that producers cannot lift it.",
							&mq_max_payload_size,
							1024 * 1024,
							64,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL,
							NULL,
							NULL);

	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("mq.max_queues",
								"Sets how many queues the shared read cursors track.",
								"Queues existing at once; a dropped queue's cursor is given back. A queue that finds none free works untracked (reads scan from the head) until the server restarts.",
								&mq_max_queues,
								1024,
								16,
								1000000,
								PGC_POSTMASTER,
								0,
								NULL,
								NULL,
								NULL);

	mq_worker_init();
	MarkGUCPrefixReserved("mq");

	mq_catalog_init();
	mq_cursor_init();
	mq_events_init();
	mq_rollback_init();
	mq_wait_init();
}

/*
 * mq_add_interval
 *		t + iv, as timestamptz arithmetic does it.
 */
TimestampTz
mq_add_interval(TimestampTz t, Interval *iv)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(t),
												   IntervalPGetDatum(iv)));
}

/*
 * mq_check_interval
 *		Refuse a negative interval argument (22023).
 */
void
mq_check_interval(const char *queue, const char *what, Interval *iv)
{
	if (iv->month < 0 || iv->day < 0 || iv->time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s for queue \"%s\" must not be negative", what, queue)));
}
