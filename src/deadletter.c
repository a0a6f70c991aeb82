/*-------------------------------------------------------------------------
 *
 * deadletter.c
 *	  Dead letters: a message whose deliveries are used up leaves its
 *	  queue, and mq.redrive brings dead-lettered messages back to work.
 *
 * mq_dead_letter is the one way out for a message past max_deliveries,
 * whoever finds it there: a nack (ack.c), a read that claimed a message
 * whose last lease had expired (read.c), the worker's sweep of expired
 * leases (worker.c) and its recording of rolled-back deliveries
 * (rollback.c).  It moves the message, in the caller's transaction, to
 * the queue's dead-letter queue with an "mq_dead_letter" record in its
 * headers, or, without one (or when that queue cannot take it), to the
 * archive with the reason as its last error.
 *
 * mq.redrive takes messages from a dead-letter queue, oldest first,
 * skipping any a consumer holds, and sends each as a new message
 * (deliveries start again at 0) to the given target or else to its
 * origin; the record moves into the headers' "mq_history" array, so the
 * history is kept.  One transaction: an unknown target anywhere moves
 * nothing.  The caller needs the manage privilege on the dead-letter
 * queue and the send privilege on every queue a message goes to.
 *
 * Its part of the read path (read.c): step 5, the way out for a message
 * past max_deliveries.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/deadletter.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_redrive);

/*
 * dead_letter_target
 *		The queue's dead-letter queue, opened to receive, or NULL with the
 *		reason it cannot: gone, not as mq made it, or (with the privilege
 *		model) the queue's owner may not send to it.  Then the message is
 *		archived instead, with the reason, so that a broken dead-letter
 *		queue never stops a consumer.
 */
static MqQueue *
dead_letter_target(MqQueue *queue, char **why)
{
	/* The worker waits for no one: a busy queue is tried again later. */
	MqQueue    *dlq;

	/*
	 * A dead letter keeps its FIFO group: take the group lock of the
	 * dead-letter queue before opening it, as a send does (send.c).
	 */
	mq_lock_queue_groups(queue->dead_letter_queue, ShareLock);
	dlq = mq_try_open_queue(queue->dead_letter_queue, RowExclusiveLock,
										IsBackgroundWorker, why);

	if (dlq == NULL)
		return NULL;
	if (mq_model_active())
	{
		if ((mq_privileges(dlq, queue->owner) & MQ_PRIV_SEND) == 0)
		{
			*why = psprintf("the owner of queue \"%s\" may not send to it", queue->name);
			return NULL;
		}
	}
	else
	{
		/*
		 * Before 0.4.0 a queue's owner is its table's owner, and sending
		 * is inserting: the worker, a superuser, must not insert where
		 * that owner could not.
		 */
		Oid			owner = InvalidOid;
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(queue->relid));

		if (HeapTupleIsValid(tup))
		{
			owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
			ReleaseSysCache(tup);
		}
		if (!OidIsValid(owner) ||
			pg_class_aclcheck(dlq->relid, owner, ACL_INSERT) != ACLCHECK_OK)
		{
			*why = psprintf("the owner of table mq.q_%s may not insert into it", queue->name);
			return NULL;
		}
	}
	return dlq;
}

/*
 * Headers as an object: NULL as {}, and headers that are not an object
 * (0.4.0 and earlier accepted any JSON) under "mq_original_headers".
 */
#define MQ_OBJECT_HEADERS(h) "(CASE WHEN " h " IS NULL THEN '{}'::pg_catalog.jsonb" \
	" WHEN pg_catalog.jsonb_typeof(" h ") OPERATOR(pg_catalog.=) 'object' THEN " h \
	" ELSE pg_catalog.jsonb_build_object('mq_original_headers', " h ") END)"

static char *
dead_take_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * Remove message $1 if it has had $2 deliveries, returning what
	 * its dead-letter copy carries: the payload, and the headers with
	 * an "mq_dead_letter" record (origin queue $3, error $4, time
	 * $5).  $6 (0 or 1): deliveries the caller's own read added and
	 * no consumer saw; $7: the failure columns already record the
	 * failure that ends it (else it is $4 at $5).
	 */
	*nargs = 7;
	types[0] = INT8OID;
	types[1] = INT4OID;
	types[2] = TEXTOID;
	types[3] = TEXTOID;
	types[4] = TIMESTAMPTZOID;
	types[5] = INT4OID;
	types[6] = BOOLOID;
	return psprintf("DELETE FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) $1"
					" AND deliveries OPERATOR(pg_catalog.>=) $2 "
					"RETURNING payload, " MQ_OBJECT_HEADERS("headers") " OPERATOR(pg_catalog.||)"
					" pg_catalog.jsonb_build_object('mq_dead_letter', pg_catalog.jsonb_build_object("
					"'queue', $3, 'id', id, 'deliveries', deliveries OPERATOR(pg_catalog.-) $6,%s"
					" 'last_error', COALESCE($4, last_error), 'reason', 'max_deliveries',"
					" 'enqueued_at', enqueued_at, 'dead_at', $5))%s, deliveries OPERATOR(pg_catalog.-) $6 AS deliveries", q,
					(cols & MQ_COLS_FAILURES) ? " 'failures', failures OPERATOR(pg_catalog.+) CASE WHEN $7 THEN 0 ELSE 1 END,"
					" 'first_error', CASE WHEN $7 THEN first_error ELSE COALESCE(first_error, $4) END,"
					" 'failed_at', CASE WHEN $7 THEN failed_at ELSE $5 END," : "",
					(cols & MQ_COLS_ORDERING) ? ", priority, group_id" : "");
}

static char *
dead_archive_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * No dead-letter queue (or one that refused it, $6 says why):
	 * archive message $1 with the reason.  $5 as $6 of
	 * dead_take_plan.
	 */
	*nargs = 6;
	types[0] = INT8OID;
	types[1] = INT4OID;
	types[2] = TEXTOID;
	types[3] = TIMESTAMPTZOID;
	types[4] = INT4OID;
	types[5] = TEXTOID;
	return psprintf("WITH d AS (DELETE FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) $1"
					" AND deliveries OPERATOR(pg_catalog.>=) $2"
					" RETURNING id, payload, headers, enqueued_at, deliveries, last_error, %s) "
					"INSERT INTO %s (id, payload, headers, enqueued_at, archived_at, deliveries, last_error) "
					"SELECT id, payload, headers, enqueued_at, $4, deliveries OPERATOR(pg_catalog.-) $5,"
					" 'dead: max_deliveries (' OPERATOR(pg_catalog.||) $2 OPERATOR(pg_catalog.||) ') reached'"
					" OPERATOR(pg_catalog.||) COALESCE('; ' OPERATOR(pg_catalog.||) $6, '')"
					" OPERATOR(pg_catalog.||) '; last error: '"
					" OPERATOR(pg_catalog.||) COALESCE($3, last_error, 'none')"
					" OPERATOR(pg_catalog.||) '; first error: '"
					" OPERATOR(pg_catalog.||) COALESCE(first_error, $3, 'none') FROM d"
					" RETURNING id, deliveries, headers, last_error",
					q, (cols & MQ_COLS_FAILURES) ? "first_error" : "NULL::pg_catalog.text AS first_error", a);
}

static const MqPlanDef dead_archive_plan = {MQ_PLAN_DEAD_ARCHIVE, dead_archive_sql};

static const MqPlanDef dead_take_plan = {MQ_PLAN_DEAD_TAKE, dead_take_sql};

/*
 * mq_dead_letter
 *		If message id has had the queue's max_deliveries, take it out of
 *		the queue: into the dead-letter queue (its headers gain an
 *		"mq_dead_letter" record: origin, deliveries, failures, first and
 *		last error, reason, times), or, without one (or with one that
 *		cannot take it), into the archive with the reason as its last
 *		error.  Returns whether it did.
 *
 * error is the failure that ends it (a nack's error), or null.  claimed:
 * the caller's read claimed the message just now, so its deliveries count
 * one that never reached a consumer.  failure_recorded: the row's failure
 * columns already hold this failure (a lease expiry noted by a read or
 * the worker); otherwise it is counted here.  Caller is connected to SPI
 * and inside mq_enter.
 */
bool
mq_dead_letter(MqQueue *queue, int64 id, bool error_null, Datum error,
			   bool claimed, bool failure_recorded, const char *cause)
{
	TimestampTz now = GetCurrentTimestamp();
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Datum		payload;
	Datum		headers;
	bool		isnull;
	int			priority;
	Datum		group;
	MqQueue    *dlq = NULL;
	char	   *why = NULL;
	MqHistory  *hcause;
	MqHistory  *hdead;
	int64		dead_id;

	if (queue->dead_letter_queue[0] != '\0')
	{
		dlq = dead_letter_target(queue, &why);
		if (dlq == NULL && why == NULL)
			return false;		/* busy, the worker's next pass takes it */
	}

	values[0] = Int64GetDatum(id);
	values[1] = Int32GetDatum(queue->max_deliveries);
	if (dlq == NULL)
	{
		char	   *note = why == NULL ? NULL :
			psprintf("dead-letter queue \"%s\" refused it: %s", queue->dead_letter_queue, why);

		values[2] = error_null ? (Datum) 0 : error;
		nulls[2] = error_null ? 'n' : ' ';
		values[3] = TimestampTzGetDatum(now);
		values[4] = Int32GetDatum(claimed ? 1 : 0);
		values[5] = note ? CStringGetTextDatum(note) : (Datum) 0;
		nulls[5] = note ? ' ' : 'n';
		if (mq_run_plan(queue, &dead_archive_plan, values, nulls, SPI_OK_INSERT_RETURNING) == 0)
			return false;
		hcause = cause ? mq_history_begin(queue, cause) : NULL;
		hdead = mq_history_begin(queue, "dead_lettered");
		if (hdead != NULL)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int32		d = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			Datum		h = SPI_getbinval(tup, desc, 3, &isnull);
			Datum		last;

			if (isnull)
				h = (Datum) 0;
			last = SPI_getbinval(tup, desc, 4, &isnull);
			if (isnull)
				last = (Datum) 0;
			mq_history_add(hcause, id, d, 0, error_null ? (Datum) 0 : error, h);
			mq_history_end(hcause);
			mq_history_add(hdead, id, d, 0, last, h);
			mq_history_end(hdead);
		}
		if (note != NULL)
			ereport(WARNING,
					(errmsg("message %lld of queue \"%s\" was archived, not dead-lettered",
							(long long) id, queue->name),
					 errdetail("Its dead-letter queue \"%s\" refused it: %s.",
							   queue->dead_letter_queue, why)));
		mq_cursor_count(queue, MQ_COUNT_DEAD, 1);
		return true;
	}

	values[2] = CStringGetTextDatum(queue->name);
	values[3] = error_null ? (Datum) 0 : error;
	nulls[3] = error_null ? 'n' : ' ';
	values[4] = TimestampTzGetDatum(now);
	values[5] = Int32GetDatum(claimed ? 1 : 0);
	values[6] = BoolGetDatum(failure_recorded);
	if (mq_run_plan(queue, &dead_take_plan, values, nulls, SPI_OK_DELETE_RETURNING) == 0)
		return false;
	payload = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	headers = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	hcause = cause ? mq_history_begin(queue, cause) : NULL;
	hdead = mq_history_begin(queue, "dead_lettered");
	if (hdead != NULL)
	{
		int32		d = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													SPI_fnumber(SPI_tuptable->tupdesc, "deliveries"),
													&isnull));

		mq_history_add(hcause, id, d, 0, error_null ? (Datum) 0 : error, headers);
		mq_history_end(hcause);
		mq_history_add(hdead, id, d, 0, error_null ? (Datum) 0 : error, headers);
	}
	/* The dead letter keeps its priority and group (when both tables can). */
	priority = 0;
	group = (Datum) 0;
	if (queue->ordering_cols && dlq->ordering_cols)
	{
		priority = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		group = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		if (isnull)
			group = (Datum) 0;
	}
	/* Its event there is "received", from here (reset by mq_enter too). */
	mq_history_from(queue->name, id);
	dead_id = mq_send_message(dlq, payload, false, headers, now, now, priority, group);
	mq_history_from(NULL, 0);
	mq_history_link(hdead, dlq->name, dead_id);
	mq_history_end(hdead);
	mq_cursor_count(queue, MQ_COUNT_DEAD, 1);
	return true;
}

static char *
redrive_take_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * Take up to $1 messages, oldest first, that nobody holds.  A
	 * dead letter made by 0.3.0 from headers that were not an
	 * object is an array ending in the {"mq_dead_letter": ...}
	 * object: it is read as that record plus the original headers
	 * under "mq_original_headers", and other headers that are not
	 * an object are kept under that key too.
	 */
	*nargs = 1;
	types[0] = INT8OID;
	return psprintf("WITH d AS (DELETE FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
					"SELECT id FROM ONLY %s ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))"
					" RETURNING id, payload, headers%s),"
					" n AS (SELECT *, CASE WHEN pg_catalog.jsonb_typeof(headers) OPERATOR(pg_catalog.=) 'array'"
					" AND pg_catalog.jsonb_typeof(headers OPERATOR(pg_catalog.->) (-1)) OPERATOR(pg_catalog.=) 'object'"
					" AND (headers OPERATOR(pg_catalog.->) (-1)) OPERATOR(pg_catalog.?) 'mq_dead_letter'"
					" THEN pg_catalog.jsonb_build_object('mq_original_headers', headers OPERATOR(pg_catalog.-) (-1))"
					" OPERATOR(pg_catalog.||) (headers OPERATOR(pg_catalog.->) (-1))"
					" WHEN headers IS NULL THEN NULL ELSE " MQ_OBJECT_HEADERS("headers") " END AS h FROM d) "
					"SELECT id, payload,"
					" CASE WHEN h OPERATOR(pg_catalog.?) 'mq_dead_letter' THEN"
					" (h OPERATOR(pg_catalog.-) 'mq_dead_letter'::pg_catalog.text) OPERATOR(pg_catalog.||)"
					" pg_catalog.jsonb_build_object('mq_history',"
					" COALESCE(h OPERATOR(pg_catalog.->) 'mq_history', '[]'::pg_catalog.jsonb)"
					" OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(h OPERATOR(pg_catalog.->) 'mq_dead_letter'))"
					" ELSE h END,"
					" h OPERATOR(pg_catalog.->) 'mq_dead_letter' OPERATOR(pg_catalog.->>) 'queue'%s"
					" FROM n ORDER BY id", q, q,
					(cols & MQ_COLS_ORDERING) ? ", priority, group_id" : "",
					(cols & MQ_COLS_ORDERING) ? ", priority, group_id" : "");
}

static const MqPlanDef redrive_take_plan = {MQ_PLAN_REDRIVE_TAKE, redrive_take_sql};

/*
 * mq.redrive(dead_letter_queue text, target_queue text, max_messages bigint)
 *		returns bigint: how many messages moved
 */
Datum
mq_redrive(PG_FUNCTION_ARGS)
{
	char	   *dlq = mq_name_arg(fcinfo, 0);
	char	   *target = PG_ARGISNULL(1) ? NULL : mq_name_arg(fcinfo, 1);
	int64		max = PG_ARGISNULL(2) ? PG_INT64_MAX : PG_GETARG_INT64(2);
	TimestampTz now = GetCurrentTimestamp();
	MqQueue    *queue;
	Datum		arg;
	SPITupleTable *tt;
	uint64		n;
	uint64		i;
	int64		moved = 0;
	int			k;
	int			ret;
	MqContext	cx;

	if (max < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_messages for redrive of queue \"%s\" must not be negative", dlq)));
	if (target != NULL && strcmp(target, dlq) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot redrive queue \"%s\" into itself", dlq)));

	mq_enter(&cx);
	queue = mq_open_queue(&cx, dlq, MQ_PRIV_MANAGE, RowExclusiveLock);
	if (target != NULL)
		(void) mq_open_queue(&cx, target, MQ_PRIV_SEND, RowExclusiveLock);
	SPI_connect();

	/* A partitioned dead-letter queue: partition after partition. */
	for (k = 0; k < queue->nparts && moved < max; k++)
	{
		MqQueue    *part = queue->parts[k];

		mq_cursor_touch(part, 0);
		arg = Int64GetDatum(max - moved);
		ret = SPI_execute_plan(mq_queue_plan(part, &redrive_take_plan), &arg, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		tt = SPI_tuptable;
		n = SPI_processed;
		moved += (int64) n;
		mq_cursor_count(part, MQ_COUNT_REDRIVEN, (int) n);

		for (i = 0; i < n; i++)
		{
			bool		isnull;
			bool		headers_null;
			bool		origin_null;
			int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			Datum		payload = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
			Datum		headers = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &headers_null);
			Datum		origin = SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &origin_null);
			int			priority = part->ordering_cols ?
				DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull)) : 0;
			bool		group_null = true;
			Datum		group = part->ordering_cols ?
				SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &group_null) : (Datum) 0;
			MqQueue    *dest;
			char	   *to = target;
			int64		new_id;
			MqHistory  *hredriven;

			if (to == NULL)
			{
				if (origin_null)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("message %lld of queue \"%s\" has no origin queue",
									(long long) id, dlq),
							 errhint("Give target_queue to mq.redrive.")));
				to = TextDatumGetCString(origin);
				mq_validate_name(to);
			}
			if (part->ordering_cols && !group_null)
				mq_lock_queue_groups(to, ShareLock);
			dest = mq_open_queue(&cx, to, MQ_PRIV_SEND, RowExclusiveLock);
			hredriven = mq_history_begin(part, "redriven");
			mq_history_from(part->name, id);
			new_id = mq_send_message(dest, payload, headers_null, headers, now, now,
									 dest->ordering_cols ? priority : 0,
									 dest->ordering_cols && !group_null ? group : (Datum) 0);
			mq_history_from(NULL, 0);
			mq_history_add(hredriven, id, 0, 0, (Datum) 0, headers_null ? (Datum) 0 : headers);
			mq_history_link(hredriven, dest->name, new_id);
			mq_history_end(hredriven);
		}
	}

	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_INT64(moved);
}
