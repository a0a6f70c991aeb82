/*-------------------------------------------------------------------------
 *
 * partition.c
 *	  Which partition of a queue a send, a read or a message id goes to.
 *
 * A queue of N partitions (mq.create_queue(..., partitions => N)) has N
 * message tables; catalog.c builds an MqQueue for each (the queue's cache
 * entry is partition 0, its parts[k] partition k).  This file makes the
 * choices between them, and nothing else:
 *
 *	- a message id names its partition (id >> 48, MQ_PART_OF): ack, nack,
 *	  archive and set_vt go straight to its table, arrays split by it;
 *	- a sending transaction goes to one partition, the next transaction of
 *	  the session to the next one (mq_send_partition);
 *	- a message of a FIFO group goes to the partition its group's hash
 *	  names (mq_group_partition), so a group's messages share one table,
 *	  one id order;
 *	- a read starts in its session's partition (mq_read_first_partition)
 *	  and read.c moves on from there while it has fewer than qty.
 *
 * Its part of the read path (read.c, steps 2 to 6): where they start, and
 * which table an ack of what was read goes to.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/partition.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"

#include "mq.h"

/*
 * mq_partition_of
 *		The partition of a queue that holds message id (its top bits), or
 *		NULL when the queue has no such partition.  A queue of one
 *		partition holds every id.
 */
MqQueue *
mq_partition_of(MqQueue *queue, int64 id)
{
	int			k;

	if (queue->nparts <= 1)
		return queue;
	k = MQ_PART_OF(id);
	if (k < 0 || k >= queue->nparts)
		return NULL;
	return queue->parts[k];
}

/* The round robin's turn, and the transaction that took it last. */
static uint32 send_turn = 0;
static LocalTransactionId send_turn_lxid = InvalidLocalTransactionId;

/*
 * mq_send_partition
 *		The partition a send goes to: one per transaction, round robin from
 *		one transaction to the next, starting from a point that differs by
 *		backend.  So concurrent senders spread over the partitions, one
 *		sender fills them evenly, and the messages of one transaction stay
 *		together, in order.
 */
MqQueue *
mq_send_partition(MqQueue *queue)
{
	if (queue->nparts <= 1)
		return queue;
	if (MyProc != NULL && MyProc->lxid != send_turn_lxid)
	{
		send_turn++;
		send_turn_lxid = MyProc->lxid;
	}
	return queue->parts[((uint32) MyProcPid + send_turn) % (uint32) queue->nparts];
}

/*
 * mq_group_hash
 *		A FIFO group's hash: the same on every server and version (it
 *		places messages in partitions that outlive a restart).
 */
uint32
mq_group_hash(Datum group)
{
	text	   *t = DatumGetTextPP(group);

	return hash_bytes((const unsigned char *) VARDATA_ANY(t), (int) VARSIZE_ANY_EXHDR(t));
}

/*
 * mq_group_partition
 *		The partition that holds a FIFO group's messages: its hash mod N.
 */
MqQueue *
mq_group_partition(MqQueue *queue, Datum group)
{
	if (queue->nparts <= 1)
		return queue;
	return queue->parts[mq_group_hash(group) % (uint32) queue->nparts];
}

/*
 * mq_read_first_partition
 *		The partition a read of this backend starts in: fixed per backend,
 *		so that concurrent consumers spread over the partitions.
 */
int
mq_read_first_partition(MqQueue *queue)
{
	if (queue->nparts <= 1)
		return 0;
	return (int) ((uint32) MyProcPid % (uint32) queue->nparts);
}

/*
 * mq_partition_ids
 *		The ids of a bigint[] that belong to partition k of the queue, as
 *		a bigint[] (none: *n is 0 and the result is not an array), and how
 *		many (*n).  A queue of one partition keeps them all.
 */
Datum
mq_partition_ids(MqQueue *queue, Datum ids, int k, int *n)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;
	int			m = 0;

	arr = DatumGetArrayTypeP(ids);
	if (queue->nparts <= 1)
	{
		*n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
		return PointerGetDatum(arr);
	}
	deconstruct_array(arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &nelems);
	for (i = 0; i < nelems; i++)
		if (!nulls[i] && MQ_PART_OF(DatumGetInt64(elems[i])) == k)
			elems[m++] = elems[i];
	*n = m;
	if (m == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(elems, m, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}
