/*-------------------------------------------------------------------------
 *
 * ack.c
 *	  What a consumer does with a message it holds: mq.ack (remove),
 *	  mq.nack (make visible again, keep the error), mq.archive (move to the
 *	  archive), mq.set_vt (change the lease), plus mq.purge and
 *	  mq.archived, and mq.mark_processed (a consumer's record of what it
 *	  processed).
 *
 * Each needs the consume privilege (purge: manage) and is one execution of
 * a kept plan in the caller's transaction, so a rollback undoes it.  Each
 * tells cursor.c the lowest id it may lock before locking (a rollback
 * releases them, maybe below the read cursor); nack and set_vt also report
 * the new vt, which cursor.c applies when the transaction commits.  A nack
 * of a message with no delivery left hands it to deadletter.c.
 *
 * Its part of the read path: what follows it (ack, nack, archive, set_vt of
 * what a read returned), each going to the partition its id names.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/ack.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "cursor.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_ack);
PG_FUNCTION_INFO_V1(mq_ack_many);
PG_FUNCTION_INFO_V1(mq_nack);
PG_FUNCTION_INFO_V1(mq_nack_many);
PG_FUNCTION_INFO_V1(mq_set_vt_many);
PG_FUNCTION_INFO_V1(mq_ack_text);
PG_FUNCTION_INFO_V1(mq_archive_text);
PG_FUNCTION_INFO_V1(mq_nack_text);
PG_FUNCTION_INFO_V1(mq_set_vt_text);
PG_FUNCTION_INFO_V1(mq_archive);
PG_FUNCTION_INFO_V1(mq_archive_many);
PG_FUNCTION_INFO_V1(mq_set_vt);
PG_FUNCTION_INFO_V1(mq_purge);
PG_FUNCTION_INFO_V1(mq_archived);
PG_FUNCTION_INFO_V1(mq_mark_processed);

/*
 * id_arg
 *		Fetch a message id argument; NULL is refused (22004).
 */
static int64
id_arg(FunctionCallInfo fcinfo, int argno, const char *queue)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message id for queue \"%s\" must not be null", queue)));
	return PG_GETARG_INT64(argno);
}

/*
 * ids_arg
 *		Fetch a bigint[] of message ids; NULL is refused (22004).
 */
static Datum
ids_arg(FunctionCallInfo fcinfo, int argno, const char *queue)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message ids for queue \"%s\" must not be null", queue)));
	return PG_GETARG_DATUM(argno);
}

/*
 * ids_min
 *		Lowest id in a bigint[] (NULL elements ignored); PG_INT64_MAX if none.
 */
static int64
ids_min(Datum ids)
{
	ArrayType  *arr = DatumGetArrayTypeP(ids);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int64		min_id = PG_INT64_MAX;

	deconstruct_array(arr, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i] && DatumGetInt64(elems[i]) < min_id)
			min_id = DatumGetInt64(elems[i]);
	return min_id;
}

/*
 * open_for
 *		mq_enter, SPI_connect and open a queue for a consume-side entry
 *		point.
 */
static MqQueue *
open_for(MqContext *cx, const char *name, int privs, LOCKMODE lockmode)
{
	MqQueue    *queue;

	mq_enter(cx);
	queue = mq_open_queue(cx, name, privs, lockmode);
	SPI_connect();
	return queue;
}

/* The end of open_for. */
static void
close_for(MqContext *cx)
{
	SPI_finish();
	mq_leave(cx);
}

/*
 * run_for_id
 *		Run a one-id plan in the partition that holds id (values[0] is the
 *		id), after noting the row it may lock.  *queue becomes that
 *		partition, or NULL when the queue has none for the id (0 rows).
 */
static uint64
run_for_id(MqQueue **queue, int64 id, const MqPlanDef *def, Datum *values, int expected)
{
	*queue = mq_partition_of(*queue, id);
	if (*queue == NULL)
		return 0;
	mq_cursor_touch(*queue, id);
	return mq_run_plan(*queue, def, values, NULL, expected);
}

/*
 * run_for_ids
 *		Run an id-array plan (values[0] the bigint[]) once per partition
 *		holding some of the ids, with those ids; the rows processed in all,
 *		counted in each partition's counter "which".
 */
/*
 * history_rows
 *		An event for each row a plan of ours returned: (id, deliveries,
 *		headers[, vt]).
 */
static void
history_rows(MqHistory *h, bool with_vt)
{
	uint64		i;

	if (h == NULL)
		return;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		int32		d = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		Datum		headers = SPI_getbinval(tup, desc, 3, &isnull);
		TimestampTz vt = 0;

		if (isnull)
			headers = (Datum) 0;
		if (with_vt)
			vt = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		mq_history_add(h, id, d, vt, (Datum) 0, headers);
	}
}

static uint64
run_for_ids(MqQueue *queue, const MqPlanDef *def, Datum *values, int expected,
			MqCounter which, MqHistory *h)
{
	Datum		ids = values[0];
	uint64		n = 0;
	int			k;

	for (k = 0; k < queue->nparts; k++)
	{
		int			m;
		uint64		done;

		values[0] = mq_partition_ids(queue, ids, k, &m);
		if (m == 0)
			continue;
		mq_cursor_touch(queue->parts[k], ids_min(values[0]));
		done = mq_run_plan(queue->parts[k], def, values, NULL, expected);
		history_rows(h, false);
		mq_cursor_count(queue->parts[k], which, (int) Min(done, (uint64) PG_INT32_MAX));
		n += done;
	}
	values[0] = ids;
	return n;
}

/*
 * removed
 *		Tell the cursor that this transaction removed the messages of an id
 *		array (those it had leased hold no lease any more).
 */
static void
removed(MqQueue *queue, Datum ids)
{
	ArrayType  *arr = DatumGetArrayTypeP(ids);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		MqQueue    *part;

		if (nulls[i])
			continue;
		part = mq_partition_of(queue, DatumGetInt64(elems[i]));
		if (part != NULL)
			mq_cursor_acked(part, DatumGetInt64(elems[i]));
	}
}

static char *
ack_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 1;
	types[0] = INT8OID;
	return psprintf("DELETE FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) $1%s", q,
					kind == MQ_PLAN_ACK_HISTORY ? " RETURNING id, deliveries, headers" : "");
}

static const MqPlanDef ack_plan = {MQ_PLAN_ACK, ack_sql};
static const MqPlanDef ack_history_plan = {MQ_PLAN_ACK_HISTORY, ack_sql};

/*
 * mq.ack(queue_name text, id bigint) returns boolean
 */
Datum
mq_ack(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Datum		id = Int64GetDatum(id_arg(fcinfo, 1, name));
	MqQueue    *queue;
	uint64		n;
	MqContext	cx;
	MqHistory  *h;

	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	h = mq_history_begin(queue, "acked");
	n = run_for_id(&queue, DatumGetInt64(id), h ? &ack_history_plan : &ack_plan, &id,
				   h ? SPI_OK_DELETE_RETURNING : SPI_OK_DELETE);
	if (n > 0)
	{
		mq_cursor_acked(queue, DatumGetInt64(id));
		mq_cursor_count(queue, MQ_COUNT_ACKED, 1);
		history_rows(h, false);
	}
	mq_history_end(h);
	close_for(&cx);
	PG_RETURN_BOOL(n > 0);
}

static char *
ack_many_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 1;
	types[0] = INT8ARRAYOID;
	return psprintf("DELETE FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) ANY ($1)%s", q,
					kind == MQ_PLAN_ACK_MANY_HISTORY ? " RETURNING id, deliveries, headers" : "");
}

static const MqPlanDef ack_many_plan = {MQ_PLAN_ACK_MANY, ack_many_sql};
static const MqPlanDef ack_many_history_plan = {MQ_PLAN_ACK_MANY_HISTORY, ack_many_sql};

/*
 * mq.ack(queue_name text, ids bigint[]) returns bigint
 */
Datum
mq_ack_many(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Datum		ids = ids_arg(fcinfo, 1, name);
	MqQueue    *queue;
	uint64		n;
	MqContext	cx;
	MqHistory  *h;

	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	h = mq_history_begin(queue, "acked");
	n = run_for_ids(queue, h ? &ack_many_history_plan : &ack_many_plan, &ids,
					h ? SPI_OK_DELETE_RETURNING : SPI_OK_DELETE, MQ_COUNT_ACKED, h);
	mq_history_end(h);
	removed(queue, ids);
	close_for(&cx);
	PG_RETURN_INT64((int64) n);
}

static char *
nack_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * $2: when the message is visible again, or with a backoff base
	 * $4 (and cap $5), when the backoff starts: base x 2^(deliveries
	 * - 1) (exponent capped at 20), at most the cap, times a random
	 * factor in [0.5, 1) so that failures do not retry in lockstep.
	 */
	*nargs = 6;
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	types[2] = TEXTOID;
	types[3] = INTERVALOID;
	types[4] = INTERVALOID;
	types[5] = TIMESTAMPTZOID;
	/* $6: now, when the failure happened. */
	return psprintf("UPDATE ONLY %s SET vt = CASE WHEN $4 IS NULL THEN $2 ELSE $2 OPERATOR(pg_catalog.+)"
					" pg_catalog.interval_mul(LEAST(pg_catalog.interval_mul($4,"
					" pg_catalog.power(2, LEAST(GREATEST(deliveries OPERATOR(pg_catalog.-) 1, 0), 20))),"
					" COALESCE($5, pg_catalog.interval_mul($4, 1048576))),"
					" 0.5 OPERATOR(pg_catalog.+) (0.5 OPERATOR(pg_catalog.*) pg_catalog.random())) END,"
					" leased = false, last_error = COALESCE($3, last_error)%s "
					"WHERE id OPERATOR(pg_catalog.=) $1 RETURNING id, vt, deliveries, headers", q,
					(cols & MQ_COLS_FAILURES) ? ", failures = failures OPERATOR(pg_catalog.+) 1,"
					" first_error = COALESCE(first_error, $3), failed_at = $6" : "");
}

static const MqPlanDef nack_plan = {MQ_PLAN_NACK, nack_sql};

/*
 * nack_one
 *		Give message id back: visible again at vt (a delay given by the
 *		caller), or with backoff, after the queue's retry backoff; keep the
 *		error.  A message whose last allowed delivery this was goes to the
 *		dead-letter queue instead.  Returns whether there was such a
 *		message.  Caller is inside open_for.
 */
static bool
nack_one(MqQueue *queue, int64 id, bool error_null, Datum error, bool backoff,
		 TimestampTz vt, TimestampTz now)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	MqHistory  *h;

	/* The partition that holds it, if the queue has one for this id. */
	queue = mq_partition_of(queue, id);
	if (queue == NULL)
		return false;
	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(vt);
	values[2] = error_null ? (Datum) 0 : error;
	if (error_null)
		nulls[2] = 'n';
	if (backoff && queue->has_retry_delay)
		values[3] = IntervalPGetDatum(&queue->retry_delay);
	else
		nulls[3] = 'n';
	if (backoff && queue->has_retry_delay_max)
		values[4] = IntervalPGetDatum(&queue->retry_delay_max);
	else
		nulls[4] = 'n';
	values[5] = TimestampTzGetDatum(now);
	mq_cursor_touch(queue, id);

	/* Its last allowed delivery failed: dead-letter it instead. */
	if (queue->max_deliveries > 0 &&
		mq_dead_letter(queue, id, error_null, error, false, false, "nacked"))
	{
		mq_cursor_count(queue, MQ_COUNT_NACK, 1);
		return true;
	}

	if (mq_run_plan(queue, &nack_plan, values, nulls, SPI_OK_UPDATE_RETURNING) == 0)
		return false;
	mq_cursor_count(queue, MQ_COUNT_NACK, 1);
	vt = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	mq_cursor_vt_changed(queue, id, vt);
	h = mq_history_begin(queue, "nacked");
	if (h != NULL)
	{
		int32		d = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		Datum		headers = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);

		mq_history_add(h, id, d, vt, error_null ? (Datum) 0 : error, isnull ? (Datum) 0 : headers);
		mq_history_end(h);
	}
	return true;
}

/*
 * nack_delay
 *		The delay argument (3) of mq.nack: with a delay,
 *		*vt is now + delay; without, the queue's backoff applies.
 */
static bool
nack_delay(FunctionCallInfo fcinfo, const char *name, TimestampTz now, TimestampTz *vt)
{
	*vt = now;
	/* An explicit delay wins; NULL applies the queue's backoff, if any. */
	if (PG_ARGISNULL(3))
		return true;
	mq_check_interval(name, "delay", PG_GETARG_INTERVAL_P(3));
	*vt = mq_add_interval(now, PG_GETARG_INTERVAL_P(3));
	return false;
}

/*
 * mq.nack(queue_name text, id bigint, error text, delay interval) returns boolean
 */
Datum
mq_nack(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	int64		id = id_arg(fcinfo, 1, name);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	bool		backoff = nack_delay(fcinfo, name, now, &vt);
	MqQueue    *queue;
	bool		found;
	MqContext	cx;

	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	found = nack_one(queue, id, PG_ARGISNULL(2), PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2),
					 backoff, vt, now);
	close_for(&cx);
	PG_RETURN_BOOL(found);
}

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * ids_sorted
 *		The distinct, non-null ids of a bigint[], ascending (the order in
 *		which rows are locked, so that two callers cannot deadlock on the
 *		same ids).
 */
static int64 *
ids_sorted(Datum ids, int *n)
{
	ArrayType  *arr = DatumGetArrayTypeP(ids);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int64	   *out;
	int			i;
	int			m = 0;

	deconstruct_array(arr, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE,
					  &elems, &nulls, &nelems);
	out = palloc(sizeof(int64) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
		if (!nulls[i])
			out[m++] = DatumGetInt64(elems[i]);
	if (m > 1)
		qsort(out, m, sizeof(int64), int64_cmp);
	*n = 0;
	for (i = 0; i < m; i++)
		if (i == 0 || out[i] != out[i - 1])
			out[(*n)++] = out[i];
	return out;
}

/*
 * mq.nack(queue_name text, ids bigint[], error text, delay interval) returns bigint
 *		mq.nack of each id (NULL elements and repeats ignored); how many
 *		were given back or dead-lettered.
 */
Datum
mq_nack_many(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Datum		ids = ids_arg(fcinfo, 1, name);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	bool		backoff = nack_delay(fcinfo, name, now, &vt);
	MqQueue    *queue;
	int64	   *sorted;
	int			n;
	int			i;
	int64		found = 0;
	MqContext	cx;

	sorted = ids_sorted(ids, &n);
	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (nack_one(queue, sorted[i], PG_ARGISNULL(2),
					 PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), backoff, vt, now))
			found++;
	}
	close_for(&cx);
	PG_RETURN_INT64(found);
}

static char *
archive_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 2;
	types[0] = (kind == MQ_PLAN_ARCHIVE || kind == MQ_PLAN_ARCHIVE_HISTORY) ? INT8OID : INT8ARRAYOID;
	types[1] = TIMESTAMPTZOID;
	return psprintf("WITH d AS (DELETE FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) %s"
					" RETURNING id, payload, headers, enqueued_at, deliveries, last_error) "
					"INSERT INTO %s (id, payload, headers, enqueued_at, archived_at, deliveries, last_error) "
					"SELECT id, payload, headers, enqueued_at, $2, deliveries, last_error FROM d%s",
					q, (kind == MQ_PLAN_ARCHIVE || kind == MQ_PLAN_ARCHIVE_HISTORY) ? "$1" : "ANY ($1)", a,
					(kind == MQ_PLAN_ARCHIVE_HISTORY || kind == MQ_PLAN_ARCHIVE_MANY_HISTORY) ?
					" RETURNING id, deliveries, headers" : "");
}

static const MqPlanDef archive_plan = {MQ_PLAN_ARCHIVE, archive_sql};
static const MqPlanDef archive_many_plan = {MQ_PLAN_ARCHIVE_MANY, archive_sql};
static const MqPlanDef archive_history_plan = {MQ_PLAN_ARCHIVE_HISTORY, archive_sql};
static const MqPlanDef archive_many_history_plan = {MQ_PLAN_ARCHIVE_MANY_HISTORY, archive_sql};

/*
 * mq.archive(queue_name text, id bigint) returns boolean
 */
Datum
mq_archive(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Datum		values[2];
	uint64		n;
	MqQueue    *queue;
	MqContext	cx;
	MqHistory  *h;

	values[0] = Int64GetDatum(id_arg(fcinfo, 1, name));
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	h = mq_history_begin(queue, "archived");
	n = run_for_id(&queue, DatumGetInt64(values[0]), h ? &archive_history_plan : &archive_plan,
				   values, h ? SPI_OK_INSERT_RETURNING : SPI_OK_INSERT);
	if (n > 0)
	{
		mq_cursor_acked(queue, DatumGetInt64(values[0]));
		mq_cursor_count(queue, MQ_COUNT_ARCHIVED, 1);
		history_rows(h, false);
	}
	mq_history_end(h);
	close_for(&cx);
	PG_RETURN_BOOL(n > 0);
}

/*
 * mq.archive(queue_name text, ids bigint[]) returns bigint
 */
Datum
mq_archive_many(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Datum		values[2];
	uint64		n;
	MqQueue    *queue;
	MqContext	cx;
	MqHistory  *h;

	values[0] = ids_arg(fcinfo, 1, name);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	h = mq_history_begin(queue, "archived");
	n = run_for_ids(queue, h ? &archive_many_history_plan : &archive_many_plan, values,
					h ? SPI_OK_INSERT_RETURNING : SPI_OK_INSERT, MQ_COUNT_ARCHIVED, h);
	mq_history_end(h);
	removed(queue, values[0]);
	close_for(&cx);
	PG_RETURN_INT64((int64) n);
}

static char *
set_vt_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 2;
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	return psprintf("UPDATE ONLY %s SET vt = $2 WHERE id OPERATOR(pg_catalog.=) $1"
					" RETURNING id, deliveries, headers, vt", q);
}

static const MqPlanDef set_vt_plan = {MQ_PLAN_SET_VT, set_vt_sql};

/*
 * mq.set_vt(queue_name text, id bigint, vt interval) returns timestamptz
 *		The new lease end, or NULL when there is no such message.
 */
Datum
mq_set_vt(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	int64		id = id_arg(fcinfo, 1, name);
	Interval   *iv;
	TimestampTz vt;
	Datum		values[2];
	MqQueue    *queue;
	uint64		n;
	MqContext	cx;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("visibility timeout for queue \"%s\" must not be null", name)));
	iv = PG_GETARG_INTERVAL_P(2);
	mq_check_interval(name, "visibility timeout", iv);
	vt = mq_add_interval(GetCurrentTimestamp(), iv);

	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(vt);
	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	n = run_for_id(&queue, id, &set_vt_plan, values, SPI_OK_UPDATE_RETURNING);
	if (n > 0)
	{
		MqHistory  *h = mq_history_begin(queue, "visibility_set");

		mq_cursor_vt_changed(queue, id, vt);
		history_rows(h, true);
		mq_history_end(h);
	}
	close_for(&cx);
	if (n == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(vt);
}

static char *
set_vt_many_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 2;
	types[0] = INT8ARRAYOID;
	types[1] = TIMESTAMPTZOID;
	return psprintf("UPDATE ONLY %s SET vt = $2 WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
					" RETURNING id, deliveries, headers, vt", q);
}

static const MqPlanDef set_vt_many_plan = {MQ_PLAN_SET_VT_MANY, set_vt_many_sql};

/*
 * mq.set_vt(queue_name text, ids bigint[], vt interval) returns bigint
 *		How many of the messages were found (and got the new time).
 */
Datum
mq_set_vt_many(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Datum		values[2];
	Interval   *iv;
	TimestampTz vt;
	MqQueue    *queue;
	Datum		ids;
	uint64		n;
	uint64		i;
	uint64		total;
	int			k;
	MqContext	cx;
	MqHistory  *h;

	values[0] = ids_arg(fcinfo, 1, name);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("visibility timeout for queue \"%s\" must not be null", name)));
	iv = PG_GETARG_INTERVAL_P(2);
	mq_check_interval(name, "visibility timeout", iv);
	vt = mq_add_interval(GetCurrentTimestamp(), iv);
	values[1] = TimestampTzGetDatum(vt);

	queue = open_for(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	h = mq_history_begin(queue, "visibility_set");
	ids = values[0];
	total = 0;
	for (k = 0; k < queue->nparts; k++)
	{
		MqQueue    *part = queue->parts[k];
		int			m;

		values[0] = mq_partition_ids(queue, ids, k, &m);
		if (m == 0)
			continue;
		mq_cursor_touch(part, ids_min(values[0]));
		n = mq_run_plan(part, &set_vt_many_plan, values, NULL, SPI_OK_UPDATE_RETURNING);
		for (i = 0; i < n; i++)
		{
			bool		isnull;

			mq_cursor_vt_changed(part, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																   SPI_tuptable->tupdesc, 1, &isnull)), vt);
		}
		history_rows(h, true);
		total += n;
	}
	mq_history_end(h);
	close_for(&cx);
	PG_RETURN_INT64((int64) total);
}

/*
 * Untyped ids (mq--0.4.0--0.5.0.sql, section 4)
 * ---------------------------------------------
 * A driver that sends parameters untyped makes mq.ack($1, $2) ambiguous
 * between the bigint and the bigint[] form; a text form wins that choice
 * (PostgreSQL prefers the string category for unknown arguments).  It
 * reads its argument as one id or as an array literal and calls the typed
 * form, returning its result as jsonb (true/false, a count, a time or
 * null), which drivers turn into the value the typed form would give.
 */

/*
 * call_typed
 *		Call fn with the arguments of fcinfo, argument 1 replaced by the
 *		id (or ids) read from its text; the result as jsonb.
 */
static Datum
call_typed(FunctionCallInfo fcinfo, PGFunction one, PGFunction many, Oid one_result)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	LOCAL_FCINFO(call, 4);
	char	   *str;
	char	   *p;
	bool		is_array;
	Datum		result;
	Datum		json;
	int			i;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message id for queue \"%s\" must not be null", name)));
	str = text_to_cstring(PG_GETARG_TEXT_PP(1));
	for (p = str; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	is_array = (*p == '{');

	InitFunctionCallInfoData(*call, fcinfo->flinfo, PG_NARGS(), fcinfo->fncollation, NULL, NULL);
	for (i = 0; i < PG_NARGS(); i++)
	{
		call->args[i].value = fcinfo->args[i].value;
		call->args[i].isnull = fcinfo->args[i].isnull;
	}
	if (is_array)
	{
		Oid			input;
		Oid			ioparam;

		/* array_in keeps state in its flinfo: call it through one. */
		getTypeInputInfo(INT8ARRAYOID, &input, &ioparam);
		call->args[1].value = OidInputFunctionCall(input, str, ioparam, -1);
	}
	else
		call->args[1].value = DirectFunctionCall1(int8in, CStringGetDatum(str));

	result = (is_array ? many : one) (call);
	if (call->isnull)
		return DirectFunctionCall1(jsonb_in, CStringGetDatum("null"));
	if (is_array)
		json = DirectFunctionCall1(int8out, result);
	else if (one_result == BOOLOID)
		json = CStringGetDatum(DatumGetBool(result) ? "true" : "false");
	else
	{
		char		buf[MAXDATELEN + 1];
		StringInfoData quoted;

		initStringInfo(&quoted);
		escape_json(&quoted, JsonEncodeDateTime(buf, result, TIMESTAMPTZOID, NULL));
		json = CStringGetDatum(quoted.data);
	}
	return DirectFunctionCall1(jsonb_in, json);
}

/* mq.ack(queue_name text, id text) returns jsonb */
Datum
mq_ack_text(PG_FUNCTION_ARGS)
{
	return call_typed(fcinfo, mq_ack, mq_ack_many, BOOLOID);
}

/* mq.archive(queue_name text, id text) returns jsonb */
Datum
mq_archive_text(PG_FUNCTION_ARGS)
{
	return call_typed(fcinfo, mq_archive, mq_archive_many, BOOLOID);
}

/* mq.nack(queue_name text, id text, error text, delay interval) returns jsonb */
Datum
mq_nack_text(PG_FUNCTION_ARGS)
{
	return call_typed(fcinfo, mq_nack, mq_nack_many, BOOLOID);
}

/* mq.set_vt(queue_name text, id text, vt interval) returns jsonb */
Datum
mq_set_vt_text(PG_FUNCTION_ARGS)
{
	return call_typed(fcinfo, mq_set_vt, mq_set_vt_many, TIMESTAMPTZOID);
}

static char *
purge_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 0;
	return psprintf("DELETE FROM ONLY %s", q);
}

static const MqPlanDef purge_plan = {MQ_PLAN_PURGE, purge_sql};

/*
 * mq.purge(queue_name text) returns bigint
 *		Delete every message (not the archive); MVCC-safe, unlike TRUNCATE.
 */
Datum
mq_purge(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	uint64		n;
	int			k;
	MqQueue    *queue;
	MqContext	cx;

	queue = open_for(&cx, name, MQ_PRIV_MANAGE, RowExclusiveLock);
	n = 0;
	for (k = 0; k < queue->nparts; k++)
	{
		mq_cursor_touch(queue->parts[k], 0);
		n += mq_run_plan(queue->parts[k], &purge_plan, NULL, NULL, SPI_OK_DELETE);
	}
	close_for(&cx);
	PG_RETURN_INT64((int64) n);
}

static char *
archived_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 0;
	return psprintf("SELECT id, payload, headers, enqueued_at, archived_at, deliveries, last_error "
					"FROM ONLY %s ORDER BY id", a);
}

static const MqPlanDef archived_plan = {MQ_PLAN_ARCHIVED, archived_sql};

/*
 * mq.archived(queue_name text) returns setof record
 *		The archived messages of a queue, by id.
 */
Datum
mq_archived(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = mq_name_arg(fcinfo, 0);
	uint64		i;
	int			natts;
	MqQueue    *queue;
	MqContext	cx;

	InitMaterializedSRF(fcinfo, 0);
	natts = rsinfo->setDesc->natts;

	queue = open_for(&cx, name, MQ_PRIV_CONSUME, AccessShareLock);
	mq_run_plan(queue, &archived_plan, NULL, NULL, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[7];
		bool		nulls[7];
		int			c;

		for (c = 0; c < natts && c < 7; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	close_for(&cx);
	return (Datum) 0;
}

/*
 * mq.mark_processed(queue_name text, key text, keep interval) returns boolean
 *
 * Record that the consumers of a queue processed key: true the first time
 * (within keep), false after.  Keys are kept per queue, so only roles that
 * may consume from it can see or record them.  A concurrent call with the
 * same key waits for the first transaction to end.
 */
Datum
mq_mark_processed(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	text	   *key;
	Interval   *keep;
	Datum		args[3];
	Oid			types[3] = {TEXTOID, TEXTOID, INTERVALOID};
	int			ret;
	bool		first;
	MqContext	cx;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key and keep of a processed record for queue \"%s\" must not be null", name)));
	key = mq_check_key(name, "processed", PG_GETARG_DATUM(1));
	keep = PG_GETARG_INTERVAL_P(2);
	mq_check_interval(name, "keep", keep);

	args[0] = CStringGetTextDatum(name);
	args[1] = PointerGetDatum(key);
	args[2] = IntervalPGetDatum(keep);
	(void) open_for(&cx, name, MQ_PRIV_CONSUME, AccessShareLock);
	ret = SPI_execute_with_args("INSERT INTO mq.processed AS p (queue_name, key, expires_at) "
								"VALUES ($1, $2, pg_catalog.now() OPERATOR(pg_catalog.+) $3) "
								"ON CONFLICT ON CONSTRAINT processed_pkey DO UPDATE "
								"SET processed_at = pg_catalog.now(), expires_at = EXCLUDED.expires_at "
								"WHERE p.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() "
								"RETURNING true",
								3, types, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	first = SPI_processed > 0;
	close_for(&cx);
	PG_RETURN_BOOL(first);
}
