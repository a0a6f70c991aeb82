/*
 * fifo.c
 *	  FIFO message groups keep their order, whatever happens around them.
 *
 * Producers send numbered messages to NGROUPS groups (each group belongs
 * to one producer, which numbers its messages 1, 2, 3 ... in send order)
 * in transactions of random size that sleep before ending, roll back, or
 * go through PREPARE TRANSACTION and then COMMIT/ROLLBACK PREPARED; each
 * send records (group, seq) in table `sent` in the same transaction, so
 * `sent` is exactly the set of committed messages, and a rolled-back
 * number is sent again.
 *
 * Consumers read random batch sizes (with random priorities on the
 * messages, which must not reorder a group) and, in one transaction per
 * batch: check that no older message of the group is still in the queue
 * (if one is, two messages of the group were leased at once: an
 * "overlapping lease"), insert (group, seq) into `ledger` (primary key: a
 * second effect of a message is an error) with a ledger sequence number
 * taken at that moment, and ack.  At random they nack (now or with a
 * delay), abandon a short lease without acking, or roll the whole
 * transaction back; and a killer terminates a random consumer's backend
 * now and then (the consumer connects again).
 *
 * At the end: for every group, `ledger` ordered by its sequence must list
 * 1, 2, 3 ... (an "order violation" is a row out of place), `ledger` must
 * equal `sent` (lost: sent, never processed) and the queue must be empty.
 * It runs on a queue of one partition and on one of 3 (each group in the
 * partition its hash names).
 *
 * usage: fifo "conninfo of an existing database"
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"

#define NPROD 4
#define NCONS 5
#define NGROUPS 240				/* group g belongs to producer g % NPROD */
#define PER_PROD 1200
#define STALL_SECONDS 30

static int	partitions = 1;
static char dbconn[1024];		/* the round's database: conninfo in its processes */

static void
producer(int p)
{
	PGconn	   *c = connect_or_die();
	int			next[NGROUPS];	/* the next number of each of our groups */
	int			before[NGROUPS];
	int			sent = 0;
	int			txn = 0;
	int			g;

	for (g = 0; g < NGROUPS; g++)
		next[g] = 1;
	srand(3000 + p);
	while (sent < PER_PROD)
	{
		int			n = 1 + rand() % 5;
		int			outcome = rand() % 100;
		int			i;
		char		sql[512];

		memcpy(before, next, sizeof(next));
		run(c, "BEGIN");
		for (i = 0; i < n; i++)
		{
			/* One of our groups: g = p, p + NPROD, p + 2 NPROD ... */
			g = p + NPROD * (rand() % (NGROUPS / NPROD));
			snprintf(sql, sizeof(sql),
					 "WITH s AS (SELECT mq.send('fifo', jsonb_build_object('g', %d, 'seq', %d), NULL,"
					 " '%s', NULL, %d, 'group-%d') AS id) "
					 "INSERT INTO sent SELECT %d, %d FROM s",
					 g, next[g], rand() % 30 == 0 ? "100 milliseconds" : "0",
					 rand() % 10, g, g, next[g]);
			run(c, "%s", sql);
			next[g]++;
		}
		usleep(rand() % 3000);
		txn++;
		if (outcome < 75)
		{
			run(c, "COMMIT");
			sent += n;
		}
		else if (outcome < 87)
		{
			run(c, "ROLLBACK");
			memcpy(next, before, sizeof(next));
		}
		else
		{
			snprintf(sql, sizeof(sql), "PREPARE TRANSACTION 'fifo_%d_%d'", p, txn);
			run(c, "%s", sql);
			usleep(rand() % 5000);
			if (outcome < 95)
			{
				snprintf(sql, sizeof(sql), "COMMIT PREPARED 'fifo_%d_%d'", p, txn);
				sent += n;
			}
			else
			{
				snprintf(sql, sizeof(sql), "ROLLBACK PREPARED 'fifo_%d_%d'", p, txn);
				memcpy(next, before, sizeof(next));
			}
			run(c, "%s", sql);
		}
	}
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

/*
 * A statement of a consumer that may fail because its backend was
 * terminated: returns NULL then (the caller connects again).
 */
static PGresult *
may(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	if (PQstatus(c) == CONNECTION_BAD)
	{
		PQclear(r);
		return NULL;
	}
	fprintf(stderr, "[consumer %d] \"%s\" failed: %s", (int) getpid(), sql, PQerrorMessage(c));
	exit(2);
}

static void
consumer(int k)
{
	PGconn	   *c = connect_or_die();

	signal(SIGTERM, on_term);
	srand(4000 + k);
	run(c, "SET application_name = 'fifo_consumer'");
	while (!stop_consumer)
	{
		char		sql[512];
		int			qty = 1 + rand() % 6;
		int			abandon = rand() % 15 == 0;
		PGresult   *r;
		PGresult   *a;
		int			i;
		int			rows;
		int			lost_conn = 0;

		if (PQstatus(c) == CONNECTION_BAD)
		{
			PQfinish(c);
			c = connect_or_die();
			run(c, "SET application_name = 'fifo_consumer'");
		}
		if ((r = may(c, "BEGIN")) == NULL)
			continue;
		PQclear(r);
		snprintf(sql, sizeof(sql),
				 "SELECT id, payload->>'g', payload->>'seq' FROM mq.read('fifo', %d, %s)",
				 qty, abandon ? "'150 milliseconds'" : "'1 minute'");
		if ((r = may(c, sql)) == NULL)
			continue;
		rows = PQntuples(r);
		for (i = 0; i < rows && !abandon && !lost_conn; i++)
		{
			const char *id = PQgetvalue(r, i, 0);
			const char *g = PQgetvalue(r, i, 1);
			const char *seq = PQgetvalue(r, i, 2);

			/* No older message of the group may still be in the queue. */
			snprintf(sql, sizeof(sql),
					 "INSERT INTO overlapping SELECT %s, %s, count(*) FROM mq.q_fifo%s"
					 " WHERE group_id = 'group-%s' AND id < %s HAVING count(*) > 0",
					 g, seq, partitions > 1 ? "_all" : "", g, id);
			if ((a = may(c, sql)) == NULL)
			{
				lost_conn = 1;
				break;
			}
			PQclear(a);
			if (rand() % 100 < 7)
			{
				snprintf(sql, sizeof(sql), "SELECT mq.nack('fifo', %s, 'boom', '%s')",
						 id, (rand() % 2) ? "0" : "50 milliseconds");
				if ((a = may(c, sql)) == NULL)
					lost_conn = 1;
				else
					PQclear(a);
				/* Its group waits for it; the rest of the batch goes on. */
				continue;
			}
			snprintf(sql, sizeof(sql),
					 "INSERT INTO ledger VALUES (%s, %s, nextval('ledger_ord'))", g, seq);
			a = PQexec(c, sql);
			if (PQresultStatus(a) != PGRES_COMMAND_OK)
			{
				if (PQstatus(c) == CONNECTION_BAD)
				{
					PQclear(a);
					lost_conn = 1;
					break;
				}
				fprintf(stderr, "DUPLICATE EFFECT: group %s seq %s processed again: %s",
						g, seq, PQerrorMessage(c));
				exit(3);
			}
			PQclear(a);
			snprintf(sql, sizeof(sql), "SELECT mq.ack('fifo', %s)", id);
			if ((a = may(c, sql)) == NULL)
			{
				lost_conn = 1;
				break;
			}
			if (strcmp(PQgetvalue(a, 0, 0), "t") != 0)
			{
				fprintf(stderr, "ack of leased message %s returned false\n", id);
				exit(3);
			}
			PQclear(a);
		}
		PQclear(r);
		if (lost_conn)
			continue;
		if ((r = may(c, (rand() % 100 < 5) ? "ROLLBACK" : "COMMIT")) != NULL)
			PQclear(r);
		if (rows == 0)
			usleep(2000);
	}
	PQfinish(c);
	exit(0);
}

/*
 * round
 *		Producers, consumers and a killer on a fresh database; returns
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
	double		next_kill;
	long		nsent = 0;
	long		nled = 0;
	long		prev_led = -1;
	long		left = 0;
	long		lost;
	long		phantom;
	long		violations;
	long		overlaps;
	long		groups;
	long		kills = 0;
	int			producers_left = NPROD;
	char		sql[512];

	run(admin, "DROP DATABASE IF EXISTS mq_fifo");
	run(admin, "CREATE DATABASE mq_fifo");
	snprintf(dbconn, sizeof(dbconn), "%s dbname=mq_fifo", base);
	conninfo = dbconn;
	c = connect_or_die();
	run(c, "SET client_min_messages = warning");
	run(c, "CREATE EXTENSION mq");
	snprintf(sql, sizeof(sql),
			 "SELECT mq.create_queue('fifo', '1 minute', partitions => %d)", partitions);
	run(c, "%s", sql);
	if (partitions > 1)
	{
		/* Every partition's table, for the consumers' look at a group. */
		run(c, "CREATE VIEW mq.q_fifo_all AS SELECT id, group_id FROM mq.q_fifo"
			" UNION ALL SELECT id, group_id FROM mq.q1_fifo"
			" UNION ALL SELECT id, group_id FROM mq.q2_fifo");
	}
	run(c, "CREATE TABLE sent (g int, seq int, PRIMARY KEY (g, seq))");
	run(c, "CREATE TABLE ledger (g int, seq int, ord bigint, PRIMARY KEY (g, seq))");
	run(c, "CREATE SEQUENCE ledger_ord");
	run(c, "CREATE TABLE overlapping (g int, seq int, older bigint)");

	t0 = now_s();
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < NPROD; i++)
		if ((prod[i] = fork()) == 0)
			producer(i);
	for (i = 0; i < NCONS; i++)
		if ((cons[i] = fork()) == 0)
			consumer(i);

	/* Kill a consumer's backend every 0.5 s or so until the end. */
	srand(5000);
	next_kill = now_s() + 0.5;
	last_progress = now_s();
	while (!failed && now_s() - last_progress < STALL_SECONDS)
	{
		for (i = 0; i < NPROD; i++)
			if (prod[i] > 0 && waitpid(prod[i], &status, WNOHANG) == prod[i])
			{
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				{
					fprintf(stderr, "producer %d failed\n", i);
					failed = 1;
				}
				prod[i] = 0;
				producers_left--;
			}
		if (now_s() >= next_kill && producers_left > 0)
		{
			kills += scalar(c, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM"
							" (SELECT pid FROM pg_stat_activity WHERE application_name = 'fifo_consumer'"
							" AND datname = 'mq_fifo' ORDER BY random() LIMIT 1) x) y");
			next_kill = now_s() + 0.3 + (rand() % 500) / 1000.0;
		}
		nsent = scalar(c, "SELECT count(*) FROM sent");
		nled = scalar(c, "SELECT count(*) FROM ledger");
		left = scalar(c, "SELECT count(*) FROM mq.queues WHERE queue_name = 'fifo'"
					  " AND depth + in_flight + delayed > 0");
		if (producers_left == 0 && nled >= nsent && left == 0)
			break;
		if (nled != prev_led || producers_left > 0)
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
	for (i = 0; i < NPROD; i++)
		if (prod[i] > 0)
		{
			kill(prod[i], SIGTERM);
			waitpid(prod[i], &status, 0);
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
	groups = scalar(c, "SELECT count(DISTINCT g) FROM sent");
	left = scalar(c, "SELECT depth + in_flight + delayed FROM mq.queues WHERE queue_name = 'fifo'");
	lost = scalar(c, "SELECT count(*) FROM (SELECT g, seq FROM sent EXCEPT SELECT g, seq FROM ledger) x");
	phantom = scalar(c, "SELECT count(*) FROM (SELECT g, seq FROM ledger EXCEPT SELECT g, seq FROM sent) x");
	violations = scalar(c, "SELECT count(*) FROM (SELECT seq, row_number() OVER (PARTITION BY g ORDER BY ord) AS n"
						" FROM ledger) x WHERE seq <> n");
	overlaps = scalar(c, "SELECT count(*) FROM overlapping");
	printf("fifo, %d partition%s: groups %ld, messages %ld, processed %ld, order violations %ld,"
		   " overlapping leases %ld, lost %ld, duplicated effects 0, phantom %ld, left %ld,"
		   " consumers terminated %ld, %.1f s\n",
		   partitions, partitions > 1 ? "s" : "", groups, nsent, nled, violations, overlaps,
		   lost, phantom, left, kills, now_s() - t0);
	if (violations != 0 || overlaps != 0 || lost != 0 || phantom != 0 || left != 0 ||
		nsent == 0 || groups < 200)
	{
		PGresult   *r = PQexec(c, "SELECT g, seq, ord FROM (SELECT *, row_number() OVER"
							   " (PARTITION BY g ORDER BY ord) AS n FROM ledger) x"
							   " WHERE seq <> n ORDER BY g, ord LIMIT 10");

		for (i = 0; i < PQntuples(r); i++)
			fprintf(stderr, "out of order: group %s seq %s (ledger %s)\n",
					PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		PQclear(r);
		r = PQexec(c, "SELECT * FROM overlapping LIMIT 10");
		for (i = 0; i < PQntuples(r); i++)
			fprintf(stderr, "overlap: group %s seq %s leased while %s older were there\n",
					PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		PQclear(r);
		failed = 1;
	}
	if (scalar(c, "SELECT count(*) FROM pg_prepared_xacts") != 0)
	{
		fprintf(stderr, "prepared transactions left behind\n");
		failed = 1;
	}
	PQfinish(c);
	run(admin, "DROP DATABASE mq_fifo");
	conninfo = base;
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
	setvbuf(stdout, NULL, _IOLBF, 0);
	conninfo = argv[1];
	admin = connect_or_die();
	run(admin, "SET client_min_messages = warning");
	partitions = 1;
	failed = round_(admin, argv[1]);
	if (!failed)
	{
		partitions = 3;
		failed = round_(admin, argv[1]);
	}
	PQfinish(admin);
	printf("%s\n", failed ? "fifo: FAILED" : "fifo: all checks passed");
	return failed;
}
