/*-------------------------------------------------------------------------
 *
 * alerts.c
 *	  Alert rules on a queue's metrics, evaluated by the database's worker.
 *
 * A rule (mq.create_alert, a row of mq.alert) compares one figure of a
 * queue's metrics (metrics.c) with a threshold.  Each evaluation (the
 * worker's, every mq.worker_naptime, or mq.evaluate_alerts) moves the rule
 * through three states:
 *
 *	ok --(condition holds)--> pending --(held for for_duration)--> firing
 *	pending or firing --(condition does not hold)--> ok
 *
 * Entering firing and leaving it (resolving) are the two events: each is
 * written to mq.alert_log, sent as NOTIFY mq_alerts with a JSON payload,
 * and logged, once.  A rule with for_duration 0 fires at the first
 * evaluation that finds its condition.  Everything runs in the
 * evaluation's transaction, so an event is logged, notified and recorded
 * together or not at all.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/alerts.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "metrics.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_create_alert);
PG_FUNCTION_INFO_V1(mq_drop_alert);
PG_FUNCTION_INFO_V1(mq_evaluate_alerts);
PG_FUNCTION_INFO_V1(mq_may_see);

/* The figures a rule may test. */
static const char *const alert_metrics[] = {
	"depth",					/* messages visible now */
	"queue_length",				/* messages in any state */
	"in_flight",				/* messages leased */
	"oldest_age",				/* seconds: the oldest visible message */
	"failure_rate",				/* nacks, expiries, dead letters per second */
	"dead_letter_rate",			/* dead letters per second */
	"no_consumers",				/* 1: messages visible, nobody waiting, none
								 * delivered in the last minute */
	"queue_time_p95",			/* seconds, the last minute */
	"processing_time_p95",		/* seconds, the last minute */
	NULL
};

static const char *const alert_operators[] = {">", ">=", "<", "<=", NULL};

/*
 * validate_alert_name
 *		An alert name: a lower-case identifier of at most 63 bytes (42602),
 *		as mq.alert's check says.
 */
static void
validate_alert_name(const char *name)
{
	const char *c;
	bool		ok = *name != '\0' && strlen(name) <= 63 && !(*name >= '0' && *name <= '9');

	for (c = name; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid alert name \"%s\"", name),
				 errdetail("An alert name is a lower-case letter or underscore, then lower-case letters, digits or underscores, 63 bytes at most.")));
}

static bool
listed(const char *const *list, const char *v)
{
	for (; *list; list++)
		if (strcmp(*list, v) == 0)
			return true;
	return false;
}

/*
 * mq.create_alert(alert_name, queue_name, metric, threshold, for_duration,
 *				   operator) returns void
 */
Datum
mq_create_alert(PG_FUNCTION_ARGS)
{
	char	   *alert;
	char	   *name;
	char	   *metric;
	char	   *op;
	double		threshold;
	Interval   *for_duration;
	MqContext	cx;
	MqQueue    *queue;
	Datum		values[6];
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, INTERVALOID, TEXTOID};
	int			ret;
	int			i;

	for (i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the arguments of mq.create_alert must not be null")));
	alert = text_to_cstring(PG_GETARG_TEXT_PP(0));
	validate_alert_name(alert);
	name = mq_name_arg(fcinfo, 1);
	metric = text_to_cstring(PG_GETARG_TEXT_PP(2));
	threshold = PG_GETARG_FLOAT8(3);
	for_duration = PG_GETARG_INTERVAL_P(4);
	op = text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (!listed(alert_metrics, metric))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown alert metric \"%s\"", metric),
				 errhint("Use one of depth, queue_length, in_flight, oldest_age, failure_rate, dead_letter_rate, no_consumers, queue_time_p95, processing_time_p95.")));
	if (!listed(alert_operators, op))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown alert operator \"%s\"", op),
				 errhint("Use one of >, >=, <, <=.")));
	if (isnan(threshold) || isinf(threshold))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the threshold of alert \"%s\" must be a finite number", alert)));
	if (for_duration->month < 0 || for_duration->day < 0 || for_duration->time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("for_duration of alert \"%s\" must not be negative", alert)));

	mq_enter(&cx);
	queue = mq_open_queue(&cx, name, MQ_PRIV_MANAGE, AccessShareLock);
	SPI_connect();
	values[0] = CStringGetTextDatum(alert);
	values[1] = CStringGetTextDatum(queue->name);
	values[2] = CStringGetTextDatum(metric);
	values[3] = Float8GetDatum(threshold);
	values[4] = IntervalPGetDatum(for_duration);
	values[5] = CStringGetTextDatum(op);
	ret = SPI_execute_with_args("INSERT INTO mq.alert (alert_name, queue_name, metric, threshold,"
								" for_duration, operator) VALUES ($1, $2, $3, $4, $5, $6)"
								" ON CONFLICT (alert_name) DO NOTHING",
								6, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("alert \"%s\" already exists", alert),
				 errhint("Drop it first with mq.drop_alert.")));
	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_VOID();
}

/*
 * mq.drop_alert(alert_name) returns void
 */
Datum
mq_drop_alert(PG_FUNCTION_ARGS)
{
	char	   *alert = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MqContext	cx;
	Datum		arg;
	Oid			type = TEXTOID;
	char	   *qname;
	int			ret;

	validate_alert_name(alert);
	mq_enter(&cx);
	SPI_connect();
	arg = CStringGetTextDatum(alert);
	ret = SPI_execute_with_args("SELECT queue_name FROM mq.alert WHERE alert_name OPERATOR(pg_catalog.=) $1",
								1, &type, &arg, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("alert \"%s\" does not exist", alert)));
	qname = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	(void) mq_open_queue(&cx, qname, MQ_PRIV_MANAGE, AccessShareLock);
	ret = SPI_execute_with_args("DELETE FROM mq.alert WHERE alert_name OPERATOR(pg_catalog.=) $1",
								1, &type, &arg, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_VOID();
}

/*
 * mq._may_see(queue_name) returns boolean
 *		Does the current role hold a privilege on the queue, or pg_monitor?
 *		False for a queue that does not exist.
 */
Datum
mq_may_see(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MqContext	cx;
	MqQueue    *queue;
	bool		ok;

	mq_enter(&cx);
	queue = mq_lookup_queue(name, true);
	ok = queue != NULL &&
		(mq_privileges(queue, cx.caller) != 0 || mq_is_monitor(cx.caller));
	mq_leave(&cx);
	PG_RETURN_BOOL(ok);
}

/* The figure a rule tests, from a queue's metrics; false when unknown. */
static bool
figure(const char *metric, const MqQueueMetrics *m, double *v)
{
	const MqMetricsSnap *s = &m->snap;
	double		secs = s->win_secs > 0 ? s->win_secs : 0;

	if (strcmp(metric, "depth") == 0)
		*v = (double) m->visible;
	else if (strcmp(metric, "queue_length") == 0)
		*v = (double) (m->visible + m->in_flight + m->delayed);
	else if (strcmp(metric, "in_flight") == 0)
		*v = (double) m->in_flight;
	else if (strcmp(metric, "oldest_age") == 0)
		*v = m->has_oldest_visible ? m->oldest_visible_age : 0;
	else if (!m->shared)
		return false;			/* the rest are from shared memory */
	else if (strcmp(metric, "failure_rate") == 0)
		*v = secs > 0 ? (double) (s->win_counters[MQ_COUNT_NACK] + s->win_counters[MQ_COUNT_EXPIRED] +
								  s->win_counters[MQ_COUNT_DEAD]) / secs : 0;
	else if (strcmp(metric, "dead_letter_rate") == 0)
		*v = secs > 0 ? (double) s->win_counters[MQ_COUNT_DEAD] / secs : 0;
	else if (strcmp(metric, "no_consumers") == 0)
		*v = (m->visible > 0 && s->waiting == 0 && s->win_counters[MQ_COUNT_DELIVERED] == 0) ? 1 : 0;
	else if (strcmp(metric, "queue_time_p95") == 0)
	{
		if (!mq_percentile(s->win_lat[MQ_LAT_QUEUE], 0.95, v))
			*v = 0;
	}
	else if (strcmp(metric, "processing_time_p95") == 0)
	{
		if (!mq_percentile(s->win_lat[MQ_LAT_PROCESS], 0.95, v))
			*v = 0;
	}
	else
		return false;
	return true;
}

static bool
holds(double v, const char *op, double threshold)
{
	if (strcmp(op, ">") == 0)
		return v > threshold;
	if (strcmp(op, ">=") == 0)
		return v >= threshold;
	if (strcmp(op, "<") == 0)
		return v < threshold;
	return v <= threshold;
}

/* An event: the log row, the notification, the server log line. */
static void
alert_event(const char *alert, const char *queue, const char *event, const char *metric,
			const char *op, double threshold, double value, TimestampTz now)
{
	Datum		values[7];
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID};
	StringInfoData payload;
	int			ret;

	values[0] = CStringGetTextDatum(alert);
	values[1] = CStringGetTextDatum(queue);
	values[2] = CStringGetTextDatum(event);
	values[3] = CStringGetTextDatum(metric);
	values[4] = CStringGetTextDatum(op);
	values[5] = Float8GetDatum(threshold);
	values[6] = Float8GetDatum(value);
	ret = SPI_execute_with_args("INSERT INTO mq.alert_log (alert_name, queue_name, event, metric,"
								" operator, threshold, value) VALUES ($1, $2, $3, $4, $5, $6, $7)",
								7, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"alert\": ");
	escape_json(&payload, alert);
	appendStringInfoString(&payload, ", \"queue\": ");
	escape_json(&payload, queue);
	appendStringInfoString(&payload, ", \"event\": ");
	escape_json(&payload, event);
	appendStringInfoString(&payload, ", \"metric\": ");
	escape_json(&payload, metric);
	appendStringInfoString(&payload, ", \"operator\": ");
	escape_json(&payload, op);
	appendStringInfo(&payload, ", \"threshold\": %.15g, \"value\": %.15g, \"at\": ", threshold, value);
	escape_json(&payload, timestamptz_to_str(now));
	appendStringInfoChar(&payload, '}');
	Async_Notify("mq_alerts", payload.data);

	ereport(LOG,
			(errmsg("mq alert \"%s\" on queue \"%s\" %s: %s = %g (%s %g)",
					alert, queue, event, metric, value, op, threshold)));
}

/*
 * mq_alerts_evaluate
 *		Evaluate every rule once, in the caller's transaction, connected to
 *		SPI, inside mq_enter (as the owner of mq's objects).  Returns how
 *		many fired or resolved.  A rule whose queue is being dropped, or
 *		whose figure is unknown (mq not preloaded), is left as it is.
 */
int
mq_alerts_evaluate(void)
{
	TimestampTz now = GetCurrentTimestamp();
	SPITupleTable *rules;
	uint64		nrules;
	uint64		i;
	int			events = 0;
	int			ret;

	/* Rows an evaluation running elsewhere holds are its to do. */
	ret = SPI_execute("SELECT alert_name, queue_name, metric, operator, threshold,"
					  " pg_catalog.date_part('epoch', for_duration), state, pending_since"
					  " FROM mq.alert ORDER BY alert_name FOR UPDATE SKIP LOCKED", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	rules = SPI_tuptable;
	nrules = SPI_processed;

	for (i = 0; i < nrules; i++)
	{
		HeapTuple	t = rules->vals[i];
		TupleDesc	td = rules->tupdesc;
		char	   *alert = SPI_getvalue(t, td, 1);
		char	   *qname = SPI_getvalue(t, td, 2);
		char	   *metric = SPI_getvalue(t, td, 3);
		char	   *op = SPI_getvalue(t, td, 4);
		bool		isnull;
		double		threshold = DatumGetFloat8(SPI_getbinval(t, td, 5, &isnull));
		double		for_secs = DatumGetFloat8(SPI_getbinval(t, td, 6, &isnull));
		char	   *state = SPI_getvalue(t, td, 7);
		Datum		pending_d = SPI_getbinval(t, td, 8, &isnull);
		TimestampTz pending = isnull ? now : DatumGetTimestampTz(pending_d);
		MqQueue    *queue;
		char	   *why = NULL;
		MqQueueMetrics m;
		double		v;
		const char *next = state;
		Datum		values[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
		Oid			types[5] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID, TIMESTAMPTZOID};

		/* A queue whose drop waits for us, or is gone: not now. */
		queue = mq_try_open_queue(qname, AccessShareLock, true, &why);
		if (queue == NULL)
			continue;
		memset(&m, 0, sizeof(m));
		mq_measure_queue(queue, now, &m);
		if (!figure(metric, &m, &v))
			continue;

		if (holds(v, op, threshold))
		{
			if (strcmp(state, "ok") == 0)
			{
				next = "pending";
				pending = now;
			}
			if (strcmp(next, "pending") == 0 &&
				(double) (now - pending) / USECS_PER_SEC >= for_secs)
			{
				next = "firing";
				alert_event(alert, qname, "firing", metric, op, threshold, v, now);
				events++;
			}
		}
		else
		{
			if (strcmp(state, "firing") == 0)
			{
				alert_event(alert, qname, "resolved", metric, op, threshold, v, now);
				events++;
			}
			next = "ok";
		}

		values[0] = CStringGetTextDatum(alert);
		values[1] = CStringGetTextDatum(next);
		values[2] = TimestampTzGetDatum(pending);
		nulls[2] = strcmp(next, "ok") == 0 ? 'n' : ' ';
		values[3] = Float8GetDatum(v);
		values[4] = TimestampTzGetDatum(now);
		ret = SPI_execute_with_args("UPDATE mq.alert SET state = $2, pending_since = $3, last_value = $4,"
									" last_checked = $5, fired_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'firing'"
									" AND state OPERATOR(pg_catalog.<>) 'firing' THEN $5 ELSE fired_at END"
									" WHERE alert_name OPERATOR(pg_catalog.=) $1",
									5, types, values, nulls, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}
	return events;
}

/*
 * mq.evaluate_alerts() returns integer
 */
Datum
mq_evaluate_alerts(PG_FUNCTION_ARGS)
{
	MqContext	cx;
	int			n;

	mq_enter(&cx);
	SPI_connect();
	n = mq_alerts_evaluate();
	SPI_finish();
	mq_leave(&cx);
	PG_RETURN_INT32(n);
}
