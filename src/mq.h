/*-------------------------------------------------------------------------
 *
 * mq.h
 *	  Shared declarations of the mq extension: GUCs, the per-backend queue
 *	  cache entry, and the entry points each module exports.
 *
 * A queue "q" is a row in the registry table mq.queue plus two relations
 * in schema mq: the message table mq.q_<name> and the archive mq.a_<name>.
 * Every C entry point resolves the queue name through catalog.c, which
 * keeps one MqQueue per queue and backend, holding the relation OIDs and
 * the SPI plans prepared once for that queue.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/mq.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_H
#define MQ_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/timestamp.h"

/* Longest queue name, in bytes; keeps "q_" + name well under NAMEDATALEN. */
#define MQ_MAX_NAME_LEN 48

/* Longest dedup key, in bytes. */
#define MQ_MAX_DEDUP_KEY_LEN 512

/* Largest qty one mq.read call may ask for. */
#define MQ_MAX_READ_QTY 10000

/* GUCs (mq.c) */
extern int	mq_max_payload_size;
extern int	mq_max_queues;

/* Plans a queue keeps; each prepared on first use (catalog.c). */
typedef enum MqPlanKind
{
	MQ_PLAN_SEND,
	MQ_PLAN_SEND_BATCH,
	MQ_PLAN_READ,
	MQ_PLAN_READ_SUMMARY,
	MQ_PLAN_ACK,
	MQ_PLAN_ACK_MANY,
	MQ_PLAN_NACK,
	MQ_PLAN_ARCHIVE,
	MQ_PLAN_ARCHIVE_MANY,
	MQ_PLAN_SET_VT,
	MQ_PLAN_PURGE,
	MQ_PLAN_ARCHIVED,
	MQ_PLAN_DEDUP_CLAIM,
	MQ_PLAN_DEDUP_GET,
	MQ_PLAN_DEDUP_SET,
	MQ_PLAN_DEAD_TAKE,
	MQ_PLAN_DEAD_ARCHIVE,
	MQ_PLAN_REDRIVE_TAKE,
	MQ_PLAN_EXPIRE_MARK,
	MQ_NUM_PLANS
} MqPlanKind;

struct MqCursorState;

/* Per-backend cache entry for one queue (catalog.c). */
typedef struct MqQueue
{
	char		name[NAMEDATALEN];	/* hash key: validated queue name */
	bool		valid;			/* false once an invalidation hit it */
	Oid			relid;			/* mq.q_<name> */
	Oid			archive_relid;	/* mq.a_<name> */
	Interval	visibility_timeout;
	bool		unlogged;
	bool		notify;			/* NOTIFY mq_<name> after committed sends */
	Interval	dedup_window;	/* how long a dedup key is remembered */
	bool		has_retry_delay;	/* nack without delay backs off ... */
	Interval	retry_delay;	/* ... from this base */
	bool		has_retry_delay_max;
	Interval	retry_delay_max;	/* ... up to this */
	int			max_deliveries; /* dead-letter after this many; 0 = never */
	char		dead_letter_queue[NAMEDATALEN]; /* "" = archive instead */
	bool		failure_cols;	/* the table has failures, first_error,
								 * failed_at (0.3.0 on) */
	struct MqCursorState *cursor;	/* shared read cursor, or NULL */
	bool		layout_checked; /* insert.c looked at the table */
	bool		layout_ok;		/* ... and may insert directly */
	Oid			seq_relid;		/* the id sequence, when layout_ok */
	SPIPlanPtr	plans[MQ_NUM_PLANS];
} MqQueue;

/* catalog.c */
extern void mq_validate_name(const char *name);
extern char *mq_name_arg(FunctionCallInfo fcinfo, int argno);
extern MqQueue *mq_lookup_queue(const char *name);
extern MqQueue *mq_get_queue(const char *name);
extern SPIPlanPtr mq_queue_plan(MqQueue *queue, MqPlanKind kind);
extern Oid	mq_registry_relid(void);
extern Oid	mq_schema_oid(void);
extern void mq_catalog_init(void);

/* insert.c */
extern bool mq_direct_insert(MqQueue *queue, int n, Datum *payloads,
							 bool headers_null, Datum headers,
							 TimestampTz vt, TimestampTz now, int64 *ids);

/* ack.c */
extern bool mq_dead_letter(MqQueue *queue, int64 id, bool error_null, Datum error,
						   bool claimed, bool failure_recorded);

/* send.c */
extern int64 mq_send_message(const char *name, Datum payload, bool headers_null,
							 Datum headers, TimestampTz vt, TimestampTz now);
extern void mq_check_payload_size(const char *queue, Datum payload, bool headers_null, Datum headers);

/* read.c / ack.c helpers */
extern TimestampTz mq_add_interval(TimestampTz t, Interval *iv);
extern void mq_check_interval(const char *queue, const char *what, Interval *iv);

/* cursor.c */
extern void mq_cursor_init(void);
extern struct MqCursorState *mq_cursor_attach(Oid relid, const char *name);

#endif							/* MQ_H */
