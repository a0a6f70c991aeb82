/*-------------------------------------------------------------------------
 *
 * wait.h
 *	  Consumers waiting in mq.read, and the wake-ups that end their sleep.
 *	  See wait.c.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/wait.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_WAIT_H
#define MQ_WAIT_H

#include "access/xact.h"

#include "effects.h"
#include "mq.h"

/* Wake every waiter of a queue, not a counted number. */

extern void mq_wait_init(void);
extern bool mq_wait_available(void);
extern void mq_wait_register(MqQueue *queue, int priority, bool filtered, MqEffects *fx);
extern bool mq_wait_consume(void);
extern void mq_wait_unregister(bool pass_on);
extern void mq_wait_wake(Oid dbid, Oid relid, int n);
extern void mq_wait_wake_database(Oid dbid);
extern int	mq_wait_count(Oid dbid, Oid relid);
extern void mq_wait_drop_begin(Oid relid);
extern bool mq_wait_drop_pending(Oid relid);
extern void mq_wait_xact_end(XactEvent event);

#endif							/* MQ_WAIT_H */
