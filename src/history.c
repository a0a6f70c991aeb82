/*-------------------------------------------------------------------------
 *
 * history.c
 *	  Lifecycle tracing: every event of a message of a queue created or
 *	  altered with history => true, and mq.trace to read them back.
 *
 * A queue with history has a third table, mq.h_<name>, one row per event
 * of one of its messages:
 *
 *	sent			a send (role, application, backend: the sender's)
 *	received		a dead letter or redriven message arrived, from
 *					other_queue's message other_id
 *	delivered		a read leased it (delivery N, lease end in visible_at)
 *	popped			mq.pop delivered and removed it
 *	nacked			a nack (its error, and when it is due again)
 *	lease_expired	delivery N ended without ack or nack (found by a read or
 *					the worker's sweep)
 *	rolled_back		a rollback undid delivery N (recorded by the worker,
 *					with the pid and role of the backend that rolled back)
 *	visibility_set	mq.set_vt moved its visibility time
 *	dead_lettered	it left for other_queue as message other_id (no
 *					other_queue: archived for want of a dead-letter queue)
 *	redriven		mq.redrive sent it to other_queue as message other_id
 *	acked, archived	it was done with
 *
 * Each row is written in the transaction that caused the event, by the
 * function that caused it, so an event exists exactly when its effect
 * does: a read that rolls back leaves no "delivered" row (its rollback is
 * recorded by the worker, rollback.c).  Rows are inserted directly into
 * the heap, as sends are (insert.c), batched per call; nothing is written
 * for a queue without history.
 *
 * The W3C traceparent of the message's headers ({"traceparent": "00-..."},
 * as OpenTelemetry propagators write it) is copied into each event, so a
 * trace can be joined with the application's spans.
 *
 * mq.trace(queue_name, id) returns a message's events in order.  It
 * follows links both ways: from a dead letter back to the message it came
 * from, and from a dead-lettered or redriven message on to its copy in the
 * next queue, as far as the caller may see and history was kept.
 *
 * The worker deletes events older than the queue's history_retention, in
 * batches of MQ_HISTORY_PURGE_BATCH rows, each in its own transaction.
 * The table keeps its events when history is turned off (mq.trace still
 * reads them, the purge still ages them out); it goes with the queue.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "metrics.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_trace);

/* Columns of mq.h_<name>. */
#define H_NATTS 12

/* Events written per heap_multi_insert. */
#define MQ_HISTORY_CHUNK 1000

/* Rows the worker's purge deletes per transaction. */
#define MQ_HISTORY_PURGE_BATCH 1000

/* Links mq.trace follows, at most, in each direction. */
#define MQ_TRACE_MAX_HOPS 32

typedef struct MqHistRow
{
	int64		id;
	int32		delivery;		/* 0: none */
	TimestampTz visible_at;		/* 0: none */
	Datum		error;			/* text, or 0 */
	Datum		traceparent;	/* text, or 0 */
	int64		other_id;		/* with other_queue: the linked message */
	bool		has_other;
	int			pid;			/* 0: this backend */
	Oid			role;			/* with pid: the role of that backend */
} MqHistRow;

struct MqHistory
{
	MqQueue    *queue;
	const char *event;
	TimestampTz at;				/* when: at mq_history_begin */
	const char *other_queue;
	int			n;
	int			max;
	MqHistRow  *rows;
};

static void add_row(MqHistory *h, int64 id, int32 delivery, TimestampTz visible_at,
					Datum error, Datum traceparent);

/* The origin of the messages being sent now (mq_history_from). */
static const char *from_queue = NULL;
static int64 from_id = 0;

/*
 * mq_history_create_table
 *		Create mq.h_<name> if it does not exist: the events, an index by
 *		message for mq.trace, and a BRIN index by time for the purge
 *		(events are appended in time order; it costs next to nothing to
 *		keep).  Caller is connected to SPI, inside mq_enter.
 */
void
mq_history_create_table(const char *name, bool unlogged)
{
	char	   *relname = psprintf("h_%s", name);
	const char *h = quote_qualified_identifier("mq", relname);
	int			ret;

	if (OidIsValid(get_relname_relid(relname, mq_schema_oid())))
		return;
	ret = SPI_execute(psprintf("CREATE %sTABLE %s ("
							   " msg_id bigint NOT NULL,"
							   " event_at timestamptz NOT NULL,"
							   " event text NOT NULL,"
							   " delivery integer,"
							   " role text,"
							   " application_name text,"
							   " backend_pid integer,"
							   " visible_at timestamptz,"
							   " error text,"
							   " traceparent text,"
							   " other_queue text,"
							   " other_id bigint"
							   ") WITH (autovacuum_vacuum_insert_scale_factor = 0.05)",
							   unlogged ? "UNLOGGED " : "", h),
					  false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	ret = SPI_execute(psprintf("CREATE INDEX %s ON %s (msg_id, event_at)",
							   quote_identifier(psprintf("h_%s_msg", name)), h),
					  false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	ret = SPI_execute(psprintf("CREATE INDEX %s ON %s USING brin (event_at)",
							   quote_identifier(psprintf("h_%s_at", name)), h),
					  false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/*
 * mq_history_begin
 *		Start a batch of events of one kind for a queue (or partition),
 *		dated now; NULL when the queue keeps no history.  Every function
 *		below takes NULL and does nothing.  An event that leads to another
 *		(a dead letter to its copy's arrival) begins first.
 */
MqHistory *
mq_history_begin(MqQueue *queue, const char *event)
{
	MqHistory  *h;

	if (!queue->history || !OidIsValid(queue->history_relid))
		return NULL;
	h = palloc(sizeof(MqHistory));
	h->queue = queue;
	h->event = event;
	h->at = GetCurrentTimestamp();
	h->other_queue = NULL;
	h->n = 0;
	h->max = 8;
	h->rows = palloc(sizeof(MqHistRow) * h->max);
	return h;
}

/*
 * traceparent_of
 *		The "traceparent" string of a message's headers, as text; 0 if
 *		there is none.
 */
static Datum
traceparent_of(Datum headers)
{
	Jsonb	   *jb;
	JsonbValue	v;

	if (headers == (Datum) 0)
		return (Datum) 0;
	jb = DatumGetJsonbP(headers);
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		return (Datum) 0;
	if (getKeyJsonValueFromContainer(&jb->root, "traceparent", strlen("traceparent"), &v) == NULL ||
		v.type != jbvString)
		return (Datum) 0;
	return PointerGetDatum(cstring_to_text_with_len(v.val.string.val, v.val.string.len));
}

/*
 * mq_history_add
 *		One event of message id: its delivery number (0: none), when it is
 *		visible again (0: not said), an error (text, or 0) and its headers
 *		(jsonb, or 0), which give the traceparent.
 */
void
mq_history_add(MqHistory *h, int64 id, int32 delivery, TimestampTz visible_at,
			   Datum error, Datum headers)
{
	if (h == NULL)
		return;
	add_row(h, id, delivery, visible_at, error, traceparent_of(headers));
}

/*
 * add_row
 *		mq_history_add, given the traceparent (text, or 0).
 */
static void
add_row(MqHistory *h, int64 id, int32 delivery, TimestampTz visible_at,
		Datum error, Datum traceparent)
{
	MqHistRow  *r;

	if (h->n == h->max)
	{
		h->max *= 2;
		h->rows = repalloc(h->rows, sizeof(MqHistRow) * h->max);
	}
	r = &h->rows[h->n++];
	r->id = id;
	r->delivery = delivery;
	r->visible_at = visible_at;
	r->error = error;
	r->traceparent = traceparent;
	r->other_id = 0;
	r->has_other = false;
	r->pid = 0;
	r->role = InvalidOid;
}

/*
 * mq_history_link
 *		The last event added concerns message other_id of queue
 *		other_queue (NULL: none, e.g. archived instead of dead-lettered).
 */
void
mq_history_link(MqHistory *h, const char *other_queue, int64 other_id)
{
	if (h == NULL || h->n == 0)
		return;
	h->other_queue = other_queue;
	h->rows[h->n - 1].has_other = other_queue != NULL;
	h->rows[h->n - 1].other_id = other_id;
}

/*
 * mq_history_by
 *		The last event added was caused by backend pid, running as role,
 *		not by this one (a rollback the worker records).
 */
void
mq_history_by(MqHistory *h, int pid, Oid role)
{
	if (h == NULL || h->n == 0)
		return;
	h->rows[h->n - 1].pid = pid;
	h->rows[h->n - 1].role = role;
}

/*
 * fill_slot
 *		Row i of a batch, as a virtual tuple in slot.
 */
static void
fill_slot(MqHistory *h, int i, TupleTableSlot *slot, Datum event, Datum role_name,
		  Datum appname)
{
	MqHistRow  *r = &h->rows[i];
	Datum	   *v = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;

	ExecClearTuple(slot);
	v[0] = Int64GetDatum(r->id);
	nulls[0] = false;
	v[1] = TimestampTzGetDatum(h->at);
	nulls[1] = false;
	v[2] = event;
	nulls[2] = false;
	v[3] = Int32GetDatum(r->delivery);
	nulls[3] = r->delivery <= 0;
	if (r->pid != 0)
	{
		char	   *rn = OidIsValid(r->role) ? GetUserNameFromId(r->role, true) : NULL;

		v[4] = rn ? CStringGetTextDatum(rn) : (Datum) 0;
		nulls[4] = rn == NULL;
		v[5] = (Datum) 0;
		nulls[5] = true;
		v[6] = Int32GetDatum(r->pid);
	}
	else
	{
		v[4] = role_name;
		nulls[4] = role_name == (Datum) 0;
		v[5] = appname;
		nulls[5] = appname == (Datum) 0;
		v[6] = Int32GetDatum(MyProcPid);
	}
	nulls[6] = false;
	v[7] = TimestampTzGetDatum(r->visible_at);
	nulls[7] = r->visible_at == 0;
	v[8] = r->error;
	nulls[8] = r->error == (Datum) 0;
	v[9] = r->traceparent;
	nulls[9] = r->traceparent == (Datum) 0;
	v[10] = r->has_other ? CStringGetTextDatum(h->other_queue) : (Datum) 0;
	nulls[10] = !r->has_other;
	v[11] = Int64GetDatum(r->other_id);
	nulls[11] = !r->has_other;
	ExecStoreVirtualTuple(slot);
}

/*
 * mq_history_end
 *		Write the batch into mq.h_<name>, in the current transaction, and
 *		free it.  Events go in chunks of MQ_HISTORY_CHUNK through
 *		heap_multi_insert, as insert.c writes messages.
 */
void
mq_history_end(MqHistory *h)
{
	Relation	rel;
	MqInserter	ins;
	Datum		role_name = (Datum) 0;
	Datum		appname = (Datum) 0;
	Datum		event;
	int			done;
	int			m;
	int			i;

	if (h == NULL)
		return;
	if (h->n == 0)
	{
		pfree(h->rows);
		pfree(h);
		return;
	}

	if (OidIsValid(mq_current_caller))
	{
		char	   *rn = GetUserNameFromId(mq_current_caller, true);

		if (rn != NULL)
			role_name = CStringGetTextDatum(rn);
	}
	if (application_name != NULL && application_name[0] != '\0')
		appname = CStringGetTextDatum(application_name);
	event = CStringGetTextDatum(h->event);

	rel = table_open(h->queue->history_relid, RowExclusiveLock);
	mq_inserter_begin(&ins, rel, h->n, MQ_HISTORY_CHUNK);
	for (done = 0; done < h->n; done += m)
	{
		CHECK_FOR_INTERRUPTS();
		m = Min(ins.nslots, h->n - done);
		for (i = 0; i < m; i++)
			fill_slot(h, done + i, ins.slots[i], event, role_name, appname);
		mq_inserter_write(&ins, m);
	}
	mq_inserter_end(&ins);
	table_close(rel, NoLock);
	pfree(h->rows);
	pfree(h);
}

/*
 * mq_history_from
 *		The messages sent until mq_history_from(NULL, 0) came from message
 *		id of queue name (a dead letter, a redrive): their event is
 *		"received", linked to it.
 */
void
mq_history_from(const char *name, int64 id)
{
	from_queue = name;
	from_id = id;
}

/*
 * mq_history_sent
 *		The events of n messages a send just inserted (insert.c).
 */
void
mq_history_sent(MqQueue *queue, int n, const int64 *ids, bool headers_null, Datum headers,
				TimestampTz vt)
{
	MqHistory  *h = mq_history_begin(queue, from_queue != NULL ? "received" : "sent");
	Datum		traceparent;
	int			i;

	if (h == NULL)
		return;
	/* A batch's messages share their headers. */
	traceparent = traceparent_of(headers_null ? (Datum) 0 : headers);
	for (i = 0; i < n; i++)
	{
		add_row(h, ids[i], 0, vt, (Datum) 0, traceparent);
		if (from_queue != NULL)
			mq_history_link(h, from_queue, from_id);
	}
	mq_history_end(h);
}

/*
 * The order of events of one message at the same instant (mq.trace): the
 * order they happen in within one call.
 */
#define MQ_EVENT_RANK \
	"CASE event WHEN 'sent' THEN 0 WHEN 'received' THEN 0 WHEN 'delivered' THEN 2" \
	" WHEN 'popped' THEN 2 WHEN 'lease_expired' THEN 1 WHEN 'rolled_back' THEN 1" \
	" WHEN 'visibility_set' THEN 3 WHEN 'nacked' THEN 3 WHEN 'acked' THEN 4" \
	" WHEN 'archived' THEN 4 ELSE 5 END"

/*
 * trace_rows
 *		The events of message id of a queue's history table, in order, into
 *		an SPI tuple table.
 */
static void
trace_rows(MqQueue *queue, int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	int			ret;

	values[0] = Int64GetDatum(id);
	ret = SPI_execute_with_args(psprintf("SELECT event_at, event, delivery, role, application_name,"
										 " backend_pid, visible_at, error, traceparent, other_queue, other_id"
										 " FROM %s WHERE msg_id OPERATOR(pg_catalog.=) $1"
										 " ORDER BY event_at, " MQ_EVENT_RANK,
										 quote_qualified_identifier("mq", psprintf("h_%s", queue->name))),
								1, types, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}

/*
 * trace_queue
 *		A queue mq.trace may read: it exists, keeps (or kept) history, and
 *		the caller holds consume or manage on it or is a member of
 *		pg_monitor.  NULL otherwise; with must, an error instead.
 */
static MqQueue *
trace_queue(MqContext *cx, const char *name, bool must)
{
	MqQueue    *queue;

	if (!must)
	{
		char	   *why;

		queue = mq_try_open_queue(name, AccessShareLock, false, &why);
		if (queue == NULL)
			return NULL;
	}
	else
		queue = mq_open_queue(cx, name, 0, AccessShareLock);
	if ((mq_privileges(queue, cx->caller) & (MQ_PRIV_CONSUME | MQ_PRIV_MANAGE)) == 0 &&
		!mq_is_monitor(cx->caller))
	{
		if (!must)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to trace messages of queue \"%s\"", name),
				 errdetail("Tracing needs the consume or manage privilege on the queue, or membership in pg_monitor.")));
	}
	if (!OidIsValid(queue->history_relid))
	{
		if (!must)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("queue \"%s\" keeps no history", name),
				 errhint("Turn it on with mq.alter_queue(queue_name => '%s', history => true).", name)));
	}
	return queue;
}

/*
 * mq.trace(queue_name text, id bigint) returns setof (queue_name text,
 *		id bigint, event_at timestamptz, event text, delivery integer,
 *		role text, application_name text, backend_pid integer,
 *		visible_at timestamptz, error text, traceparent text,
 *		other_queue text, other_id bigint)
 *
 * The message's events in order, starting where it began: a dead letter's
 * or redriven message's trace starts with the events of the message it was
 * made from, and a message that moved on continues with its copy's.
 */
Datum
mq_trace(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	int64		id;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqContext	cx;
	MqQueue    *queue;
	char	   *qname;
	int			hops;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("id must not be null")));
	id = PG_GETARG_INT64(1);
	InitMaterializedSRF(fcinfo, 0);

	mq_enter(&cx);
	queue = trace_queue(&cx, name, true);
	SPI_connect();

	/* Back to where it began, through "received" links. */
	for (hops = 0; hops < MQ_TRACE_MAX_HOPS; hops++)
	{
		uint64		i;
		char	   *back = NULL;
		int64		back_id = 0;
		MqQueue    *prev;

		trace_rows(queue, id);
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			char	   *ev = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);

			if (strcmp(ev, "received") != 0)
				continue;
			back = SPI_getvalue(tup, SPI_tuptable->tupdesc, 10);
			back_id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 11, &isnull));
			if (isnull)
				back = NULL;
			break;
		}
		if (back == NULL)
			break;
		prev = trace_queue(&cx, back, false);
		if (prev == NULL)
			break;
		queue = prev;
		id = back_id;
	}

	/* Then forward, through "dead_lettered" and "redriven" links. */
	for (hops = 0; hops < 2 * MQ_TRACE_MAX_HOPS + 1; hops++)
	{
		uint64		i;
		char	   *next = NULL;
		int64		next_id = 0;
		MqQueue    *following;

		trace_rows(queue, id);
		qname = queue->name;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			Datum		out[13];
			bool		outnulls[13];
			int			c;
			char	   *ev;

			out[0] = CStringGetTextDatum(qname);
			outnulls[0] = false;
			out[1] = Int64GetDatum(id);
			outnulls[1] = false;
			for (c = 0; c < 11; c++)
				out[c + 2] = SPI_getbinval(tup, SPI_tuptable->tupdesc, c + 1, &outnulls[c + 2]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);

			ev = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
			if ((strcmp(ev, "dead_lettered") == 0 || strcmp(ev, "redriven") == 0) &&
				!outnulls[11] && !outnulls[12])
			{
				next = TextDatumGetCString(out[11]);
				next_id = DatumGetInt64(out[12]);
			}
		}
		if (next == NULL)
			break;
		following = trace_queue(&cx, next, false);
		if (following == NULL)
			break;
		queue = following;
		id = next_id;
	}

	SPI_finish();
	mq_leave(&cx);
	return (Datum) 0;
}

/*
 * mq_history_purge
 *		Worker step: delete up to MQ_HISTORY_PURGE_BATCH events of a queue
 *		older than its history_retention, in a transaction of our own.
 *		Returns whether a full batch went (there may be more).
 */
bool
mq_history_purge(const char *name)
{
	MqQueue    *queue;
	char	   *why = NULL;
	MqContext	cx;
	bool		more = false;

	StartTransactionCommand();
	if (!OidIsValid(get_relname_relid(psprintf("h_%s", name), mq_schema_oid())))
	{
		CommitTransactionCommand();
		return false;
	}
	mq_enter_worker(&cx);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	queue = mq_try_open_queue(name, RowExclusiveLock, true, &why);
	if (queue != NULL && OidIsValid(queue->history_relid))
	{
		Oid			types[1] = {INTERVALOID};
		Datum		values[1];
		const char *h = quote_qualified_identifier("mq", psprintf("h_%s", name));
		int			ret;

		pgstat_report_activity(STATE_RUNNING, "mq: history retention");
		values[0] = IntervalPGetDatum(&queue->history_retention);
		ret = SPI_execute_with_args(psprintf("DELETE FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
											 "SELECT ctid FROM ONLY %s WHERE event_at OPERATOR(pg_catalog.<)"
											 " (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) $1)"
											 " LIMIT %d))", h, h, MQ_HISTORY_PURGE_BATCH),
									1, types, values, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
		more = SPI_processed >= MQ_HISTORY_PURGE_BATCH;
		if (SPI_processed > 0)
			elog(DEBUG1, "mq worker deleted " UINT64_FORMAT " events of queue \"%s\" past its history retention",
				 SPI_processed, name);
	}
	PopActiveSnapshot();
	SPI_finish();
	mq_leave(&cx);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return more;
}
