/*-------------------------------------------------------------------------
 *
 * read.c
 *	  mq.read: claim up to qty visible messages, oldest first.
 *
 * A read needs the consume privilege.  It is one execution of a kept plan: pick the first qty messages by
 * id whose vt has passed, FOR UPDATE SKIP LOCKED, and in the same
 * statement set their lease (vt = now + visibility timeout), bump
 * deliveries and mark them leased.  Concurrent readers therefore never
 * receive the same message inside its lease, and a read that rolls back
 * leaves the messages as they were.
 *
 * What keeps reads fast is where the scan starts.  A queue's head is a
 * graveyard of acked rows; while any snapshot older than them is held,
 * vacuum cannot remove them, and a scan from the lowest id would walk
 * every one on every read.  The shared read cursor (cursor.c) remembers a
 * position below which no message can be visible unless an event it
 * recorded says so, and the scan starts there.  After claiming, a tracked
 * read summarises the id range it passed over (messages leased or delayed
 * in it, the first still-visible one) so the cursor can move forward
 * without losing any message that will become visible later.
 *
 * With `wait`, a read that claimed nothing joins the queue's waiters
 * (wait.c), reads once more, and sleeps on its latch until a wake-up or its
 * deadline; every wake-up repeats the claim with a fresh snapshot.
 *
 * The read path, step by step (docs/architecture.md, "Hot paths"):
 *
 * 1. Open: mq_open_queue (catalog.c) looks the queue up, locks its table,
 *    checks the tables' shape (shape.c) and the caller's consume privilege
 *    (acl.c).
 * 2. Start: mq_cursor_read_start (cursor.c) settles prepared transactions
 *    that have ended and says where the scan starts (the shared read
 *    position, or the head when the queue is untracked); the wake-ups that
 *    settling calls for are applied (events.c).  mq_cursor_touch notes the
 *    lowest id the claim may lock, so that a rollback brings reads back.
 * 3. Skip: mq_rollback_exclusions (rollback.c) lists the messages whose
 *    rolled-back deliveries the worker has yet to record.
 * 4. Claim: read_plan, one UPDATE over a FOR UPDATE SKIP LOCKED choice of
 *    the first qty visible ids from the start: it leases them, counts the
 *    delivery, and records a previous lease that expired as a failure.
 * 5. Sort out: a message past max_deliveries takes the way out
 *    (deadletter.c) instead of being returned; each returned one is noted
 *    for rollback.c (a rollback still counts the delivery), and the claim
 *    for cursor.c (at commit, the lease's end joins the future mark).
 * 6. Summarise: read_summary_plan over the range passed; the position
 *    moves forward (mq_cursor_read_finish), never past a message still
 *    visible, an uncommitted send or a rolled-back delivery waiting to be
 *    recorded; a due time earlier than the worker's wakes it (events.c).
 * 7. Wait: with `wait` and nothing claimed, steps 2 to 6 again after
 *    joining the waiters, and at every wake-up.
 *    On a partitioned queue steps 2 to 6 run per partition (read_some):
 *    from the session's partition on, while fewer than qty were claimed,
 *    passing over a partition whose cursor state shows nothing visible.
 * 8. End: at commit or abort, events.c hands the transaction's notes to
 *    rollback.c and cursor.c, then wakes whoever they asked for.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/read.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "cursor.h"
#include "events.h"
#include "mq.h"
#include "wait.h"
#include "worker.h"

/*
 * Columns of mq.read (0.3.0) a claim returns first; the claim's column
 * MQ_MESSAGE_NATTS + 1 says whether a lease expired, + 2 is the priority
 * and + 3 the FIFO group (0.5.0, mq.read's eighth and ninth columns).
 */
#define MQ_MESSAGE_NATTS 7

/* How often a waiter on a queue the cursor cannot track looks again. */
#define MQ_UNTRACKED_RECHECK_USECS USECS_PER_SEC

/*
 * How often any waiter looks whether a drop of its queue is under way (a
 * drop wakes the waiters, but one that registers as a waiter just after
 * that wake-up learns of the drop only here).
 */
#define MQ_LOCK_RECHECK_MS 1000

PG_FUNCTION_INFO_V1(mq_read);
PG_FUNCTION_INFO_V1(mq_pop);
PG_FUNCTION_INFO_V1(mq_peek);

/* Attributes of mq.peek's rows. */
#define MQ_PEEK_NATTS 11

static int	qty_arg(FunctionCallInfo fcinfo, int argno, const char *name);

/* One claimed row, for sorting into delivery order. */
typedef struct ClaimedRow
{
	int64		id;
	int			priority;
	int			index;
	HeapTuple	tup;			/* its row, in the claim's SPI result */
} ClaimedRow;

/* Delivery order: the highest priority first, then by id. */
static int
claimed_cmp(const void *a, const void *b)
{
	const ClaimedRow *x = (const ClaimedRow *) a;
	const ClaimedRow *y = (const ClaimedRow *) b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/*
 * What a filtered read asks for (mq.read's filter and payload_filter):
 * messages whose headers contain one and whose payload contains the
 * other; a null one asks nothing.
 */
typedef struct MqReadFilter
{
	bool		on;				/* either is given */
	bool		headers_null;
	Datum		headers;
	bool		payload_null;
	Datum		payload;
	char	   *key;			/* both, as text: the filter's identity */
} MqReadFilter;

/*
 * A filtered read passes the messages it does not take, so it never moves
 * the queue's shared read position; with nobody else moving it, every
 * filtered read would walk again all it walked before.  So each backend
 * keeps, for the last few (partition, filter) pairs it read, a position
 * of its own: no message matching the filter is visible below it, unless
 * an event lowered the shared cursor since (its generation changed: then
 * the position is dropped).  It moves the way pos moves, capped by the
 * same send slots and ring (mq_cursor_own_finish), after a summary of the
 * matching messages it passed; a FIFO group's visible message stops it.
 */
#define MQ_OWN_POSITIONS 8

typedef struct MqOwnPosition
{
	Oid			relid;			/* the partition's table; InvalidOid: free */
	char	   *key;			/* MqReadFilter.key, in TopMemoryContext */
	uint64		gen;			/* the cursor's generation it holds for */
	int64		pos;
} MqOwnPosition;

static MqOwnPosition own_positions[MQ_OWN_POSITIONS];
static int	own_next = 0;

/* Our position for this partition and filter, or NULL. */
static MqOwnPosition *
own_position(MqQueue *part, const MqReadFilter *filter, bool create)
{
	MqOwnPosition *p;
	int			i;

	for (i = 0; i < MQ_OWN_POSITIONS; i++)
	{
		p = &own_positions[i];
		if (p->relid == part->relid && p->key != NULL && strcmp(p->key, filter->key) == 0)
			return p;
	}
	if (!create)
		return NULL;
	p = &own_positions[own_next];
	own_next = (own_next + 1) % MQ_OWN_POSITIONS;
	if (p->key != NULL)
		pfree(p->key);
	p->relid = part->relid;
	p->key = MemoryContextStrdup(TopMemoryContext, filter->key);
	p->gen = 0;
	p->pos = 0;
	return p;
}

/*
 * The lowest id of a visible message of a FIFO group that waits for an
 * older message of its group (vt at or before parameter now; the group
 * probe from parameter floor, as the claim's): a message the read could
 * not take, and that becomes takeable when that older one leaves, an event
 * the cursor does not see.  A group's head that is visible but was not
 * taken is locked by another reader's claim (the summary sees the claim's
 * snapshot): that claim reports at its commit or abort, as any does.
 */
static char *
blocked_min(const char *q, const char *now, const char *floor)
{
	return psprintf("pg_catalog.min(m.id) FILTER (WHERE m.vt OPERATOR(pg_catalog.<=) %s"
					" AND m.group_id IS NOT NULL AND (SELECT o.id FROM ONLY %s o"
					" WHERE o.group_id OPERATOR(pg_catalog.=) m.group_id"
					" AND o.id OPERATOR(pg_catalog.>=) %s"
					" AND o.id OPERATOR(pg_catalog.<) m.id LIMIT 1) IS NOT NULL)",
					now, q, floor);
}

/* Not one of the ids in array parameter p (null: none). */
#define MQ_NOT_OWN(p) " AND (" p " IS NULL OR id OPERATOR(pg_catalog.<>) ALL (" p "))"

static char *
read_summary_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	*nargs = 5;
	types[0] = INT8OID;
	types[1] = INT8OID;
	types[2] = TIMESTAMPTZOID;
	types[3] = INT8ARRAYOID;
	types[4] = INT8OID;
	/*
	 * $4: the read's own claims, left out of the future (cursor.c keeps
	 * them in the floor until the transaction ends).  Fifth: the lowest
	 * message of a FIFO group still visible (waiting).
	 */
	return psprintf("SELECT pg_catalog.min(id) FILTER (WHERE vt OPERATOR(pg_catalog.>) $3" MQ_NOT_OWN("$4") "),"
					" pg_catalog.min(vt) FILTER (WHERE vt OPERATOR(pg_catalog.>) $3" MQ_NOT_OWN("$4") "),"
					" pg_catalog.min(id) FILTER (WHERE vt OPERATOR(pg_catalog.<=) $3),"
					" pg_catalog.max(id), %s "
					"FROM ONLY %s m WHERE id OPERATOR(pg_catalog.>=) $1 AND id OPERATOR(pg_catalog.<) $2",
					(cols & MQ_COLS_ORDERING) ? blocked_min(q, "$3", "$5") : "NULL::pg_catalog.int8",
					q);
}

static char *
first_visible_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/* The lowest id from $1 visible at $2 (after a claim by priority). */
	*nargs = 2;
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	return psprintf("SELECT id FROM ONLY %s WHERE id OPERATOR(pg_catalog.>=) $1"
					" AND vt OPERATOR(pg_catalog.<=) $2 ORDER BY id LIMIT 1", q);
}

static const MqPlanDef first_visible_plan = {MQ_PLAN_FIRST_VISIBLE, first_visible_sql};

static const MqPlanDef read_summary_plan = {MQ_PLAN_READ_SUMMARY, read_summary_sql};

/*
 * summarise
 *		After a tracked read, look at ids [from, hi): the earliest future vt
 *		(and lowest id having one), and the lowest id still visible but not
 *		ours (locked by another reader, or committed after our scan began).
 *		Report the position the cursor may move to.
 *
 *		by_id: the claim took messages in id order (all of priority 0).
 *		A full claim that took messages of a higher priority may have
 *		passed older messages of lower ones, still visible: then the range
 *		summarised ends at the first message still visible from the
 *		position (first_visible_plan), as for a claim that reached the end
 *		of the queue.
 */
static void
summarise(MqQueue *queue, MqReadScan *scan, TimestampTz now,
		  uint64 nclaimed, int qty, int64 max_claimed, int64 skip_min, bool by_id,
		  Datum claims)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int			ret;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		fut_id_null,
				fut_at_null,
				vis_null,
				max_null,
				grp_null;
	int64		fut_id,
				vis_id,
				max_id,
				grp_id;
	TimestampTz fut_at;
	int64		newpos;
	int64		hi;
	bool		full = (nclaimed == (uint64) qty);

	hi = full ? max_claimed + 1 : PG_INT64_MAX;
	if (full && !by_id)
	{
		bool		isnull;

		values[0] = Int64GetDatum(scan->from);
		values[1] = TimestampTzGetDatum(now);
		ret = SPI_execute_snapshot(mq_queue_plan(queue, &first_visible_plan), values, NULL,
								   scan->snap, InvalidSnapshot, false, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		hi = SPI_processed == 0 ? PG_INT64_MAX :
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freetuptable(SPI_tuptable);
		full = false;
	}

	values[0] = Int64GetDatum(scan->from);
	values[1] = Int64GetDatum(hi);
	values[2] = TimestampTzGetDatum(now);
	values[3] = claims;
	nulls[3] = claims == (Datum) 0 ? 'n' : ' ';
	values[4] = Int64GetDatum(scan->floor);
	/*
	 * The claim's snapshot, not read-only: the command counter advances,
	 * so the summary sees our own claim (future vt), and other
	 * transactions as the claim saw them (what committed since is in the
	 * commit ring, which caps the new position).
	 */
	ret = SPI_execute_snapshot(mq_queue_plan(queue, &read_summary_plan), values, nulls,
							   scan->snap, InvalidSnapshot, false, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	fut_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &fut_id_null));
	fut_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &fut_at_null));
	vis_id = DatumGetInt64(SPI_getbinval(tup, desc, 3, &vis_null));
	max_id = DatumGetInt64(SPI_getbinval(tup, desc, 4, &max_null));
	grp_id = DatumGetInt64(SPI_getbinval(tup, desc, 5, &grp_null));

	/*
	 * A full read may pass rows other readers hold locked: their claims
	 * report at commit or abort (cursor.c, step 4), and sends committed
	 * meanwhile are caught by the slots and the ring (step 3).  A read that
	 * reached the end of the queue stays behind the first row still visible
	 * to its fresh snapshot, as an extra guard at the queue's tail where
	 * the scan and the summary saw different tails.
	 */
	if (full)
	{
		newpos = max_claimed + 1;

		/*
		 * A message of a FIFO group that is visible but was not claimed
		 * waits for an older one of its group (or another reader holds
		 * it): when that one is acked it becomes deliverable without any
		 * event the cursor sees, so the position stays at it.
		 */
		if (!grp_null && grp_id < newpos)
			newpos = grp_id;
	}
	else
	{
		newpos = max_null ? scan->from : max_id + 1;
		if (!vis_null && vis_id < newpos)
			newpos = vis_id;
	}

	/*
	 * Messages we skipped because their rolled-back deliveries were not
	 * recorded yet are visible, and the worker's recording may already
	 * have lowered pos to them: passing them would hide them for good.
	 */
	if (newpos > skip_min)
		newpos = Max(skip_min, scan->from);

	SPI_freetuptable(SPI_tuptable);
	mq_cursor_read_finish(queue, scan, newpos, !fut_id_null && !fut_at_null,
						  fut_id, fut_at);
}

static char *
level_summary_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * After a claim by priority: over priority $1's ids [$2, $3), the
	 * lowest id and earliest vt of messages not visible at $4, and the
	 * lowest visible one of a FIFO group (it may wait for its group).
	 */
	*nargs = 5;
	types[0] = INT4OID;
	types[1] = INT8OID;
	types[2] = INT8OID;
	types[3] = TIMESTAMPTZOID;
	types[4] = INT8ARRAYOID;	/* the read's own claims, as for the summary */
	return psprintf("SELECT pg_catalog.min(id) FILTER (WHERE vt OPERATOR(pg_catalog.>) $4" MQ_NOT_OWN("$5") "),"
					" pg_catalog.min(vt) FILTER (WHERE vt OPERATOR(pg_catalog.>) $4" MQ_NOT_OWN("$5") "),"
					" pg_catalog.min(id) FILTER (WHERE vt OPERATOR(pg_catalog.<=) $4"
					" AND group_id IS NOT NULL) "
					"FROM ONLY %s WHERE priority OPERATOR(pg_catalog.<>) 0"
					" AND priority OPERATOR(pg_catalog.=) $1"
					" AND id OPERATOR(pg_catalog.>=) $2 AND id OPERATOR(pg_catalog.<) $3", q);
}

static const MqPlanDef level_summary_plan = {MQ_PLAN_LEVEL_SUMMARY, level_summary_sql};

/*
 * summarise_level
 *		After a claim that took messages of priority level (1 to
 *		MQ_MAX_PRIORITY) up to newpos - 1: the level's own position may move
 *		there (cursor.c), past the messages it took and the others of the
 *		level it passed, whose future due times join the future mark.
 *		Rows of the level other readers hold locked are passed as a full
 *		read passes them (their claims report at commit or abort).  Also
 *		used for a level the claim found nothing to take in, which had a
 *		position once and lost it to a lowering: newpos is then past the
 *		last message the claim took of any level, and the level's dead
 *		entries are walked once more, not by every read.
 */
static void
summarise_level(MqQueue *queue, MqReadScan *scan, TimestampTz now, int level,
				int64 newpos, int64 skip_min, Datum claims)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int			ret;
	bool		id_null,
				at_null,
				grp_null;
	int64		fut_id,
				grp_id;
	TimestampTz fut_at;
	int64		from = scan->lvl_from[level] > scan->from ? scan->lvl_from[level] : scan->from;

	/* Messages skipped for their rolled-back deliveries: not past them. */
	if (newpos > skip_min)
		newpos = Max(skip_min, from);
	if (newpos <= from)
		return;
	values[0] = Int32GetDatum(level);
	values[1] = Int64GetDatum(from);
	values[2] = Int64GetDatum(newpos);
	values[3] = TimestampTzGetDatum(now);
	values[4] = claims;
	nulls[4] = claims == (Datum) 0 ? 'n' : ' ';
	ret = SPI_execute_snapshot(mq_queue_plan(queue, &level_summary_plan), values, nulls,
							   scan->snap, InvalidSnapshot, false, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	fut_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &id_null));
	fut_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &at_null));
	grp_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &grp_null));
	SPI_freetuptable(SPI_tuptable);

	/* A visible message of a FIFO group waits for its group: not past it. */
	if (!grp_null && grp_id < newpos)
		newpos = grp_id;
	if (newpos <= from)
		return;
	mq_cursor_level_finish(queue, scan, level, newpos, !id_null && !at_null, fut_id, fut_at);
}

static char *
filter_summary_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * After a full filtered claim, over ids [$1, $2) of the messages that
	 * match ($4, $5 as the claim's $7, $8): the lowest id and earliest vt
	 * of those not visible at $3, and the lowest visible one of a FIFO
	 * group (it may wait for an older message of its group).
	 */
	*nargs = 6;
	types[0] = INT8OID;
	types[1] = INT8OID;
	types[2] = TIMESTAMPTZOID;
	types[3] = JSONBOID;
	types[4] = JSONBOID;
	types[5] = INT8ARRAYOID;	/* the read's own claims, as for the summary */
	return psprintf("SELECT pg_catalog.min(id) FILTER (WHERE vt OPERATOR(pg_catalog.>) $3" MQ_NOT_OWN("$6") "),"
					" pg_catalog.min(vt) FILTER (WHERE vt OPERATOR(pg_catalog.>) $3" MQ_NOT_OWN("$6") "), %s "
					"FROM ONLY %s WHERE id OPERATOR(pg_catalog.>=) $1 AND id OPERATOR(pg_catalog.<) $2"
					" AND COALESCE(headers OPERATOR(pg_catalog.@>) $4, $4 IS NULL)"
					" AND COALESCE(payload OPERATOR(pg_catalog.@>) $5, $5 IS NULL)",
					(cols & MQ_COLS_ORDERING) ?
					"pg_catalog.min(id) FILTER (WHERE vt OPERATOR(pg_catalog.<=) $3"
					" AND group_id IS NOT NULL)" : "NULL::pg_catalog.int8",
					q);
}

static const MqPlanDef filter_summary_plan = {MQ_PLAN_FILTER_SUMMARY, filter_summary_sql};

/*
 * summarise_filtered
 *		After a full filtered claim of messages of priority 0 (so the
 *		first matching ones from own_from, by id): keep our own position
 *		just past the last one taken, capped at a visible message of a
 *		FIFO group among those passed and at a message skipped for its
 *		rolled-back delivery.
 */
static void
summarise_filtered(MqQueue *queue, MqReadScan *scan, const MqReadFilter *filter,
				   int64 own_from, TimestampTz now, int64 max_claimed, int64 skip_min,
				   Datum claims)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			ret;
	bool		id_null,
				at_null,
				grp_null;
	int64		fut_id,
				grp_id;
	TimestampTz fut_at;
	int64		newpos = max_claimed + 1;
	MqOwnPosition *own;

	values[0] = Int64GetDatum(own_from);
	values[1] = Int64GetDatum(newpos);
	values[2] = TimestampTzGetDatum(now);
	values[3] = filter->headers;
	nulls[3] = filter->headers_null ? 'n' : ' ';
	values[4] = filter->payload;
	nulls[4] = filter->payload_null ? 'n' : ' ';
	values[5] = claims;
	nulls[5] = claims == (Datum) 0 ? 'n' : ' ';
	ret = SPI_execute_snapshot(mq_queue_plan(queue, &filter_summary_plan), values, nulls,
							   scan->snap, InvalidSnapshot, false, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	fut_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &id_null));
	fut_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &at_null));
	grp_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &grp_null));
	SPI_freetuptable(SPI_tuptable);

	if (!grp_null && grp_id < newpos)
		newpos = grp_id;
	if (newpos > skip_min)
		newpos = Max(skip_min, own_from);
	if (!mq_cursor_own_finish(queue, scan, own_from, &newpos, !id_null && !at_null, fut_id, fut_at))
		return;
	if (newpos <= scan->from)
		return;
	own = own_position(queue, filter, true);
	own->gen = scan->gen;
	own->pos = newpos;
}

/*
 * claim_sql
 *		The choice of a claim: ids (and whether each was leased) of up to
 *		$3 visible messages from $1 (now $2), skipping the ids in $5, FOR
 *		UPDATE SKIP LOCKED, in the order reads deliver them.  Without a
 *		priority column, that is id order.  With one, the messages of
 *		priority 1 to MQ_MAX_PRIORITY come first, highest first, through
 *		the partial index on (priority DESC, id): one index descent per
 *		level, each starting at $1, so every level's scan begins at the
 *		read position as a plain scan does; then priority 0 by id, through
 *		the primary key.  filter: more conditions; extra: more columns to
 *		select.
 */
static char *
claim_sql(const char *q, int cols, const char *filter, const char *extra)
{
	const char *common;
	StringInfoData sql;
	int			l;

	if (!(cols & MQ_COLS_ORDERING))
		return psprintf("SELECT id%s FROM ONLY %s WHERE"
						" id OPERATOR(pg_catalog.>=) $1 AND vt OPERATOR(pg_catalog.<=) $2"
						" AND ($5 IS NULL OR id OPERATOR(pg_catalog.<>) ALL ($5))%s"
						" ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED",
						extra, q, filter);

	/*
	 * A message of a FIFO group is the group's head, or it waits: no older
	 * message of its group may be left in the table (visible, leased,
	 * delayed, or being acked by a transaction still open).  A scalar
	 * subquery with LIMIT, so that the planner never turns it into a join
	 * over the whole table: one probe of the group index per candidate,
	 * from $9, the lowest id a message in the queue may have (cursor.c):
	 * under a held xmin the group's acked messages below it stay in the
	 * index, and the probe would walk them all.
	 */
	common = psprintf(" AND m.vt OPERATOR(pg_catalog.<=) $2"
					  " AND ($5 IS NULL OR m.id OPERATOR(pg_catalog.<>) ALL ($5))%s"
					  " AND (m.group_id IS NULL OR (SELECT o.id FROM ONLY %s o"
					  " WHERE o.group_id OPERATOR(pg_catalog.=) m.group_id"
					  " AND o.id OPERATOR(pg_catalog.>=) $9"
					  " AND o.id OPERATOR(pg_catalog.<) m.id LIMIT 1) IS NULL)",
					  filter, q);

	/*
	 * One level above 0 ($10), from its start ($1), through the priority
	 * index: the first try of a read whose highest level may hold a
	 * message (read_once).
	 */
	if (cols & MQ_COLS_ONE_LEVEL)
		return psprintf("SELECT m.id%s FROM ONLY %s m"
						" WHERE m.priority OPERATOR(pg_catalog.<>) 0 AND m.priority OPERATOR(pg_catalog.=) $10"
						" AND m.id OPERATOR(pg_catalog.>=) $1%s"
						" ORDER BY m.id LIMIT $3 FOR UPDATE OF m SKIP LOCKED",
						extra, q, common);

	/* No message of a priority above 0 was ever sent: by id alone. */
	if (cols & MQ_COLS_NO_LEVELS)
		return psprintf("SELECT m.id%s FROM ONLY %s m WHERE m.id OPERATOR(pg_catalog.>=) $1%s"
						" ORDER BY m.id LIMIT $3 FOR UPDATE OF m SKIP LOCKED",
						extra, q, common);

	/*
	 * One branch per level, highest first, each through the priority
	 * index from its level's own start ($6[level], see cursor.c), then
	 * priority 0 from $1 through the primary key; the Append stops at qty.
	 */
	initStringInfo(&sql);
	for (l = MQ_MAX_PRIORITY; l >= 1; l--)
		appendStringInfo(&sql,
						 "SELECT id%s FROM (SELECT m.id%s FROM ONLY %s m"
						 " WHERE m.priority OPERATOR(pg_catalog.<>) 0 AND m.priority OPERATOR(pg_catalog.=) %d"
						 " AND m.id OPERATOR(pg_catalog.>=) ($6)[%d]%s"
						 " ORDER BY m.id LIMIT $3 FOR UPDATE OF m SKIP LOCKED) l%d UNION ALL ",
						 extra, extra, q, l, l, common, l);
	appendStringInfo(&sql,
					 "SELECT id%s FROM (SELECT m.id%s FROM ONLY %s m"
					 " WHERE m.priority OPERATOR(pg_catalog.=) 0 AND m.id OPERATOR(pg_catalog.>=) $1%s"
					 " ORDER BY m.id LIMIT $3 FOR UPDATE OF m SKIP LOCKED) l0 LIMIT $3",
					 extra, extra, q, common);
	return sql.data;
}

/*
 * read_sql_for
 *		The claim of mq.read: lease what claim_sql chooses.
 */
static char *
read_sql_for(const char *q, int cols, bool filtered, int *nargs, Oid *types)
{
	const char *filter;

	*nargs = (cols & MQ_COLS_ONE_LEVEL) ? 10 : 9;
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	types[2] = INT4OID;
	types[3] = TIMESTAMPTZOID;
	types[4] = INT8ARRAYOID;
	types[5] = INT8ARRAYOID;
	types[6] = JSONBOID;
	types[7] = JSONBOID;
	types[8] = INT8OID;
	types[9] = INT4OID;			/* the level of a one-level claim */

	/*
	 * A filtered read ($7 on the headers, $8 on the payload, either
	 * null) takes only the messages that contain them.  Written with
	 * COALESCE, which the planner does not take for a selective condition:
	 * as "$6 IS NULL OR headers @> $6" it estimated few matching rows and
	 * chose a bitmap scan of every id from the position, then a sort.
	 */
	filter = filtered ?
		" AND COALESCE(headers OPERATOR(pg_catalog.@>) $7, $7 IS NULL)"
		" AND COALESCE(payload OPERATOR(pg_catalog.@>) $8, $8 IS NULL)" : "";

	/*
	 * The claim is an InitPlan feeding "id = ANY(array)": an index
	 * scan whatever the generic plan's row estimate for LIMIT $3 (a
	 * join here became a hash join over the whole table).
	 *
	 * A message still marked leased was neither acked nor nacked: its
	 * lease expired.  That is a failed delivery: note it as the last
	 * error, count it, and date it at the lease's end (old values on
	 * the right of SET).  The last column tells the caller which
	 * claimed messages these were; the claim locked the rows, so the
	 * "leased" it saw is the row the UPDATE changes.
	 *
	 * $5: ids to skip, messages whose rolled-back deliveries are not
	 * recorded yet (rollback.c); usually null.  $6: where each priority
	 * level's scan starts (claim_sql).
	 */
	if (!(cols & MQ_COLS_FAILURES))
		return psprintf("UPDATE ONLY %s SET vt = $4, deliveries = deliveries OPERATOR(pg_catalog.+) 1,"
						" leased = true,"
						" last_error = CASE WHEN leased THEN " MQ_EXPIRED_NOTE " ELSE last_error END "
						"WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY(%s)) "
						"RETURNING id, payload, headers, enqueued_at, vt, deliveries, last_error, false",
						q, claim_sql(q, cols, filter, ""));
	return psprintf("WITH c AS MATERIALIZED (%s) "
					"UPDATE ONLY %s SET vt = $4, deliveries = deliveries OPERATOR(pg_catalog.+) 1,"
					" leased = true,"
					" last_error = CASE WHEN leased THEN " MQ_EXPIRED_NOTE " ELSE last_error END,"
					" failures = CASE WHEN leased THEN failures OPERATOR(pg_catalog.+) 1 ELSE failures END,"
					" first_error = CASE WHEN leased THEN COALESCE(first_error, " MQ_EXPIRED_NOTE ")"
					" ELSE first_error END,"
					" failed_at = CASE WHEN leased THEN vt ELSE failed_at END "
					"WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT id FROM c)) "
					"RETURNING id, payload, headers, enqueued_at, vt, deliveries, last_error,"
					" id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT id FROM c WHERE leased))%s",
					claim_sql(q, cols, filter, ", leased"), q,
					(cols & MQ_COLS_ORDERING) ? ", priority, group_id" : "");
}

static char *
read_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	return read_sql_for(q, cols, false, nargs, types);
}

static char *
read_filtered_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	return read_sql_for(q, cols, true, nargs, types);
}


static const MqPlanDef read_filtered_plan = {MQ_PLAN_READ_FILTERED, read_filtered_sql};

static const MqPlanDef read_filtered_no_levels_plan =
{MQ_PLAN_READ_FILTERED_NO_LEVELS, read_filtered_sql, MQ_COLS_NO_LEVELS};

static char *
pop_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * mq.pop: the claim of read_plan ($1, $2, $3, $5 alike),
	 * deleting instead of leasing; messages with no delivery left
	 * ($4: max_deliveries, 0 for none) are not taken.
	 */
	*nargs = 9;
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	types[2] = INT4OID;
	types[3] = INT4OID;
	types[4] = INT8ARRAYOID;
	types[5] = INT8ARRAYOID;
	types[6] = JSONBOID;		/* $6 to $8 as for mq.read: */
	types[7] = JSONBOID;		/* unused here */
	types[8] = INT8OID;
	return psprintf("DELETE FROM ONLY %s WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY(%s)) "
					"RETURNING id, payload, headers, enqueued_at, vt,"
					" deliveries OPERATOR(pg_catalog.+) 1, last_error, false%s",
					q, claim_sql(q, cols,
								 " AND ($4 OPERATOR(pg_catalog.=) 0"
								 " OR deliveries OPERATOR(pg_catalog.<) $4)", ""),
					(cols & MQ_COLS_ORDERING) ? ", priority, group_id" : "");
}

static const MqPlanDef pop_plan = {MQ_PLAN_POP, pop_sql};

static const MqPlanDef read_plan = {MQ_PLAN_READ, read_sql};

/* The same, for a partition whose priority index never held an entry. */
static const MqPlanDef pop_no_levels_plan = {MQ_PLAN_POP_NO_LEVELS, pop_sql, MQ_COLS_NO_LEVELS};

static const MqPlanDef read_no_levels_plan = {MQ_PLAN_READ_NO_LEVELS, read_sql, MQ_COLS_NO_LEVELS};

/* One level above 0: the first try of a read by priority. */
static const MqPlanDef read_level_plan = {MQ_PLAN_READ_LEVEL, read_sql, MQ_COLS_ONE_LEVEL};

/*
 * uses_levels
 *		May the partition hold messages of a priority above 0?  Not while
 *		its priority index is a lone metapage: no such message was ever
 *		inserted (an index never gives its pages back but to REINDEX,
 *		TRUNCATE or VACUUM FULL).  Then a claim by id alone serves, without
 *		nine empty index descents and their plan nodes.  A message of a
 *		priority sent after this look can be delivered in id order by this
 *		one read, no more.
 */
static bool
uses_levels(MqQueue *queue)
{
	Relation	idx;
	bool		used;

	if (!queue->ordering_cols)
		return false;
	if (!OidIsValid(queue->prio_index))
		return true;
	idx = index_open(queue->prio_index, AccessShareLock);
	used = RelationGetNumberOfBlocks(idx) > 1;
	index_close(idx, NoLock);
	return used;
}

/*
 * Full reads of one backend that took only messages above priority 0
 * between two moves of the read position (read_once).
 */
#define MQ_PRIORITY_SUMMARY_EVERY 16
static int	level_reads = 0;

/*
 * read_once
 *		One claim: lease up to qty visible messages, put them in the result
 *		in id order, and let the cursor learn from the range scanned.
 *		Returns how many were claimed; *ndead says how many of those were
 *		past the queue's max_deliveries and went to its dead-letter queue
 *		(or archive) instead of the result.  Caller is connected to SPI;
 *		every call runs with a fresh snapshot under READ COMMITTED.
 */
static uint64
read_once(ReturnSetInfo *rsinfo, MqQueue *queue, int qty, Interval *vt, int *ndead, bool pop,
		  const MqReadFilter *filter)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz lease_end = pop ? now :
		mq_add_interval(now, vt ? vt : &queue->visibility_timeout);
	MqReadScan	scan;
	Datum		values[10];
	char		nulls[10] = {'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n'};
	int64		lvl_max[MQ_MAX_PRIORITY + 1];
	int			lvl_lowest = 0; /* the lowest priority claimed */
	bool		drained[MQ_MAX_PRIORITY + 1];	/* level scanned to its end */
	bool		levels = uses_levels(queue);
	int			top_level = 0;	/* the highest level that may hold any */
	bool		others = false; /* another level may */
	SPITupleTable *tts[2];
	int			ntts = 0;
	int			t;
	TupleDesc	desc;
	Datum		claims = (Datum) 0; /* our claims, if a claim slot holds them */
	int			ndelivered = 0;
	int			delivery;
	int			l;
	int64		own_from;
	bool		noskip;
	bool		filtered = filter != NULL && filter->on;
	bool		by_id = true;
	int64		min_id = 0;
	int64		max_id = 0;
	int64		skip_min;
	int			ret;
	uint64		n = 0;
	uint64		i;
	ClaimedRow *rows;
	int64	   *dead = NULL;
	int			nexpired = 0;
	SPITupleTable *tt;
	MqHistory  *hexpired;
	MqHistory  *hdelivered;

	*ndead = 0;
	memset(lvl_max, 0, sizeof(lvl_max));
	memset(drained, 0, sizeof(drained));
	mq_cursor_read_start(queue, now, &scan);
	mq_events_apply(&scan.fx);	/* prepared transactions it settled */
	mq_cursor_touch(queue, scan.from);

	/*
	 * One snapshot for the claim and its summaries, taken after
	 * read_start (whatever commits from here on is in the commit ring):
	 * under READ COMMITTED a fresh one, as each statement would take.
	 */
	scan.snap = RegisterSnapshot(GetTransactionSnapshot());

	memset(nulls, ' ', 6);

	/* A filtered read starts at its own position, where it holds. */
	own_from = scan.from;
	if (filtered && scan.track)
	{
		MqOwnPosition *own = own_position(queue, filter, false);

		if (own != NULL && own->gen == scan.gen && own->pos > scan.from)
		{
			own_from = own->pos;
			for (l = 1; l <= MQ_MAX_PRIORITY; l++)
				if (scan.lvl_from[l] < own_from)
					scan.lvl_from[l] = own_from;
		}
	}
	values[0] = Int64GetDatum(own_from);
	values[1] = TimestampTzGetDatum(now);
	values[2] = Int32GetDatum(qty);
	values[8] = Int64GetDatum(scan.floor);
	nulls[8] = ' ';
	values[3] = pop ? Int32GetDatum(queue->max_deliveries) : TimestampTzGetDatum(lease_end);
	values[4] = mq_rollback_exclusions(queue, &noskip, scan.from, &skip_min);
	if (noskip)
		nulls[4] = 'n';
	if (queue->ordering_cols)
	{
		Datum		starts[MQ_MAX_PRIORITY];

		for (l = 1; l <= MQ_MAX_PRIORITY; l++)
			starts[l - 1] = Int64GetDatum(scan.lvl_from[l] > scan.from ?
										  scan.lvl_from[l] : scan.from);
		values[5] = PointerGetDatum(construct_array(starts, MQ_MAX_PRIORITY, INT8OID,
													sizeof(int64), FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
	}
	else
		nulls[5] = 'n';
	if (filtered)
	{
		values[6] = filter->headers;
		nulls[6] = filter->headers_null ? 'n' : ' ';
		values[7] = filter->payload;
		nulls[7] = filter->payload_null ? 'n' : ' ';
	}
	/*
	 * The levels above 0 that may hold a message for this read (cursor.c:
	 * a level is empty from its start past the highest id ever sent at
	 * it).  With none, the claim is by id alone.  With some, a read first
	 * tries the highest of them alone, through a plan of one index scan:
	 * while that level has messages (the usual case of a queue with
	 * priorities) a read is one small claim, not the ten-branch one, whose
	 * start-up alone costs more than a plain read.  What it did not fill
	 * the ten-branch claim takes (or the claim by id, if no other level
	 * may hold anything).
	 */
	if (levels)
	{
		for (l = MQ_MAX_PRIORITY; l >= 1; l--)
		{
			if (scan.lvl_empty[l])
				continue;
			if (top_level == 0)
				top_level = l;
			else
				others = true;
		}
		if (top_level == 0)
			levels = false;
	}
	if (levels && !pop && !filtered)
	{
		values[0] = Int64GetDatum(scan.lvl_from[top_level] > scan.from ?
								  scan.lvl_from[top_level] : scan.from);
		values[9] = Int32GetDatum(top_level);
		nulls[9] = ' ';
		ret = SPI_execute_snapshot(mq_queue_plan(queue, &read_level_plan), values, nulls,
								   scan.snap, InvalidSnapshot, false, true, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		tts[ntts++] = SPI_tuptable;
		n = SPI_processed;
		if (n < (uint64) qty)
			drained[top_level] = true;	/* scanned to its end */
		values[0] = Int64GetDatum(own_from);
		values[2] = Int32GetDatum(qty - (int) n);
		levels = others;
	}
	if (n < (uint64) qty)
	{
		uint64		n2;
		int			lowest = MQ_MAX_PRIORITY + 1;

		ret = SPI_execute_snapshot(mq_queue_plan(queue,
												 levels ? (pop ? &pop_plan :
														   filtered ? &read_filtered_plan : &read_plan) :
												 (pop ? &pop_no_levels_plan :
												  filtered ? &read_filtered_no_levels_plan :
												  &read_no_levels_plan)),
								   values, nulls, scan.snap, InvalidSnapshot, false, true, 0);
		if (ret != (pop ? SPI_OK_DELETE_RETURNING : SPI_OK_UPDATE_RETURNING))
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		tts[ntts++] = SPI_tuptable;
		n2 = SPI_processed;

		/*
		 * A claim by levels scanned to its end every level above the
		 * lowest one it took from (the Append runs the levels in order and
		 * stops at qty), and every level if it took fewer than asked.
		 */
		if (levels)
		{
			for (i = 0; i < n2; i++)
			{
				bool		isnull;
				int			p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
															MQ_MESSAGE_NATTS + 2, &isnull));

				if (p < lowest)
					lowest = p;
			}
			for (l = 1; l <= MQ_MAX_PRIORITY; l++)
				if (l > lowest || n2 < (uint64) qty - n)
					drained[l] = true;
		}
		n += n2;
	}

	rows = palloc(sizeof(ClaimedRow) * (n > 0 ? n : 1));
	n = 0;
	for (t = 0; t < ntts; t++)
	{
		tt = tts[t];
		for (i = 0; i < tt->numvals; i++)
		{
			bool		isnull;
			ClaimedRow *r = &rows[n];

			r->tup = tt->vals[i];
			r->id = DatumGetInt64(SPI_getbinval(r->tup, tt->tupdesc, 1, &isnull));
			r->priority = queue->ordering_cols ?
				DatumGetInt32(SPI_getbinval(r->tup, tt->tupdesc, MQ_MESSAGE_NATTS + 2, &isnull)) : 0;
			r->index = (int) n;
			if (n == 0 || r->id < min_id)
				min_id = r->id;
			if (n == 0 || r->id > max_id)
				max_id = r->id;
			if (n == 0 || r->priority < lvl_lowest)
				lvl_lowest = r->priority;
			/* A message of priority above 0 may have passed older ones. */
			if (r->priority != 0)
			{
				by_id = false;
				if (r->priority <= MQ_MAX_PRIORITY && r->id > lvl_max[r->priority])
					lvl_max[r->priority] = r->id;
			}
			n++;
		}
	}
	desc = tts[0]->tupdesc;
	if (n > 1)
		qsort(rows, n, sizeof(ClaimedRow), claimed_cmp);

	/* A queue with history: the events of this read. */
	hexpired = mq_history_begin(queue, "lease_expired");
	hdelivered = mq_history_begin(queue, pop ? "popped" : "delivered");
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = rows[i].tup;
		Datum		out[MQ_MESSAGE_NATTS + 2];
		bool		outnulls[MQ_MESSAGE_NATTS + 2];
		bool		isnull;
		int			c;

		/* Its previous lease had expired: a failed delivery. */
		if (DatumGetBool(SPI_getbinval(tup, desc, MQ_MESSAGE_NATTS + 1, &isnull)) && !isnull)
		{
			nexpired++;
			if (hexpired != NULL)
			{
				int32		d = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull)) - 1;
				Datum		h = SPI_getbinval(tup, desc, 3, &isnull);

				mq_history_add(hexpired, rows[i].id, d, 0,
							   CStringGetTextDatum(psprintf("lease expired (delivery %d)", d)),
							   isnull ? (Datum) 0 : h);
			}
		}

		/*
		 * Past max_deliveries: the last allowed delivery's lease expired
		 * (or the limit was lowered).  It is not delivered again.
		 */
		if (queue->max_deliveries > 0 &&
			DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull)) > queue->max_deliveries)
		{
			if (dead == NULL)
				dead = palloc(sizeof(int64) * n);
			dead[(*ndead)++] = rows[i].id;
			continue;
		}

		/* If our transaction rolls back, this delivery still counts. */
		delivery = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		if (!pop)
		{
			mq_rollback_delivered(queue, rows[i].id, delivery);
			mq_cursor_delivered(queue, rows[i].id, now);
		}

		if (hdelivered != NULL)
		{
			Datum		h = SPI_getbinval(tup, desc, 3, &isnull);

			mq_history_add(hdelivered, rows[i].id, delivery, pop ? 0 : lease_end, (Datum) 0,
						   isnull ? (Datum) 0 : h);
		}

		/* Metrics: the time from its send to its first delivery. */
		ndelivered++;
		if (delivery == 1)
			mq_cursor_latency(queue, MQ_LAT_QUEUE,
							  now - DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull)));

		/*
		 * mq.read returns 6 columns before 0.3.0, 7 (last_error) after,
		 * 9 (priority, group_id) from 0.5.0; so does mq.pop.
		 */
		for (c = 0; c < rsinfo->setDesc->natts && c < MQ_MESSAGE_NATTS; c++)
			out[c] = SPI_getbinval(tup, desc, c + 1, &outnulls[c]);
		if (rsinfo->setDesc->natts > MQ_MESSAGE_NATTS)
		{
			out[MQ_MESSAGE_NATTS] = Int32GetDatum(rows[i].priority);
			outnulls[MQ_MESSAGE_NATTS] = false;
		}
		if (rsinfo->setDesc->natts > MQ_MESSAGE_NATTS + 1)
		{
			if (queue->ordering_cols)
				out[MQ_MESSAGE_NATTS + 1] = SPI_getbinval(tup, desc, MQ_MESSAGE_NATTS + 3,
														  &outnulls[MQ_MESSAGE_NATTS + 1]);
			else
				outnulls[MQ_MESSAGE_NATTS + 1] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
	}
	mq_history_end(hexpired);
	mq_history_end(hdelivered);

	/* A pop's rows are gone once it commits; a rollback lowers pos (touch). */
	if (n > 0 && !pop)
	{
		int64	   *ids = palloc(sizeof(int64) * n);
		Datum	   *elems = palloc(sizeof(Datum) * n);

		for (i = 0; i < n; i++)
		{
			ids[i] = rows[i].id;
			elems[i] = Int64GetDatum(ids[i]);
		}

		/* In a claim slot: the summaries leave them out of the mark. */
		if (mq_cursor_claimed(queue, ids, min_id, (int) n, lease_end))
			claims = PointerGetDatum(construct_array(elems, (int) n, INT8OID, sizeof(int64),
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		pfree(ids);
		pfree(elems);
	}
	mq_cursor_count(queue, MQ_COUNT_EXPIRED, nexpired);
	mq_cursor_count(queue, MQ_COUNT_DELIVERED, ndelivered);

	/*
	 * A filtered read passes messages it did not take: it never moves the
	 * read position (readers of other filters, or none, still need it),
	 * only its own (own_positions).
	 */
	if (scan.track && filtered && by_id && n == (uint64) qty)
	{
		summarise_filtered(queue, &scan, filter, own_from, now, max_id, skip_min, claims);
		mq_events_apply(&scan.fx);
	}
	if (scan.track && !filtered)
	{
		/*
		 * The position moves when the read took messages of priority 0
		 * (by id) or reached the end of the queue.  A full read that took
		 * only messages of higher levels leaves it (their levels' own
		 * positions move below), but every MQ_PRIORITY_SUMMARY_EVERY such
		 * reads of a backend move it up to the first message still
		 * visible, so that it does not lag far behind under a held xmin.
		 */
		if (by_id || n < (uint64) qty || ++level_reads >= MQ_PRIORITY_SUMMARY_EVERY)
		{
			summarise(queue, &scan, now, n, qty, max_id, skip_min, by_id, claims);
			level_reads = 0;
		}
		for (l = 1; l <= MQ_MAX_PRIORITY; l++)
		{
			if (lvl_max[l] > 0)
				summarise_level(queue, &scan, now, l, lvl_max[l] + 1, skip_min, claims);

			/*
			 * A level that may hold messages, scanned to its end by this
			 * read without one taken: its position moves past its top (the
			 * highest id sent at it when the read began), so that the next
			 * reads know it empty and pass it by, and do not walk its
			 * entries from pos (a drained level under a held xmin).
			 * Without a known top, past what the claim took.
			 */
			else if (drained[l] && !scan.lvl_empty[l] &&
					 (scan.lvl_top[l] >= 0 || n > 0))
				summarise_level(queue, &scan, now, l,
								scan.lvl_top[l] >= 0 ? scan.lvl_top[l] + 1 : max_id + 1,
								skip_min, claims);
		}
		mq_events_apply(&scan.fx);	/* an earlier due time for the worker */
	}
	for (t = 0; t < ntts; t++)
		SPI_freetuptable(tts[t]);
	UnregisterSnapshot(scan.snap);

	/* In our transaction: a rollback puts them back as they were. */
	for (i = 0; i < (uint64) *ndead; i++)
		(void) mq_dead_letter(queue, dead[i], true, (Datum) 0, true, true, NULL);

	pfree(rows);
	if (dead != NULL)
		pfree(dead);
	return n;
}

/*
 * read_partition
 *		read_once on one partition until qty messages were delivered, or a
 *		claim found no message past max_deliveries to put aside.  Returns
 *		how many were delivered.
 */
static uint64
read_partition(ReturnSetInfo *rsinfo, MqQueue *part, int qty, Interval *vt,
			   const MqReadFilter *filter)
{
	uint64		delivered = 0;

	for (;;)
	{
		int			ndead;
		uint64		n = read_once(rsinfo, part, qty - (int) delivered, vt, &ndead, false,
								 filter);

		delivered += n - ndead;
		if (ndead == 0 || delivered >= (uint64) qty)
			return delivered;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * read_some
 *		Deliver up to qty messages: from the partition this backend starts
 *		in, then, while fewer than qty were found, from the next ones in
 *		turn, so that a read never returns fewer messages than a queue of
 *		one partition would.  Returns how many were delivered.
 */
static uint64
read_some(ReturnSetInfo *rsinfo, MqQueue *queue, int qty, Interval *vt,
		  const MqReadFilter *filter)
{
	uint64		delivered = 0;
	int			first = mq_read_first_partition(queue);
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	for (i = 0; i < queue->nparts && delivered < (uint64) qty; i++)
	{
		MqQueue    *part = queue->parts[(first + i) % queue->nparts];

		if (i > 0)
			CHECK_FOR_INTERRUPTS();
		/* A partition that cannot hold a visible message: no SQL. */
		if (queue->nparts > 1 && mq_cursor_nothing_visible(part, now))
			continue;
		delivered += read_partition(rsinfo, part, qty - (int) delivered, vt, filter);
	}
	return delivered;
}

/*
 * sleep_ms
 *		How long a waiter may sleep, in ms: until its deadline, but no
 *		later than a due time nobody else will wake it for.
 */
static long
sleep_ms(MqQueue *queue, TimestampTz now, TimestampTz deadline)
{
	TimestampTz until = deadline;
	TimestampTz due;
	long		secs;
	int			usecs;

	if (!mq_cursor_wait_hint(queue, &due))
	{
		/*
		 * The cursor cannot track this queue (no state left for it, or
		 * prepared transactions from before a restart): due times reach
		 * nobody, so look again every second.
		 */
		if (now + MQ_UNTRACKED_RECHECK_USECS < until)
			until = now + MQ_UNTRACKED_RECHECK_USECS;
	}
	else if (due != 0 && !mq_worker_running(MyDatabaseId) && due < until)
		until = due;

	if (until <= now)
		return 1;
	TimestampDifference(now, until, &secs, &usecs);
	if (secs > INT_MAX / 1000 - 1)
		return INT_MAX - 1000;
	return secs * 1000 + (usecs + 999) / 1000;
}

/*
 * mq.read(queue_name text, qty integer, vt interval, wait interval,
 *		   consumer_priority integer, filter jsonb, payload_filter jsonb)
 *		returns setof mq.message
 *
 * Also serves the three-argument mq.read of version 0.1.0, until ALTER
 * EXTENSION UPDATE replaces it.
 */
Datum
mq_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = mq_name_arg(fcinfo, 0);
	int			qty;
	Interval   *vt = NULL;
	Interval   *wait = NULL;
	int			priority = 0;
	MqQueue    *queue;
	uint64		n;
	TimestampTz deadline;
	MemoryContext loopcxt;
	MemoryContext oldcxt;
	MqContext	cx;
	volatile int registered = 0;
	MqEffects	fx;
	MqReadFilter filter;

	InitMaterializedSRF(fcinfo, 0);
	memset(&filter, 0, sizeof(filter));
	filter.headers_null = PG_NARGS() <= 5 || PG_ARGISNULL(5);
	filter.headers = filter.headers_null ? (Datum) 0 : PG_GETARG_DATUM(5);
	filter.payload_null = PG_NARGS() <= 6 || PG_ARGISNULL(6);
	filter.payload = filter.payload_null ? (Datum) 0 : PG_GETARG_DATUM(6);
	filter.on = !filter.headers_null || !filter.payload_null;
	if (filter.on)
		filter.key = psprintf("%s|%s",
							  filter.headers_null ? "" :
							  JsonbToCString(NULL, &DatumGetJsonbP(filter.headers)->root, -1),
							  filter.payload_null ? "" :
							  JsonbToCString(NULL, &DatumGetJsonbP(filter.payload)->root, -1));

	qty = qty_arg(fcinfo, 1, name);
	if (!PG_ARGISNULL(2))
	{
		vt = PG_GETARG_INTERVAL_P(2);
		mq_check_interval(name, "visibility timeout", vt);

		/*
		 * A lease of nothing: every such read would count as a failed
		 * delivery once it "expired", and dead-letter messages that were
		 * only looked at.
		 */
		if (vt->month == 0 && vt->day == 0 && vt->time == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("visibility timeout for queue \"%s\" must be greater than zero", name),
					 errhint("To look at messages without taking them, use mq.peek; to take them without a lease, mq.pop.")));
	}
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
	{
		wait = PG_GETARG_INTERVAL_P(3);
		mq_check_interval(name, "wait", wait);
		if (wait->month == 0 && wait->day == 0 && wait->time == 0)
			wait = NULL;
	}
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		priority = PG_GETARG_INT32(4);

	if (wait != NULL)
	{
		if (!mq_wait_available())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("mq.read cannot wait on queue \"%s\": mq is not loaded through shared_preload_libraries", name),
					 errhint("Add mq to shared_preload_libraries and restart the server, or read without wait.")));
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("mq.read cannot wait on queue \"%s\" under %s isolation", name,
							IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
					 errdetail("The transaction's snapshot is fixed, so no message committed during the wait could become visible to it."),
					 errhint("Wait in a READ COMMITTED transaction, or read without wait.")));
	}

	mq_enter(&cx);
	queue = mq_open_queue(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	SPI_connect();
	deadline = wait ? mq_add_interval(GetCurrentTimestamp(), wait) : 0;
	n = read_some(rsinfo, queue, qty, vt, &filter);

	if (n == 0 && wait != NULL)
	{
		loopcxt = AllocSetContextCreate(CurrentMemoryContext, "mq read wait",
										ALLOCSET_SMALL_SIZES);
		mq_effects_init(&fx);
		mq_wait_register(queue, priority, filter.on, &fx);
		mq_events_apply(&fx);
		registered = queue->nparts;
		PG_TRY();
		{
			for (;;)
			{
				TimestampTz now;
				TimestampTz wake_at;

				/* Read again: at once after registering, then per wake-up. */
				MemoryContextReset(loopcxt);
				oldcxt = MemoryContextSwitchTo(loopcxt);
				(void) mq_wait_consume();

				/*
				 * The queue may have changed meanwhile, or our privilege.
				 * We hold our locks already, so taking them again lets no
				 * invalidation in: look for them here.
				 */
				AcceptInvalidationMessages();
				queue = mq_open_queue(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);

				/* Partitions were added (mq.alter_queue): wait on them too. */
				if (queue->nparts != registered)
				{
					mq_effects_init(&fx);
					mq_wait_register(queue, priority, filter.on, &fx);
					mq_events_apply(&fx);
					registered = queue->nparts;
				}
				n = read_some(rsinfo, queue, qty, vt, &filter);
				MemoryContextSwitchTo(oldcxt);
				if (n > 0)
					break;

				/*
				 * A drop of the queue, DROP EXTENSION or DDL on the table
				 * waits for our locks: end the wait (empty) rather than
				 * hold them, and everyone queued behind them, until the
				 * deadline.
				 */
				if (mq_wait_drop_pending(queue->relid))
					break;

				now = GetCurrentTimestamp();
				if (now >= deadline)
					break;
				wake_at = now + (TimestampTz) sleep_ms(queue, now, deadline) * 1000;

				/*
				 * Sleep until a wake-up or wake_at, looking for a drop or
				 * a change of the queue every MQ_LOCK_RECHECK_MS on the
				 * way (without reading).
				 */
				for (;;)
				{
					long		ms = (long) ((wake_at - now + 999) / 1000);
					int			rc;

					if (ms <= 0)
						break;
					rc = WaitLatch(MyLatch,
								   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   Min(ms, MQ_LOCK_RECHECK_MS),
								   PG_WAIT_EXTENSION);
					ResetLatch(MyLatch);
					CHECK_FOR_INTERRUPTS();
					if ((rc & WL_LATCH_SET) || mq_wait_drop_pending(queue->relid))
						break;

					/*
					 * The queue changed (partitions added, options): read
					 * again, joining the waiters of any new partition.
					 */
					AcceptInvalidationMessages();
					if (!queue->valid)
						break;
					now = GetCurrentTimestamp();
				}
			}
		}
		PG_CATCH();
		{
			mq_wait_unregister(false);
			PG_RE_THROW();
		}
		PG_END_TRY();

		/* Filled our qty: there may be more, let the next waiter look. */
		mq_wait_unregister(n == (uint64) qty);
		MemoryContextDelete(loopcxt);
	}

	SPI_finish();
	mq_leave(&cx);
	/* The messages are ours to return: they were delivered. */
	mq_rollback_confirm();
	return (Datum) 0;
}

/*
 * qty_arg
 *		A qty argument: not null, between 1 and MQ_MAX_READ_QTY (22023).
 */
static int
qty_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int			qty;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("qty for queue \"%s\" must not be null", name)));
	qty = PG_GETARG_INT32(argno);
	if (qty < 1 || qty > MQ_MAX_READ_QTY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty for queue \"%s\" must be between 1 and %d", name, MQ_MAX_READ_QTY),
				 errdetail("The value given was %d.", qty)));
	return qty;
}

/*
 * mq.pop(queue_name text, qty integer) returns setof (the columns of mq.read)
 *
 * Take up to qty visible messages, oldest first, and delete them in the
 * same statement: at most once.  There is no lease; if the transaction
 * rolls back, the messages are back as they were (not counted as a
 * delivery).  Messages with no delivery left (their last lease expired)
 * are left for a read or the worker to dead-letter.
 */
Datum
mq_pop(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	int			qty;
	int			ndead;
	int			taken = 0;
	int			first;
	int			i;
	MqQueue    *queue;
	MqContext	cx;

	InitMaterializedSRF(fcinfo, 0);
	qty = qty_arg(fcinfo, 1, name);

	mq_enter(&cx);
	queue = mq_open_queue(&cx, name, MQ_PRIV_CONSUME, RowExclusiveLock);
	SPI_connect();
	first = mq_read_first_partition(queue);
	for (i = 0; i < queue->nparts && taken < qty; i++)
	{
		MqQueue    *part = queue->parts[(first + i) % queue->nparts];

		if (queue->nparts > 1 && mq_cursor_nothing_visible(part, GetCurrentTimestamp()))
			continue;
		taken += (int) read_once((ReturnSetInfo *) fcinfo->resultinfo, part,
								 qty - taken, NULL, &ndead, true, NULL);
	}
	SPI_finish();
	mq_leave(&cx);
	return (Datum) 0;
}

static char *
peek_visible_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * mq.peek: messages visible at $2 from $1: those a read may take
	 * ('visible'), by priority and id, then those of a FIFO group that
	 * wait for an older one of their group ('blocked'); $4 keeps one of
	 * the two states (null: both).
	 */
	*nargs = 4;
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	types[2] = INT4OID;
	types[3] = TEXTOID;
	if (!(cols & MQ_COLS_ORDERING))
		return psprintf("SELECT id, 'visible'::pg_catalog.text, vt, deliveries, %s, last_error,"
						" enqueued_at, payload, headers, 0, NULL::pg_catalog.text FROM ONLY %s"
						" WHERE id OPERATOR(pg_catalog.>=) $1 AND vt OPERATOR(pg_catalog.<=) $2"
						" AND ($4 IS NULL OR $4 OPERATOR(pg_catalog.=) 'visible')"
						" ORDER BY id LIMIT $3",
						(cols & MQ_COLS_FAILURES) ? "failures" : "NULL::pg_catalog.int4", q);
	return psprintf("SELECT * FROM (SELECT m.id, CASE WHEN m.group_id IS NOT NULL AND"
					" (SELECT o.id FROM ONLY %s o WHERE o.group_id OPERATOR(pg_catalog.=) m.group_id"
					" AND o.id OPERATOR(pg_catalog.<) m.id LIMIT 1) IS NOT NULL"
					" THEN 'blocked' ELSE 'visible' END::pg_catalog.text AS state,"
					" m.vt, m.deliveries, m.failures, m.last_error, m.enqueued_at, m.payload,"
					" m.headers, m.priority, m.group_id FROM ONLY %s m"
					" WHERE m.id OPERATOR(pg_catalog.>=) $1 AND m.vt OPERATOR(pg_catalog.<=) $2) v"
					" WHERE $4 IS NULL OR state OPERATOR(pg_catalog.=) $4"
					" ORDER BY state OPERATOR(pg_catalog.=) 'blocked', priority DESC, id LIMIT $3",
					q, q);
}

static char *
peek_later_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/*
	 * mq.peek: messages not visible at $1, by the time they become
	 * visible; $3 true: leased only, false: delayed only, null: both.
	 */
	*nargs = 3;
	types[0] = TIMESTAMPTZOID;
	types[1] = INT4OID;
	types[2] = BOOLOID;
	return psprintf("SELECT id, CASE WHEN leased THEN 'leased' ELSE 'delayed' END::pg_catalog.text,"
					" vt, deliveries, %s, last_error, enqueued_at, payload, headers, %s FROM ONLY %s"
					" WHERE vt OPERATOR(pg_catalog.>) $1 AND ($3 IS NULL OR leased OPERATOR(pg_catalog.=) $3)"
					" ORDER BY vt, id LIMIT $2",
					(cols & MQ_COLS_FAILURES) ? "failures" : "NULL::pg_catalog.int4",
					(cols & MQ_COLS_ORDERING) ? "priority, group_id" : "0, NULL::pg_catalog.text", q);
}

static const MqPlanDef peek_later_plan = {MQ_PLAN_PEEK_LATER, peek_later_sql};

static const MqPlanDef peek_visible_plan = {MQ_PLAN_PEEK_VISIBLE, peek_visible_sql};

/* Order of peek's later rows: by vt (column 3), then id (column 1). */
static TupleDesc peek_sort_desc;

static int
peek_later_cmp(const void *a, const void *b)
{
	HeapTuple	x = *(const HeapTuple *) a;
	HeapTuple	y = *(const HeapTuple *) b;
	bool		isnull;
	TimestampTz vx = DatumGetTimestampTz(heap_getattr(x, 3, peek_sort_desc, &isnull));
	TimestampTz vy = DatumGetTimestampTz(heap_getattr(y, 3, peek_sort_desc, &isnull));
	int64		ix;
	int64		iy;

	if (vx != vy)
		return vx < vy ? -1 : 1;
	ix = DatumGetInt64(heap_getattr(x, 1, peek_sort_desc, &isnull));
	iy = DatumGetInt64(heap_getattr(y, 1, peek_sort_desc, &isnull));
	return (ix > iy) - (ix < iy);
}

/*
 * peek_merge
 *		The first left of the partitions' later rows, by vt and id, into
 *		the result.
 */
static void
peek_merge(ReturnSetInfo *rsinfo, HeapTuple *rows, int n, TupleDesc desc, int left)
{
	int			i;

	peek_sort_desc = desc;
	qsort(rows, n, sizeof(HeapTuple), peek_later_cmp);
	for (i = 0; i < n && i < left; i++)
	{
		Datum		out[MQ_PEEK_NATTS];
		bool		outnulls[MQ_PEEK_NATTS];
		int			c;

		for (c = 0; c < MQ_PEEK_NATTS; c++)
			out[c] = heap_getattr(rows[i], c + 1, desc, &outnulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
	}
}

/*
 * mq.peek(queue_name text, qty integer, state text) returns setof record
 *
 * Up to qty messages in the order reads would deliver them: the visible
 * ones by priority (highest first) and id, then those that wait behind an
 * older message of their FIFO group, then the others by the time they
 * become visible (leased until, delayed until), with their state.  Nothing
 * is locked, leased or counted: a plain read of the table under the
 * caller's snapshot.  state ('visible', 'blocked', 'leased', 'delayed')
 * keeps only messages in that state.
 */
Datum
mq_peek(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = mq_name_arg(fcinfo, 0);
	int			qty;
	char	   *state = NULL;
	TimestampTz now = GetCurrentTimestamp();
	MqQueue    *queue;
	MqContext	cx;
	int			left;
	int			pass;
	HeapTuple  *later = NULL;
	int			nlater = 0;
	int			maxlater = 0;
	TupleDesc	later_desc = NULL;

	InitMaterializedSRF(fcinfo, 0);
	qty = qty_arg(fcinfo, 1, name);
	if (!PG_ARGISNULL(2))
	{
		state = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (strcmp(state, "visible") != 0 && strcmp(state, "leased") != 0 &&
			strcmp(state, "delayed") != 0 && strcmp(state, "blocked") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown message state \"%s\" for queue \"%s\"", state, name),
					 errhint("Use visible, blocked, leased, delayed, or NULL for all.")));
	}

	mq_enter(&cx);
	queue = mq_open_queue(&cx, name, MQ_PRIV_CONSUME, AccessShareLock);
	SPI_connect();
	left = qty;

	/*
	 * Pass 0, the visible messages by id: partition after partition, whose
	 * ids ascend with their number.  Pass 1, the others by the time they
	 * become visible: each partition's first `left`, merged (peek_merge).
	 */
	for (pass = 0; pass < 2 * queue->nparts && left > 0; pass++)
	{
		MqQueue    *part = queue->parts[pass % queue->nparts];
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};
		int			ret;
		uint64		i;
		bool		now_state = state != NULL &&
			(strcmp(state, "visible") == 0 || strcmp(state, "blocked") == 0);

		if (pass < queue->nparts)
		{
			if (state != NULL && !now_state)
				continue;
			/*
			 * From the head: the read cursor may have passed messages that
			 * open transactions hold (a claim not committed yet), which a
			 * snapshot still sees as visible.
			 */
			values[0] = Int64GetDatum(0);
			values[1] = TimestampTzGetDatum(now);
			values[2] = Int32GetDatum(left);
			values[3] = state ? CStringGetTextDatum(state) : (Datum) 0;
			nulls[3] = state ? ' ' : 'n';
			ret = SPI_execute_plan(mq_queue_plan(part, &peek_visible_plan), values, nulls, true, 0);
		}
		else
		{
			if (now_state)
				continue;
			values[0] = TimestampTzGetDatum(now);
			values[1] = Int32GetDatum(left);
			if (state != NULL)
				values[2] = BoolGetDatum(strcmp(state, "leased") == 0);
			else
				nulls[2] = 'n';
			ret = SPI_execute_plan(mq_queue_plan(part, &peek_later_plan), values, nulls, true, 0);
		}
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		if (pass >= queue->nparts && queue->nparts > 1)
		{
			/* Kept for the merge; what is not among the first left goes. */
			for (i = 0; i < SPI_processed; i++)
			{
				if (nlater == maxlater)
				{
					maxlater = maxlater == 0 ? 64 : maxlater * 2;
					later = later == NULL ? palloc(sizeof(HeapTuple) * maxlater) :
						repalloc(later, sizeof(HeapTuple) * maxlater);
				}
				later[nlater++] = SPI_copytuple(SPI_tuptable->vals[i]);
			}
			if (later_desc == NULL && SPI_processed > 0)
				later_desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
			SPI_freetuptable(SPI_tuptable);
			continue;
		}
		for (i = 0; i < SPI_processed; i++)
		{
			Datum		out[MQ_PEEK_NATTS];
			bool		outnulls[MQ_PEEK_NATTS];
			int			c;

			for (c = 0; c < MQ_PEEK_NATTS; c++)
				out[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &outnulls[c]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
		}
		left -= (int) SPI_processed;
		SPI_freetuptable(SPI_tuptable);
	}
	if (nlater > 0)
		peek_merge(rsinfo, later, nlater, later_desc, left);
	SPI_finish();
	mq_leave(&cx);
	return (Datum) 0;
}
