/*-------------------------------------------------------------------------
 *
 * cursor.h
 *	  The shared read cursor of a queue: where reads start scanning, and
 *	  the events that move it.  See cursor.c for the protocol.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/cursor.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_CURSOR_H
#define MQ_CURSOR_H

#include "access/xact.h"

#include "effects.h"
#include "mq.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

/* One read's view of the cursor, from mq_cursor_read_start to _finish. */
typedef struct MqReadScan
{
	struct MqCursorState *state;	/* NULL: scan from the head, no write-back */
	int64		from;			/* scan ids >= from */
	int64		floor;			/* no message below it is in the queue but
								 * those the position passed as future */
	int64		lvl_from[MQ_MAX_PRIORITY + 1];	/* level L > 0: scan its ids >= this */
	bool		lvl_used[MQ_MAX_PRIORITY + 1];	/* level L had a position once */
	int64		lvl_top[MQ_MAX_PRIORITY + 1];	/* level L: no message above this id
												 * was sent before the scan began;
												 * -1: not known */
	bool		lvl_empty[MQ_MAX_PRIORITY + 1]; /* level L holds nothing a scan from
												 * lvl_from could take */
	uint64		gen;			/* state->gen when the scan started */
	uint64		seq;			/* state->commit_seq when the scan started */
	bool		track;			/* report the scanned range at the end */
	Snapshot	snap;			/* the claim's, for its summaries too (read.c) */
	MqEffects	fx;				/* wake-ups for the caller to apply */
} MqReadScan;

/* Failure counters of a queue, in shared memory since the server started. */
typedef enum MqCounter
{
	MQ_COUNT_NACK,				/* nacks committed */
	MQ_COUNT_EXPIRED,			/* leases found expired (neither acked nor nacked) */
	MQ_COUNT_DEAD,				/* messages dead-lettered or archived as dead */
	MQ_COUNT_ROLLBACK,			/* deliveries undone by a rollback, recorded */
	MQ_COUNT_SENT,				/* messages sent (committed) */
	MQ_COUNT_DELIVERED,			/* deliveries by mq.read and mq.pop (committed) */
	MQ_COUNT_ACKED,				/* messages acked (committed) */
	MQ_COUNT_ARCHIVED,			/* messages archived by mq.archive (committed) */
	MQ_COUNT_REDRIVEN,			/* messages redriven out of this dead-letter queue */
	MQ_NUM_COUNTERS
} MqCounter;

/*
 * Latency distributions of a queue: fixed buckets (upper bounds in
 * metrics.c), counted since the counters' reset and per 10-second slot of
 * the last minute.
 */
typedef enum MqLatency
{
	MQ_LAT_QUEUE,				/* send to first delivery */
	MQ_LAT_PROCESS,				/* delivery to ack or archive */
	MQ_NUM_LAT
} MqLatency;

#define MQ_LAT_BUCKETS 19		/* 18 bounds and +Inf */
#define MQ_WIN_SLOTS 6			/* the last minute, ... */
#define MQ_WIN_SECS 10			/* ... in slots of 10 s */

/* What mq.metrics reads of one partition's shared state. */
typedef struct MqMetricsSnap
{
	TimestampTz since;			/* the counters' reset */
	uint64		counters[MQ_NUM_COUNTERS];
	uint64		lat[MQ_NUM_LAT][MQ_LAT_BUCKETS];	/* since the reset */
	double		lat_sum[MQ_NUM_LAT];	/* seconds */
	uint64		win_lat[MQ_NUM_LAT][MQ_LAT_BUCKETS];	/* the last minute */
	double		win_lat_sum[MQ_NUM_LAT];	/* seconds, the last minute */
	uint64		win_counters[MQ_NUM_COUNTERS];	/* the last minute */
	double		win_secs;		/* how long "the last minute" covered */
	int			waiting;		/* consumers waiting now */
} MqMetricsSnap;

extern int	mq_latency_bucket(int64 usecs);
extern void mq_cursor_latency(MqQueue *queue, MqLatency which, int64 usecs);
extern bool mq_cursor_metrics(Oid relid, MqMetricsSnap *out);
extern void mq_cursor_delivered(MqQueue *queue, int64 id, TimestampTz at);
extern void mq_cursor_reset_metrics(Oid relid);
extern bool mq_cursor_available(void);

extern void mq_cursor_count(MqQueue *queue, MqCounter which, int n);
extern void mq_cursor_count_now(struct MqCursorState *state, Oid dbid, Oid relid, MqCounter which, int n);
extern bool mq_cursor_counters(Oid relid, uint64 *out);
extern int64 mq_cursor_scan_from(MqQueue *queue, TimestampTz now);
extern void mq_cursor_read_start(MqQueue *queue, TimestampTz now, MqReadScan *scan);
extern bool mq_cursor_nothing_visible(MqQueue *queue, TimestampTz now);
extern void mq_cursor_read_finish(MqQueue *queue, MqReadScan *scan, int64 newpos,
								  bool has_future, int64 future_id, TimestampTz future_at);
extern void mq_cursor_level_finish(MqQueue *queue, MqReadScan *scan, int level, int64 newpos,
								   bool has_future, int64 future_id, TimestampTz future_at);
extern bool mq_cursor_level_starts(MqQueue *queue, int64 *pos, int64 *starts);
extern bool mq_cursor_own_finish(MqQueue *queue, MqReadScan *scan, int64 own_from, int64 *newpos,
								 bool has_future, int64 future_id, TimestampTz future_at);
extern void mq_cursor_send_begin(MqQueue *queue);
extern void mq_cursor_send_done(MqQueue *queue, int64 min_id, int n,
								TimestampTz vt, TimestampTz now,
								const int *prios, const int64 *ids);
extern bool mq_cursor_claimed(MqQueue *queue, const int64 *ids, int64 min_id, int n,
							  TimestampTz lease_end);
extern void mq_cursor_acked(MqQueue *queue, int64 id);
extern void mq_cursor_vt_changed(MqQueue *queue, int64 id, TimestampTz vt);
extern void mq_cursor_touch(MqQueue *queue, int64 min_id);
extern void mq_cursor_settle_database(MqEffects *fx);
extern bool mq_cursor_waiters_add(struct MqCursorState *state, Oid relid, int delta);
extern bool mq_cursor_wait_hint(MqQueue *queue, TimestampTz *due);
extern List *mq_cursor_worker_pass(TimestampTz now, TimestampTz *next_due, MqEffects *fx);
extern void mq_cursor_xact_end(XactEvent event, MqEffects *fx);
extern void mq_cursor_subxact_abort(SubTransactionId mySubid, MqEffects *fx);
extern void mq_cursor_forget_database(Oid dbid);
extern void mq_cursor_pending_add(struct MqCursorState *state, Oid dbid, Oid relid,
								  int pending, int prepared);
extern bool mq_cursor_pending_any(MqQueue *queue);
extern List *mq_cursor_pending_queues(void);

/* rollback.c */
extern void mq_rollback_init(void);
extern void mq_rollback_delivered(MqQueue *queue, int64 id, int delivery);
extern void mq_rollback_confirm(void);
extern Datum mq_rollback_exclusions(MqQueue *queue, bool *isnull, int64 from, int64 *min_id);
extern bool mq_rollback_prepared_waiting(void);
extern bool mq_rollback_settle(const char *unused);
extern bool mq_rollback_apply(const char *name);
extern void mq_rollback_forget(Oid dbid, Oid relid);
extern bool mq_cursor_state_named(struct MqCursorState *state, Oid dbid, Oid relid, const char *name);
extern void mq_rollback_xact_end(XactEvent event, MqEffects *fx);
extern void mq_rollback_subxact_abort(SubTransactionId mySubid, MqEffects *fx);

#endif							/* MQ_CURSOR_H */
