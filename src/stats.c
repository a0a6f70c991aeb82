/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  mq._queue_stats(), the function behind the mq.queues view.
 *
 * One row per registered queue: its options and how many messages are
 * visible now (depth), leased (in_flight), waiting for a later vt
 * (delayed: sent with a delay or nacked with one), archived, the age of
 * the oldest message, the size of its relations, whether it notifies,
 * how many consumers wait on it now (shared memory, wait.c), its delivery
 * limit and dead-letter queue, how many of its messages have failed at
 * least once, and its failure counters (shared memory, cursor.c: nacks,
 * expired leases and dead letters committed since the server started).
 * Counting walks each queue table once; this is a monitoring path, not a
 * hot one.
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
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "mq.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_queue_stats);

#define STATS_COLS_0_1 11		/* version 0.1.0 of the function */
#define STATS_COLS_0_2 13		/* version 0.2.0 */
#define STATS_COLS 19

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

	bool		v2;
	bool		v3;

	InitMaterializedSRF(fcinfo, 0);
	v3 = rsinfo->setDesc->natts == STATS_COLS;
	v2 = v3 || rsinfo->setDesc->natts == STATS_COLS_0_2;

	SPI_connect();
	if (v3)
		ret = SPI_execute("SELECT queue_name, created_at, visibility_timeout, unlogged, notify,"
						  " max_deliveries, dead_letter_queue "
						  "FROM mq.queue ORDER BY queue_name", true, 0);
	else if (v2)
		ret = SPI_execute("SELECT queue_name, created_at, visibility_timeout, unlogged, notify "
						  "FROM mq.queue ORDER BY queue_name", true, 0);
	else
		ret = SPI_execute("SELECT queue_name, created_at, visibility_timeout, unlogged "
						  "FROM mq.queue ORDER BY queue_name", true, 0);
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
		HeapTuple	t;

		memset(nulls, 0, sizeof(nulls));
		for (c = 0; c < 4; c++)
			values[c] = SPI_getbinval(queues->vals[i], queues->tupdesc, c + 1, &nulls[c]);

		/*
		 * failing: messages whose delivery failed at least once (a nack,
		 * or a lease that expired, noticed or not yet).
		 */
		sql = psprintf("SELECT pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.<=) $1),"
					   " pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1 AND leased),"
					   " pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1 AND NOT leased),"
					   " (SELECT pg_catalog.count(*) FROM %s),"
					   " $1 OPERATOR(pg_catalog.-) pg_catalog.min(enqueued_at),"
					   " pg_catalog.pg_total_relation_size(%s::pg_catalog.regclass),"
					   " pg_catalog.pg_total_relation_size(%s::pg_catalog.regclass),"
					   " %s "
					   "FROM %s", a, quote_literal_cstr(q), quote_literal_cstr(a),
					   v3 ? "pg_catalog.count(*) FILTER (WHERE failures OPERATOR(pg_catalog.>) 0"
					   " OR (leased AND vt OPERATOR(pg_catalog.<=) $1))" : "0",
					   q);
		ret = SPI_execute_with_args(sql, 1, argtypes, &arg, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
		t = SPI_tuptable->vals[0];
		for (c = 0; c < 7; c++)
			values[4 + c] = SPI_getbinval(t, SPI_tuptable->tupdesc, c + 1, &nulls[4 + c]);
		if (v2)
		{
			Oid			relid = get_relname_relid(psprintf("q_%s", name), mq_schema_oid());

			values[11] = SPI_getbinval(queues->vals[i], queues->tupdesc, 5, &nulls[11]);
			values[12] = Int32GetDatum(mq_wait_count(MyDatabaseId, relid));
			if (v3)
			{
				uint64		counters[MQ_NUM_COUNTERS];

				values[13] = SPI_getbinval(queues->vals[i], queues->tupdesc, 6, &nulls[13]);
				values[14] = SPI_getbinval(queues->vals[i], queues->tupdesc, 7, &nulls[14]);
				values[15] = SPI_getbinval(t, SPI_tuptable->tupdesc, 8, &nulls[15]);
				/* Without shared memory nothing is counted: NULL. */
				nulls[16] = nulls[17] = nulls[18] = !mq_cursor_counters(relid, counters);
				values[16] = Int64GetDatum((int64) counters[MQ_COUNT_NACK]);
				values[17] = Int64GetDatum((int64) counters[MQ_COUNT_EXPIRED]);
				values[18] = Int64GetDatum((int64) counters[MQ_COUNT_DEAD]);
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	SPI_finish();
	return (Datum) 0;
}
