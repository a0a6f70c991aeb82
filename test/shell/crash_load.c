/*
 * crash_load.c
 *	  Load driver for test/shell/crash_load.sh: producers and consumers on
 *	  queue `jq` that survive the server being killed under them, and write
 *	  down, Jepsen-style, what they know about each message.
 *
 * usage:
 *	  crash_load load  CONNINFO DIR NPROD NCONS
 *		  NPROD producers and NCONS consumers (the last one "slow": it holds
 *		  its transaction open for 0.3 s between the effect and the ack, so
 *		  the test can SIGKILL its backend mid-transaction), until the file
 *		  DIR/stop exists (or 240 s pass).
 *	  crash_load drain CONNINFO DIR NCONS
 *		  NCONS consumers until queue jq is empty (exit 3 if it is not
 *		  within 120 s, or if for 15 s the queue holds messages and no
 *		  read returns any: the queue's leases are 2 s).
 *
 * Producer p sends n = p+1, p+1+NPROD, p+1+2*NPROD, ... one message per
 * transaction: even producers as BEGIN; mq.send; COMMIT, odd ones as a
 * single autocommit mq.send.  For every n it tries it writes one line
 * "n status" to DIR/prod.p once the outcome is known:
 *	  A  acked: COMMIT (or the autocommit statement) returned success;
 *	  D  in doubt: the connection died while COMMIT (or the autocommit
 *		 statement) was in flight, so it may or may not have committed;
 *	  F  failed: known not committed (the connection died before COMMIT was
 *		 sent, or the server answered with an ordinary error).
 * After a lost connection it reconnects (retrying every 50 ms) and goes on
 * with the next n.
 *
 * A consumer runs, in one transaction:
 *	  BEGIN; SELECT ... FROM mq.read('jq', qty, NULL, '1 second');
 *	  INSERT INTO effects (n, msg_id, deliveries, consumer) VALUES ...;
 *	  SELECT mq.ack('jq', ids[]); COMMIT;
 * and writes "msg_id n deliveries" to DIR/reads.c for every message it
 * read (whatever became of the transaction).  In load mode a fast consumer
 * also, now and then, commits a read without effect or ack (the 2 s lease
 * then expires and the message comes back with deliveries + 1), or rolls
 * back after the effect (the message is visible again at once).  Messages
 * it had read in a transaction whose connection died before COMMIT was
 * sent go to DIR/killed.c ("msg_id n"): they must be delivered again.
 * An mq.ack that removes fewer messages than the transaction had leased
 * (another consumer got one of them inside its lease) is written to
 * DIR/anomalies.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define MAX_CHILDREN 16
#define LOAD_MAX_SECONDS 240
#define DRAIN_MAX_SECONDS 120
#define DRAIN_STUCK_SECONDS 15	/* leases are 2 s: nothing readable this long = stuck */

static const char *base_conninfo;
static const char *dir;
static char stop_path[1024];

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
stop_requested(double deadline)
{
	return access(stop_path, F_OK) == 0 || now_s() > deadline;
}

/* The server's "terminating connection because of crash..." warnings. */
static void
quiet_notices(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

static FILE *
open_out(const char *kind, int idx)
{
	char		path[1024];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s.%d", dir, kind, idx);
	f = fopen(path, "a");
	if (f == NULL)
	{
		perror(path);
		exit(2);
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

/*
 * Connect as application_name `app`, retrying every 50 ms while the server
 * is down or starting up; NULL once the deadline or stop file is reached.
 */
static PGconn *
connect_retry(const char *app, double deadline, int obey_stop, long *reconnects)
{
	char		conninfo[2048];

	snprintf(conninfo, sizeof(conninfo), "%s application_name=%s connect_timeout=5", base_conninfo, app);
	for (;;)
	{
		PGconn	   *c;

		if (obey_stop ? stop_requested(deadline) : now_s() > deadline)
			return NULL;
		c = PQconnectdb(conninfo);
		if (PQstatus(c) == CONNECTION_OK)
		{
			PQsetNoticeProcessor(c, quiet_notices, NULL);
			(*reconnects)++;
			return c;
		}
		PQfinish(c);
		sleep_ms(50);
	}
}

/*
 * Did the statement that produced `r` possibly run to completion on the
 * server without us hearing so?  True when the connection is gone, or the
 * server ended the session (FATAL/PANIC): the outcome is unknown.
 */
static int
connection_lost(PGconn *c, PGresult *r)
{
	const char *sev;

	if (PQstatus(c) != CONNECTION_OK)
		return 1;
	sev = r ? PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
	return sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
}

static int
ok(PGresult *r)
{
	return PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
}

static void
producer(int p, int nprod, double deadline)
{
	FILE	   *out = open_out("prod", p);
	char		app[64];
	PGconn	   *c = NULL;
	int			explicit_txn = (p % 2 == 0);
	long		k = 0;
	long		acked = 0,
				doubt = 0,
				failed = 0,
				reconnects = 0;

	snprintf(app, sizeof(app), "cl_prod_%d", p);
	while (!stop_requested(deadline))
	{
		long		n;
		char		sql[256];
		char		status;
		PGresult   *r;

		if (c == NULL || PQstatus(c) != CONNECTION_OK)
		{
			PQfinish(c);
			c = connect_retry(app, deadline, 1, &reconnects);
			if (c == NULL)
				break;
		}
		n = p + 1 + k * nprod;
		k++;
		snprintf(sql, sizeof(sql), "SELECT mq.send('jq', jsonb_build_object('n', %ld::bigint))", n);
		if (explicit_txn)
		{
			r = PQexec(c, "BEGIN");
			if (!ok(r))
				status = 'F';	/* nothing sent yet */
			else
			{
				PQclear(r);
				r = PQexec(c, sql);
				if (!ok(r))
					status = 'F';	/* COMMIT never sent: not committed */
				else
				{
					PQclear(r);
					r = PQexec(c, "COMMIT");
					if (ok(r) && strcmp(PQcmdStatus(r), "COMMIT") == 0)
						status = 'A';
					else if (!ok(r) && connection_lost(c, r))
						status = 'D';
					else
						status = 'F';	/* server answered: rolled back */
				}
			}
		}
		else
		{
			r = PQexec(c, sql);
			if (ok(r))
				status = 'A';
			else if (connection_lost(c, r))
				status = 'D';
			else
				status = 'F';
		}
		if (!ok(r) && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
			PQclear(PQexec(c, "ROLLBACK"));
		PQclear(r);
		fprintf(out, "%ld %c\n", n, status);
		if (status == 'A')
			acked++;
		else if (status == 'D')
			doubt++;
		else
			failed++;
	}
	PQfinish(c);
	printf("producer %d (%s): acked %ld, in doubt %ld, failed %ld, connections %ld\n",
		   p, explicit_txn ? "BEGIN/send/COMMIT" : "autocommit", acked, doubt, failed, reconnects);
	fclose(out);
	exit(0);
}

/* Run one statement of a consumer transaction; NULL (and cleared) on error. */
static PGresult *
cexec(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (!ok(r))
	{
		PQclear(r);
		return NULL;
	}
	return r;
}

static long
queue_depth(PGconn *c)
{
	PGresult   *r = cexec(c, "SELECT depth + in_flight + delayed FROM mq.queues WHERE queue_name = 'jq'");
	long		v = -1;

	if (r)
	{
		v = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	return v;
}

/*
 * mode: 'f' fast (load), 's' slow (load), 'd' drain.
 */
static void
consumer(int idx, char mode, double deadline)
{
	FILE	   *reads = open_out("reads", idx);
	FILE	   *killed = open_out("killed", idx);
	char		app[64];
	PGconn	   *c = NULL;
	int			qty = (mode == 's') ? 2 : 10;
	long		txns = 0,
				consumed = 0,
				abandoned = 0,
				rolledback = 0,
				died_mid = 0,
				commit_doubt = 0,
				anomalies = 0,
				reconnects = 0;
	int			drained = 0;
	double		last_rows = now_s();
	char		readsql[256];

	snprintf(app, sizeof(app), "cl_%s_%d", mode == 's' ? "slow" : mode == 'd' ? "drain" : "cons", idx);
	snprintf(readsql, sizeof(readsql),
			 "SELECT id, payload->>'n', deliveries FROM mq.read('jq', %d, NULL, '1 second')", qty);
	srandom((unsigned) getpid());
	for (;;)
	{
		PGresult   *r;
		PGresult   *x;
		int			rows;
		int			i;
		int			choice;
		char		ins[4096];
		char		ack[2048];
		size_t		il,
					al;

		if (mode == 'd' ? now_s() > deadline : stop_requested(deadline))
			break;
		if (c == NULL || PQstatus(c) != CONNECTION_OK)
		{
			PQfinish(c);
			c = connect_retry(app, deadline, mode != 'd', &reconnects);
			if (c == NULL)
				break;
		}
		if (PQtransactionStatus(c) != PQTRANS_IDLE)
			PQclear(PQexec(c, "ROLLBACK"));
		if ((r = cexec(c, "BEGIN")) == NULL)
			continue;
		PQclear(r);
		if ((r = cexec(c, readsql)) == NULL)
		{
			/* a failed read leased nothing (its transaction is aborted) */
			if (PQstatus(c) == CONNECTION_OK)
				PQclear(PQexec(c, "ROLLBACK"));
			continue;
		}
		rows = PQntuples(r);
		if (rows == 0)
		{
			PQclear(r);
			PQclear(PQexec(c, "COMMIT"));
			if (mode == 'd' && PQstatus(c) == CONNECTION_OK)
			{
				long		depth = queue_depth(c);

				if (depth == 0)
				{
					drained = 1;
					break;
				}
				if (now_s() - last_rows > DRAIN_STUCK_SECONDS)
				{
					printf("consumer %s: nothing readable for %d s but %ld messages in the queue\n",
						   app, DRAIN_STUCK_SECONDS, depth);
					break;
				}
			}
			continue;
		}
		last_rows = now_s();
		txns++;
		il = snprintf(ins, sizeof(ins), "INSERT INTO effects (n, msg_id, deliveries, consumer) VALUES ");
		al = snprintf(ack, sizeof(ack), "SELECT mq.ack('jq', '{");
		for (i = 0; i < rows; i++)
		{
			const char *id = PQgetvalue(r, i, 0);
			const char *n = PQgetvalue(r, i, 1);
			const char *d = PQgetvalue(r, i, 2);

			fprintf(reads, "%s %s %s\n", id, n, d);
			il += snprintf(ins + il, sizeof(ins) - il, "%s(%s, %s, %s, '%s')", i ? ", " : "", n, id, d, app);
			al += snprintf(ack + al, sizeof(ack) - al, "%s%s", i ? "," : "", id);
		}
		snprintf(ack + al, sizeof(ack) - al, "}'::bigint[])");

		choice = (mode == 'f') ? (int) (random() % 40) : 99;
		if (choice == 0)
		{
			/* abandon the lease: it expires in 2 s, deliveries stays + 1 */
			x = PQexec(c, "COMMIT");
			if (ok(x))
				abandoned += rows;
			PQclear(x);
			PQclear(r);
			continue;
		}
		if ((x = cexec(c, ins)) == NULL)
			goto mid_failure;
		PQclear(x);
		if (choice == 1)
		{
			x = PQexec(c, "ROLLBACK");
			if (ok(x))
				rolledback += rows;
			PQclear(x);
			PQclear(r);
			continue;
		}
		if (mode == 's')
		{
			if ((x = cexec(c, "SELECT pg_sleep(0.3)")) == NULL)
				goto mid_failure;
			PQclear(x);
		}
		if ((x = cexec(c, ack)) == NULL)
			goto mid_failure;
		if (atol(PQgetvalue(x, 0, 0)) != rows)
		{
			FILE	   *a;
			char		path[1024];

			snprintf(path, sizeof(path), "%s/anomalies", dir);
			a = fopen(path, "a");
			if (a)
			{
				fprintf(a, "%s: mq.ack removed %s of the %d messages this transaction leased (%s)\n",
						app, PQgetvalue(x, 0, 0), rows, ack);
				fclose(a);
			}
			anomalies++;
		}
		PQclear(x);
		x = PQexec(c, "COMMIT");
		if (ok(x) && strcmp(PQcmdStatus(x), "COMMIT") == 0)
			consumed += rows;
		else if (!ok(x) && connection_lost(c, x))
			commit_doubt += rows;
		PQclear(x);
		PQclear(r);
		continue;

mid_failure:
		/* the transaction died before COMMIT was sent: nothing of it stays */
		if (PQstatus(c) == CONNECTION_OK)
			PQclear(PQexec(c, "ROLLBACK"));
		else
		{
			for (i = 0; i < rows; i++)
				fprintf(killed, "%s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
			died_mid += rows;
		}
		PQclear(r);
	}
	PQfinish(c);
	printf("consumer %s: %ld transactions, consumed %ld, commit in doubt %ld, "
		   "killed mid-transaction holding %ld, abandoned leases %ld, rolled back %ld, "
		   "ack anomalies %ld, connections %ld%s\n",
		   app, txns, consumed, commit_doubt, died_mid, abandoned, rolledback,
		   anomalies, reconnects, mode == 'd' ? (drained ? ", queue empty" : ", QUEUE NOT EMPTY") : "");
	fclose(reads);
	fclose(killed);
	exit(mode == 'd' && !drained ? 3 : 0);
}

/*
 * Fork a child that dies with us and runs producer p (when p >= 0) or
 * consumer c in mode; its pid goes to kids.  -1 if fork failed.
 */
static int
spawn(pid_t *kids, int *nkids, int p, int nprod, int c, char mode, double deadline)
{
	pid_t		pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
	{
		perror("fork");
		return -1;
	}
	if (pid == 0)
	{
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (p >= 0)
			producer(p, nprod, deadline);
		consumer(c, mode, deadline);
	}
	kids[(*nkids)++] = pid;
	return 0;
}

int
main(int argc, char **argv)
{
	pid_t		kids[MAX_CHILDREN];
	int			nkids = 0;
	int			i;
	int			failed = 0;
	double		deadline;
	int			load;

	if (argc < 5 || (strcmp(argv[1], "load") != 0 && strcmp(argv[1], "drain") != 0) ||
		(strcmp(argv[1], "load") == 0 && argc < 6))
	{
		fprintf(stderr, "usage: %s load CONNINFO DIR NPROD NCONS | drain CONNINFO DIR NCONS\n", argv[0]);
		return 2;
	}
	load = strcmp(argv[1], "load") == 0;
	base_conninfo = argv[2];
	dir = argv[3];
	snprintf(stop_path, sizeof(stop_path), "%s/stop", dir);
	deadline = now_s() + (load ? LOAD_MAX_SECONDS : DRAIN_MAX_SECONDS);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	if (load)
	{
		int			nprod = atoi(argv[4]);
		int			ncons = atoi(argv[5]);

		if (nprod < 1 || ncons < 2 || nprod + ncons > MAX_CHILDREN)
		{
			fprintf(stderr, "bad NPROD/NCONS\n");
			return 2;
		}
		for (i = 0; i < nprod + ncons; i++)
			if (spawn(kids, &nkids, i < nprod ? i : -1, nprod, i - nprod,
					  i == nprod + ncons - 1 ? 's' : 'f', deadline) < 0)
				return 2;
	}
	else
	{
		int			ncons = atoi(argv[4]);

		if (ncons < 1 || ncons > MAX_CHILDREN)
		{
			fprintf(stderr, "bad NCONS\n");
			return 2;
		}
		for (i = 0; i < ncons; i++)
			if (spawn(kids, &nkids, -1, 0, 100 + i, 'd', deadline) < 0)
				return 2;
	}

	for (i = 0; i < nkids; i++)
	{
		int			status = 0;

		if (waitpid(kids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		{
			fprintf(stderr, "child %d failed (status 0x%x)\n", i, status);
			failed = 1;
		}
	}
	return failed ? 1 : 0;
}
