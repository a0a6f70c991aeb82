/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Queue lifecycle: mq.create_queue, mq.drop_queue, and the event trigger
 *	  that removes every queue's relations on DROP EXTENSION mq.
 *
 * A queue is a registry row in mq.queue (marked with
 * pg_extension_config_dump, so pg_dump carries it) plus two tables created
 * at run time in schema mq: mq.q_<name> (messages) and mq.a_<name>
 * (archive).  Those tables cannot be extension members -- membership would
 * keep pg_dump from dumping them, and pg_extension_config_dump works only
 * inside the extension script -- so they are ordinary tables that pg_dump
 * dumps with their rows and sequence positions, and the registry refers to
 * them by name, never by OID.  Because they are not members, DROP
 * EXTENSION would refuse to drop schema mq while they exist; the event
 * trigger mq._drop_extension fires at ddl_command_start of DROP EXTENSION
 * and drops them first.
 *
 * The message table layout is chosen for the read path (see read.c and
 * docs/architecture.md): the columns a read updates (vt, deliveries,
 * leased) are not indexed, and the fillfactor leaves room on each page,
 * so claiming a message is a HOT update; per-table autovacuum settings
 * keep up with queue churn.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "cursor.h"
#include "mq.h"
#include "wait.h"
#include "worker.h"

static void create_message_table(const char *kind, const char *name, int k, int partitions);
static void grow_partitions(MqQueue *queue, const char *name, int want);
static void record_partitions(const char *name, int n);

PG_FUNCTION_INFO_V1(mq_create_queue);
PG_FUNCTION_INFO_V1(mq_alter_queue);
PG_FUNCTION_INFO_V1(mq_drop_queue);
PG_FUNCTION_INFO_V1(mq_drop_extension_trigger);
PG_FUNCTION_INFO_V1(mq_adopt_queue);

/*
 * run_ddl
 *		Execute one utility statement built from quoted identifiers only.
 */
static void
run_ddl(const char *sql)
{
	int			ret = SPI_execute(sql, false, 0);

	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed for \"%s\": %s",
			 sql, SPI_result_code_string(ret));
}

/*
 * qualified
 *		Quoted mq.<prefix><name>.
 */
static const char *
qualified(const char *prefix, const char *name)
{
	return quote_qualified_identifier("mq", psprintf("%s%s", prefix, name));
}

/*
 * check_visibility_timeout
 *		A queue's visibility timeout must be given and positive.
 */
static Interval *
check_visibility_timeout(FunctionCallInfo fcinfo, int argno, const char *name)
{
	Interval   *vt;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("visibility timeout of queue \"%s\" must not be null", name)));
	vt = PG_GETARG_INTERVAL_P(argno);
	if (vt->month < 0 || vt->day < 0 || vt->time < 0 ||
		(vt->month == 0 && vt->day == 0 && vt->time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("visibility timeout of queue \"%s\" must be positive", name)));
	return vt;
}

/*
 * check_nonnegative
 *		A queue option interval that must be given and not negative.
 */
static Interval *
check_nonnegative(FunctionCallInfo fcinfo, int argno, const char *name, const char *what)
{
	Interval   *w;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s of queue \"%s\" must not be null", what, name)));
	w = PG_GETARG_INTERVAL_P(argno);
	if (w->month < 0 || w->day < 0 || w->time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s of queue \"%s\" must not be negative", what, name)));
	return w;
}

/*
 * dead_letter_args
 *		max_deliveries (argument argno) and dead_letter_queue (argno + 1) as
 *		registry values: NULL stays NULL (for alter_queue: unchanged); 0 and
 *		'' mean "remove it" (alter_queue turns them into NULL; create_queue
 *		stores NULL for them).  The dead-letter queue must exist, not be the
 *		queue itself, and every role in senders (the caller, and the queue's
 *		owner) must hold the send privilege on it: dead-lettering sends in
 *		the owner's name.  Caller is inside mq_enter.
 */
static void
dead_letter_args(MqContext *cx, FunctionCallInfo fcinfo, int argno, const char *name,
				 const Oid *senders, int nsenders, Datum *values, char *nulls)
{
	if (PG_ARGISNULL(argno))
		nulls[0] = 'n';
	else
	{
		int32		max = PG_GETARG_INT32(argno);

		if (max < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_deliveries of queue \"%s\" must not be negative", name),
					 errhint("0 means no limit.")));
		values[0] = Int32GetDatum(max);
	}
	if (PG_ARGISNULL(argno + 1))
		nulls[1] = 'n';
	else
	{
		char	   *dlq = text_to_cstring(PG_GETARG_TEXT_PP(argno + 1));

		if (dlq[0] != '\0')
		{
			MqQueue    *target;
			int			i;

			mq_validate_name(dlq);
			if (strcmp(dlq, name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("queue \"%s\" cannot be its own dead-letter queue", name)));
			target = mq_lookup_queue(dlq, true);
			if (target == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("dead-letter queue \"%s\" does not exist", dlq),
						 errhint("Create it with mq.create_queue first.")));
			target = mq_open_queue(cx, dlq, 0, AccessShareLock);
			for (i = 0; i < nsenders; i++)
				if (OidIsValid(senders[i]))
					mq_require(target, senders[i], MQ_PRIV_SEND);
		}
		values[1] = CStringGetTextDatum(dlq);
	}
}

/*
 * check_partitions
 *		A number of partitions: 1 to MQ_MAX_PARTITIONS (22023).
 */
static int
check_partitions(const char *name, int n)
{
	if (n < 1 || n > MQ_MAX_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions for queue \"%s\" must be between 1 and %d",
						name, MQ_MAX_PARTITIONS),
				 errdetail("The value given was %d.", n)));
	return n;
}

/*
 * check_dedup_window
 *		A queue's dedup window (zero: keys are not remembered).
 */
static Interval *
check_dedup_window(FunctionCallInfo fcinfo, int argno, const char *name)
{
	return check_nonnegative(fcinfo, argno, name, "dedup window");
}

/*
 * forget_keys
 *		Delete the dedup keys and processed keys kept under a queue's name:
 *		a new queue of that name starts clean.  Caller is connected to SPI.
 */
static void
forget_keys(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	static const char *const tables[] = {"dedup", "processed"};
	int			i;

	args[0] = CStringGetTextDatum(name);
	for (i = 0; i < lengthof(tables); i++)
	{
		Oid			relid = get_relname_relid(tables[i], mq_schema_oid());
		int			ret;

		/* Older versions lack the tables, or key processed by consumer. */
		if (!OidIsValid(relid) || get_attnum(relid, "queue_name") == InvalidAttrNumber)
			continue;
		ret = SPI_execute_with_args(psprintf("DELETE FROM mq.%s WHERE queue_name OPERATOR(pg_catalog.=) $1",
											 tables[i]),
									1, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}
}

/*
 * history_args
 *		The history options of mq.create_queue and mq.alter_queue,
 *		arguments argno (history boolean) and argno + 1 (history_retention
 *		interval, more than zero): set them in the registry row (NULL
 *		leaves one as it is), and make the history table when history is
 *		on.  Caller is connected to SPI.
 */
static void
history_args(FunctionCallInfo fcinfo, int argno, const char *name, bool unlogged)
{
	Oid			argtypes[3] = {TEXTOID, BOOLOID, INTERVALOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		isnull;
	int			ret;

	if (PG_NARGS() <= argno + 1 || (PG_ARGISNULL(argno) && PG_ARGISNULL(argno + 1)))
		return;
	args[0] = CStringGetTextDatum(name);
	args[1] = PG_ARGISNULL(argno) ? (Datum) 0 : PG_GETARG_DATUM(argno);
	nulls[1] = PG_ARGISNULL(argno) ? 'n' : ' ';
	args[2] = (Datum) 0;
	nulls[2] = 'n';
	if (!PG_ARGISNULL(argno + 1))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(argno + 1);

		mq_check_interval(name, "history retention", iv);
		if (iv->month == 0 && iv->day == 0 && iv->time == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("history retention for queue \"%s\" must be more than zero", name)));
		args[2] = IntervalPGetDatum(iv);
		nulls[2] = ' ';
	}
	ret = SPI_execute_with_args("UPDATE mq.queue SET history = COALESCE($2, history),"
								" history_retention = COALESCE($3, history_retention) "
								"WHERE queue_name OPERATOR(pg_catalog.=) $1 RETURNING history",
								3, argtypes, args, nulls, false, 1);
	if (ret != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		mq_history_create_table(name, unlogged);
}

/*
 * mq.create_queue(queue_name text, visibility_timeout interval,
 *				   unlogged boolean, notify boolean, dedup_window interval,
 *				   retry_delay interval, retry_delay_max interval,
 *				   max_deliveries integer, dead_letter_queue text)
 *
 * Needs the create privilege; the caller becomes the queue's owner.  The
 * tables belong to the owner of mq's objects (we run as it).  Older
 * versions declared fewer options (0.1.0: no notify; 0.2.0: no
 * dedup_window ...); PG_NARGS tells which registry columns exist.
 */
Datum
mq_create_queue(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Interval   *vt;
	bool		unlogged;
	bool		notify = false;
	Oid			argtypes[10] = {TEXTOID, INTERVALOID, BOOLOID, BOOLOID, INTERVALOID,
	INTERVALOID, INTERVALOID, INT4OID, TEXTOID, REGROLEOID};
	Datum		args[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int			nargs = PG_NARGS() > 7 ? 9 : PG_NARGS() > 5 ? 7 : PG_NARGS() > 4 ? 5 : PG_NARGS() > 3 ? 4 : 3;
	int			partitions = 1;
	int			k;
	static const char *const columns[] = {
		NULL, NULL, NULL,
		"queue_name, visibility_timeout, unlogged",
		"queue_name, visibility_timeout, unlogged, notify",
		"queue_name, visibility_timeout, unlogged, notify, dedup_window",
		NULL,
		"queue_name, visibility_timeout, unlogged, notify, dedup_window, retry_delay, retry_delay_max",
		NULL,
		"queue_name, visibility_timeout, unlogged, notify, dedup_window, retry_delay, retry_delay_max,"
		" max_deliveries, dead_letter_queue"
	};
	static const char *const params[] = {
		NULL, NULL, NULL, "$1, $2, $3", "$1, $2, $3, $4", "$1, $2, $3, $4, $5", NULL,
		"$1, $2, $3, $4, $5, $6, $7", NULL,
		"$1, $2, $3, $4, $5, $6, $7, $8, $9"
	};
	int			ret;
	const char *a;
	const char *kind;
	MqContext	cx;
	bool		model;

	vt = check_visibility_timeout(fcinfo, 1, name);
	unlogged = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	if (PG_NARGS() > 9 && !PG_ARGISNULL(9))
		partitions = check_partitions(name, PG_GETARG_INT32(9));
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		notify = PG_GETARG_BOOL(3);
	if (nargs > 4)
		args[4] = IntervalPGetDatum(check_dedup_window(fcinfo, 4, name));
	if (nargs > 5)
	{
		args[5] = IntervalPGetDatum(check_nonnegative(fcinfo, 5, name, "retry delay"));
		args[6] = IntervalPGetDatum(check_nonnegative(fcinfo, 6, name, "maximum retry delay"));
	}

	mq_enter(&cx);
	mq_require_create(cx.caller);
	model = mq_model_active();
	if (nargs > 7)
	{
		dead_letter_args(&cx, fcinfo, 7, name, &cx.caller, 1, &args[7], &nulls[7]);
		/* 0 and '' mean none. */
		if (nulls[7] == ' ' && DatumGetInt32(args[7]) == 0)
			nulls[7] = 'n';
		if (nulls[8] == ' ' && VARSIZE_ANY_EXHDR(DatumGetPointer(args[8])) == 0)
			nulls[8] = 'n';
	}

	SPI_connect();
	args[0] = CStringGetTextDatum(name);
	args[1] = IntervalPGetDatum(vt);
	args[2] = BoolGetDatum(unlogged);
	args[3] = BoolGetDatum(notify);
	args[nargs] = ObjectIdGetDatum(cx.caller);
	ret = SPI_execute_with_args(psprintf("INSERT INTO mq.queue (%s%s) VALUES (%s%s) "
										 "ON CONFLICT (queue_name) DO NOTHING RETURNING queue_name",
										 columns[nargs], model ? ", owner" : "",
										 params[nargs], model ? psprintf(", $%d", nargs + 1) : ""),
								nargs + (model ? 1 : 0), argtypes, args, nulls, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("queue \"%s\" already exists", name)));
	if (model)
	{
		Oid			t[1] = {TEXTOID};

		/*
		 * Nothing of an earlier queue of this name may pass to this one:
		 * keys, and grants (a grant that committed while that queue's drop
		 * ran under an older snapshot).
		 */
		forget_keys(name);
		ret = SPI_execute_with_args("DELETE FROM mq.privilege WHERE queue_name OPERATOR(pg_catalog.=) $1",
									1, t, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}

	a = qualified("a_", name);
	kind = unlogged ? "UNLOGGED " : "";

	if (partitions > 1)
		record_partitions(name, partitions);

	for (k = 0; k < partitions; k++)
		create_message_table(kind, name, k, partitions);
	run_ddl(psprintf("CREATE %sTABLE %s ("
					 " id bigint PRIMARY KEY,"
					 " payload jsonb NOT NULL,"
					 " headers jsonb,"
					 " enqueued_at timestamptz NOT NULL,"
					 " archived_at timestamptz NOT NULL,"
					 " deliveries integer NOT NULL,"
					 " last_error text)",
					 kind, a));
	history_args(fcinfo, 10, name, unlogged);

	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_VOID();
}

/*
 * create_message_table
 *		Create partition k's message table (mq.q_<name> for partition 0,
 *		mq.q<k>_<name> for others) with its id sequence.  In a queue of
 *		several partitions, partition k's ids run from k * 2^48 + 1 to
 *		(k + 1) * 2^48 - 1, so that an id names its partition.  Caller is
 *		connected to SPI.
 */
static void
create_message_table(const char *kind, const char *name, int k, int partitions)
{
	char		prefix[16];
	const char *q;
	Oid			relid;
	List	   *seqs;

	if (k == 0)
		strlcpy(prefix, "q_", sizeof(prefix));
	else
		snprintf(prefix, sizeof(prefix), "q%d_", k);
	q = qualified(prefix, name);
	run_ddl(psprintf("CREATE %sTABLE %s ("
					 " id bigserial PRIMARY KEY,"
					 " vt timestamptz NOT NULL,"
					 " deliveries integer NOT NULL DEFAULT 0,"
					 " leased boolean NOT NULL DEFAULT false,"
					 " enqueued_at timestamptz NOT NULL,"
					 " last_error text,"
					 " headers jsonb,"
					 " payload jsonb NOT NULL,"
					 " failures integer NOT NULL DEFAULT 0,"
					 " first_error text,"
					 " failed_at timestamptz,"
					 " priority integer NOT NULL DEFAULT 0,"
					 " group_id text"
					 ") WITH (fillfactor = 70,"
					 " autovacuum_vacuum_scale_factor = 0,"
					 " autovacuum_vacuum_threshold = 2000,"
					 " autovacuum_vacuum_insert_scale_factor = 0,"
					 " autovacuum_vacuum_insert_threshold = 20000,"
					 " autovacuum_vacuum_cost_delay = 0,"
					 " autovacuum_analyze_scale_factor = 0.02)",
					 kind, q));

	/*
	 * Messages of a priority above 0, by level and id: a claim descends
	 * into each level at the read position (read.c).  Partial, so that
	 * messages of priority 0 (most, and all on most queues) cost no second
	 * index entry.
	 */
	run_ddl(psprintf("CREATE INDEX %s ON %s (priority DESC, id)"
					 " WHERE priority OPERATOR(pg_catalog.<>) 0",
					 quote_identifier(psprintf("%s%s_priority", prefix, name)), q));

	/*
	 * Messages of a FIFO group, by group and id: whether an older message
	 * of its group is still there (read.c).  Partial: messages without a
	 * group cost no entry.
	 */
	run_ddl(psprintf("CREATE INDEX %s ON %s (group_id, id) WHERE group_id IS NOT NULL",
					 quote_identifier(psprintf("%s%s_group", prefix, name)), q));
	if (partitions == 1)
		return;

	/* The sequence bigserial made, whatever name it was given. */
	CommandCounterIncrement();
	relid = get_relname_relid(psprintf("%s%s", prefix, name), mq_schema_oid());
	seqs = getOwnedSequences(relid);
	if (list_length(seqs) != 1)
		elog(ERROR, "table %s has %d sequences", q, list_length(seqs));
	run_ddl(psprintf("ALTER SEQUENCE %s MINVALUE " INT64_FORMAT " MAXVALUE " INT64_FORMAT
					 " START " INT64_FORMAT " RESTART NO CYCLE",
					 quote_qualified_identifier("mq", get_rel_name(linitial_oid(seqs))),
					 ((int64) k << MQ_PART_SHIFT) + 1,
					 (((int64) k + 1) << MQ_PART_SHIFT) - 1,
					 ((int64) k << MQ_PART_SHIFT) + 1));
}

/*
 * mq.alter_queue(queue_name text, visibility_timeout interval, notify boolean,
 *				  dedup_window interval, retry_delay interval,
 *				  retry_delay_max interval, max_deliveries integer,
 *				  dead_letter_queue text, partitions integer)
 *		Change a queue's options (manage privilege); a NULL option stays
 *		as it is.
 */
Datum
mq_alter_queue(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	Oid			argtypes[8] = {TEXTOID, INTERVALOID, BOOLOID, INTERVALOID, INTERVALOID, INTERVALOID,
	INT4OID, TEXTOID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int			nargs = PG_NARGS() > 6 ? 8 : PG_NARGS() > 4 ? 6 : PG_NARGS() > 3 ? 4 : 3;
	int			i;
	int			ret;
	MqContext	cx;
	MqQueue    *queue;

	args[0] = CStringGetTextDatum(name);
	if (PG_ARGISNULL(1))
	{
		args[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	else
		args[1] = IntervalPGetDatum(check_visibility_timeout(fcinfo, 1, name));
	if (PG_ARGISNULL(2))
	{
		args[2] = (Datum) 0;
		nulls[2] = 'n';
	}
	else
		args[2] = BoolGetDatum(PG_GETARG_BOOL(2));
	for (i = 3; i < nargs && i < 6; i++)
	{
		static const char *const what[] = {NULL, NULL, NULL, "dedup window",
		"retry delay", "maximum retry delay"};

		if (PG_ARGISNULL(i))
		{
			args[i] = (Datum) 0;
			nulls[i] = 'n';
		}
		else
			args[i] = IntervalPGetDatum(check_nonnegative(fcinfo, i, name, what[i]));
	}

	mq_enter(&cx);
	queue = mq_open_queue(&cx, name, MQ_PRIV_MANAGE, AccessShareLock);
	if (nargs > 6)
	{
		Oid			senders[2];

		senders[0] = cx.caller;
		senders[1] = mq_model_active() ? queue->owner : InvalidOid;
		dead_letter_args(&cx, fcinfo, 6, name, senders, 2, &args[6], &nulls[6]);
	}
	SPI_connect();
	ret = SPI_execute_with_args(nargs > 6 ?
								"UPDATE mq.queue SET"
								" visibility_timeout = COALESCE($2, visibility_timeout),"
								" notify = COALESCE($3, notify),"
								" dedup_window = COALESCE($4, dedup_window),"
								" retry_delay = COALESCE($5, retry_delay),"
								" retry_delay_max = COALESCE($6, retry_delay_max),"
								" max_deliveries = CASE WHEN $7 IS NULL THEN max_deliveries"
								" WHEN $7 OPERATOR(pg_catalog.=) 0 THEN NULL ELSE $7 END,"
								" dead_letter_queue = CASE WHEN $8 IS NULL THEN dead_letter_queue"
								" WHEN $8 OPERATOR(pg_catalog.=) '' THEN NULL ELSE $8 END "
								"WHERE queue_name OPERATOR(pg_catalog.=) $1 RETURNING queue_name" :
								nargs > 4 ?
								"UPDATE mq.queue SET"
								" visibility_timeout = COALESCE($2, visibility_timeout),"
								" notify = COALESCE($3, notify),"
								" dedup_window = COALESCE($4, dedup_window),"
								" retry_delay = COALESCE($5, retry_delay),"
								" retry_delay_max = COALESCE($6, retry_delay_max) "
								"WHERE queue_name OPERATOR(pg_catalog.=) $1 RETURNING queue_name" :
								nargs > 3 ?
								"UPDATE mq.queue SET"
								" visibility_timeout = COALESCE($2, visibility_timeout),"
								" notify = COALESCE($3, notify),"
								" dedup_window = COALESCE($4, dedup_window) "
								"WHERE queue_name OPERATOR(pg_catalog.=) $1 RETURNING queue_name" :
								"UPDATE mq.queue SET"
								" visibility_timeout = COALESCE($2, visibility_timeout),"
								" notify = COALESCE($3, notify) "
								"WHERE queue_name OPERATOR(pg_catalog.=) $1 RETURNING queue_name",
								nargs, argtypes, args, nulls, false, 1);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name),
				 errhint("Create it with mq.create_queue.")));

	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
		grow_partitions(queue, name, PG_GETARG_INT32(8));
	history_args(fcinfo, 9, name, queue->unlogged);

	/* Every backend reloads its cached options at its next call. */
	CacheInvalidateRelcacheByRelid(mq_registry_relid());
	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_VOID();
}

/*
 * grow_partitions
 *		mq.alter_queue's partitions: add partitions up to want.  Fewer
 *		partitions than the queue has are refused (their messages would be
 *		stranded).  Messages already sent stay where they are (an id names
 *		its partition); sends and reads of each session use the new ones
 *		from its first call after the commit.  The registry row, locked by
 *		alter_queue's UPDATE, serialises concurrent alters.  Caller is
 *		connected to SPI.
 */
static void
grow_partitions(MqQueue *queue, const char *name, int want)
{
	Oid			t[2] = {TEXTOID, INT4OID};
	Datum		v[2];
	int			have;
	int			ret;
	int			k;
	bool		isnull;

	(void) check_partitions(name, want);

	/* What the registry says now: our UPDATE holds its row. */
	v[0] = CStringGetTextDatum(name);
	ret = SPI_execute_with_args("SELECT partitions FROM mq.queue WHERE queue_name OPERATOR(pg_catalog.=) $1",
								1, t, v, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	have = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (want < have)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue \"%s\" has %d partitions and cannot have fewer", name, have),
				 errdetail("Messages in the partitions that would go would be stranded."),
				 errhint("Create a new queue with fewer partitions and move the messages.")));
	if (want == have)
		return;

	/*
	 * A FIFO group's messages go to the partition of its hash mod the
	 * number of partitions: with more partitions, a group's new messages
	 * could land in another table than its older ones, and be delivered
	 * before them.  So no grouped message may be in the queue.  Grouped
	 * sends hold the queue's groups lock (send.c) until they end: taking
	 * it exclusively waits for those under way and keeps new ones out
	 * until we commit (readers and other sends go on); then each table is
	 * looked at with the latest snapshot.
	 */
	if (queue->ordering_cols)
	{
		SPIPlanPtr	plan;

		mq_lock_queue_groups(name, ExclusiveLock);
		for (k = 0; k < have && k < queue->nparts; k++)
		{
			MqQueue    *part = queue->parts[k];

			plan = SPI_prepare(psprintf("SELECT 1 FROM ONLY %s WHERE group_id IS NOT NULL LIMIT 1",
										quote_qualified_identifier("mq", part->table)),
							   0, NULL);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			ret = SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(), InvalidSnapshot,
									   true, false, 1);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(ret));
			if (SPI_processed > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("queue \"%s\" holds messages of FIFO groups and cannot gain partitions now", name),
						 errdetail("A group's messages are placed by its hash and the number of partitions; more partitions would move groups away from their older messages."),
						 errhint("Let the grouped messages be consumed, then add partitions.")));
			SPI_freeplan(plan);
		}
	}

	/* A queue of one partition gets partition 0's ids bounded first. */
	if (have == 1)
	{
		List	   *seqs = getOwnedSequences(queue->relid);

		if (list_length(seqs) != 1)
			elog(ERROR, "table mq.q_%s has %d sequences", name, list_length(seqs));
		run_ddl(psprintf("ALTER SEQUENCE %s MAXVALUE " INT64_FORMAT,
						 quote_qualified_identifier("mq", get_rel_name(linitial_oid(seqs))),
						 ((int64) 1 << MQ_PART_SHIFT) - 1));
	}
	for (k = have; k < want; k++)
		create_message_table(queue->unlogged ? "UNLOGGED " : "", name, k, want);
	record_partitions(name, want);
}

/*
 * record_partitions
 *		Set a queue's number of partitions in the registry.  Caller is
 *		connected to SPI.
 */
static void
record_partitions(const char *name, int n)
{
	Oid			t[2] = {TEXTOID, INT4OID};
	Datum		v[2];
	int			ret;

	v[0] = CStringGetTextDatum(name);
	v[1] = Int32GetDatum(n);
	ret = SPI_execute_with_args("UPDATE mq.queue SET partitions = $2 "
								"WHERE queue_name OPERATOR(pg_catalog.=) $1",
								2, t, v, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}

/*
 * drop_relation
 *		Drop mq.<prefix><name> if it exists, with the DROP its kind needs
 *		(an older version's queue table may have been replaced by hand),
 *		and whatever depends on it (a view someone made over a queue
 *		table: anyone may, and it must not keep the queue from going).
 */
static void
drop_relation(const char *prefix, const char *name)
{
	char	   *relname = psprintf("%s%s", prefix, name);
	Oid			relid = get_relname_relid(relname, mq_schema_oid());
	const char *what;

	if (!OidIsValid(relid))
		return;
	switch (get_rel_relkind(relid))
	{
		case RELKIND_VIEW:
			what = "VIEW";
			break;
		case RELKIND_MATVIEW:
			what = "MATERIALIZED VIEW";
			break;
		case RELKIND_FOREIGN_TABLE:
			what = "FOREIGN TABLE";
			break;
		case RELKIND_SEQUENCE:
			what = "SEQUENCE";
			break;
		case RELKIND_COMPOSITE_TYPE:
			what = "TYPE";
			break;
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			what = "INDEX";
			break;
		default:
			what = "TABLE";
			break;
	}
	run_ddl(psprintf("DROP %s IF EXISTS %s CASCADE", what, qualified(prefix, name)));
}

/*
 * drop_partitions
 *		Drop the message tables of a queue's partitions 1 and up, those
 *		there are.
 */
static void
drop_partitions(const char *name)
{
	int			k;

	for (k = 1; k < MQ_MAX_PARTITIONS; k++)
	{
		char		prefix[16];

		snprintf(prefix, sizeof(prefix), "q%d_", k);
		drop_relation(prefix, name);
	}
}

/*
 * mq.drop_queue(queue_name text, if_exists boolean) returns boolean
 *		Needs the manage privilege.  A queue whose tables are not as mq
 *		made them can be dropped (that is the remedy the error suggests).
 */
Datum
mq_drop_queue(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	bool		if_exists = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			ret;
	MqContext	cx;
	MqQueue    *queue;

	mq_enter(&cx);
	for (;;)
	{
		queue = mq_lookup_queue(name, true);
		if (queue == NULL)
		{
			mq_leave(&cx);
			if (if_exists)
			{
				ereport(NOTICE,
						(errmsg("queue \"%s\" does not exist, skipping", name)));
				PG_RETURN_BOOL(false);
			}
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("queue \"%s\" does not exist", name)));
		}
		mq_require(queue, cx.caller, MQ_PRIV_MANAGE);
		if (!OidIsValid(queue->relid))
			break;

		/*
		 * Running calls finish first; later ones wait, then find it gone.
		 * Waiting reads learn of the drop and end their wait.
		 */
		mq_wait_drop_begin(queue->relid);
		LockRelationOid(queue->relid, AccessExclusiveLock);
		if (queue->valid)
			break;
		UnlockRelationOid(queue->relid, AccessExclusiveLock);
	}

	SPI_connect();
	args[0] = CStringGetTextDatum(name);

	/* A queue other queues dead-letter into stays until they stop. */
	if (get_attnum(mq_registry_relid(), "dead_letter_queue") != InvalidAttrNumber)
	{
		ret = SPI_execute_with_args("SELECT queue_name FROM mq.queue WHERE dead_letter_queue OPERATOR(pg_catalog.=) $1 "
									"ORDER BY 1 LIMIT 1", 1, argtypes, args, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("queue \"%s\" is the dead-letter queue of queue \"%s\"", name,
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
					 errhint("Change that queue's dead_letter_queue with mq.alter_queue first.")));
	}

	ret = SPI_execute_with_args("DELETE FROM mq.queue WHERE queue_name OPERATOR(pg_catalog.=) $1 "
								"RETURNING queue_name",
								1, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));

	drop_relation("q_", name);
	drop_partitions(name);
	drop_relation("a_", name);
	drop_relation("h_", name);

	/* Its keys and grants go too; a new queue of that name starts clean. */
	if (OidIsValid(get_relname_relid("dedup", mq_schema_oid())))
	{
		ret = SPI_execute_with_args("DELETE FROM mq.dedup WHERE queue_name OPERATOR(pg_catalog.=) $1",
									1, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}
	if (mq_model_active())
	{
		forget_keys(name);
		ret = SPI_execute_with_args("DELETE FROM mq.privilege WHERE queue_name OPERATOR(pg_catalog.=) $1",
									1, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}

	/* Its shared read cursor is given back when this commits. */
	mq_cursor_forget_at_commit(name, false);

	/* Other backends drop their cached entry through the relcache callback. */
	CacheInvalidateRelcacheByRelid(mq_registry_relid());
	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_BOOL(true);
}

/*
 * mq._drop_extension() event trigger, ddl_command_start of DROP EXTENSION.
 *
 * If the command drops extension mq, take the registry's lock exclusively
 * (running mq calls finish first; calls that start meanwhile wait, then
 * find the extension gone), then drop every queue's relations so that the
 * extension's schema can go and nothing is left behind.
 */
Datum
mq_drop_extension_trigger(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	ListCell   *lc;
	bool		ours = false;
	uint64		i;
	int			ret;
	MqContext	cx;
	Oid			nsp;
	Oid			registry;
	Oid			extoid;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function must be called as an event trigger")));

	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		PG_RETURN_VOID();

	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "mq") == 0)
			ours = true;
	}
	if (!ours)
		PG_RETURN_VOID();

	/*
	 * Only for a caller that may drop the extension: PostgreSQL checks that
	 * after this trigger, and anyone else must not get to lock (or drop)
	 * anything here.
	 */
	extoid = get_extension_oid("mq", true);
	if (!OidIsValid(extoid) || !pg_extension_ownercheck(extoid, GetUserId()))
		PG_RETURN_VOID();

	nsp = get_namespace_oid("mq", true);
	registry = OidIsValid(nsp) ? get_relname_relid("queue", nsp) : InvalidOid;
	if (!OidIsValid(registry))
		PG_RETURN_VOID();

	/*
	 * Lock in the order calls do.  A query of a view (mq.queues,
	 * mq.privileges) locks the view when it is parsed, then the registry
	 * in the view's function; every other call locks the registry first.
	 * So: the views, then the registry (the drop would lock the views
	 * last, after waiting for the registry, and deadlock with a reader).
	 */
	{
		static const char *const views[] = {"queues", "privileges"};
		int			v;

		for (v = 0; v < lengthof(views); v++)
		{
			Oid			view = get_relname_relid(views[v], nsp);

			if (OidIsValid(view))
				LockRelationOid(view, AccessExclusiveLock);
		}
		/* Waiting reads end their wait rather than hold us up. */
		mq_wait_drop_begin(InvalidOid);
	}
	LockRelationOid(registry, AccessExclusiveLock);

	/* When the drop commits, this database's worker must leave. */
	mq_worker_recheck_at_commit();
	mq_cursor_forget_at_commit(NULL, true);

	mq_enter(&cx);
	SPI_connect();
	ret = SPI_execute("SELECT queue_name FROM mq.queue", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		SPITupleTable *tt = SPI_tuptable;
		uint64		n = SPI_processed;

		for (i = 0; i < n; i++)
		{
			char	   *name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);

			drop_relation("q_", name);
			drop_partitions(name);
			drop_relation("a_", name);
			drop_relation("h_", name);
		}
	}
	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_VOID();
}

/*
 * revoke_all_from_others
 *		Revoke every privilege (on the relation and its columns) that roles
 *		other than its owner hold on relation mq.<relname>.  Caller is
 *		connected to SPI.
 */
static void
revoke_all_from_others(Oid relid, const char *kind)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	SPITupleTable *tt;
	uint64		n;
	uint64		i;
	int			ret;

	ret = SPI_execute_with_args("SELECT DISTINCT x.grantee FROM ("
								"SELECT (pg_catalog.aclexplode(c.relacl)).grantee FROM pg_catalog.pg_class c"
								" WHERE c.oid OPERATOR(pg_catalog.=) $1"
								" UNION ALL SELECT (pg_catalog.aclexplode(a.attacl)).grantee"
								" FROM pg_catalog.pg_attribute a"
								" WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attacl IS NOT NULL) x,"
								" pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1"
								" AND x.grantee OPERATOR(pg_catalog.<>) c.relowner",
								1, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));

		/* REVOKE ALL on a relation takes its column privileges along. */
		run_ddl(psprintf("REVOKE ALL ON %s %s FROM %s", kind,
						 quote_qualified_identifier("mq", get_rel_name(relid)),
						 OidIsValid(grantee) ? quote_identifier(GetUserNameFromId(grantee, false)) : "PUBLIC"));
	}
}

/*
 * mq._adopt_queue(queue_name text) returns text
 *
 * Give a queue's tables (made by a version before 0.4.0, when their
 * creator owned them, or fixed by hand) to the owner of mq's objects, if
 * they are as mq made them; then nobody else keeps a privilege on them.
 * Both tables are locked ACCESS EXCLUSIVE before they are looked at, and
 * stay locked until commit, so nothing can be attached to them between
 * the look and the hand-over.  Returns NULL when adopted, else what is
 * wrong (and changes nothing).  Superusers only; ALTER EXTENSION UPDATE
 * calls it for every queue.
 */
Datum
mq_adopt_queue(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	MqContext	cx;
	MqQueue		q;
	char	   *problem;
	const char *owner;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	int			ret;
	List	   *seqs;
	ListCell   *lc;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to adopt queue \"%s\"", name),
				 errdetail("Only superusers may.")));
	mq_enter(&cx);
	if (!mq_model_active())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("queue privileges need extension mq 0.4.0 or later")));
	owner = quote_identifier(GetUserNameFromId(mq_owner(), false));

	SPI_connect();
	args[0] = CStringGetTextDatum(name);
	ret = SPI_execute_with_args("SELECT unlogged FROM mq.queue WHERE queue_name OPERATOR(pg_catalog.=) $1",
								1, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));
	memset(&q, 0, sizeof(q));
	strlcpy(q.name, name, NAMEDATALEN);
	q.unlogged = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/* Lock, then look: a relation renamed or replaced meanwhile is seen. */
	for (;;)
	{
		Oid			qrel = get_relname_relid(psprintf("q_%s", name), mq_schema_oid());
		Oid			arel = get_relname_relid(psprintf("a_%s", name), mq_schema_oid());

		if (OidIsValid(qrel))
			LockRelationOid(qrel, AccessExclusiveLock);
		if (OidIsValid(arel))
			LockRelationOid(arel, AccessExclusiveLock);
		q.relid = get_relname_relid(psprintf("q_%s", name), mq_schema_oid());
		q.archive_relid = get_relname_relid(psprintf("a_%s", name), mq_schema_oid());
		if (q.relid == qrel && q.archive_relid == arel)
			break;
	}
	if (!OidIsValid(q.relid) || !OidIsValid(q.archive_relid))
		problem = psprintf("Table mq.%s_%s is missing.", OidIsValid(q.relid) ? "a" : "q", name);
	else
		problem = mq_shape_problem(&q, InvalidOid);
	if (problem != NULL)
	{
		SPI_finish();
		mq_leave(&cx);
		PG_RETURN_TEXT_P(cstring_to_text(problem));
	}

	run_ddl(psprintf("ALTER TABLE %s OWNER TO %s", qualified("q_", name), owner));
	run_ddl(psprintf("ALTER TABLE %s OWNER TO %s", qualified("a_", name), owner));
	revoke_all_from_others(q.relid, "TABLE");
	revoke_all_from_others(q.archive_relid, "TABLE");
	seqs = getOwnedSequences(q.relid);
	foreach(lc, seqs)
		revoke_all_from_others(lfirst_oid(lc), "SEQUENCE");
	CacheInvalidateRelcacheByRelid(mq_registry_relid());
	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_NULL();
}
