/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  mq._queue_stats(), the function behind the mq.queues view.
 *
 * One row per queue the caller holds any privilege on (every queue for a
 * superuser): its options and how many messages are visible now (depth),
 * leased (in_flight), waiting for a later vt (delayed: sent with a delay
 * or nacked with one), archived, the age of the oldest message, the size
 * of its relations, whether it notifies, how many consumers wait on it now
 * (shared memory, wait.c), its delivery limit and dead-letter queue, how
 * many of its messages have failed at least once, its failure counters
 * (shared memory, cursor.c: nacks, expired leases and dead letters
 * committed since the server started), and its owner.  Counting walks each
 * queue table once, as the owner of mq's objects; this is a monitoring
 * path, not a hot one.  A queue that cannot be counted (dropped meanwhile,
 * or its tables are not as mq made them) never fails the list: it is
 * left out, or shown with its counts NULL.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "mq.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_queue_stats);

/*
 * queue_counters
 *		A queue's failure counters: the sum of its partitions'.  False
 *		without shared memory.
 */
static bool
queue_counters(MqQueue *queue, uint64 *out)
{
	uint64		part[MQ_NUM_COUNTERS];
	int			k;
	int			c;

	for (c = 0; c < MQ_NUM_COUNTERS; c++)
		out[c] = 0;
	for (k = 0; k < queue->nparts; k++)
	{
		if (!mq_cursor_counters(queue->parts[k]->relid, part))
			return false;
		for (c = 0; c < MQ_NUM_COUNTERS; c++)
			out[c] += part[c];
	}
	return true;
}

#define STATS_COLS_0_1 11		/* version 0.1.0 of the function */
#define STATS_COLS_0_2 13		/* version 0.2.0 */
#define STATS_COLS_0_3 19		/* version 0.3.0 */
#define STATS_COLS_0_4 20		/* version 0.4.0 */
#define STATS_COLS_0_5_ROLLBACKS 21	/* rollbacks (0.5.0) */
#define STATS_COLS 22

/*
 * mq._queue_stats() returns setof record
 */
Datum
mq_queue_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	SPITupleTable *queues;
	uint64		nqueues;
	uint64		i;
	int			ret;
	int			natts;
	bool		v2;
	bool		v3;
	MqContext	cx;

	InitMaterializedSRF(fcinfo, 0);
	natts = rsinfo->setDesc->natts;
	v3 = natts >= STATS_COLS_0_3;
	v2 = v3 || natts == STATS_COLS_0_2;

	mq_enter(&cx);
	SPI_connect();
	if (v3)
		ret = SPI_execute("SELECT queue_name, created_at, visibility_timeout, unlogged, notify,"
						  " max_deliveries, dead_letter_queue "
						  "FROM mq.queue ORDER BY queue_name", false, 0);
	else if (v2)
		ret = SPI_execute("SELECT queue_name, created_at, visibility_timeout, unlogged, notify "
						  "FROM mq.queue ORDER BY queue_name", false, 0);
	else
		ret = SPI_execute("SELECT queue_name, created_at, visibility_timeout, unlogged "
						  "FROM mq.queue ORDER BY queue_name", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	queues = SPI_tuptable;
	nqueues = SPI_processed;

	for (i = 0; i < nqueues; i++)
	{
		Datum		values[STATS_COLS];
		bool		nulls[STATS_COLS];
		char	   *name = SPI_getvalue(queues->vals[i], queues->tupdesc, 1);
		const char *q = quote_qualified_identifier("mq", psprintf("q_%s", name));
		const char *a = quote_qualified_identifier("mq", psprintf("a_%s", name));
		Oid			argtypes[1] = {TIMESTAMPTZOID};
		Datum		arg = TimestampTzGetDatum(now);
		char	   *sql;
		int			c;
		HeapTuple	t = NULL;
		TupleDesc	td = NULL;
		MqQueue    *queue;
		Oid			relid;

		/* Only queues the caller may do something with; none that vanished. */
		queue = mq_lookup_queue_locked(name);
		if (queue == NULL || mq_privileges(queue, cx.caller) == 0)
			continue;

		memset(nulls, 0, sizeof(nulls));
		for (c = 0; c < 4; c++)
			values[c] = SPI_getbinval(queues->vals[i], queues->tupdesc, c + 1, &nulls[c]);

		if (OidIsValid(queue->relid) && mq_queue_shape_ok(queue))
		{
			StringInfoData from;
			StringInfoData size;
			int			k;

			/* A partitioned queue: every partition's table, as one. */
			initStringInfo(&from);
			initStringInfo(&size);
			if (queue->nparts == 1)
				appendStringInfo(&from, "ONLY %s", q);
			else
			{
				appendStringInfoString(&from, "(");
				for (k = 0; k < queue->nparts; k++)
					appendStringInfo(&from, "%sSELECT vt, leased, enqueued_at%s FROM ONLY %s",
									 k > 0 ? " UNION ALL " : "",
									 queue->failure_cols ? ", failures" : "",
									 quote_qualified_identifier("mq", queue->parts[k]->table));
				appendStringInfoString(&from, ") m");
			}
			for (k = 0; k < queue->nparts; k++)
				appendStringInfo(&size, "%spg_catalog.pg_total_relation_size(%u::pg_catalog.oid)",
								 k > 0 ? " OPERATOR(pg_catalog.+) " : "", queue->parts[k]->relid);

			/*
			 * failing: messages whose delivery failed at least once (a
			 * nack, or a lease that expired, noticed or not yet).
			 */
			sql = psprintf("SELECT pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.<=) $1),"
						   " pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1 AND leased),"
						   " pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1 AND NOT leased),"
						   " (SELECT pg_catalog.count(*) FROM ONLY %s),"
						   " $1 OPERATOR(pg_catalog.-) pg_catalog.min(enqueued_at),"
						   " %s,"
						   " pg_catalog.pg_total_relation_size(%u::pg_catalog.oid),"
						   " %s "
						   "FROM %s", a, size.data, queue->archive_relid,
						   queue->failure_cols ? "pg_catalog.count(*) FILTER (WHERE failures OPERATOR(pg_catalog.>) 0"
						   " OR (leased AND vt OPERATOR(pg_catalog.<=) $1))" : "0",
						   from.data);
			ret = SPI_execute_with_args(sql, 1, argtypes, &arg, NULL, true, 1);
			if (ret != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
			t = SPI_tuptable->vals[0];
			td = SPI_tuptable->tupdesc;
		}
		for (c = 0; c < 7; c++)
		{
			if (t != NULL)
				values[4 + c] = SPI_getbinval(t, td, c + 1, &nulls[4 + c]);
			else
				nulls[4 + c] = true;
		}
		if (v2)
		{
			relid = queue->relid;
			values[11] = SPI_getbinval(queues->vals[i], queues->tupdesc, 5, &nulls[11]);
			values[12] = Int32GetDatum(OidIsValid(relid) ? mq_wait_count(MyDatabaseId, relid) : 0);
			if (v3)
			{
				uint64		counters[MQ_NUM_COUNTERS];

				values[13] = SPI_getbinval(queues->vals[i], queues->tupdesc, 6, &nulls[13]);
				values[14] = SPI_getbinval(queues->vals[i], queues->tupdesc, 7, &nulls[14]);
				if (t != NULL)
					values[15] = SPI_getbinval(t, td, 8, &nulls[15]);
				else
					nulls[15] = true;
				/* Without shared memory nothing is counted: NULL. */
				nulls[16] = nulls[17] = nulls[18] = !queue_counters(queue, counters);
				values[16] = Int64GetDatum((int64) counters[MQ_COUNT_NACK]);
				values[17] = Int64GetDatum((int64) counters[MQ_COUNT_EXPIRED]);
				values[18] = Int64GetDatum((int64) counters[MQ_COUNT_DEAD]);
			}
			if (natts >= STATS_COLS_0_4)
			{
				char	   *owner = OidIsValid(queue->owner) ?
					GetUserNameFromId(queue->owner, true) : NULL;

				nulls[19] = owner == NULL;
				if (owner != NULL)
				{
					NameData   *n = palloc(NAMEDATALEN);

					namestrcpy(n, owner);
					values[19] = NameGetDatum(n);
				}
			}
			if (natts >= STATS_COLS_0_5_ROLLBACKS)
			{
				uint64		counters[MQ_NUM_COUNTERS];

				nulls[20] = !queue_counters(queue, counters);
				values[20] = Int64GetDatum((int64) counters[MQ_COUNT_ROLLBACK]);
			}
			if (natts == STATS_COLS)
				values[21] = Int32GetDatum(queue->nparts);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	SPI_finish();
	mq_leave(&cx);
	return (Datum) 0;
}
