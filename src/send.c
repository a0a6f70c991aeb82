/*-------------------------------------------------------------------------
 *
 * send.c
 *	  mq.send and mq.send_batch: enqueue messages in the caller's
 *	  transaction.
 *
 * A send checks the caller's send privilege, then inserts the message in
 * the caller's transaction, directly (insert.c); the message is invisible
 * to readers until the caller commits and never exists if it rolls back.
 * Before inserting, the sender registers with the queue's shared read
 * cursor (cursor.c) so that readers do not move their scan position past
 * an id that is still uncommitted; the registration ends at commit or
 * abort.  The size limit applies to what the caller sent, uncompressed:
 * a datum that arrives compressed (or toasted) counts at its full size.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/send.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "cursor.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_send);
PG_FUNCTION_INFO_V1(mq_send_batch);
PG_FUNCTION_INFO_V1(mq_send_multi);

/*
 * mq_check_payload_size
 *		Refuse a payload whose size plus its headers' exceeds
 *		mq.max_payload_size (54000).
 */
void
mq_check_payload_size(const char *queue, Datum payload, bool headers_null, Datum headers)
{
	Size		size = toast_raw_datum_size(payload) - VARHDRSZ;

	if (!headers_null)
		size += toast_raw_datum_size(headers) - VARHDRSZ;
	if (size > (Size) mq_max_payload_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message for queue \"%s\" is too large", queue),
				 errdetail("Payload and headers take %zu bytes; mq.max_payload_size is %d bytes.",
						   size, mq_max_payload_size)));
}

/*
 * mq_check_headers
 *		Refuse headers that carry a key mq reserves for itself (22023):
 *		"mq_dead_letter", the record dead-lettering writes (mq.redrive
 *		sends a message back to the queue it names), and "mq_history".
 *		Only mq writes them, so a producer cannot steer a redrive.
 */
void
mq_check_headers(const char *queue, bool headers_null, Datum headers)
{
	static const char *const reserved[] = {"mq_dead_letter", "mq_history"};
	Jsonb	   *jb;
	int			i;

	if (headers_null)
		return;
	jb = DatumGetJsonbP(headers);
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers of a message for queue \"%s\" must be a JSON object or NULL", queue),
				 errdetail("The headers given are a JSON %s.",
						   JB_ROOT_IS_SCALAR(jb) ? "scalar" : "array")));
	for (i = 0; i < lengthof(reserved); i++)
	{
		JsonbValue	key;

		key.type = jbvString;
		key.val.string.val = (char *) reserved[i];
		key.val.string.len = strlen(reserved[i]);
		if (findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &key) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("header \"%s\" of a message for queue \"%s\" is reserved for mq",
							reserved[i], queue),
					 errdetail("mq writes it when it dead-letters a message; a send may not.")));
	}
}

/*
 * delay_arg
 *		Fetch a delay interval argument (NULL means none); refuse negatives.
 */
static Interval *
delay_arg(FunctionCallInfo fcinfo, int argno, const char *queue)
{
	Interval   *iv;

	if (PG_ARGISNULL(argno))
		return NULL;
	iv = PG_GETARG_INTERVAL_P(argno);
	mq_check_interval(queue, "delay", iv);
	return iv;
}

/*
 * MQ_GROUP_LOCK
 *		The fourth field of the lock tag mq takes per FIFO group (an
 *		advisory tag; SQL's advisory functions use 1 and 2 there).
 */
#define MQ_GROUP_LOCK 0x6d71

/*
 * lock_group
 *		Serialise the sending transactions of a FIFO group: an exclusive
 *		lock on (database, partition table, the group's hash), held until
 *		the transaction ends (or, prepared, until COMMIT/ROLLBACK PREPARED),
 *		taken before the message's id.  So a group's ids ascend in commit
 *		order, and a reader that sees a message of a group sees every
 *		older one (read.c waits for them).  Two groups of one hash share a
 *		lock, which costs only concurrency.
 */
static void
lock_group(MqQueue *part, Datum group)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, part->relid, mq_group_hash(group), MQ_GROUP_LOCK);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * MQ_GROUPS_LOCK
 *		The fourth field of the lock tag of a queue's FIFO groups as a
 *		whole: every transaction that sends a grouped message to the queue
 *		holds it in SHARE mode; mq.alter_queue, to add partitions, takes it
 *		in EXCLUSIVE mode, so that no grouped message is on its way while it
 *		looks whether the queue holds any (queue.c).
 */
#define MQ_GROUPS_LOCK 0x6d72

/*
 * mq_lock_queue_groups
 *		Take the lock of a queue's FIFO groups as a whole, keyed by its
 *		name, until the transaction ends.  A sender takes it before it
 *		opens the queue, so that the partitions it sees are those after
 *		any growth that held the lock.
 */
void
mq_lock_queue_groups(const char *name, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId,
						 hash_bytes((const unsigned char *) name, (int) strlen(name)),
						 0, MQ_GROUPS_LOCK);
	(void) LockAcquire(&tag, mode, false, false);
}

/*
 * mq_send_message
 *		Insert one message into an opened queue (mq_open_queue with
 *		RowExclusiveLock) in the caller's transaction, into the partition
 *		whose turn it is (or its FIFO group's); return its id.  group:
 *		(Datum) 0 for none, else text the caller checked (mq_check_group).
 */
int64
mq_send_message(MqQueue *queue, Datum payload, bool headers_null, Datum headers,
				TimestampTz vt, TimestampTz now, int priority, Datum group)
{
	int64		id;

	/* A partitioned queue: one of its partitions takes the message. */
	if (group != (Datum) 0)
	{
		/*
		 * Every caller took the queue's groups lock before opening the
		 * queue (mq.send and the other send functions, a dead letter, a
		 * redrive), so its partitions are those after any growth; this
		 * takes it again only as a safeguard (held already, it is free).
		 */
		mq_lock_queue_groups(queue->name, ShareLock);
		queue = mq_group_partition(queue, group);
		lock_group(queue, group);
	}
	else
		queue = mq_send_partition(queue);
	mq_cursor_send_begin(queue);
	mq_direct_insert(queue, 1, &payload, headers_null, headers, vt, now,
					 priority != 0 ? &priority : NULL,
					 group != (Datum) 0 ? &group : NULL, &id);
	mq_cursor_send_done(queue, id, 1, vt, now, priority != 0 ? &priority : NULL, &id);
	return id;
}

/*
 * mq_check_group
 *		A FIFO group id: not empty, at most MQ_MAX_GROUP_LEN bytes (22023).
 *		Returns it as a plain (detoasted) text datum.
 */
Datum
mq_check_group(const char *queue, Datum group)
{
	text	   *t = DatumGetTextPP(group);
	size_t		len = VARSIZE_ANY_EXHDR(t);

	if (len == 0 || len > MQ_MAX_GROUP_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("group id of a message for queue \"%s\" must be 1 to %d bytes long",
						queue, MQ_MAX_GROUP_LEN),
				 errdetail("This one has %zu.", len)));
	return PointerGetDatum(DatumGetTextPP(group));
}

/*
 * group_arg
 *		An optional group_id argument: (Datum) 0 when null or absent.
 */
static Datum
group_arg(FunctionCallInfo fcinfo, int argno, const char *queue)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return (Datum) 0;
	return mq_check_group(queue, PG_GETARG_DATUM(argno));
}

/*
 * mq_check_priority
 *		A message priority: MQ_MIN_PRIORITY to MQ_MAX_PRIORITY (22023).
 */
int
mq_check_priority(const char *queue, int priority)
{
	if (priority < MQ_MIN_PRIORITY || priority > MQ_MAX_PRIORITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("priority of a message for queue \"%s\" must be between %d and %d",
						queue, MQ_MIN_PRIORITY, MQ_MAX_PRIORITY),
				 errdetail("The value given was %d.", priority)));
	return priority;
}

/*
 * priority_arg
 *		An optional priority argument; null or absent is 0.
 */
static int
priority_arg(FunctionCallInfo fcinfo, int argno, const char *queue)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return 0;
	return mq_check_priority(queue, PG_GETARG_INT32(argno));
}

/*
 * mq_check_key
 *		A dedup or processed key ("what" says which); refuse one longer
 *		than MQ_MAX_DEDUP_KEY_LEN (22023).
 */
text *
mq_check_key(const char *queue, const char *what, Datum key)
{
	text	   *t = DatumGetTextPP(key);

	if (VARSIZE_ANY_EXHDR(t) > MQ_MAX_DEDUP_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s key for queue \"%s\" is too long", what, queue),
				 errdetail("A %s key is at most %d bytes; this one has %zu.",
						   what, MQ_MAX_DEDUP_KEY_LEN, (size_t) VARSIZE_ANY_EXHDR(t))));
	return t;
}

static char *
dedup_claim_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * Take key $2 of queue $1 until $3, unless a live holder has it
	 * (expires_at > $4).  A concurrent sender of the same key waits
	 * here for the holder's transaction to end.  No row: duplicate.
	 */
	*nargs = 4;
	types[0] = TEXTOID;
	types[1] = TEXTOID;
	types[2] = TIMESTAMPTZOID;
	types[3] = TIMESTAMPTZOID;
	return pstrdup("INSERT INTO mq.dedup AS d (queue_name, dedup_key, id, expires_at) "
				   "VALUES ($1, $2, 0, $3) "
				   "ON CONFLICT (queue_name, dedup_key) DO UPDATE "
				   "SET id = 0, expires_at = EXCLUDED.expires_at "
				   "WHERE d.expires_at OPERATOR(pg_catalog.<=) $4 RETURNING 1");
}

static char *
dedup_get_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 2;
	types[0] = TEXTOID;
	types[1] = TEXTOID;
	return pstrdup("SELECT id FROM mq.dedup WHERE queue_name OPERATOR(pg_catalog.=) $1 "
				   "AND dedup_key OPERATOR(pg_catalog.=) $2");
}

static char *
dedup_set_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 3;
	types[0] = TEXTOID;
	types[1] = TEXTOID;
	types[2] = INT8OID;
	return pstrdup("UPDATE mq.dedup SET id = $3 WHERE queue_name OPERATOR(pg_catalog.=) $1 "
				   "AND dedup_key OPERATOR(pg_catalog.=) $2");
}

static const MqPlanDef dedup_set_plan = {MQ_PLAN_DEDUP_SET, dedup_set_sql};

static const MqPlanDef dedup_get_plan = {MQ_PLAN_DEDUP_GET, dedup_get_sql};

static const MqPlanDef dedup_claim_plan = {MQ_PLAN_DEDUP_CLAIM, dedup_claim_sql};

/*
 * send_dedup
 *		mq_send_message, unless the queue remembers key from a send inside its
 *		dedup window: then nothing is sent and that send's id returned.
 *
 * The key is claimed first (dedup_claim_plan): a concurrent send of the
 * same key waits for the claiming transaction; if it commits, the waiter
 * finds the key taken and returns its id; if it rolls back, the waiter
 * takes the key.  So two racing sends enqueue one message.
 */
static int64
send_dedup(MqQueue *queue, text *key, Datum payload, bool headers_null,
		   Datum headers, TimestampTz vt, TimestampTz now, int priority, Datum group)
{
	Datum		args[4];
	int			ret;
	bool		isnull;
	int64		id;

	SPI_connect();
	args[0] = CStringGetTextDatum(queue->name);
	args[1] = PointerGetDatum(key);
	args[2] = TimestampTzGetDatum(mq_add_interval(now, &queue->dedup_window));
	args[3] = TimestampTzGetDatum(now);
	ret = SPI_execute_plan(mq_queue_plan(queue, &dedup_claim_plan), args, NULL, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		ret = SPI_execute_plan(mq_queue_plan(queue, &dedup_get_plan), args, NULL, false, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		return id;
	}

	id = mq_send_message(queue, payload, headers_null, headers, vt, now, priority, group);
	args[2] = Int64GetDatum(id);
	ret = SPI_execute_plan(mq_queue_plan(queue, &dedup_set_plan), args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	return id;
}

/*
 * mq.send(queue_name text, payload jsonb, headers jsonb, delay interval,
 *		   dedup_key text, priority integer, group_id text) returns bigint
 */
Datum
mq_send(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Interval   *delay;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	bool		headers_null = PG_ARGISNULL(2);
	Datum		headers = headers_null ? (Datum) 0 : PG_GETARG_DATUM(2);
	text	   *key = NULL;
	MqContext	cx;
	MqQueue    *queue;
	int64		id;
	int			priority;
	Datum		group;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload of a message for queue \"%s\" must not be null", name)));
	delay = delay_arg(fcinfo, 3, name);
	vt = delay ? mq_add_interval(now, delay) : now;
	mq_check_payload_size(name, PG_GETARG_DATUM(1), headers_null, headers);
	mq_check_headers(name, headers_null, headers);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		key = mq_check_key(name, "dedup", PG_GETARG_DATUM(4));
	priority = priority_arg(fcinfo, 5, name);
	group = group_arg(fcinfo, 6, name);

	mq_enter(&cx);
	if (group != (Datum) 0)
		mq_lock_queue_groups(name, ShareLock);
	queue = mq_open_queue(&cx, name, MQ_PRIV_SEND, RowExclusiveLock);
	if (key != NULL)
		id = send_dedup(queue, key, PG_GETARG_DATUM(1), headers_null, headers, vt, now,
						priority, group);
	else
		id = mq_send_message(queue, PG_GETARG_DATUM(1), headers_null, headers, vt, now,
							 priority, group);
	mq_leave(&cx);
	PG_RETURN_INT64(id);
}

/*
 * mq.send_multi(queue_names text[], payload jsonb, headers jsonb, delay interval,
 *				  priority integer, group_id text)
 *		returns table (queue_name text, id bigint)
 *
 * The same message to several queues, all or nothing: every name is
 * validated and every queue looked up before the first insert, so an
 * unknown queue anywhere in the list sends nothing; a failure later (a
 * table dropped by hand) raises an error that undoes the statement.
 */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

Datum
mq_send_multi(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int			i;
	int			j;
	char	  **names;
	char	  **sorted;
	Interval   *delay;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	MqContext	cx;
	int			priority;
	Datum		group;

	InitMaterializedSRF(fcinfo, 0);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue names must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("queue names must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue names must not be empty")));

	names = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("queue name %d of the list must not be null", i + 1)));
		names[i] = TextDatumGetCString(elems[i]);
		mq_validate_name(names[i]);
	}

	/* A queue listed twice: sort a copy and compare neighbours (n log n). */
	sorted = palloc(sizeof(char *) * n);
	memcpy(sorted, names, sizeof(char *) * n);
	qsort(sorted, n, sizeof(char *), name_cmp);
	for (j = 1; j < n; j++)
		if (strcmp(sorted[j], sorted[j - 1]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("queue \"%s\" is listed more than once", sorted[j])));
	pfree(sorted);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload of a message for queue \"%s\" must not be null", names[0])));
	delay = delay_arg(fcinfo, 3, names[0]);
	vt = delay ? mq_add_interval(now, delay) : now;
	priority = priority_arg(fcinfo, 4, names[0]);
	group = group_arg(fcinfo, 5, names[0]);

	/*
	 * Everything that can be refused is refused before the first insert:
	 * sizes, then every queue opened (existence, shape, send privilege).
	 */
	mq_check_payload_size(names[0], PG_GETARG_DATUM(1), PG_ARGISNULL(2),
						  PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2));
	mq_check_headers(names[0], PG_ARGISNULL(2), PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2));
	mq_enter(&cx);
	for (i = 0; i < n; i++)
	{
		if (group != (Datum) 0)
			mq_lock_queue_groups(names[i], ShareLock);
		(void) mq_open_queue(&cx, names[i], MQ_PRIV_SEND, RowExclusiveLock);
	}

	for (i = 0; i < n; i++)
	{
		Datum		out[2];
		bool		outnulls[2] = {false, false};

		/* Opened again: an earlier queue's open may have reloaded entries. */
		MqQueue    *queue = mq_open_queue(&cx, names[i], MQ_PRIV_SEND, RowExclusiveLock);

		CHECK_FOR_INTERRUPTS();

		out[1] = Int64GetDatum(mq_send_message(queue, PG_GETARG_DATUM(1), PG_ARGISNULL(2),
											   PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2),
											   vt, now, priority, group));
		out[0] = CStringGetTextDatum(names[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
	}
	mq_leave(&cx);
	return (Datum) 0;
}

/*
 * init_id_srf
 *		Set up materialize mode for a function returning setof bigint.
 *		(InitMaterializedSRF wants a composite result type.)
 */
static void
init_id_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "id", INT8OID, -1, 0);
	rsinfo->setDesc = desc;
	rsinfo->setResult = tuplestore_begin_heap(false, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	MemoryContextSwitchTo(oldcontext);
}

/*
 * mq.send_batch(queue_name text, payloads jsonb[], headers jsonb, delay interval,
 *				 dedup_keys text[], priority integer, priorities integer[],
 *				 group_id text, group_ids text[])
 *		returns setof bigint, the new ids in input order
 *
 * priority is every message's; priorities (one per payload) gives each its
 * own, and then priority must be left at 0.  Likewise group_id and
 * group_ids (a null element: no group); the messages of a group keep the
 * batch's order.
 */
Datum
mq_send_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = mq_name_arg(fcinfo, 0);
	ArrayType  *payloads;
	Interval   *delay;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz vt;
	bool		headers_null = PG_ARGISNULL(2);
	Datum		headers = headers_null ? (Datum) 0 : PG_GETARG_DATUM(2);
	MqContext	cx;
	MqQueue    *queue;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	int			i;
	int64	   *ids;
	Datum	   *kelems = NULL;
	bool	   *knulls = NULL;
	int			priority;
	int		   *prios = NULL;
	Datum		group;
	Datum	   *groups = NULL;
	bool		mixed = false;	/* messages go to different groups */

	init_id_srf(fcinfo);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payloads of messages for queue \"%s\" must not be null", name)));
	payloads = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(payloads) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("payloads for queue \"%s\" must be a one-dimensional array", name)));
	delay = delay_arg(fcinfo, 3, name);
	vt = delay ? mq_add_interval(now, delay) : now;

	mq_check_headers(name, headers_null, headers);
	deconstruct_array(payloads, JSONBOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		if (i % 1000 == 999)
			CHECK_FOR_INTERRUPTS();
		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("payload %d of a batch for queue \"%s\" is null", i + 1, name)));
		mq_check_payload_size(name, elems[i], headers_null, headers);
	}

	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		ArrayType  *keys = PG_GETARG_ARRAYTYPE_P(4);
		int			nkeys;

		if (ARR_NDIM(keys) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("dedup keys for queue \"%s\" must be a one-dimensional array", name)));
		deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &kelems, &knulls, &nkeys);
		if (nkeys != nelems)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dedup keys for queue \"%s\" must match the payloads one to one", name),
					 errdetail("There are %d payloads and %d keys.", nelems, nkeys)));
		for (i = 0; i < nelems; i++)
			if (!knulls[i])
				(void) mq_check_key(name, "dedup", kelems[i]);
	}

	priority = priority_arg(fcinfo, 5, name);
	if (PG_NARGS() > 6 && !PG_ARGISNULL(6))
	{
		ArrayType  *parr = PG_GETARG_ARRAYTYPE_P(6);
		Datum	   *pelems;
		bool	   *pnulls;
		int			np;

		if (priority != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a batch for queue \"%s\" takes priority or priorities, not both", name)));
		if (ARR_NDIM(parr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("priorities for queue \"%s\" must be a one-dimensional array", name)));
		deconstruct_array(parr, INT4OID, 4, true, TYPALIGN_INT, &pelems, &pnulls, &np);
		if (np != nelems)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("priorities for queue \"%s\" must match the payloads one to one", name),
					 errdetail("There are %d payloads and %d priorities.", nelems, np)));
		prios = palloc(sizeof(int) * Max(np, 1));
		for (i = 0; i < np; i++)
		{
			if (pnulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("priority %d of a batch for queue \"%s\" is null", i + 1, name)));
			prios[i] = mq_check_priority(name, DatumGetInt32(pelems[i]));
		}
	}
	else if (priority != 0)
	{
		prios = palloc(sizeof(int) * Max(nelems, 1));
		for (i = 0; i < nelems; i++)
			prios[i] = priority;
	}

	group = group_arg(fcinfo, 7, name);
	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
	{
		ArrayType  *garr = PG_GETARG_ARRAYTYPE_P(8);
		Datum	   *gelems;
		bool	   *gnulls;
		int			ng;

		if (group != (Datum) 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a batch for queue \"%s\" takes group_id or group_ids, not both", name)));
		if (ARR_NDIM(garr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("group ids for queue \"%s\" must be a one-dimensional array", name)));
		deconstruct_array(garr, TEXTOID, -1, false, TYPALIGN_INT, &gelems, &gnulls, &ng);
		if (ng != nelems)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("group ids for queue \"%s\" must match the payloads one to one", name),
					 errdetail("There are %d payloads and %d group ids.", nelems, ng)));
		groups = palloc(sizeof(Datum) * Max(ng, 1));
		for (i = 0; i < ng; i++)
		{
			groups[i] = gnulls[i] ? (Datum) 0 : mq_check_group(name, gelems[i]);
			if (i > 0 && (groups[i] == (Datum) 0) != (groups[0] == (Datum) 0))
				mixed = true;
			else if (i > 0 && groups[i] != (Datum) 0 &&
					 !DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID,
														   groups[i], groups[0])))
				mixed = true;
		}
	}
	else if (group != (Datum) 0)
	{
		groups = palloc(sizeof(Datum) * Max(nelems, 1));
		for (i = 0; i < nelems; i++)
			groups[i] = group;
	}

	mq_enter(&cx);
	if (groups != NULL)
		mq_lock_queue_groups(name, ShareLock);
	queue = mq_open_queue(&cx, name, MQ_PRIV_SEND, RowExclusiveLock);
	if (nelems == 0)
	{
		mq_leave(&cx);
		return (Datum) 0;
	}

	ids = palloc(sizeof(int64) * nelems);
	if (kelems != NULL || mixed)
	{
		/*
		 * With dedup keys, one message at a time: each key is claimed
		 * before its message is written, and a key repeated inside the
		 * batch returns the id of its first message.  So too when the
		 * messages go to several groups (each to its group's partition).
		 */
		for (i = 0; i < nelems; i++)
		{
			int			p = prios ? prios[i] : 0;
			Datum		g = groups ? groups[i] : (Datum) 0;

			CHECK_FOR_INTERRUPTS();
			ids[i] = (kelems == NULL || knulls[i]) ?
				mq_send_message(queue, elems[i], headers_null, headers, vt, now, p, g) :
				send_dedup(queue, DatumGetTextPP(kelems[i]), elems[i],
						   headers_null, headers, vt, now, p, g);
		}
	}
	else
	{
		/* A batch goes to one partition (its group's, if any), in order. */
		if (groups != NULL && groups[0] != (Datum) 0)
		{
			queue = mq_group_partition(queue, groups[0]);
			lock_group(queue, groups[0]);
		}
		else
			queue = mq_send_partition(queue);
		mq_cursor_send_begin(queue);
		mq_direct_insert(queue, nelems, elems, headers_null, headers, vt, now, prios,
						 groups, ids);
		mq_cursor_send_done(queue, ids[0], nelems, vt, now, prios, ids);
	}
	mq_leave(&cx);

	for (i = 0; i < nelems; i++)
	{
		Datum		id = Int64GetDatum(ids[i]);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
	}
	return (Datum) 0;
}
