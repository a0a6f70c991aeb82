/*
 * stress.c
 *	  Every committed message is consumed exactly once, whatever happens
 *	  around it.
 *
 * Producers send in transactions of random size that sleep before ending
 * (so commits land out of id order), roll back, or go through PREPARE
 * TRANSACTION and then COMMIT/ROLLBACK PREPARED; some sends are delayed.
 * Each send records (producer, seq) in table `sent` in the same
 * transaction, so `sent` is exactly the set of committed messages.
 * Consumers read random batch sizes and, in one transaction, insert each
 * message's key into `ledger` (primary key: a duplicate effect is an
 * error) and ack it; at random they nack (now or with a delay), abandon a
 * short lease without acking, or roll the whole transaction back.
 *
 * At the end `ledger` must equal `sent` and the queue must be empty: no
 * message lost (this is what proves the shared read cursor never skips a
 * message), none delivered into two committed effects, none invented.
 *
 * It runs three times.  The "plain" round has no delays, nacks or short
 * leases (the lease is an hour): nothing there ever lowers the read cursor
 * by time, so a message the cursor skipped would stay lost and the round
 * fails.  The "backoff" round is the plain one on a queue with a 5 ms
 * retry_delay: each rolled-back delivery is recorded by the worker with
 * that backoff, while other reads are under way (a read can then pass a
 * message another holds locked without claiming it; the worker's check of
 * the cursor must bring reads back to it).  The "chaos" round adds delays,
 * nacks and abandoned leases.  Then the plain and chaos rounds run again
 * on a queue of 4 partitions (each its own table, read position and send
 * slots): sends spread over them, reads move from partition to partition,
 * nacks and acks find a message's partition from its id.  Last, the plain
 * and chaos rounds with message priorities (each send a random one of 0
 * to 9: claims take messages out of id order, and the read position must
 * stop at the oldest message still visible) and filters (two of the
 * consumers read only one producer's messages, and never move the read
 * position).
 *
 * usage: stress "conninfo of an existing database"
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define NPROD 4
#define NCONS 4
#define PER_PROD 1500
#define STALL_SECONDS 15

static int chaos = 0;
static int backoff = 0;
static int partitions = 1;
static int ordered = 0;			/* priorities and filters */
#define ROUND_NAME (ordered ? (chaos ? "chaos, priorities and filters" : "plain, priorities and filters") : \
					partitions > 1 ? (chaos ? "chaos, 4 partitions" : "plain, 4 partitions") : \
					chaos ? "chaos" : backoff ? "backoff" : "plain")

static char dbconn[1024];

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static PGconn *
connect_or_die(const char *conninfo)
{
	PGconn	   *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

/* Run a command that must succeed; return its result (caller clears). */
static PGresult *
must(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "[%d] \"%s\" failed: %s", (int) getpid(), sql, PQerrorMessage(c));
		exit(2);
	}
	return r;
}

static void
run(PGconn *c, const char *sql)
{
	PQclear(must(c, sql));
}

static long
scalar(PGconn *c, const char *sql)
{
	PGresult   *r = must(c, sql);
	long		v = atol(PQgetvalue(r, 0, 0));

	PQclear(r);
	return v;
}

static void
producer(int p)
{
	PGconn	   *c = connect_or_die(dbconn);
	int			seq = 0;
	int			txn = 0;
	long		committed = 0;

	srand(1000 + p);
	while (seq < PER_PROD)
	{
		int			n = 1 + rand() % 5;
		int			outcome = rand() % 100;
		int			first = seq;
		int			i;
		char		sql[512];

		run(c, "BEGIN");
		for (i = 0; i < n && seq < PER_PROD; i++, seq++)
		{
			snprintf(sql, sizeof(sql),
					 "WITH s AS (SELECT mq.send('stress', jsonb_build_object('p', %d, 'seq', %d), NULL, '%s',"
					 " NULL, %d) AS id) "
					 "INSERT INTO sent SELECT %d, %d FROM s",
					 p, seq, (chaos && rand() % 20 == 0) ? "150 milliseconds" : "0",
					 ordered ? rand() % 10 : 0, p, seq);
			run(c, sql);
		}
		usleep(rand() % 3000);
		txn++;
		if (outcome < 75)
		{
			run(c, "COMMIT");
			committed += seq - first;
		}
		else if (outcome < 87)
			run(c, "ROLLBACK");
		else
		{
			snprintf(sql, sizeof(sql), "PREPARE TRANSACTION 'stress_%d_%d'", p, txn);
			run(c, sql);
			usleep(rand() % 5000);
			if (outcome < 95)
			{
				snprintf(sql, sizeof(sql), "COMMIT PREPARED 'stress_%d_%d'", p, txn);
				committed += seq - first;
			}
			else
				snprintf(sql, sizeof(sql), "ROLLBACK PREPARED 'stress_%d_%d'", p, txn);
			run(c, sql);
		}
	}
	run(c, "INSERT INTO producers_done VALUES (1)");
	PQfinish(c);
	exit(0);
}

static volatile sig_atomic_t stop_consumer = 0;

static void
on_term(int sig)
{
	(void) sig;
	stop_consumer = 1;
}

static void
consumer(int k)
{
	PGconn	   *c = connect_or_die(dbconn);

	signal(SIGTERM, on_term);
	srand(2000 + k);
	while (!stop_consumer)
	{
		char		sql[512];
		int			qty = 1 + rand() % 5;
		int			abandon = chaos && (rand() % 50 == 0);
		PGresult   *r;
		int			i;
		int			rows;

		run(c, "BEGIN");
		snprintf(sql, sizeof(sql),
				 "SELECT id, payload->>'p', payload->>'seq' FROM mq.read('stress', %d, %s, NULL, 0,"
				 " NULL, %s)",
				 qty, abandon ? "'200 milliseconds'" : "NULL",
				 ordered && k < 2 ? (k == 0 ? "'{\"p\": 0}'" : "'{\"p\": 1}'") : "NULL");
		r = must(c, sql);
		rows = PQntuples(r);
		for (i = 0; i < rows && !abandon; i++)
		{
			const char *id = PQgetvalue(r, i, 0);
			PGresult   *a;

			if (chaos && rand() % 100 < 7)
			{
				snprintf(sql, sizeof(sql), "SELECT mq.nack('stress', %s, 'boom', '%s')",
						 id, (rand() % 2) ? "0" : "80 milliseconds");
				run(c, sql);
				continue;
			}
			snprintf(sql, sizeof(sql), "INSERT INTO ledger VALUES (%s, %s)",
					 PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
			a = PQexec(c, sql);
			if (PQresultStatus(a) != PGRES_COMMAND_OK)
			{
				fprintf(stderr, "DUPLICATE EFFECT: message p=%s seq=%s delivered again after its effect committed: %s",
						PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQerrorMessage(c));
				exit(3);
			}
			PQclear(a);
			snprintf(sql, sizeof(sql), "SELECT mq.ack('stress', %s)", id);
			a = must(c, sql);
			if (strcmp(PQgetvalue(a, 0, 0), "t") != 0)
			{
				fprintf(stderr, "ack of leased message %s returned false\n", id);
				exit(3);
			}
			PQclear(a);
		}
		PQclear(r);
		run(c, (rand() % 100 < 5) ? "ROLLBACK" : "COMMIT");
		if (rows == 0)
			usleep(2000);
	}
	PQfinish(c);
	exit(0);
}

/*
 * round
 *		One round of producers and consumers on a fresh database; returns
 *		non-zero on failure.
 */
static int
round_(PGconn *admin, const char *base)
{
	PGconn	   *c;
	pid_t		prod[NPROD];
	pid_t		cons[NCONS];
	int			i;
	int			status;
	int			failed = 0;
	double		t0;
	double		last_progress;
	long		nsent = 0;
	long		nled = 0;
	long		prev_led = -1;
	long		left = 0;
	long		missing;
	long		phantom;
	char		sql[256];

	run(admin, "DROP DATABASE IF EXISTS mq_stress");
	run(admin, "CREATE DATABASE mq_stress");
	snprintf(dbconn, sizeof(dbconn), "%s dbname=mq_stress", base);
	c = connect_or_die(dbconn);
	run(c, "CREATE EXTENSION mq");
	snprintf(sql, sizeof(sql), "SELECT mq.create_queue('stress', %s, partitions => %d)",
			 chaos ? "'5 seconds'"
			 : backoff ? "'1 hour', retry_delay => '5 milliseconds'"
			 : "'1 hour'", partitions);
	run(c, sql);
	run(c, "CREATE TABLE sent (p int, seq int, PRIMARY KEY (p, seq))");
	run(c, "CREATE TABLE ledger (p int, seq int, PRIMARY KEY (p, seq))");
	run(c, "CREATE TABLE producers_done (x int)");

	t0 = now_s();
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < NPROD; i++)
		if ((prod[i] = fork()) == 0)
			producer(i);
	for (i = 0; i < NCONS; i++)
		if ((cons[i] = fork()) == 0)
			consumer(i);

	for (i = 0; i < NPROD; i++)
	{
		waitpid(prod[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		{
			fprintf(stderr, "producer %d failed\n", i);
			failed = 1;
		}
	}
	printf("%s round: producers done in %.1f s\n", ROUND_NAME, now_s() - t0);

	last_progress = now_s();
	while (!failed && now_s() - last_progress < STALL_SECONDS)
	{
		nsent = scalar(c, "SELECT count(*) FROM sent");
		nled = scalar(c, "SELECT count(*) FROM ledger");
		left = scalar(c, "SELECT count(*) FROM mq.q_stress");
		if (nled >= nsent && left == 0)
			break;
		if (nled != prev_led)
		{
			prev_led = nled;
			last_progress = now_s();
		}
		for (i = 0; i < NCONS; i++)
			if (cons[i] > 0 && waitpid(cons[i], &status, WNOHANG) == cons[i])
			{
				fprintf(stderr, "consumer %d exited early (status %d)\n", i, WEXITSTATUS(status));
				failed = 1;
				cons[i] = 0;
			}
		usleep(100000);
	}
	for (i = 0; i < NCONS; i++)
		if (cons[i] > 0)
			kill(cons[i], SIGTERM);
	for (i = 0; i < NCONS; i++)
		if (cons[i] > 0)
		{
			waitpid(cons[i], &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			{
				fprintf(stderr, "consumer %d failed (status %d)\n", i, WEXITSTATUS(status));
				failed = 1;
			}
		}

	nsent = scalar(c, "SELECT count(*) FROM sent");
	nled = scalar(c, "SELECT count(*) FROM ledger");
	left = scalar(c, "SELECT count(*) FROM mq.q_stress");
	missing = scalar(c, "SELECT count(*) FROM (SELECT * FROM sent EXCEPT SELECT * FROM ledger) x");
	phantom = scalar(c, "SELECT count(*) FROM (SELECT * FROM ledger EXCEPT SELECT * FROM sent) x");
	printf("%s round: committed sends %ld, consumed %ld, missing %ld, phantom %ld, left in queue %ld, %.1f s\n",
		   ROUND_NAME, nsent, nled, missing, phantom, left, now_s() - t0);
	if (missing != 0 || phantom != 0 || left != 0 || nsent == 0)
	{
		PGresult   *r = PQexec(c, "SELECT id, vt, deliveries, leased, payload FROM mq.q_stress ORDER BY id LIMIT 20");

		for (i = 0; i < PQntuples(r); i++)
			fprintf(stderr, "left: id=%s vt=%s deliveries=%s leased=%s %s\n",
					PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
					PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
		PQclear(r);
		failed = 1;
	}
	if (scalar(c, "SELECT count(*) FROM pg_prepared_xacts") != 0)
	{
		fprintf(stderr, "prepared transactions left behind\n");
		failed = 1;
	}
	PQfinish(c);
	if (!failed)
		run(admin, "DROP DATABASE mq_stress");
	return failed;
}

int
main(int argc, char **argv)
{
	PGconn	   *admin;
	int			failed;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s conninfo\n", argv[0]);
		return 2;
	}
	admin = connect_or_die(argv[1]);
	run(admin, "SET client_min_messages = warning");
	chaos = 0;
	failed = round_(admin, argv[1]);
	if (!failed)
	{
		backoff = 1;
		failed = round_(admin, argv[1]);
		backoff = 0;
	}
	if (!failed)
	{
		chaos = 1;
		failed = round_(admin, argv[1]);
	}
	partitions = 4;
	if (!failed)
	{
		chaos = 0;
		failed = round_(admin, argv[1]);
	}
	if (!failed)
	{
		chaos = 1;
		failed = round_(admin, argv[1]);
	}
	partitions = 1;
	ordered = 1;
	if (!failed)
	{
		chaos = 0;
		failed = round_(admin, argv[1]);
	}
	if (!failed)
	{
		chaos = 1;
		failed = round_(admin, argv[1]);
	}
	PQfinish(admin);
	return failed;
}
