/*-------------------------------------------------------------------------
 *
 * insert.c
 *	  The direct insert path of mq.send and mq.send_batch.
 *
 * A send through SPI pays for an executor start and end around a one-row
 * INSERT; measured, that overhead put mq.send below a hand-written
 * INSERT.  So sends insert the messages the way COPY does: ids from the
 * table's own sequence (nextval, with its permission check), tuples formed
 * here, heap_multi_insert, then the table's one index through
 * ExecInsertIndexTuples.  That is all an INSERT would do, because mq only
 * serves a queue whose table is in the shape mq made it (shape.c): no
 * trigger, rule, policy, constraint or default beyond mq's own, and the
 * primary key as the only index.
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
#include "utils/memutils.h"
#include "utils/rel.h"

#include "mq.h"

/* Columns of mq.q_<name> since 0.3.0 (the failure record), and 0.5.0. */
#define MQ_Q_NATTS_03 11
#define MQ_Q_NATTS 13

/* Messages inserted per heap_multi_insert call. */
#define MQ_INSERT_CHUNK 1000

/*
 * mq_inserter_begin
 *		Get ready to insert n rows into rel (open, locked RowExclusive) and
 *		its indexes, at most chunk at a time: ins->slots holds Min(n, chunk)
 *		virtual slots, to fill and hand to mq_inserter_write.  Shared by
 *		sends and history events (history.c).
 *
 * The slots are made over a copy of the descriptor that no resource owner
 * tracks (a slot per row, each pinning the relation's descriptor, made a
 * big batch quadratic), and reused chunk after chunk: time and memory grow
 * with the batch, and the caller checks for a cancel between chunks.
 */
void
mq_inserter_begin(MqInserter *ins, Relation rel, int n, int chunk)
{
	TupleDesc	desc;
	int			i;

	ins->rel = rel;
	ins->estate = CreateExecutorState();
	ins->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ins->rri, rel, 1, NULL, 0);
	CheckValidResultRel(ins->rri, CMD_INSERT);
	ExecOpenIndices(ins->rri, false);
	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	ins->nslots = Min(n, chunk);
	ins->slots = palloc(sizeof(TupleTableSlot *) * ins->nslots);
	for (i = 0; i < ins->nslots; i++)
		ins->slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	ins->cid = GetCurrentCommandId(true);
}

/*
 * mq_inserter_write
 *		Insert the first m slots, filled, into the table and its indexes,
 *		and clear them.
 */
void
mq_inserter_write(MqInserter *ins, int m)
{
	int			i;

	heap_multi_insert(ins->rel, ins->slots, m, ins->cid, 0, NULL);
	for (i = 0; i < m; i++)
	{
		List	   *recheck;

		recheck = ExecInsertIndexTuples(ins->rri, ins->slots[i], ins->estate, false, false,
										NULL, NIL);
		list_free(recheck);
		ExecClearTuple(ins->slots[i]);
	}
	ResetPerTupleExprContext(ins->estate);
}

/*
 * mq_inserter_end
 *		The end of mq_inserter_begin (the relation stays open).
 */
void
mq_inserter_end(MqInserter *ins)
{
	int			i;

	for (i = 0; i < ins->nslots; i++)
		ExecDropSingleTupleTableSlot(ins->slots[i]);
	pfree(ins->slots);
	ExecCloseIndices(ins->rri);
	FreeExecutorState(ins->estate);
}

/*
 * mq_direct_insert
 *		Insert n messages into the queue's table; their ids go to ids[].
 *		The caller opened the queue (mq_open_queue) with RowExclusiveLock;
 *		queue may be one of its partitions.  priorities: each message's
 *		priority (NULL: all 0); groups: each message's FIFO group as text
 *		((Datum) 0 or NULL: none); the caller checked both.  A table made
 *		before 0.5.0 has neither column, and takes only priority 0 and no
 *		group.
 */
void
mq_direct_insert(MqQueue *queue, int n, Datum *payloads,
				 bool headers_null, Datum headers,
				 TimestampTz vt, TimestampTz now, const int *priorities,
				 const Datum *groups, int64 *ids)
{
	Relation	rel;
	MqInserter	ins;
	int			natts;
	MemoryContext chunkcxt;
	int			done;
	int			m;
	int			i;

	Assert(queue->shape_checked && queue->problem == NULL);

	/* Partition 0 is locked already; another partition's table is not. */
	rel = table_open(queue->relid, queue->partno == 0 ? NoLock : RowExclusiveLock);

	/*
	 * Before the privilege model is installed a send runs as its caller,
	 * who needs INSERT on the table, as an INSERT would check.
	 */
	if (!mq_model_active())
	{
		AclResult	aclresult = pg_class_aclcheck(queue->relid, GetUserId(), ACL_INSERT);

		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
						   RelationGetRelationName(rel));
	}

	/* Chunks of MQ_INSERT_CHUNK, in a memory context emptied after each. */
	mq_inserter_begin(&ins, rel, n, MQ_INSERT_CHUNK);
	natts = RelationGetDescr(rel)->natts;
	chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "mq insert chunk",
									 ALLOCSET_DEFAULT_SIZES);

	for (done = 0; done < n; done += m)
	{
		MemoryContext oldcxt;

		CHECK_FOR_INTERRUPTS();
		m = Min(ins.nslots, n - done);
		for (i = 0; i < m; i++)
		{
			TupleTableSlot *slot = ins.slots[i];

			ExecClearTuple(slot);
			ids[done + i] = nextval_internal(queue->seq_relid, true);
			slot->tts_values[0] = Int64GetDatum(ids[done + i]);
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
			slot->tts_values[7] = payloads[done + i];
			slot->tts_isnull[7] = false;
			if (natts >= MQ_Q_NATTS_03)
			{
				slot->tts_values[8] = Int32GetDatum(0);
				slot->tts_isnull[8] = false;
				slot->tts_values[9] = (Datum) 0;
				slot->tts_isnull[9] = true;
				slot->tts_values[10] = (Datum) 0;
				slot->tts_isnull[10] = true;
			}
			if (natts >= MQ_Q_NATTS)
			{
				slot->tts_values[11] = Int32GetDatum(priorities ? priorities[done + i] : 0);
				slot->tts_isnull[11] = false;
				slot->tts_values[12] = groups ? groups[done + i] : (Datum) 0;
				slot->tts_isnull[12] = slot->tts_values[12] == (Datum) 0;
			}
			else if ((priorities != NULL && priorities[done + i] != 0) ||
					 (groups != NULL && groups[done + i] != (Datum) 0))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("queue \"%s\" cannot take messages with a priority or group", queue->name),
						 errdetail("Its table was made by a version of mq before 0.5.0."),
						 errhint("Run ALTER EXTENSION mq UPDATE.")));
			ExecStoreVirtualTuple(slot);
		}

		oldcxt = MemoryContextSwitchTo(chunkcxt);
		mq_inserter_write(&ins, m);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(chunkcxt);
	}

	MemoryContextDelete(chunkcxt);
	mq_inserter_end(&ins);
	table_close(rel, NoLock);

	/* A queue with history: their "sent" events. */
	mq_history_sent(queue, n, ids, headers_null, headers, vt > now ? vt : 0);
}
