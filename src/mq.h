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
#include "storage/lockdefs.h"
#include "utils/timestamp.h"

/* Longest queue name, in bytes; keeps "q_" + name well under NAMEDATALEN. */
#define MQ_MAX_NAME_LEN 48

/* Longest dedup key, in bytes. */
#define MQ_MAX_DEDUP_KEY_LEN 512

/*
 * Most partitions a queue may have.  Partition k's ids are k * 2^48 plus a
 * sequence number, so a message's id names its partition (MQ_PART_OF).
 */
#define MQ_MAX_PARTITIONS 64
#define MQ_PART_SHIFT 48
#define MQ_PART_OF(id) ((id) < 0 ? -1 : (int) ((id) >> MQ_PART_SHIFT))

/* Largest qty one mq.read call may ask for. */
#define MQ_MAX_READ_QTY 10000

/* GUCs (mq.c) */
extern int	mq_max_payload_size;
extern int	mq_max_queues;

/*
 * Privileges on a queue (acl.c): send (send, send_batch, send_multi),
 * consume (read, ack, nack, archive, set_vt, archived, mark_processed) and
 * manage (alter, purge, drop, redrive from it, grant and revoke).  The
 * right to create queues is per database and kept apart.
 */
#define MQ_PRIV_SEND	0x01
#define MQ_PRIV_CONSUME 0x02
#define MQ_PRIV_MANAGE	0x04
#define MQ_PRIV_ALL		(MQ_PRIV_SEND | MQ_PRIV_CONSUME | MQ_PRIV_MANAGE)

/* One grant of privileges on a queue; grantee InvalidOid is PUBLIC. */
typedef struct MqGrant
{
	Oid			grantee;
	int			privs;
} MqGrant;

/*
 * The context an mq entry point runs its SQL in (acl.c): the caller whose
 * privileges count, and what mq_leave restores.
 */
typedef struct MqContext
{
	Oid			caller;			/* GetUserId() when the call began */
	Oid			save_userid;
	int			save_sec_context;
	bool		switched;		/* running as the mq owner */
	bool		pushed;			/* the fixed search path is in effect */
	int			guc_level;		/* > 0: jit was turned off at this level */
} MqContext;

/* Plans a queue keeps; each prepared on first use (catalog.c). */
typedef enum MqPlanKind
{
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
	MQ_PLAN_ROLLBACK_MARK,
	MQ_PLAN_ROLLBACK_EXISTING,
	MQ_PLAN_POP,
	MQ_PLAN_PEEK_VISIBLE,
	MQ_PLAN_PEEK_LATER,
	MQ_PLAN_SET_VT_MANY,
	MQ_PLAN_BELOW_CURSOR,
	MQ_PLAN_READ_FILTERED,
	MQ_PLAN_FIRST_VISIBLE,
	MQ_PLAN_LEVEL_SUMMARY,
	MQ_PLAN_LEVEL_BELOW,
	MQ_PLAN_FILTER_SUMMARY,
	MQ_PLAN_READ_NO_LEVELS,
	MQ_PLAN_READ_FILTERED_NO_LEVELS,
	MQ_PLAN_POP_NO_LEVELS,
	MQ_PLAN_READ_LEVEL,
	MQ_PLAN_MAX_ID,
	MQ_PLAN_METRICS_DEPTH,
	MQ_PLAN_ACK_HISTORY,
	MQ_PLAN_ACK_MANY_HISTORY,
	MQ_PLAN_ARCHIVE_HISTORY,
	MQ_PLAN_ARCHIVE_MANY_HISTORY,
	MQ_NUM_PLANS
} MqPlanKind;

/*
 * A plan a queue keeps: its slot, and the function that writes its SQL
 * for a queue, given the quoted, schema-qualified message table q and
 * archive a, and which optional columns the table has (cols); it sets
 * the parameter count and types.  Each plan is defined next to the code
 * that runs it.
 */
typedef char *(*MqPlanSqlFn) (MqPlanKind kind, const char *q, const char *a, int cols,
							  int *nargs, Oid *types);

/* Optional columns of a message table, for MqPlanSqlFn's cols. */
#define MQ_COLS_FAILURES 0x01	/* failures, first_error, failed_at (0.3.0) */
#define MQ_COLS_ORDERING 0x02	/* priority, group_id and their indexes (0.5.0) */
#define MQ_COLS_NO_LEVELS 0x04	/* (a plan's choice) claim without priority levels */
#define MQ_COLS_ONE_LEVEL 0x08	/* (a plan's choice) claim from one level above 0 */

/* Longest FIFO group id, in bytes. */
#define MQ_MAX_GROUP_LEN 512

/* Message priorities: mq.send's priority, highest delivered first. */
#define MQ_MIN_PRIORITY 0
#define MQ_MAX_PRIORITY 9


typedef struct MqPlanDef
{
	MqPlanKind	kind;
	MqPlanSqlFn sql;
	int			cols_extra;		/* MQ_COLS_ bits added to the table's */
} MqPlanDef;

/*
 * A failed delivery that ended by lease expiry, as its error text (SQL of
 * the read's claim, the worker's sweep and the rollback recording).
 */
#define MQ_EXPIRED_NOTE "('lease expired (delivery ' OPERATOR(pg_catalog.||) deliveries OPERATOR(pg_catalog.||) ')')"

struct MqCursorState;

/*
 * Per-backend cache entry for one queue (catalog.c).
 *
 * A queue of N partitions has N message tables (mq.q_<name> for partition
 * 0, mq.q<k>_<name> for partition k), each with its own id sequence, read
 * cursor and plans.  The cache entry of the queue is partition 0; parts[k]
 * is an MqQueue for partition k, a copy of the queue's options with its
 * own table.  Code that works on one message table (a claim, an ack, a
 * sweep) is given the partition's MqQueue; privileges and the registry are
 * the queue's (parts[0]).
 */
typedef struct MqQueue
{
	char		name[NAMEDATALEN];	/* hash key: validated queue name */
	bool		valid;			/* false once an invalidation hit it */
	char		table[NAMEDATALEN]; /* the message table: q_<name>, q<k>_<name> */
	int			partno;			/* which partition this is (0: the queue) */
	int			nparts;			/* the queue's partitions (1: not partitioned) */
	struct MqQueue **parts;		/* parts[k] is partition k; parts[0] the queue */
	Oid			wake_relid;		/* partition 0's table: waiters wait on it */
	Oid			relid;			/* this partition's message table */
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
	bool		ordering_cols;	/* the table has priority and group_id
								 * (0.5.0 on) */
	struct MqCursorState *cursor;	/* shared read cursor, or NULL */
	Oid			owner;			/* the queue's owner (InvalidOid before 0.4.0) */
	bool		history;		/* record each message's events (0.5.0 on) */
	Interval	history_retention;	/* how long events are kept */
	Oid			history_relid;	/* mq.h_<name>, if it exists */
	int			ngrants;
	MqGrant    *grants;			/* privileges granted on it, in the cache */
	Oid			acl_role;		/* the role acl_privs was worked out for */
	int			acl_privs;
	bool		acl_valid;
	bool		shape_checked;	/* shape.c looked at the tables ... */
	char	   *problem;		/* ... and found this wrong (NULL: nothing) */
	Oid			seq_relid;		/* the id sequence, once shape_checked */
	Oid			prio_index;		/* the priority index, once shape_checked */
	SPIPlanPtr	plans[MQ_NUM_PLANS];
} MqQueue;

/* catalog.c */
extern void mq_validate_name(const char *name);
extern char *mq_name_arg(FunctionCallInfo fcinfo, int argno);
extern MqQueue *mq_lookup_queue(const char *name, bool missing_ok);
extern MqQueue *mq_lookup_queue_locked(const char *name);
extern MqQueue *mq_open_queue(MqContext *cx, const char *name, int privs, LOCKMODE lockmode);
extern MqQueue *mq_try_open_queue(const char *name, LOCKMODE lockmode, bool nowait, char **why);
extern bool mq_queue_shape_ok(MqQueue *queue);

extern SPIPlanPtr mq_queue_plan(MqQueue *queue, const MqPlanDef *def);
extern uint64 mq_run_plan(MqQueue *queue, const MqPlanDef *def, Datum *values,
						  const char *nulls, int expected);
extern Oid	mq_registry_relid(void);
extern Oid	mq_schema_oid(void);
extern Oid	mq_owner(void);
extern bool mq_model_active(void);
extern void mq_catalog_init(void);
extern void mq_invalidate_privileges(void);

/* partition.c */
extern MqQueue *mq_partition_of(MqQueue *queue, int64 id);
extern MqQueue *mq_send_partition(MqQueue *queue);
extern uint32 mq_group_hash(Datum group);
extern MqQueue *mq_group_partition(MqQueue *queue, Datum group);
extern int	mq_read_first_partition(MqQueue *queue);
extern Datum mq_partition_ids(MqQueue *queue, Datum ids, int k, int *n);

/* acl.c */
extern void mq_enter(MqContext *cx);
extern void mq_enter_worker(MqContext *cx);
extern void mq_leave(MqContext *cx);
extern int	mq_privileges(MqQueue *queue, Oid role);
extern void mq_require(MqQueue *queue, Oid role, int privs);
extern void mq_require_create(Oid role);
extern const char *mq_priv_name(int priv);

extern Oid	mq_current_caller;

/* shape.c */
extern char *mq_shape_problem(MqQueue *queue, Oid owner);

/* history.c */
typedef struct MqHistory MqHistory;
extern void mq_history_create_table(const char *name, bool unlogged);
extern MqHistory *mq_history_begin(MqQueue *queue, const char *event);
extern void mq_history_add(MqHistory *h, int64 id, int32 delivery, TimestampTz visible_at,
						   Datum error, Datum headers);
extern void mq_history_link(MqHistory *h, const char *other_queue, int64 other_id);
extern void mq_history_by(MqHistory *h, int pid, Oid role);
extern void mq_history_end(MqHistory *h);
extern void mq_history_from(const char *name, int64 id);
extern void mq_history_sent(MqQueue *queue, int n, const int64 *ids, bool headers_null,
							Datum headers, TimestampTz vt);
extern bool mq_history_purge(const char *name);

/* insert.c */
/* A direct insert into one of mq's tables: rows go in chunks of slots. */
typedef struct MqInserter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;		/* fill slots[0 .. m) for each write */
	int			nslots;
	CommandId	cid;
} MqInserter;

extern void mq_inserter_begin(MqInserter *ins, Relation rel, int n, int chunk);
extern void mq_inserter_write(MqInserter *ins, int m);
extern void mq_inserter_end(MqInserter *ins);
extern void mq_direct_insert(MqQueue *queue, int n, Datum *payloads,
							 bool headers_null, Datum headers,
							 TimestampTz vt, TimestampTz now, const int *priorities,
							 const Datum *groups, int64 *ids);

/* deadletter.c */
extern bool mq_dead_letter(MqQueue *queue, int64 id, bool error_null, Datum error,
						   bool claimed, bool failure_recorded, const char *cause);

/* send.c */
extern int64 mq_send_message(MqQueue *queue, Datum payload, bool headers_null,
							 Datum headers, TimestampTz vt, TimestampTz now, int priority,
							 Datum group);
extern Datum mq_check_group(const char *queue, Datum group);
extern void mq_lock_queue_groups(const char *name, LOCKMODE mode);
extern int	mq_check_priority(const char *queue, int priority);
extern void mq_check_payload_size(const char *queue, Datum payload, bool headers_null, Datum headers);
extern text *mq_check_key(const char *queue, const char *what, Datum key);
extern void mq_check_headers(const char *queue, bool headers_null, Datum headers);

/* mq.c: interval arguments */
extern TimestampTz mq_add_interval(TimestampTz t, Interval *iv);
extern void mq_check_interval(const char *queue, const char *what, Interval *iv);

/* cursor.c */
extern void mq_cursor_init(void);
extern struct MqCursorState *mq_cursor_attach(Oid relid, const char *name, Oid wake_relid);
extern void mq_cursor_forget_at_commit(const char *name, bool whole_database);

#endif							/* MQ_H */
