/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The mq launcher and the per-database workers.  See worker.c.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_WORKER_H
#define MQ_WORKER_H

#include "postgres.h"

#include "access/xact.h"

extern void mq_worker_init(void);
extern void mq_worker_signal(Oid dbid);
extern bool mq_worker_running(Oid dbid);
extern void mq_worker_recheck_at_commit(void);
extern void mq_worker_xact_end(XactEvent event);

#endif							/* MQ_WORKER_H */
