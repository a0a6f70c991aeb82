/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  mq.metrics, mq.prometheus and mq.reset_metrics: what operators scrape.
 *
 * Two kinds of figures per queue:
 *
 * - From shared memory (cursor.c), never from the tables: counters of
 *   committed events (sent, delivered, acked, nacked, archived, dead
 *   letters, expired leases, rolled-back deliveries, redriven), their
 *   rates over the last minute, and two latency distributions in fixed
 *   buckets: time in queue (send to first delivery) and processing time
 *   (delivery to ack or archive, measured when the backend that delivered
 *   the message removes it).  They count since `counters_since`: the
 *   queue's creation, its last mq.reset_metrics, or the server start when
 *   the server stopped uncleanly (a clean shutdown keeps them, cursor.c).
 *
 * - From the queue's tables, one aggregate query per partition: how many
 *   messages are visible, leased and delayed, and the ages of the oldest
 *   and newest.  That query reads the table once (as mq.queues does, and
 *   pgmq's metrics): its cost grows with the queue's depth, not with the
 *   number of events.
 *
 * Only queues the caller holds some privilege on are shown (mq.queues'
 * rule), or every queue to members of pg_monitor; naming one it may not
 * see is 42501.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "metrics.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_metrics);
PG_FUNCTION_INFO_V1(mq_prometheus);
PG_FUNCTION_INFO_V1(mq_reset_metrics);

/* Upper bounds of the latency buckets, in seconds; the last is +Inf. */
static const double lat_bounds[MQ_LAT_BUCKETS - 1] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 300, 900, 3600
};

/*
 * mq_latency_bucket
 *		The bucket of a latency of usecs microseconds.
 */
int
mq_latency_bucket(int64 usecs)
{
	double		secs = (double) usecs / USECS_PER_SEC;
	int			b;

	for (b = 0; b < MQ_LAT_BUCKETS - 1; b++)
		if (secs <= lat_bounds[b])
			return b;
	return MQ_LAT_BUCKETS - 1;
}

/*
 * mq_percentile
 *		The q-quantile (0 < q < 1) of a bucketed distribution, interpolated
 *		linearly inside its bucket (the lower bound of the first is 0; in
 *		the last, unbounded one, its lower bound).  False with no samples.
 */
bool
mq_percentile(const uint64 *counts, double q, double *out)
{
	uint64		total = 0;
	double		rank;
	uint64		below = 0;
	int			b;

	for (b = 0; b < MQ_LAT_BUCKETS; b++)
		total += counts[b];
	if (total == 0)
		return false;
	rank = q * (double) total;
	for (b = 0; b < MQ_LAT_BUCKETS; b++)
	{
		double		lo = b == 0 ? 0 : lat_bounds[b - 1];

		if (counts[b] > 0 && (double) (below + counts[b]) >= rank)
		{
			if (b == MQ_LAT_BUCKETS - 1)
				*out = lo;
			else
				*out = lo + (lat_bounds[b] - lo) * (rank - (double) below) / (double) counts[b];
			return true;
		}
		below += counts[b];
	}
	*out = lat_bounds[MQ_LAT_BUCKETS - 2];
	return true;
}

/* May role see every queue's metrics (a member of pg_monitor)? */
bool
mq_is_monitor(Oid role)
{
	return has_privs_of_role(role, ROLE_PG_MONITOR);
}

/* Add one partition's snapshot to a queue's. */
static void
snap_add(MqMetricsSnap *sum, const MqMetricsSnap *part, bool first)
{
	int			i;
	int			b;

	if (first || part->since < sum->since)
		sum->since = part->since;
	for (i = 0; i < MQ_NUM_COUNTERS; i++)
	{
		sum->counters[i] += part->counters[i];
		sum->win_counters[i] += part->win_counters[i];
	}
	for (i = 0; i < MQ_NUM_LAT; i++)
	{
		sum->lat_sum[i] += part->lat_sum[i];
		sum->win_lat_sum[i] += part->win_lat_sum[i];
		for (b = 0; b < MQ_LAT_BUCKETS; b++)
		{
			sum->lat[i][b] += part->lat[i][b];
			sum->win_lat[i][b] += part->win_lat[i][b];
		}
	}
	if (first || part->win_secs > sum->win_secs)
		sum->win_secs = part->win_secs;
	sum->waiting += part->waiting;
}

static char *
depth_sql(MqPlanKind kind, const char *q, const char *a, int cols, int *nargs, Oid *types)
{
	/* By state at $1: visible, leased, delayed; ages of the messages. */
	*nargs = 1;
	types[0] = TIMESTAMPTZOID;
	return psprintf("SELECT pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.<=) $1),"
					" pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1 AND leased),"
					" pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1 AND NOT leased),"
					" pg_catalog.min(enqueued_at), pg_catalog.max(enqueued_at),"
					" pg_catalog.min(enqueued_at) FILTER (WHERE vt OPERATOR(pg_catalog.<=) $1) "
					"FROM ONLY %s", q);
}

static const MqPlanDef depth_plan = {MQ_PLAN_METRICS_DEPTH, depth_sql};

/* Seconds from t to now. */
static double
age_secs(TimestampTz now, TimestampTz t)
{
	return (double) (now - t) / USECS_PER_SEC;
}

/*
 * mq_measure_queue
 *		Fill m for an opened queue (all its partitions).  Caller is
 *		connected to SPI, inside mq_enter.
 */
void
mq_measure_queue(MqQueue *queue, TimestampTz now, MqQueueMetrics *m)
{
	int			k;

	m->name = pstrdup(queue->name);
	m->counted = mq_queue_shape_ok(queue);
	m->shared = mq_cursor_available();
	for (k = 0; k < queue->nparts; k++)
	{
		MqQueue    *part = queue->parts[k];
		MqMetricsSnap snap;

		/* No state: nothing counted since the start (zero, since now). */
		(void) mq_cursor_metrics(part->relid, &snap);
		snap_add(&m->snap, &snap, k == 0);

		if (m->counted)
		{
			Datum		arg = TimestampTzGetDatum(now);
			HeapTuple	t;
			TupleDesc	td;
			bool		isnull;
			Datum		d;

			if (mq_run_plan(part, &depth_plan, &arg, NULL, SPI_OK_SELECT) != 1)
				elog(ERROR, "the depth of queue \"%s\" could not be read", queue->name);
			t = SPI_tuptable->vals[0];
			td = SPI_tuptable->tupdesc;
			m->visible += DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
			m->in_flight += DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
			m->delayed += DatumGetInt64(SPI_getbinval(t, td, 3, &isnull));
			d = SPI_getbinval(t, td, 4, &isnull);
			if (!isnull && (!m->has_oldest || age_secs(now, DatumGetTimestampTz(d)) > m->oldest_age))
				m->oldest_age = age_secs(now, DatumGetTimestampTz(d));
			d = SPI_getbinval(t, td, 5, &isnull);
			if (!isnull && (!m->has_oldest || age_secs(now, DatumGetTimestampTz(d)) < m->newest_age))
				m->newest_age = age_secs(now, DatumGetTimestampTz(d));
			if (!isnull)
				m->has_oldest = true;
			d = SPI_getbinval(t, td, 6, &isnull);
			if (!isnull && (!m->has_oldest_visible ||
							age_secs(now, DatumGetTimestampTz(d)) > m->oldest_visible_age))
			{
				m->oldest_visible_age = age_secs(now, DatumGetTimestampTz(d));
				m->has_oldest_visible = true;
			}
			SPI_freetuptable(SPI_tuptable);
		}

		/* Ids ever given: the sequence's last value past the partition's base. */
		if (OidIsValid(part->seq_relid))
		{
			LOCAL_FCINFO(seqinfo, 1);
			Datum		last;

			InitFunctionCallInfoData(*seqinfo, NULL, 1, InvalidOid, NULL, NULL);
			seqinfo->args[0].value = ObjectIdGetDatum(part->seq_relid);
			seqinfo->args[0].isnull = false;
			last = pg_sequence_last_value(seqinfo);
			if (!seqinfo->isnull)
				m->total += DatumGetInt64(last) - ((int64) k << MQ_PART_SHIFT);
		}
	}
}

/*
 * collect
 *		The metrics of one queue (name), or of every queue the caller holds
 *		a privilege on (name NULL).  Returns a List of MqQueueMetrics.
 */
static List *
collect(MqContext *cx, const char *name, TimestampTz now)
{
	List	   *names = NIL;
	List	   *out = NIL;
	ListCell   *lc;
	bool		monitor = mq_is_monitor(cx->caller);

	if (name != NULL)
		names = list_make1(pstrdup(name));
	else
	{
		uint64		i;

		if (SPI_execute("SELECT queue_name FROM mq.queue ORDER BY queue_name", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not list the queues");
		for (i = 0; i < SPI_processed; i++)
			names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}

	foreach(lc, names)
	{
		char	   *qname = lfirst(lc);
		MqQueue    *queue;
		MqQueueMetrics *m;

		queue = mq_lookup_queue_locked(qname);
		if (queue == NULL || !OidIsValid(queue->relid))
		{
			if (name != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("queue \"%s\" does not exist", qname),
						 errhint("Create it with mq.create_queue.")));
			continue;
		}
		if (!monitor && mq_privileges(queue, cx->caller) == 0)
		{
			if (name != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to see the metrics of queue \"%s\"", qname),
						 errdetail("Role \"%s\" holds no privilege on the queue.",
								   GetUserNameFromId(cx->caller, false)),
						 errhint("A role that may manage the queue can grant one with mq.grant.")));
			continue;
		}
		m = palloc0(sizeof(MqQueueMetrics));
		mq_measure_queue(queue, now, m);
		out = lappend(out, m);
	}
	return out;
}

/* Events per second over the last minute (NULL-worthy when none). */
static double
rate(const MqMetricsSnap *s, uint64 n)
{
	return s->win_secs > 0 ? (double) n / s->win_secs : 0;
}

#define METRICS_COLS 35

/*
 * mq.metrics(queue_name text DEFAULT NULL) returns table
 */
Datum
mq_metrics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = PG_ARGISNULL(0) ? NULL : mq_name_arg(fcinfo, 0);
	TimestampTz now = GetCurrentTimestamp();
	MqContext	cx;
	List	   *all;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	mq_enter(&cx);
	SPI_connect();
	all = collect(&cx, name, now);

	foreach(lc, all)
	{
		MqQueueMetrics *m = lfirst(lc);
		MqMetricsSnap *s = &m->snap;
		Datum		values[METRICS_COLS];
		bool		nulls[METRICS_COLS];
		int			c = 0;
		int			i;
		static const MqCounter order[] = {
			MQ_COUNT_SENT, MQ_COUNT_DELIVERED, MQ_COUNT_ACKED, MQ_COUNT_NACK,
			MQ_COUNT_ARCHIVED, MQ_COUNT_DEAD, MQ_COUNT_EXPIRED, MQ_COUNT_ROLLBACK,
			MQ_COUNT_REDRIVEN
		};

		memset(nulls, 0, sizeof(nulls));
		values[c++] = CStringGetTextDatum(m->name);
		/* queue_length, visible, in_flight, delayed */
		nulls[c] = !m->counted;
		values[c++] = Int64GetDatum(m->visible + m->in_flight + m->delayed);
		nulls[c] = !m->counted;
		values[c++] = Int64GetDatum(m->visible);
		nulls[c] = !m->counted;
		values[c++] = Int64GetDatum(m->in_flight);
		nulls[c] = !m->counted;
		values[c++] = Int64GetDatum(m->delayed);
		/* newest_msg_age_sec, oldest_msg_age_sec, oldest_visible_age_sec */
		nulls[c] = !m->has_oldest;
		values[c++] = Float8GetDatum(m->newest_age);
		nulls[c] = !m->has_oldest;
		values[c++] = Float8GetDatum(m->oldest_age);
		nulls[c] = !m->has_oldest_visible;
		values[c++] = Float8GetDatum(m->oldest_visible_age);
		values[c++] = Int64GetDatum(m->total);
		/* the counters, NULL without shared memory */
		for (i = 0; i < lengthof(order); i++)
		{
			nulls[c] = !m->shared;
			values[c++] = Int64GetDatum((int64) s->counters[order[i]]);
		}
		nulls[c] = !m->shared;
		values[c++] = TimestampTzGetDatum(s->since);
		/* rates over the last minute */
		nulls[c] = !m->shared;
		values[c++] = Float8GetDatum(rate(s, s->win_counters[MQ_COUNT_SENT]));
		nulls[c] = !m->shared;
		values[c++] = Float8GetDatum(rate(s, s->win_counters[MQ_COUNT_DELIVERED]));
		nulls[c] = !m->shared;
		values[c++] = Float8GetDatum(rate(s, s->win_counters[MQ_COUNT_ACKED] +
										  s->win_counters[MQ_COUNT_ARCHIVED]));
		nulls[c] = !m->shared;
		values[c++] = Float8GetDatum(rate(s, s->win_counters[MQ_COUNT_NACK] +
										  s->win_counters[MQ_COUNT_EXPIRED] +
										  s->win_counters[MQ_COUNT_DEAD]));
		/* latencies over the last minute: p50, p95, p99, mean, samples */
		for (i = 0; i < MQ_NUM_LAT; i++)
		{
			static const double qs[] = {0.5, 0.95, 0.99};
			uint64		samples = 0;
			int			b;
			int			j;

			for (j = 0; j < lengthof(qs); j++)
			{
				double		v = 0;

				nulls[c] = !mq_percentile(s->win_lat[i], qs[j], &v);
				values[c++] = Float8GetDatum(v);
			}
			for (b = 0; b < MQ_LAT_BUCKETS; b++)
				samples += s->win_lat[i][b];
			nulls[c] = samples == 0;
			values[c++] = Float8GetDatum(samples > 0 ? s->win_lat_sum[i] / (double) samples : 0);
			nulls[c] = !m->shared;
			values[c++] = Int64GetDatum((int64) samples);
		}
		nulls[c] = !m->shared;
		values[c++] = Int32GetDatum(s->waiting);
		values[c++] = TimestampTzGetDatum(now);
		Assert(c == METRICS_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	SPI_finish();
	mq_leave(&cx);
	return (Datum) 0;
}

/* A label value in the exposition format: \, " and newline escaped. */
static void
append_label(StringInfo buf, const char *v)
{
	for (; *v; v++)
	{
		if (*v == '\\' || *v == '"')
			appendStringInfoChar(buf, '\\');
		if (*v == '\n')
		{
			appendStringInfoString(buf, "\\n");
			continue;
		}
		appendStringInfoChar(buf, *v);
	}
}

/* One sample line: name{queue="q"[,extra]} value */
static void
sample(StringInfo buf, const char *metric, const char *queue, const char *extra, double v)
{
	appendStringInfo(buf, "%s{queue=\"", metric);
	append_label(buf, queue);
	appendStringInfo(buf, "\"%s} %.15g\n", extra ? extra : "", v);
}

static void
header(StringInfo buf, const char *metric, const char *type, const char *help)
{
	appendStringInfo(buf, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

/*
 * mq.prometheus() returns text
 *		The Prometheus text exposition format (version 0.0.4) of every
 *		queue the caller may see: one family per figure, the queue as a
 *		label, each family's samples together.
 */
Datum
mq_prometheus(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTimestamp();
	MqContext	cx;
	List	   *all;
	ListCell   *lc;
	StringInfoData buf;
	int			i;
	static const struct
	{
		MqCounter	which;
		const char *metric;
		const char *help;
	}			counters[] = {
		{MQ_COUNT_SENT, "mq_sent_total", "Messages sent to the queue (committed), dead letters and redriven messages arriving included."},
		{MQ_COUNT_DELIVERED, "mq_delivered_total", "Deliveries by mq.read and mq.pop (committed)."},
		{MQ_COUNT_ACKED, "mq_acked_total", "Messages acked (committed)."},
		{MQ_COUNT_NACK, "mq_nacked_total", "Nacks (committed)."},
		{MQ_COUNT_ARCHIVED, "mq_archived_total", "Messages archived by mq.archive (committed)."},
		{MQ_COUNT_DEAD, "mq_dead_lettered_total", "Messages moved to the dead-letter queue or archived as dead."},
		{MQ_COUNT_EXPIRED, "mq_expired_leases_total", "Leases that expired without an ack or nack."},
		{MQ_COUNT_ROLLBACK, "mq_rolled_back_deliveries_total", "Deliveries undone by a rollback."},
		{MQ_COUNT_REDRIVEN, "mq_redriven_total", "Messages redriven out of this dead-letter queue."},
	};
	static const struct
	{
		const char *metric;
		const char *help;
	}			lats[MQ_NUM_LAT] = {
		{"mq_queue_time_seconds", "Time from a message's send to its first delivery."},
		{"mq_processing_time_seconds", "Time from a delivery to the ack or archive, when the delivering backend removed the message."},
	};

	/* The text outlives SPI_finish: in the caller's context. */
	initStringInfo(&buf);
	mq_enter(&cx);
	SPI_connect();
	all = collect(&cx, NULL, now);

	header(&buf, "mq_messages", "gauge", "Messages in the queue by state (visible, in_flight, delayed).");
	foreach(lc, all)
	{
		MqQueueMetrics *m = lfirst(lc);

		if (!m->counted)
			continue;
		sample(&buf, "mq_messages", m->name, ",state=\"visible\"", (double) m->visible);
		sample(&buf, "mq_messages", m->name, ",state=\"in_flight\"", (double) m->in_flight);
		sample(&buf, "mq_messages", m->name, ",state=\"delayed\"", (double) m->delayed);
	}
	header(&buf, "mq_oldest_message_age_seconds", "gauge", "Age of the oldest message in the queue, in any state.");
	foreach(lc, all)
	{
		MqQueueMetrics *m = lfirst(lc);

		sample(&buf, "mq_oldest_message_age_seconds", m->name, NULL, m->has_oldest ? m->oldest_age : 0);
	}
	header(&buf, "mq_oldest_visible_message_age_seconds", "gauge", "Age of the oldest message a read could take now.");
	foreach(lc, all)
	{
		MqQueueMetrics *m = lfirst(lc);

		sample(&buf, "mq_oldest_visible_message_age_seconds", m->name, NULL,
			   m->has_oldest_visible ? m->oldest_visible_age : 0);
	}
	header(&buf, "mq_consumers_waiting", "gauge", "Consumers waiting in mq.read now.");
	foreach(lc, all)
	{
		MqQueueMetrics *m = lfirst(lc);

		if (m->shared)
			sample(&buf, "mq_consumers_waiting", m->name, NULL, (double) m->snap.waiting);
	}
	for (i = 0; i < lengthof(counters); i++)
	{
		header(&buf, counters[i].metric, "counter", counters[i].help);
		foreach(lc, all)
		{
			MqQueueMetrics *m = lfirst(lc);

			if (m->shared)
				sample(&buf, counters[i].metric, m->name, NULL,
					   (double) m->snap.counters[counters[i].which]);
		}
	}
	header(&buf, "mq_counters_reset_timestamp_seconds", "gauge",
		   "When the queue's counters and histograms began counting (Unix time).");
	foreach(lc, all)
	{
		MqQueueMetrics *m = lfirst(lc);

		if (m->shared)
			sample(&buf, "mq_counters_reset_timestamp_seconds", m->name, NULL,
				   (double) (m->snap.since - SetEpochTimestamp()) / USECS_PER_SEC);
	}
	for (i = 0; i < MQ_NUM_LAT; i++)
	{
		header(&buf, lats[i].metric, "histogram", lats[i].help);
		foreach(lc, all)
		{
			MqQueueMetrics *m = lfirst(lc);
			uint64		cum = 0;
			int			b;
			char		le[64];

			if (!m->shared)
				continue;
			for (b = 0; b < MQ_LAT_BUCKETS; b++)
			{
				cum += m->snap.lat[i][b];
				if (b < MQ_LAT_BUCKETS - 1)
					snprintf(le, sizeof(le), ",le=\"%g\"", lat_bounds[b]);
				else
					snprintf(le, sizeof(le), ",le=\"+Inf\"");
				appendStringInfo(&buf, "%s_bucket{queue=\"", lats[i].metric);
				append_label(&buf, m->name);
				appendStringInfo(&buf, "\"%s} " UINT64_FORMAT "\n", le, cum);
			}
			appendStringInfo(&buf, "%s_sum{queue=\"", lats[i].metric);
			append_label(&buf, m->name);
			appendStringInfo(&buf, "\"} %.15g\n", m->snap.lat_sum[i]);
			appendStringInfo(&buf, "%s_count{queue=\"", lats[i].metric);
			append_label(&buf, m->name);
			appendStringInfo(&buf, "\"} " UINT64_FORMAT "\n", cum);
		}
	}

	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * mq.reset_metrics(queue_name text) returns void
 *		Zero a queue's counters and latencies (manage privilege).
 */
Datum
mq_reset_metrics(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	MqContext	cx;
	MqQueue    *queue;
	int			k;

	mq_enter(&cx);
	queue = mq_open_queue(&cx, name, MQ_PRIV_MANAGE, AccessShareLock);
	for (k = 0; k < queue->nparts; k++)
		mq_cursor_reset_metrics(queue->parts[k]->relid);
	mq_leave(&cx);
	PG_RETURN_VOID();
}
