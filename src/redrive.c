/*-------------------------------------------------------------------------
 *
 * redrive.c
 *	  mq.redrive: move dead-lettered messages back to work.
 *
 * A message dead-lettered by mq.nack (ack.c) sits in an ordinary queue,
 * its headers carrying an "mq_dead_letter" record with its origin queue.
 * mq.redrive takes messages from such a queue, oldest first, skipping any
 * a consumer holds, and sends each as a new message (deliveries start
 * again at 0) to the given target or else to its origin; the record moves
 * into the headers' "mq_history" array, so the history is kept.  One
 * transaction: an unknown target anywhere moves nothing.  The caller
 * needs the manage privilege on the dead-letter queue and the send
 * privilege on every queue a message goes to.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/redrive.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_redrive);

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
	mq_cursor_touch(queue, 0);

	arg = Int64GetDatum(max);
	ret = SPI_execute_plan(mq_queue_plan(queue, MQ_PLAN_REDRIVE_TAKE), &arg, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	n = SPI_processed;

	for (i = 0; i < n; i++)
	{
		bool		isnull;
		bool		headers_null;
		bool		origin_null;
		int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		Datum		payload = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
		Datum		headers = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &headers_null);
		Datum		origin = SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &origin_null);
		char	   *to = target;

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
		(void) mq_send_message(mq_open_queue(&cx, to, MQ_PRIV_SEND, RowExclusiveLock),
							   payload, headers_null, headers, now, now);
	}

	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_INT64((int64) n);
}
