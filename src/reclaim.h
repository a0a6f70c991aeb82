/*-------------------------------------------------------------------------
 *
 * reclaim.h
 *	  The worker's vacuum of queue tables.  See reclaim.c.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/reclaim.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_RECLAIM_H
#define MQ_RECLAIM_H

extern int	mq_vacuum_naptime;
extern int	mq_vacuum_threshold;

extern void mq_reclaim_init(void);
extern bool mq_reclaim_queue(const char *name);

#endif							/* MQ_RECLAIM_H */
