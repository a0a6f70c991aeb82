/*-------------------------------------------------------------------------
 *
 * insert.c
 *	  The direct insert path of mq.send and mq.send_batch.
 *
 * A send through SPI pays for an executor start and end around a one-row
 * INSERT; measured, that overhead put mq.send below a hand-written
 * INSERT.  For a queue table with the layout mq.create_queue gives it,
 * no triggers and no row-level security, this file inserts the messages
 * the way COPY does: ids from the table's own sequence (nextval, with its
 * permission check), tuples formed here, heap_multi_insert, then every
 * index of the table through ExecInsertIndexTuples.  Anything else (a
 * table someone altered, added a trigger or a policy to) returns false and
 * send.c falls back to the SPI INSERT, which handles all of it.
 *
 * The layout check runs once per cache entry (catalog.c invalidates the
 * entry when the table changes); triggers and row security are checked on
 * every call, from the relcache, for free.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "mq.h"

/*
 * Columns of mq.q_<name>, as mq.create_queue makes them: the first eight
 * since 0.1.0, the failure record since 0.3.0 (a table from an older
 * version lacks those until ALTER EXTENSION UPDATE adds them).
 */
#define MQ_Q_NATTS_OLD 8
#define MQ_Q_NATTS 11
static const struct
{
	const char *name;
	Oid			type;
}			q_columns[MQ_Q_NATTS] =
{
	{"id", INT8OID},
	{"vt", TIMESTAMPTZOID},
	{"deliveries", INT4OID},
	{"leased", BOOLOID},
	{"enqueued_at", TIMESTAMPTZOID},
	{"last_error", TEXTOID},
	{"headers", JSONBOID},
	{"payload", JSONBOID},
	{"failures", INT4OID},
	{"first_error", TEXTOID},
	{"failed_at", TIMESTAMPTZOID},
};

/*
 * check_layout
 *		Does the table still look as create_queue made it?  Caches the
 *		answer and the id sequence in the queue entry.
 */
static bool
check_layout(MqQueue *queue, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *seqs;
	int			i;

	queue->layout_checked = true;
	queue->layout_ok = false;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		(desc->natts != MQ_Q_NATTS && desc->natts != MQ_Q_NATTS_OLD))
		return false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != q_columns[i].type ||
			strcmp(NameStr(att->attname), q_columns[i].name) != 0 ||
			att->attgenerated)
			return false;
	}
	seqs = getOwnedSequences(RelationGetRelid(rel));
	if (list_length(seqs) != 1)
		return false;
	queue->seq_relid = linitial_oid(seqs);
	queue->layout_ok = true;
	return true;
}

/*
 * mq_direct_insert
 *		Insert n messages into the queue's table; their ids go to ids[].
 *		Returns false, having done nothing, when the table is not one this
 *		path may write (see the file header).
 */
bool
mq_direct_insert(MqQueue *queue, int n, Datum *payloads,
				 bool headers_null, Datum headers,
				 TimestampTz vt, TimestampTz now, int64 *ids)
{
	Relation	rel;
	AclResult	aclresult;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	CommandId	cid;
	int			i;

	/*
	 * Taking the lock processes invalidations: if the queue was dropped or
	 * changed meanwhile, let the SPI path look it up again and report it.
	 */
	rel = try_relation_open(queue->relid, RowExclusiveLock);
	if (rel == NULL)
		return false;
	if (!queue->valid ||
		(!queue->layout_checked && !check_layout(queue, rel)) ||
		!queue->layout_ok ||
		rel->trigdesc != NULL || rel->rd_rel->relrowsecurity)
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}

	/* The checks an INSERT would make. */
	aclresult = pg_class_aclcheck(queue->relid, GetUserId(), ACL_INSERT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	CheckValidResultRel(rri, CMD_INSERT);
	ExecOpenIndices(rri, false);

	slots = palloc(sizeof(TupleTableSlot *) * n);
	for (i = 0; i < n; i++)
	{
		TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel),
														&TTSOpsVirtual);

		ExecClearTuple(slot);
		ids[i] = nextval_internal(queue->seq_relid, true);
		slot->tts_values[0] = Int64GetDatum(ids[i]);
		slot->tts_isnull[0] = false;
		slot->tts_values[1] = TimestampTzGetDatum(vt);
		slot->tts_isnull[1] = false;
		slot->tts_values[2] = Int32GetDatum(0);
		slot->tts_isnull[2] = false;
		slot->tts_values[3] = BoolGetDatum(false);
		slot->tts_isnull[3] = false;
		slot->tts_values[4] = TimestampTzGetDatum(now);
		slot->tts_isnull[4] = false;
		slot->tts_values[5] = (Datum) 0;
		slot->tts_isnull[5] = true;
		slot->tts_values[6] = headers;
		slot->tts_isnull[6] = headers_null;
		slot->tts_values[7] = payloads[i];
		slot->tts_isnull[7] = false;
		if (slot->tts_tupleDescriptor->natts == MQ_Q_NATTS)
		{
			slot->tts_values[8] = Int32GetDatum(0);
			slot->tts_isnull[8] = false;
			slot->tts_values[9] = (Datum) 0;
			slot->tts_isnull[9] = true;
			slot->tts_values[10] = (Datum) 0;
			slot->tts_isnull[10] = true;
		}
		ExecStoreVirtualTuple(slot);
		slots[i] = slot;
	}

	cid = GetCurrentCommandId(true);
	heap_multi_insert(rel, slots, n, cid, 0, NULL);

	for (i = 0; i < n; i++)
	{
		List	   *recheck;

		recheck = ExecInsertIndexTuples(rri, slots[i], estate, false, false, NULL, NIL);
		list_free(recheck);
		ExecDropSingleTupleTableSlot(slots[i]);
	}
	pfree(slots);

	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	return true;
}
