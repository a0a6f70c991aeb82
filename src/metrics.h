/*-------------------------------------------------------------------------
 *
 * metrics.h
 *	  A queue's metrics, as mq.metrics shows them and alerts test them.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_METRICS_H
#define MQ_METRICS_H

#include "cursor.h"
#include "mq.h"

/* Everything shown of one queue. */
typedef struct MqQueueMetrics
{
	char	   *name;
	bool		counted;		/* its tables could be read */
	int64		visible;
	int64		in_flight;
	int64		delayed;
	bool		has_oldest;
	double		oldest_age;		/* seconds, any message */
	double		newest_age;
	bool		has_oldest_visible;
	double		oldest_visible_age;
	int64		total;			/* ids ever given (all partitions) */
	bool		shared;			/* shared memory: counters and latencies */
	MqMetricsSnap snap;			/* the sum of its partitions' */
} MqQueueMetrics;

extern void mq_measure_queue(MqQueue *queue, TimestampTz now, MqQueueMetrics *m);
extern bool mq_percentile(const uint64 *counts, double q, double *out);
extern bool mq_is_monitor(Oid role);

/* alerts.c */
extern int	mq_alerts_evaluate(void);

#endif							/* MQ_METRICS_H */
