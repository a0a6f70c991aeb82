/*
 * poison.c
 *	  Consumers whose transactions roll back: every rolled-back delivery
 *	  counts, so a message that makes every consumer fail reaches the
 *	  dead-letter queue, and the others are processed exactly once.
 *
 *	loop        one libpq consumer, read - work - ack per transaction,
 *	            ROLLBACK when the work fails: 200 messages, 3 poison; the
 *	            poison ones end in the dead-letter queue after
 *	            max_deliveries attempts with the record, the others are in
 *	            the ledger exactly once
 *	concurrent  4 consumers at once on 400 messages (8 poison), one message
 *	            per transaction, with wait; meanwhile consumers are
 *	            terminated (pg_terminate_backend) inside their transactions
 *	            (holding 1 to 5 messages) and reconnect; at the end: ledger
 *	            exactly once, the poison all dead-lettered with their
 *	            record, and nothing else (a rolled-back batch would count
 *	            against every message in it, as it should)
 *	terminate   a consumer terminated inside its read's transaction: the
 *	            delivery counts (deliveries 1, failures 1, last_error)
 *
 * usage: poison "conninfo" [check]
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

/* Wait until the queue has no message left (up to 60 s). */
static int
drained(PGconn *admin, const char *queue)
{
	double		t0 = now_s();

	while (now_s() - t0 < 60)
	{
		if (scalar(admin, "SELECT count(*) FROM mq.q_%s", queue) == 0)
			return 1;
		sleep_s(0.05);
	}
	return 0;
}

/*
 * One consumer step: BEGIN; read up to qty (waiting up to 1 s); write each
 * message to the ledger; if any is poison, ROLLBACK (as an application
 * whose work raised); else ack them all and COMMIT.  Returns -1 if the
 * connection broke (terminated), else how many messages it read.
 */
static int
consume_step(PGconn *c, const char *queue, int qty)
{
	char		sql[512];
	PGresult   *r;
	int			n;
	int			i;
	int			poison = 0;

	r = PQexec(c, "BEGIN");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		PQclear(r);
		return -1;
	}
	PQclear(r);
	snprintf(sql, sizeof(sql),
			 "WITH m AS (SELECT * FROM mq.read('%s', %d, '1 hour', wait => '1 second')),"
			 " l AS (INSERT INTO ledger SELECT '%s', (payload->>'n')::int, id FROM m)"
			 " SELECT id, payload ? 'poison' FROM m", queue, qty, queue);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		if (strcmp(PQgetvalue(r, i, 1), "t") == 0)
			poison = 1;
	if (!poison && n > 0)
	{
		PGresult   *a;

		snprintf(sql, sizeof(sql), "SELECT mq.ack('%s', '{", queue);
		for (i = 0; i < n; i++)
		{
			size_t		len = strlen(sql);

			snprintf(sql + len, sizeof(sql) - len, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
		}
		strncat(sql, "}'::bigint[])", sizeof(sql) - strlen(sql) - 1);
		a = PQexec(c, sql);
		if (PQresultStatus(a) != PGRES_TUPLES_OK)
		{
			PQclear(a);
			PQclear(r);
			return -1;
		}
		PQclear(a);
	}
	PQclear(r);
	r = PQexec(c, poison ? "ROLLBACK" : "COMMIT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return n;
}

/* Check the end state of a queue whose messages 1..total had npoison poison. */
static void
check_outcome(PGconn *admin, const char *queue, int total, int npoison, int max_deliveries)
{
	char	   *s;

	check(scalar(admin, "SELECT count(*) FROM ledger WHERE queue = '%s'", queue) == total - npoison,
		  "%s: the ledger has %d entries (every good message once)", queue, total - npoison);
	check(scalar(admin, "SELECT count(DISTINCT n) FROM ledger WHERE queue = '%s'", queue) == total - npoison,
		  "%s: each good message exactly once (no duplicate effect)", queue);
	check(scalar(admin, "SELECT count(*) FROM ledger l JOIN %s_poison p USING (n) WHERE l.queue = '%s'",
				 queue, queue) == 0,
		  "%s: no poison message's effect survived", queue);
	check(scalar(admin, "SELECT count(*) FROM mq.q_%s", queue) == 0, "%s: the queue is empty", queue);
	s = text_of(admin,
				"SELECT count(*) || '|' || count(*) FILTER (WHERE (headers->'mq_dead_letter'->>'deliveries')::int >= %d"
				" AND headers->'mq_dead_letter'->>'last_error' LIKE 'rolled back (delivery %%)'"
				" AND (headers->'mq_dead_letter'->>'failures')::int >= %d)"
				" FROM mq.q_%s_dlq WHERE (payload->>'n')::int IN (SELECT n FROM %s_poison)",
				max_deliveries, max_deliveries, queue, queue);
	{
		char		want[64];

		snprintf(want, sizeof(want), "%d|%d", npoison, npoison);
		check(strcmp(s, want) == 0,
			  "%s: dead-letter queue: poison|with record deliveries >= %d, last_error rolled back: %s (want %s)",
			  queue, max_deliveries, s, want);
	}
	free(s);
	check(scalar(admin, "SELECT count(*) FROM mq.q_%s_dlq", queue) == npoison,
		  "%s: nothing else was dead-lettered", queue);
}

static void
setup_queue(PGconn *admin, const char *queue, int total, int npoison, int max_deliveries)
{
	run(admin, "SELECT mq.create_queue('%s_dlq')", queue);
	run(admin, "SELECT mq.create_queue('%s', max_deliveries => %d, dead_letter_queue => '%s_dlq')",
		queue, max_deliveries, queue);
	run(admin, "CREATE TABLE %s_poison (n int PRIMARY KEY)", queue);
	run(admin, "INSERT INTO %s_poison SELECT g * (%d / %d) FROM generate_series(1, %d) g",
		queue, total, npoison, npoison);
	run(admin, "SELECT count(*) FROM mq.send_batch('%s', (SELECT array_agg("
		"CASE WHEN g IN (SELECT n FROM %s_poison) THEN jsonb_build_object('n', g, 'poison', true)"
		" ELSE jsonb_build_object('n', g) END ORDER BY g) FROM generate_series(1, %d) g))",
		queue, queue, total);
}

static void
test_loop(PGconn *admin)
{
	PGconn	   *c = connect_or_die();
	double		t0 = now_s();
	int			steps = 0;

	setup_queue(admin, "ploop", 200, 3, 3);
	while (now_s() - t0 < 60 && scalar(admin, "SELECT count(*) FROM mq.q_ploop") > 0)
	{
		if (consume_step(c, "ploop", 1) < 0)
		{
			fprintf(stderr, "consumer failed: %s", PQerrorMessage(c));
			exit(2);
		}
		steps++;
	}
	printf("loop: %d steps in %.2f s\n", steps, now_s() - t0);
	check_outcome(admin, "ploop", 200, 3, 3);
	check(scalar(admin, "SELECT rollbacks FROM mq.queues WHERE queue_name = 'ploop'") == 9,
		  "loop: mq.queues counts 9 rolled-back deliveries (3 poison x 3)");
	PQfinish(c);
}

static void
test_concurrent(PGconn *admin)
{
#define NCONS 4
	PGconn	   *cons[NCONS];
	int			i;
	int			terminated = 0;
	int			steps = 0;
	double		t0 = now_s();
	long		rollbacks;
	long		expected_min;

	/* 5: terminations land on good messages, which must not die of them. */
	setup_queue(admin, "pconc", 400, 8, 5);
	for (i = 0; i < NCONS; i++)
	{
		cons[i] = connect_or_die();
		run(cons[i], "SET application_name = 'poison_consumer_%d'", i);
	}
	srandom(42);
	while (now_s() - t0 < 120 && scalar(admin, "SELECT count(*) FROM mq.q_pconc") > 0)
	{
		for (i = 0; i < NCONS; i++)
		{
			int			qty = 1 + (int) (random() % 5);

			/* Now and then, terminate consumer i while it holds messages. */
			if (random() % 40 == 0)
			{
				PGresult   *r;
				char		sql[256];
				int			pid = PQbackendPID(cons[i]);

				r = PQexec(cons[i], "BEGIN");
				PQclear(r);
				snprintf(sql, sizeof(sql), "SELECT count(*) FROM mq.read('pconc', %d, '1 hour')", qty);
				r = PQexec(cons[i], sql);
				PQclear(r);
				run(admin, "SELECT pg_terminate_backend(%d)", pid);
				PQfinish(cons[i]);
				cons[i] = connect_or_die();
				terminated++;
				continue;
			}
			if (consume_step(cons[i], "pconc", 1) < 0)
			{
				PQfinish(cons[i]);
				cons[i] = connect_or_die();
			}
			steps++;
		}
	}
	printf("concurrent: %d steps, %d consumers terminated, %.2f s\n", steps, terminated, now_s() - t0);
	if (!drained(admin, "pconc"))
	{
		PGresult   *r = PQexec(admin, "SELECT id, payload, deliveries, failures, leased, vt - now(), last_error FROM mq.q_pconc ORDER BY id");
		int			j;

		check(0, "concurrent: the queue drained");
		for (j = 0; j < PQntuples(r); j++)
			printf("left: %s %s deliveries %s failures %s leased %s vt-now %s last_error %s\n",
				   PQgetvalue(r, j, 0), PQgetvalue(r, j, 1), PQgetvalue(r, j, 2), PQgetvalue(r, j, 3),
				   PQgetvalue(r, j, 4), PQgetvalue(r, j, 5), PQgetvalue(r, j, 6));
		PQclear(r);
	}
	check_outcome(admin, "pconc", 400, 8, 5);

	/*
	 * Every delivery that did not commit was counted: a message left the
	 * queue either by its ack (deliveries - 1 failed before) or by being
	 * dead-lettered; the ledger holds only committed deliveries.
	 */
	rollbacks = scalar(admin, "SELECT rollbacks FROM mq.queues WHERE queue_name = 'pconc'");
	expected_min = 8 * 5;
	check(rollbacks >= expected_min, "concurrent: rolled-back deliveries counted: %ld (at least %ld)",
		  rollbacks, expected_min);
	for (i = 0; i < NCONS; i++)
		PQfinish(cons[i]);
}

static void
test_terminate(PGconn *admin)
{
	PGconn	   *c = connect_or_die();
	PGresult   *r;
	long		id;
	int			pid = PQbackendPID(c);
	double		t0;
	char	   *s;

	run(admin, "SELECT mq.create_queue('pterm')");
	id = scalar(admin, "SELECT mq.send('pterm', '{\"k\": 1}')");
	run(c, "BEGIN");
	r = PQexec(c, "SELECT id FROM mq.read('pterm', 1, '1 hour')");
	check(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "terminate: the consumer holds the message");
	PQclear(r);
	run(admin, "SELECT pg_terminate_backend(%d)", pid);
	PQfinish(c);
	t0 = now_s();
	while (now_s() - t0 < 30 &&
		   scalar(admin, "SELECT rollbacks FROM mq.queues WHERE queue_name = 'pterm'") < 1)
		sleep_s(0.01);
	printf("terminate: recorded %.3f s after pg_terminate_backend returned\n", now_s() - t0);
	s = text_of(admin, "SELECT deliveries || '|' || failures || '|' || last_error || '|' || leased || '|' || (vt <= now())"
				" FROM mq.q_pterm WHERE id = %ld", id);
	check(strcmp(s, "1|1|rolled back (delivery 1)|false|true") == 0,
		  "terminate: deliveries|failures|last_error|leased|visible = %s", s);
	free(s);
	s = text_of(admin, "SELECT id || '|' || deliveries FROM mq.read('pterm', 1)");
	{
		char		want[64];

		snprintf(want, sizeof(want), "%ld|2", id);
		check(strcmp(s, want) == 0, "terminate: delivered again as delivery 2: %s", s);
	}
	free(s);
}

/* Drop this test's queues, if there, dead-letter queues last. */
static void
drop_queues(PGconn *admin)
{
	static const char *const names[] = {"ploop", "pconc", "pterm", "ploop_dlq", "pconc_dlq"};
	int			i;

	for (i = 0; i < (int) (sizeof(names) / sizeof(names[0])); i++)
		run(admin, "SELECT mq.drop_queue('%s') FROM mq.queue WHERE queue_name = '%s'", names[i], names[i]);
}

int
main(int argc, char **argv)
{
	PGconn	   *admin;
	const char *only = argc > 2 ? argv[2] : NULL;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s conninfo [check]\n", argv[0]);
		return 2;
	}
	conninfo = argv[1];
	admin = connect_or_die();
	run(admin, "SET client_min_messages = warning");
	run(admin, "CREATE EXTENSION IF NOT EXISTS mq");
	run(admin, "DROP TABLE IF EXISTS ledger, ploop_poison, pconc_poison");
	drop_queues(admin);
	run(admin, "CREATE TABLE ledger (queue text, n int, msg_id bigint)");

#define T(name, fn) if (only == NULL || strcmp(only, name) == 0) fn(admin)
	T("loop", test_loop);
	T("concurrent", test_concurrent);
	T("terminate", test_terminate);

	run(admin, "DROP TABLE IF EXISTS ledger, ploop_poison, pconc_poison");
	drop_queues(admin);
	PQfinish(admin);
	printf("%s\n", failures ? "poison: FAILED" : "poison: all checks passed");
	return failures ? 1 : 0;
}
