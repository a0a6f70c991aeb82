/*
 * bulk.c
 *	  Large send_batch calls stop when asked to, and send nothing then.
 *
 * The array of 3,000,000 payloads is built once into a table, so that the
 * interrupted statement spends its time in mq.send_batch itself (a full
 * call takes several seconds here).
 *
 *	timeout     statement_timeout 300 ms: 57014, nothing sent
 *	cancel      pg_cancel_backend 300 ms into the call: 57014, nothing
 *	            sent, the call returns soon after (time printed)
 *	terminate   pg_terminate_backend 300 ms in: the connection ends
 *	            (57P01), nothing sent
 *	multi       mq.send_multi to 200 queues: one message each, all or
 *	            nothing (a missing queue at the end sends nothing)
 *	whole       after all that, a 100,000-message call completes and every
 *	            message is there once, in order
 *
 * usage: bulk "conninfo" [check]
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"
#include "client.h"

#define BIG 3000000

/* The big call, as an asynchronous query on c. */
static void
start_big(PGconn *c)
{
	if (!PQsendQuery(c, "SELECT count(*) FROM mq.send_batch('bulk', (SELECT a FROM bulk_payloads))"))
	{
		fprintf(stderr, "send failed: %s", PQerrorMessage(c));
		exit(2);
	}
}

/* Wait for the call's end: its SQLSTATE ("" if it succeeded), and when. */
static const char *
finish_big(PGconn *c, double *ended)
{
	static char state[6];
	PGresult   *r;

	strcpy(state, "");
	while ((r = PQgetResult(c)) != NULL)
	{
		const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		if (PQresultStatus(r) != PGRES_TUPLES_OK && s != NULL)
			snprintf(state, sizeof(state), "%s", s);
		else if (PQresultStatus(r) != PGRES_TUPLES_OK && state[0] == '\0')
			strcpy(state, "?");
		PQclear(r);
	}
	if (PQstatus(c) == CONNECTION_BAD && state[0] == '\0')
		strcpy(state, "conn");
	*ended = now_s();
	return state;
}

static void
test_timeout(PGconn *admin)
{
	PGconn	   *c = connect_or_die();
	double		t0,
				t1;
	const char *state;

	run(c, "SET statement_timeout = '300ms'");
	t0 = now_s();
	start_big(c);
	state = finish_big(c, &t1);
	printf("timeout: the call ended %.3f s after it began\n", t1 - t0);
	check(strcmp(state, "57014") == 0, "timeout: statement_timeout gives 57014 (got %s)", state);
	check(scalar(admin, "SELECT count(*) FROM mq.q_bulk") == 0, "timeout: nothing was sent");
	PQfinish(c);
}

/*
 * interrupt_big
 *		Start the big call on a connection of its own, then run fn (a
 *		pg_*_backend function) on its backend from admin: the call's end
 *		state (SQLSTATE, or "conn" for a closed connection), and how long
 *		after fn returned it ended.
 */
static const char *
interrupt_big(PGconn *admin, PGconn *c, const char *fn, double *after)
{
	double		t0,
				t1;
	const char *state;

	start_big(c);
	sleep_s(0.3);
	t0 = now_s();
	run(admin, "SELECT %s(%d)", fn, PQbackendPID(c));
	state = finish_big(c, &t1);
	*after = t1 - t0;
	return state;
}

static void
test_cancel(PGconn *admin)
{
	PGconn	   *c = connect_or_die();
	double		after;
	const char *state = interrupt_big(admin, c, "pg_cancel_backend", &after);

	printf("cancel: the call returned %.3f s after pg_cancel_backend\n", after);
	check(strcmp(state, "57014") == 0, "cancel: pg_cancel_backend gives 57014 (got %s)", state);
	check(scalar(admin, "SELECT count(*) FROM mq.q_bulk") == 0, "cancel: nothing was sent");
	PQfinish(c);
}

static void
test_terminate(PGconn *admin)
{
	PGconn	   *c = connect_or_die();
	double		after;
	const char *state = interrupt_big(admin, c, "pg_terminate_backend", &after);

	printf("terminate: the connection ended %.3f s after pg_terminate_backend\n", after);
	check(strcmp(state, "57P01") == 0 || strcmp(state, "conn") == 0,
		  "terminate: the session ends (57P01 or a closed connection; got %s)", state);
	check(scalar(admin, "SELECT count(*) FROM mq.q_bulk") == 0, "terminate: nothing was sent");
	PQfinish(c);
}

static void
test_multi(PGconn *admin)
{
	PGresult   *r;

	run(admin, "SELECT mq.create_queue('bulk_m' || g) FROM generate_series(1, 200) g");
	check(scalar(admin, "SELECT count(*) FROM mq.send_multi("
				 "(SELECT array_agg('bulk_m' || g ORDER BY g) FROM generate_series(1, 200) g), '{\"k\": 1}')") == 200,
		  "multi: send_multi to 200 queues returns 200 ids");
	r = PQexec(admin, "SELECT count(*) FROM mq.send_multi("
			   "(SELECT array_agg('bulk_m' || g ORDER BY g) FROM generate_series(1, 200) g) || 'bulk_missing'::text,"
			   " '{\"k\": 2}')");
	check(PQresultStatus(r) == PGRES_FATAL_ERROR &&
		  strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42704") == 0,
		  "multi: a missing 201st queue is refused (42704)");
	PQclear(r);
	check(scalar(admin, "SELECT sum((SELECT count(*) FROM mq.peek('bulk_m' || g, 10)))"
				 " FROM generate_series(1, 200) g") == 200,
		  "multi: each queue holds the one message of the first call, none of the second");
	run(admin, "SELECT mq.drop_queue('bulk_m' || g) FROM generate_series(1, 200) g");
}

static void
test_whole(PGconn *admin)
{
	double		t0 = now_s();

	check(scalar(admin, "SELECT count(*) FROM mq.send_batch('bulk', "
				 "(SELECT array_agg(jsonb_build_object('n', g) ORDER BY g) FROM generate_series(1, 100000) g))") == 100000,
		  "whole: 100,000 messages in one call");
	printf("whole: %.3f s\n", now_s() - t0);
	check(scalar(admin, "SELECT count(*) FROM (SELECT id, (payload->>'n')::int AS n,"
				 " row_number() OVER (ORDER BY id) AS r FROM mq.q_bulk) x WHERE n = r") == 100000,
		  "whole: every message there once, in input order");
}

int
main(int argc, char **argv)
{
	PGconn	   *admin;
	const char *only = argc > 2 ? argv[2] : NULL;
	double		t0;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s conninfo [check]\n", argv[0]);
		return 2;
	}
	conninfo = argv[1];
	admin = connect_or_die();
	run(admin, "SET client_min_messages = warning");
	run(admin, "CREATE EXTENSION IF NOT EXISTS mq");
	run(admin, "SELECT mq.drop_queue('bulk') FROM mq.queue WHERE queue_name = 'bulk'");
	run(admin, "SELECT mq.create_queue('bulk')");
	run(admin, "DROP TABLE IF EXISTS bulk_payloads");
	run(admin, "CREATE UNLOGGED TABLE bulk_payloads AS SELECT array_fill('{\"k\": 1}'::jsonb, ARRAY[%d]) AS a", BIG);

	/* How long a whole call would take, for scale (not checked). */
	t0 = now_s();
	run(admin, "BEGIN");
	run(admin, "SELECT count(*) FROM mq.send_batch('bulk', (SELECT a[1:300000] FROM bulk_payloads))");
	run(admin, "ROLLBACK");
	printf("scale: 300,000 messages take %.3f s here (the interrupted calls send %d)\n", now_s() - t0, BIG);

#define T(name, fn) if (only == NULL || strcmp(only, name) == 0) fn(admin)
	T("timeout", test_timeout);
	T("cancel", test_cancel);
	T("terminate", test_terminate);
	T("multi", test_multi);
	T("whole", test_whole);

	run(admin, "DROP TABLE bulk_payloads");
	run(admin, "SELECT mq.drop_queue('bulk')");
	PQfinish(admin);
	printf("%s\n", failures ? "bulk: FAILED" : "bulk: all checks passed");
	return failures ? 1 : 0;
}
