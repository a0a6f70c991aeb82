/*
 * wait.c
 *	  Consumers waiting in mq.read: who wakes them, when, and what they get.
 *
 * Each check runs waiters as asynchronous queries on their own
 * connections, drives senders from other connections, and looks at what
 * each waiter returned and when.  Time bounds are generous (they tell a
 * wake-up from a timeout, nothing finer); wake-up latency is measured by
 * `make bench`, not here.
 *
 *	commit       a waiter wakes on the sender's COMMIT and not before
 *	rollback     a rolled-back send wakes nobody with a message
 *	prepared     PREPARE delivers nothing; COMMIT PREPARED wakes;
 *	             ROLLBACK PREPARED leaves the waiter waiting
 *	delayed      a delayed message wakes a waiter when due (the worker)
 *	lease        an expired lease redelivers to a waiter
 *	timeout      an empty queue returns an empty set when wait elapses
 *	interrupt    cancel, statement_timeout, pg_terminate_backend: prompt,
 *	             with 57014 / 57P01, and no waiter slot left behind
 *	priority     the highest consumer_priority wins; ties by arrival
 *	one-per-msg  one message wakes one waiter; a batch of N serves N
 *	herd         100 waiters and 1,000 messages: each delivered once, and
 *	             no waiter returns empty before its time
 *	idle         50 waiters on empty queues use well under 1% of a core
 *	notify       one NOTIFY per committed sending transaction, none for
 *	             rollbacks or notify-off queues, works with 2PC
 *	privilege    a consumer whose consume privilege is revoked while it
 *	             waits gets 42501 at its next wake-up, and takes nothing
 *	drop         mq.drop_queue does not wait for a waiting consumer: the
 *	             consumer returns empty and its next read gets 42704
 *	partitions   on a queue of 4 partitions, a send to any partition wakes
 *	             a waiter (one per message), and so does a delayed message
 *	             of a partition other than the first when it is due; a
 *	             consumer waiting while partitions are added gets a message
 *	             sent to a new one
 *	filters      a waiter with a filter wakes for a matching message and
 *	             takes it; one that does not match leaves it to a waiter
 *	             without a filter and sleeps on; waiters of different
 *	             filters each get their own; a message of priority 9
 *	             wakes a waiter and, sent after one of priority 0 in the
 *	             same transaction, is the one it gets; 50 idle filtered
 *	             waiters use well under 1% of a core
 *
 * usage: wait "conninfo"
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"
#include "client.h"

/* A waiting consumer: one connection, one outstanding mq.read. */
typedef struct Waiter
{
	PGconn	   *c;
	int			busy;
	double		started;
	double		ended;
	PGresult   *res;
} Waiter;

static void
waiter_start(Waiter *w, const char *fmt,...)
{
	char		sql[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (w->res)
		PQclear(w->res);
	w->res = NULL;
	if (!PQsendQuery(w->c, sql))
	{
		fprintf(stderr, "send failed: %s", PQerrorMessage(w->c));
		exit(2);
	}
	w->busy = 1;
	w->started = now_s();
}

/* Collect the waiter's result if it has one; 1 if it is done. */
static int
waiter_poll(Waiter *w)
{
	PGresult   *r;

	if (!w->busy)
		return 1;
	if (!PQconsumeInput(w->c))
	{
		/* connection gone (terminated) */
		w->busy = 0;
		w->ended = now_s();
		return 1;
	}
	if (PQisBusy(w->c))
		return 0;
	w->ended = now_s();
	while ((r = PQgetResult(w->c)) != NULL)
	{
		if (w->res == NULL)
			w->res = r;
		else
			PQclear(r);
	}
	w->busy = 0;
	return 1;
}

/* Wait up to timeout seconds for any of n waiters' sockets. */
static void
wait_sockets(Waiter *ws, int n, double timeout)
{
	fd_set		fds;
	int			maxfd = -1;
	int			i;
	struct timeval tv;

	FD_ZERO(&fds);
	for (i = 0; i < n; i++)
		if (ws[i].busy)
		{
			int			s = PQsocket(ws[i].c);

			if (s < 0)
				continue;
			FD_SET(s, &fds);
			if (s > maxfd)
				maxfd = s;
		}
	if (timeout < 0)
		timeout = 0;
	tv.tv_sec = (long) timeout;
	tv.tv_usec = (long) ((timeout - tv.tv_sec) * 1e6);
	if (maxfd < 0)
	{
		sleep_s(timeout);
		return;
	}
	(void) select(maxfd + 1, &fds, NULL, NULL, &tv);
}

/* Wait until the waiter is done or timeout seconds pass; 1 if done. */
static int
waiter_wait(Waiter *w, double timeout)
{
	double		until = now_s() + timeout;

	while (!waiter_poll(w))
	{
		double		left = until - now_s();

		if (left <= 0)
			return 0;
		wait_sockets(w, 1, left);
	}
	return 1;
}

static int
rows(Waiter *w)
{
	if (w->res == NULL || PQresultStatus(w->res) != PGRES_TUPLES_OK)
		return -1;
	return PQntuples(w->res);
}

static long
first_id(Waiter *w)
{
	return rows(w) > 0 ? atol(PQgetvalue(w->res, 0, 0)) : -1;
}

static const char *
sqlstate(Waiter *w)
{
	const char *s;

	if (w->res == NULL)
		return "(no result)";
	s = PQresultErrorField(w->res, PG_DIAG_SQLSTATE);
	return s ? s : "(none)";
}

static void
waiter_open(Waiter *w)
{
	memset(w, 0, sizeof(*w));
	w->c = connect_or_die();
}

static void
waiter_close(Waiter *w)
{
	if (w->busy)
		waiter_wait(w, 60);
	if (w->res)
		PQclear(w->res);
	PQfinish(w->c);
	memset(w, 0, sizeof(*w));
}

static void
fresh_queue(PGconn *c, const char *name, const char *opts)
{
	run(c, "SELECT mq.drop_queue('%s', true)", name);
	run(c, "SELECT mq.create_queue('%s'%s)", name, opts);
}

/* ---------------------------------------------------------------- */

static void
test_commit(PGconn *admin)
{
	int			done;
	Waiter		w;
	PGconn	   *s = connect_or_die();
	long		id;
	double		tc;

	fresh_queue(admin, "w_commit", "");
	waiter_open(&w);
	waiter_start(&w, "SELECT id FROM mq.read('w_commit', 1, NULL, '30 s')");
	sleep_s(0.3);
	run(s, "BEGIN");
	id = scalar(s, "SELECT mq.send('w_commit', '{\"k\": 1}')");
	sleep_s(1.0);
	check(!waiter_poll(&w), "commit: waiter still asleep while the sender holds its transaction open for 1 s");
	tc = now_s();
	run(s, "COMMIT");
	done = waiter_wait(&w, 10);
	check(done, "commit: waiter returned after the COMMIT (%.1f ms)",
		(w.ended - tc) * 1000);
	check(first_id(&w) == id, "commit: waiter got the message (id %ld, expected %ld)",
		first_id(&w), id);
	waiter_close(&w);
	PQfinish(s);
}

static void
test_rollback(PGconn *admin)
{
	int			done;
	Waiter		w;
	PGconn	   *s = connect_or_die();

	fresh_queue(admin, "w_rollback", "");
	waiter_open(&w);
	waiter_start(&w, "SELECT id FROM mq.read('w_rollback', 1, NULL, '2 s')");
	sleep_s(0.3);
	run(s, "BEGIN");
	run(s, "SELECT mq.send('w_rollback', '{\"k\": 1}')");
	run(s, "ROLLBACK");
	done = waiter_wait(&w, 20);
	check(done && rows(&w) == 0,
		  "rollback: waiter got nothing (%d rows)", rows(&w));
	check(w.ended - w.started >= 1.8,
		  "rollback: waiter kept waiting until its time was up (%.2f s of 2 s)",
		  w.ended - w.started);
	waiter_close(&w);
	PQfinish(s);
}

static void
test_prepared(PGconn *admin)
{
	int			done;
	Waiter		w;
	PGconn	   *s = connect_or_die();
	long		id;

	fresh_queue(admin, "w_prep", "");
	waiter_open(&w);
	waiter_start(&w, "SELECT id FROM mq.read('w_prep', 1, NULL, '30 s')");
	sleep_s(0.3);
	run(s, "BEGIN");
	id = scalar(s, "SELECT mq.send('w_prep', '{\"k\": 1}')");
	run(s, "PREPARE TRANSACTION 'mq_wait_test_1'");
	sleep_s(1.0);
	check(!waiter_poll(&w), "prepared: PREPARE TRANSACTION does not deliver");
	run(s, "COMMIT PREPARED 'mq_wait_test_1'");
	done = waiter_wait(&w, 10);
	check(done && first_id(&w) == id,
		  "prepared: COMMIT PREPARED wakes the waiter with the message");

	waiter_start(&w, "SELECT id FROM mq.read('w_prep', 1, NULL, '2 s')");
	sleep_s(0.3);
	run(s, "BEGIN");
	run(s, "SELECT mq.send('w_prep', '{\"k\": 2}')");
	run(s, "PREPARE TRANSACTION 'mq_wait_test_2'");
	run(s, "ROLLBACK PREPARED 'mq_wait_test_2'");
	done = waiter_wait(&w, 20);
	check(done && rows(&w) == 0 && w.ended - w.started >= 1.8,
		  "prepared: ROLLBACK PREPARED delivers nothing; the waiter waits its time (%.2f s)",
		  w.ended - w.started);
	waiter_close(&w);
	PQfinish(s);
}

static void
test_delayed(PGconn *admin)
{
	int			done;
	Waiter		w;
	long		id;
	double		t0;

	fresh_queue(admin, "w_delay", "");
	waiter_open(&w);
	t0 = now_s();
	id = scalar(admin, "SELECT mq.send('w_delay', '{\"k\": 1}', NULL, '2 s')");
	waiter_start(&w, "SELECT id FROM mq.read('w_delay', 1, NULL, '30 s')");
	done = waiter_wait(&w, 30);
	check(done && first_id(&w) == id,
		  "delayed: the waiter got the delayed message");
	check(w.ended - t0 >= 1.8 && w.ended - t0 < 15,
		  "delayed: it came when due (%.2f s after a 2 s delay)", w.ended - t0);

	/* A delayed message sent while the waiter already sleeps. */
	waiter_start(&w, "SELECT id FROM mq.read('w_delay', 1, NULL, '30 s')");
	sleep_s(0.3);
	t0 = now_s();
	id = scalar(admin, "SELECT mq.send('w_delay', '{\"k\": 2}', NULL, '1.5 s')");
	done = waiter_wait(&w, 30);
	check(done && first_id(&w) == id && w.ended - t0 >= 1.3,
		  "delayed: a waiter already asleep gets a later delayed send when due (%.2f s after a 1.5 s delay)",
		  w.ended - t0);
	waiter_close(&w);
}

static void
test_lease(PGconn *admin)
{
	int			done;
	Waiter		w;
	long		id;
	double		t0;

	fresh_queue(admin, "w_lease", "");
	waiter_open(&w);
	id = scalar(admin, "SELECT mq.send('w_lease', '{\"k\": 1}')");
	t0 = now_s();
	check(scalar(admin, "SELECT id FROM mq.read('w_lease', 1, '2 s')") == id,
		  "lease: a consumer leased the message for 2 s and abandoned it");
	waiter_start(&w, "SELECT id, deliveries FROM mq.read('w_lease', 1, NULL, '30 s')");
	done = waiter_wait(&w, 30);
	check(done && first_id(&w) == id,
		  "lease: the waiter got the message when the lease expired (%.2f s)", w.ended - t0);
	check(rows(&w) == 1 && atoi(PQgetvalue(w.res, 0, 1)) == 2 && w.ended - t0 >= 1.8,
		  "lease: as its second delivery, not before the lease ended");
	waiter_close(&w);
}

static void
test_timeout(PGconn *admin)
{
	int			done;
	Waiter		w;

	fresh_queue(admin, "w_timeout", "");
	waiter_open(&w);
	waiter_start(&w, "SELECT id FROM mq.read('w_timeout', 1, NULL, '1 s')");
	done = waiter_wait(&w, 30);
	check(done && rows(&w) == 0, "timeout: empty set on an empty queue");
	check(w.ended - w.started >= 0.95 && w.ended - w.started < 6,
		  "timeout: returned on time (%.2f s for 1 s)", w.ended - w.started);
	waiter_close(&w);
}

static void
test_interrupt(PGconn *admin)
{
	int			done;
	Waiter		w;
	PGcancel   *cancel;
	char		errbuf[256];
	int			pid;

	fresh_queue(admin, "w_intr", "");
	waiter_open(&w);

	waiter_start(&w, "SELECT id FROM mq.read('w_intr', 1, NULL, '60 s')");
	sleep_s(0.5);
	cancel = PQgetCancel(w.c);
	PQcancel(cancel, errbuf, sizeof(errbuf));
	PQfreeCancel(cancel);
	done = waiter_wait(&w, 10);
	check(done && strcmp(sqlstate(&w), "57014") == 0,
		  "interrupt: pg_cancel_backend-style cancel ends the wait with %s in %.2f s",
		  sqlstate(&w), w.ended - w.started);

	run(w.c, "SET statement_timeout = '1s'");
	waiter_start(&w, "SELECT id FROM mq.read('w_intr', 1, NULL, '60 s')");
	done = waiter_wait(&w, 15);
	check(done && strcmp(sqlstate(&w), "57014") == 0,
		  "interrupt: statement_timeout 1 s ends a 60 s wait with %s in %.2f s",
		  sqlstate(&w), w.ended - w.started);
	run(w.c, "RESET statement_timeout");

	/* The session still waits and wakes normally afterwards. */
	waiter_start(&w, "SELECT id FROM mq.read('w_intr', 1, NULL, '30 s')");
	sleep_s(0.3);
	run(admin, "SELECT mq.send('w_intr', '{\"k\": 1}')");
	done = waiter_wait(&w, 10);
	check(done && rows(&w) == 1,
		  "interrupt: after those, the same session waits and is woken again");

	pid = PQbackendPID(w.c);
	waiter_start(&w, "SELECT id FROM mq.read('w_intr', 1, NULL, '60 s')");
	sleep_s(0.5);
	check(scalar(admin, "SELECT waiting FROM mq.queues WHERE queue_name = 'w_intr'") == 1,
		  "interrupt: the waiter shows in mq.queues.waiting");
	run(admin, "SELECT pg_terminate_backend(%d)", pid);
	done = waiter_wait(&w, 10);
	check(done && strcmp(sqlstate(&w), "57P01") == 0,
		  "interrupt: pg_terminate_backend ends the wait with %s in %.2f s",
		  sqlstate(&w), w.ended - w.started);
	{
		double		until = now_s() + 10;
		long		n;

		while ((n = scalar(admin, "SELECT waiting FROM mq.queues WHERE queue_name = 'w_intr'")) != 0 &&
			   now_s() < until)
			sleep_s(0.1);
		check(n == 0, "interrupt: the terminated waiter left no slot behind");
	}
	/* A message sent now is there for the next reader: nothing was lost. */
	run(admin, "SELECT mq.send('w_intr', '{\"k\": 2}')");
	check(scalar(admin, "SELECT count(*) FROM mq.read('w_intr', 10)") == 1,
		  "interrupt: a message sent after the terminated wait is read normally");
	PQfinish(w.c);
}

/* Poll (up to 60 s) until n consumers wait on queue; 1 if they do. */
static int
await_waiting(PGconn *admin, const char *queue, int n)
{
	double		until = now_s() + 60;

	while (scalar(admin, "SELECT waiting FROM mq.queues WHERE queue_name = '%s'", queue) < n)
	{
		if (now_s() > until)
			return 0;
		sleep_s(0.05);
	}
	return 1;
}

static void
test_priority(PGconn *admin)
{
	int			done;
	Waiter		w[3];
	int			prio[3] = {1, 5, 3};
	int			order[3] = {1, 2, 0};	/* expected winners, in turn */
	int			i;
	int			k;

	fresh_queue(admin, "w_prio", "");
	for (i = 0; i < 3; i++)
	{
		waiter_open(&w[i]);
		waiter_start(&w[i], "SELECT id FROM mq.read('w_prio', 1, NULL, '30 s', %d)", prio[i]);
		check(await_waiting(admin, "w_prio", i + 1), "priority: waiter %d (priority %d) waits", i + 1, prio[i]);
	}
	for (k = 0; k < 3; k++)
	{
		int			winner = order[k];
		int			others_busy = 1;

		run(admin, "SELECT mq.send('w_prio', '{\"k\": %d}')", k);
		done = waiter_wait(&w[winner], 10);
		check(done && rows(&w[winner]) == 1,
			  "priority: message %d goes to the waiter with priority %d", k + 1, prio[winner]);
		sleep_s(0.3);
		for (i = 0; i < 3; i++)
		{
			int			done_before = 0;

			for (int j = 0; j <= k; j++)
				if (order[j] == i)
					done_before = 1;
			if (!done_before && waiter_poll(&w[i]))
				others_busy = 0;
		}
		check(others_busy, "priority: the lower-priority waiters still wait");
	}
	for (i = 0; i < 3; i++)
		waiter_close(&w[i]);

	/* Equal priority: arrival order. */
	for (i = 0; i < 2; i++)
	{
		waiter_open(&w[i]);
		waiter_start(&w[i], "SELECT id FROM mq.read('w_prio', 1, NULL, '30 s')");
		check(await_waiting(admin, "w_prio", i + 1), "priority: equal-priority waiter %d waits", i + 1);
	}
	run(admin, "SELECT mq.send('w_prio', '{\"k\": 10}')");
	done = waiter_wait(&w[0], 10);
	check(done && rows(&w[0]) == 1 && !waiter_poll(&w[1]),
		  "priority: with equal priorities the first to arrive wins");
	run(admin, "SELECT mq.send('w_prio', '{\"k\": 11}')");
	done = waiter_wait(&w[1], 10);
	check(done && rows(&w[1]) == 1, "priority: then the second");
	for (i = 0; i < 2; i++)
		waiter_close(&w[i]);
}

static void
test_one_per_message(PGconn *admin)
{
#define NW 10
	Waiter		w[NW];
	int			i;
	int			done = 0;
	int			got = 0;
	double		until;

	fresh_queue(admin, "w_one", "");
	for (i = 0; i < NW; i++)
	{
		waiter_open(&w[i]);
		waiter_start(&w[i], "SELECT id FROM mq.read('w_one', 1, NULL, '30 s')");
	}
	sleep_s(0.5);
	run(admin, "SELECT mq.send('w_one', '{\"k\": 0}')");
	sleep_s(1.0);
	for (i = 0; i < NW; i++)
		if (waiter_poll(&w[i]))
		{
			done++;
			got += rows(&w[i]) > 0 ? rows(&w[i]) : 0;
		}
	check(done == 1 && got == 1, "one-per-msg: one message woke one waiter (%d returned, %d messages)",
		  done, got);

	/* A batch of 9 in one transaction serves the 9 others. */
	run(admin, "SELECT count(*) FROM mq.send_batch('w_one', array_fill('{}'::jsonb, ARRAY[%d]))", NW - 1);
	until = now_s() + 15;
	while (now_s() < until)
	{
		done = 0;
		for (i = 0; i < NW; i++)
			done += waiter_poll(&w[i]);
		if (done == NW)
			break;
		wait_sockets(w, NW, 0.2);
	}
	got = 0;
	for (i = 0; i < NW; i++)
		got += rows(&w[i]) > 0 ? rows(&w[i]) : 0;
	check(done == NW && got == NW, "one-per-msg: a batch of %d woke the %d other waiters (%d messages in all)",
		  NW - 1, NW - 1, got);
	for (i = 0; i < NW; i++)
		waiter_close(&w[i]);
#undef NW
}

static void
test_partitions(PGconn *admin)
{
#define NP 4
	Waiter		w[NP];
	int			i;
	int			done;
	int			got = 0;
	long		partset = 0;
	double		until;
	double		t0;
	long		id;

	fresh_queue(admin, "w_parts", ", partitions => 4");
	for (i = 0; i < NP; i++)
	{
		waiter_open(&w[i]);
		waiter_start(&w[i], "SELECT id FROM mq.read('w_parts', 1, NULL, '30 s')");
	}
	sleep_s(0.5);

	/* Four sends in four transactions: one to each partition in turn. */
	t0 = now_s();
	for (i = 0; i < NP; i++)
		run(admin, "SELECT mq.send('w_parts', '{\"k\": %d}')", i);
	until = now_s() + 15;
	do
	{
		done = 0;
		for (i = 0; i < NP; i++)
			done += waiter_poll(&w[i]);
		if (done < NP)
			wait_sockets(w, NP, 0.2);
	} while (done < NP && now_s() < until);
	for (i = 0; i < NP; i++)
		if (rows(&w[i]) == 1)
		{
			got++;
			partset |= 1L << (first_id(&w[i]) >> 48);
		}
	check(done == NP && got == NP && partset == 0xF,
		  "partitions: sends to each of 4 partitions woke the 4 waiters, one message each "
		  "(%d returned with %d messages, partitions seen 0x%lx, last after %.1f ms)",
		  done, got, partset, (now_s() - t0) * 1000);

	/* A delayed message, in a partition other than 0, wakes when due. */
	for (i = 0; i < NP; i++)
	{
		/* Sends take turns: after one to partition 0 comes partition 1. */
		id = scalar(admin, "SELECT mq.send('w_parts', '{}')");
		run(admin, "SELECT mq.ack('w_parts', %ld)", id);
		if ((id >> 48) == 0)
			break;
	}
	t0 = now_s();
	id = scalar(admin, "SELECT mq.send('w_parts', '{\"d\": 1}', NULL, '1.5 s')");
	check((id >> 48) == 1, "partitions: the delayed message went to partition %ld", id >> 48);
	waiter_start(&w[0], "SELECT id FROM mq.read('w_parts', 1, NULL, '30 s')");
	done = waiter_wait(&w[0], 30);
	check(done && rows(&w[0]) == 1 && first_id(&w[0]) >> 48 != 0 && now_s() - t0 >= 1.0,
		  "partitions: a delayed message of partition %ld woke the waiter when due (%.2f s after a 1.5 s delay)",
		  first_id(&w[0]) >> 48, w[0].ended - t0);
	for (i = 0; i < NP; i++)
		waiter_close(&w[i]);
	run(admin, "SELECT mq.drop_queue('w_parts')");

	/*
	 * Partitions added while a consumer waits: it joins them within its
	 * recheck (a second), so a message in a new partition reaches it.
	 */
	fresh_queue(admin, "w_grow", "");
	waiter_open(&w[0]);
	waiter_start(&w[0], "SELECT id FROM mq.read('w_grow', 1, NULL, '30 s')");
	sleep_s(0.5);
	run(admin, "SELECT mq.alter_queue('w_grow', partitions => 2)");
	sleep_s(1.5);
	for (i = 0; i < 2; i++)
	{
		/*
		 * Sends take turns: after one to partition 0 comes partition 1.
		 * Delayed by an hour, these are not for the waiter.
		 */
		id = scalar(admin, "SELECT mq.send('w_grow', '{}', NULL, '1 hour')");
		if ((id >> 48) == 0)
			break;
	}
	id = scalar(admin, "SELECT mq.send('w_grow', '{\"to\": 1}')");
	t0 = now_s();
	done = waiter_wait(&w[0], 10);
	check(done && first_id(&w[0]) == id && (id >> 48) == 1 && w[0].ended - t0 < 3,
		  "partitions: a consumer waiting while partitions were added got a message of the new partition (%.2f s after the send)",
		  w[0].ended - t0);
	waiter_close(&w[0]);
	run(admin, "SELECT mq.drop_queue('w_grow')");
#undef NP
}

static void
test_herd(PGconn *admin)
{
#define NWAIT 100
#define NMSG 1000
	Waiter	   *w = calloc(NWAIT, sizeof(Waiter));
	PGconn	   *s = connect_or_die();
	char	   *seen = calloc(NMSG + 1, 1);
	long		base;
	int			received = 0;
	int			dup = 0;
	int			foreign = 0;
	int			early_empty = 0;
	int			sent = 0;
	double		until;
	int			i;

	fresh_queue(admin, "w_herd", ", '10 minutes'");
	base = scalar(admin, "SELECT nextval('mq.q_w_herd_id_seq')");
	for (i = 0; i < NWAIT; i++)
	{
		waiter_open(&w[i]);
		waiter_start(&w[i], "SELECT id FROM mq.read('w_herd', 1, NULL, '5 s')");
	}
	sleep_s(1.0);
	srandom(42);
	until = now_s() + 180;
	while (received < NMSG && now_s() < until)
	{
		/* Send a transaction of 1-20 messages now and then. */
		if (sent < NMSG)
		{
			int			n = 1 + random() % 20;

			if (n > NMSG - sent)
				n = NMSG - sent;
			run(s, "BEGIN");
			if (n == 1)
				run(s, "SELECT mq.send('w_herd', '{}')");
			else
				run(s, "SELECT count(*) FROM mq.send_batch('w_herd', array_fill('{}'::jsonb, ARRAY[%d]))", n);
			run(s, "COMMIT");
			sent += n;
		}
		wait_sockets(w, NWAIT, sent < NMSG ? 0.005 : 0.2);
		for (i = 0; i < NWAIT; i++)
		{
			int			k;

			if (!w[i].busy || !waiter_poll(&w[i]))
				continue;
			if (rows(&w[i]) < 0)
			{
				fprintf(stderr, "herd: waiter error: %s", PQresultErrorMessage(w[i].res));
				exit(2);
			}
			if (rows(&w[i]) == 0 && w[i].ended - w[i].started < 4.5)
				early_empty++;
			for (k = 0; k < rows(&w[i]); k++)
			{
				long		id = atol(PQgetvalue(w[i].res, k, 0)) - base;

				if (id < 1 || id > NMSG)
					foreign++;
				else if (seen[id]++)
					dup++;
				else
					received++;
			}
			if (received < NMSG)
				waiter_start(&w[i], "SELECT id FROM mq.read('w_herd', 1, NULL, '5 s')");
		}
	}
	check(received == NMSG && dup == 0 && foreign == 0,
		  "herd: %d waiters, %d messages: %d delivered once, %d twice, %d unknown",
		  NWAIT, NMSG, received, dup, foreign);
	check(early_empty == 0, "herd: no waiter returned empty before its wait was up (%d did)",
		  early_empty);
	for (i = 0; i < NWAIT; i++)
		waiter_close(&w[i]);
	check(scalar(admin, "SELECT in_flight FROM mq.queues WHERE queue_name = 'w_herd'") == NMSG &&
		  scalar(admin, "SELECT depth FROM mq.queues WHERE queue_name = 'w_herd'") == 0,
		  "herd: the queue holds exactly the %d leased messages, none visible", NMSG);
	free(w);
	free(seen);
	PQfinish(s);
#undef NWAIT
#undef NMSG
}

/* utime + stime of a process, in clock ticks; -1 if unreadable. */
static long
cpu_ticks(int pid)
{
	char		path[64];
	char		buf[1024];
	FILE	   *f;
	char	   *p;
	long		ut,
				st;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL)
	{
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (p == NULL ||
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

/*
 * idle_share
 *		The share of one core n waiters' backends used over the next secs
 *		seconds; -1 if their CPU times cannot be read.
 */
static double
idle_share(Waiter *w, int n, double secs, double *took)
{
	long		before = 0;
	long		after = 0;
	double		t0;
	int			i;

	t0 = now_s();
	for (i = 0; i < n; i++)
	{
		long		t = cpu_ticks(PQbackendPID(w[i].c));

		if (t < 0)
			return -1;
		before += t;
	}
	sleep_s(secs);
	for (i = 0; i < n; i++)
		after += cpu_ticks(PQbackendPID(w[i].c));
	*took = now_s() - t0;
	return (double) (after - before) / sysconf(_SC_CLK_TCK) / *took;
}

/*
 * idle_check
 *		n waiters (already started, each with a 14 s wait on an empty
 *		queue): check that over 5 s they used under 1% of one core, and
 *		that each returned an empty set at the end.  what names the check.
 *		A window over the limit is measured once more (before the waits
 *		end): the machine is shared, and a stray tick of another process's
 *		work landing on a waiter is not polling, which shows in every
 *		window.
 */
static void
idle_check(Waiter *w, int n, const char *what)
{
	int			readable = 1;
	double		took = 0;
	double		share;
	int			i;

	sleep_s(2.0);
	share = idle_share(w, n, 5.0, &took);
	if (share >= 0.01)
	{
		double		again = idle_share(w, n, 5.0, &took);

		if (again < share)
			share = again;
	}
	if (share < 0)
		readable = 0;
	check(readable && share < 0.01,
		  "%s: %d idle waiters used %.3f%% of one core over %.1f s",
		  what, n, share * 100, took);
	for (i = 0; i < n; i++)
	{
		waiter_wait(&w[i], 30);
		if (rows(&w[i]) != 0)
			readable = 0;
		waiter_close(&w[i]);
	}
	check(readable, "%s: every one returned an empty set at the end of its wait", what);
}

static void
test_idle(PGconn *admin)
{
#define NIDLE 50
	Waiter	   *w = calloc(NIDLE, sizeof(Waiter));
	int			i;

	for (i = 0; i < 5; i++)
	{
		char		name[32];

		snprintf(name, sizeof(name), "w_idle_%d", i);
		fresh_queue(admin, name, "");
	}
	for (i = 0; i < NIDLE; i++)
	{
		waiter_open(&w[i]);
		waiter_start(&w[i], "SELECT id FROM mq.read('w_idle_%d', 1, NULL, '14 s')", i % 5);
	}
	idle_check(w, NIDLE, "idle (on empty queues)");
	free(w);
#undef NIDLE
}

/* Count notifications on channel arriving at c within timeout seconds. */
static int
count_notifies(PGconn *c, const char *channel, const char *payload, double timeout)
{
	double		until = now_s() + timeout;
	int			n = 0;

	for (;;)
	{
		PGnotify   *nt;
		fd_set		fds;
		struct timeval tv;
		double		left;

		PQconsumeInput(c);
		while ((nt = PQnotifies(c)) != NULL)
		{
			if (strcmp(nt->relname, channel) == 0 && strcmp(nt->extra, payload) == 0)
				n++;
			PQfreemem(nt);
		}
		left = until - now_s();
		if (left <= 0)
			return n;
		FD_ZERO(&fds);
		FD_SET(PQsocket(c), &fds);
		tv.tv_sec = (long) left;
		tv.tv_usec = (long) ((left - tv.tv_sec) * 1e6);
		(void) select(PQsocket(c) + 1, &fds, NULL, NULL, &tv);
	}
}

static void
test_notify(PGconn *admin)
{
	PGconn	   *l = connect_or_die();
	PGconn	   *s = connect_or_die();
	int			n;

	fresh_queue(admin, "n_on", ", notify => true");
	fresh_queue(admin, "n_off", "");
	run(l, "LISTEN mq_n_on");
	run(l, "LISTEN mq_n_off");

	run(s, "BEGIN");
	run(s, "SELECT count(*) FROM mq.send_batch('n_on', array_fill('{}'::jsonb, ARRAY[5]))");
	run(s, "COMMIT");
	n = count_notifies(l, "mq_n_on", "n_on", 3.0);
	check(n == 1, "notify: one transaction of 5 sends gives one NOTIFY mq_n_on (got %d)", n);

	run(s, "BEGIN");
	run(s, "SELECT mq.send('n_on', '{}')");
	run(s, "ROLLBACK");
	n = count_notifies(l, "mq_n_on", "n_on", 1.5);
	check(n == 0, "notify: a rolled-back send notifies nobody (got %d)", n);

	run(s, "SELECT mq.send('n_on', '{}')");
	run(s, "SELECT mq.send('n_on', '{}')");
	run(s, "SELECT mq.send('n_on', '{}')");
	n = count_notifies(l, "mq_n_on", "n_on", 3.0);
	check(n >= 1 && n <= 3, "notify: three committed transactions give 1 to 3 notifications, coalesced (got %d)", n);

	run(s, "SELECT mq.send('n_off', '{}')");
	n = count_notifies(l, "mq_n_off", "n_off", 1.5);
	check(n == 0, "notify: a queue with notify off sends none (got %d)", n);
	run(admin, "SELECT mq.alter_queue('n_off', notify => true)");
	run(s, "SELECT mq.send('n_off', '{}')");
	n = count_notifies(l, "mq_n_off", "n_off", 3.0);
	check(n == 1, "notify: after mq.alter_queue(notify => true) it does (got %d)", n);

	run(s, "BEGIN");
	run(s, "SELECT mq.send('n_on', '{}')");
	run(s, "PREPARE TRANSACTION 'mq_wait_notify_1'");
	n = count_notifies(l, "mq_n_on", "n_on", 1.5);
	check(n == 0, "notify: PREPARE TRANSACTION of a send to a notify queue works and notifies nobody yet");
	run(s, "COMMIT PREPARED 'mq_wait_notify_1'");
	n = count_notifies(l, "mq_n_on", "n_on", 3.0);
	check(n == 1, "notify: COMMIT PREPARED gives the notification (got %d)", n);

	/*
	 * A queue of 3 partitions: each partition's commits are announced
	 * under the queue's one channel; a transaction's sends (one
	 * partition) give one notification.
	 */
	fresh_queue(admin, "n_parts", ", notify => true, partitions => 3");
	run(l, "LISTEN mq_n_parts");
	run(s, "BEGIN");
	run(s, "SELECT count(*) FROM mq.send_batch('n_parts', array_fill('{}'::jsonb, ARRAY[4]))");
	run(s, "COMMIT");
	n = count_notifies(l, "mq_n_parts", "n_parts", 3.0);
	check(n == 1, "notify: a transaction's batch to a queue of 3 partitions gives one NOTIFY mq_n_parts (got %d)", n);
	run(s, "SELECT mq.send('n_parts', '{}')");
	run(s, "SELECT mq.send('n_parts', '{}')");
	run(s, "SELECT mq.send('n_parts', '{}')");
	n = count_notifies(l, "mq_n_parts", "n_parts", 3.0);
	check(n >= 1 && n <= 3,
		  "notify: three transactions, one to each partition, give 1 to 3 notifications (got %d)", n);
	run(s, "SELECT count(*) FROM mq.read('n_parts', 10)");
	run(admin, "SELECT mq.drop_queue('n_parts')");

	PQfinish(l);
	PQfinish(s);
}

static void
test_privilege(PGconn *admin)
{
	Waiter		w;
	int			done;

	fresh_queue(admin, "p_wait", "");
	run(admin, "DROP ROLE IF EXISTS mq_wait_consumer");
	run(admin, "CREATE ROLE mq_wait_consumer");
	run(admin, "SELECT mq.grant('p_wait', 'consume', 'mq_wait_consumer')");

	waiter_open(&w);
	run(w.c, "SET ROLE mq_wait_consumer");
	waiter_start(&w, "SELECT id FROM mq.read('p_wait', 1, NULL, '60 seconds')");
	check(await_waiting(admin, "p_wait", 1) && !waiter_poll(&w),
		  "privilege: a consumer with consume waits on an empty queue");
	run(admin, "SELECT mq.revoke('p_wait', 'consume', 'mq_wait_consumer')");
	run(admin, "SELECT mq.send('p_wait', '{}')");
	done = waiter_wait(&w, 30.0);
	check(done && strcmp(sqlstate(&w), "42501") == 0,
		  "privilege: revoked while waiting, it gets 42501 at the wake-up (got %s after %.2f s)",
		  done ? sqlstate(&w) : "nothing", w.ended - w.started);
	check(scalar(admin, "SELECT count(*) FROM mq.q_p_wait WHERE deliveries = 0") == 1,
		  "privilege: the message is still there, undelivered");
	waiter_close(&w);
	run(admin, "SELECT mq.drop_queue('p_wait')");
	run(admin, "DROP ROLE mq_wait_consumer");
}

/*
 * drop: mq.drop_queue of a queue with a consumer waiting on it (60 s) does
 * not wait for the wait: the consumer sees the drop queued for its lock,
 * returns an empty set, and the drop commits; a new read gets 42704.
 */
static void
test_drop(PGconn *admin)
{
	Waiter		w;
	int			done;
	double		t0;
	PGresult   *r;

	fresh_queue(admin, "d_wait", "");
	waiter_open(&w);
	waiter_start(&w, "SELECT id FROM mq.read('d_wait', 1, NULL, '60 seconds')");
	check(await_waiting(admin, "d_wait", 1) && !waiter_poll(&w),
		  "drop: a consumer waits on an empty queue");
	t0 = now_s();
	r = PQexec(admin, "SELECT mq.drop_queue('d_wait')");
	check(PQresultStatus(r) == PGRES_TUPLES_OK,
		  "drop: mq.drop_queue completes %.2f s after it began (the wait was 60 s)", now_s() - t0);
	PQclear(r);
	done = waiter_wait(&w, 10.0);
	check(done && rows(&w) == 0,
		  "drop: the consumer's read returned an empty set (got %s, %d rows)",
		  done ? sqlstate(&w) : "nothing", rows(&w));
	r = PQexec(w.c, "SELECT * FROM mq.read('d_wait', 1, NULL, '1 second')");
	check(PQresultStatus(r) == PGRES_FATAL_ERROR &&
		  strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42704") == 0,
		  "drop: its next read gets 42704");
	PQclear(r);
	waiter_close(&w);
}

static void
test_filters(PGconn *admin)
{
#define NIDLE 50
	Waiter		a,
				b,
				c;
	Waiter	   *w;
	PGconn	   *s = connect_or_die();
	int			done;
	long		id;
	double		t0;
	int			i;

	fresh_queue(admin, "w_filter", "");
	waiter_open(&a);
	waiter_open(&b);
	waiter_open(&c);

	/* A filtered waiter (type a) and one without a filter. */
	waiter_start(&a, "SELECT id FROM mq.read('w_filter', 1, NULL, '30 s', 0, '{\"type\": \"a\"}')");
	check(await_waiting(admin, "w_filter", 1), "filters: a waiter with a filter waits");
	waiter_start(&b, "SELECT id FROM mq.read('w_filter', 1, NULL, '30 s')");
	check(await_waiting(admin, "w_filter", 2), "filters: and one without a filter");
	id = scalar(s, "SELECT mq.send('w_filter', '{}', '{\"type\": \"b\"}')");
	done = waiter_wait(&b, 10);
	check(done && first_id(&b) == id,
		  "filters: a message the filter does not match goes to the waiter without a filter");
	sleep_s(0.5);
	check(!waiter_poll(&a), "filters: the filtered waiter sleeps on");
	t0 = now_s();
	id = scalar(s, "SELECT mq.send('w_filter', '{}', '{\"type\": \"a\", \"n\": 1}')");
	done = waiter_wait(&a, 10);
	check(done && first_id(&a) == id,
		  "filters: a matching message wakes the filtered waiter, which takes it (%.1f ms)",
		  (a.ended - t0) * 1000);

	/* Alone: a message it does not want stays, untouched. */
	waiter_start(&a, "SELECT id FROM mq.read('w_filter', 1, NULL, '30 s', 0, '{\"type\": \"a\"}')");
	check(await_waiting(admin, "w_filter", 1), "filters: the filtered waiter waits alone");
	id = scalar(s, "SELECT mq.send('w_filter', '{}', '{\"type\": \"b\"}')");
	sleep_s(1.0);
	check(!waiter_poll(&a), "filters: a message it does not match does not end its wait");
	check(scalar(admin, "SELECT count(*) FROM mq.q_w_filter WHERE id = %ld AND deliveries = 0 AND vt <= now()", id) == 1,
		  "filters: that message is still visible and undelivered");
	id = scalar(s, "SELECT mq.send('w_filter', '{}', '{\"type\": \"a\"}')");
	done = waiter_wait(&a, 10);
	check(done && first_id(&a) == id, "filters: the next matching message ends it");
	run(admin, "SELECT mq.purge('w_filter')");

	/* Two filters: each waiter gets its own message. */
	waiter_start(&a, "SELECT id FROM mq.read('w_filter', 1, NULL, '30 s', 0, NULL, '{\"for\": \"a\"}')");
	waiter_start(&c, "SELECT id FROM mq.read('w_filter', 1, NULL, '30 s', 0, NULL, '{\"for\": \"c\"}')");
	check(await_waiting(admin, "w_filter", 2), "filters: two waiters with payload filters wait");
	run(s, "BEGIN");
	id = scalar(s, "SELECT mq.send('w_filter', '{\"for\": \"c\"}')");
	(void) scalar(s, "SELECT mq.send('w_filter', '{\"for\": \"a\"}')");
	run(s, "COMMIT");
	done = waiter_wait(&c, 10) && waiter_wait(&a, 10);
	check(done && first_id(&c) == id && first_id(&a) == id + 1,
		  "filters: each waiter gets the message of its filter");

	/* Message priority: a waiter gets the priority 9 one of a transaction. */
	waiter_start(&b, "SELECT id FROM mq.read('w_filter', 1, NULL, '30 s')");
	check(await_waiting(admin, "w_filter", 1), "filters: a waiter waits for a priority message");
	run(s, "BEGIN");
	(void) scalar(s, "SELECT mq.send('w_filter', '{\"p\": 0}')");
	id = scalar(s, "SELECT mq.send('w_filter', '{\"p\": 9}', priority => 9)");
	run(s, "COMMIT");
	done = waiter_wait(&b, 10);
	check(done && first_id(&b) == id,
		  "filters: a transaction's priority 9 message wakes the waiter and is the one it gets");
	waiter_close(&a);
	waiter_close(&b);
	waiter_close(&c);
	PQfinish(s);

	/* 50 filtered waiters on 5 empty queues, idle for 10 s. */
	w = calloc(NIDLE, sizeof(Waiter));
	for (i = 0; i < 5; i++)
	{
		char		name[32];

		snprintf(name, sizeof(name), "w_fidle_%d", i);
		fresh_queue(admin, name, "");
	}
	for (i = 0; i < NIDLE; i++)
	{
		waiter_open(&w[i]);
		waiter_start(&w[i], "SELECT id FROM mq.read('w_fidle_%d', 1, NULL, '14 s', 0, '{\"k\": %d}')",
					 i % 5, i);
	}
	idle_check(w, NIDLE, "filters (with filters, on empty queues)");
	free(w);
	for (i = 0; i < 5; i++)
		run(admin, "SELECT mq.drop_queue('w_fidle_%d')", i);
	run(admin, "SELECT mq.drop_queue('w_filter')");
#undef NIDLE
}

int
main(int argc, char **argv)
{
	PGconn	   *admin;
	const char *only = argc > 2 ? argv[2] : NULL;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s conninfo [test]\n", argv[0]);
		return 2;
	}
	conninfo = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	admin = connect_or_die();
	run(admin, "SET client_min_messages = warning");
	run(admin, "CREATE EXTENSION IF NOT EXISTS mq");

#define T(name, fn) if (only == NULL || strcmp(only, name) == 0) fn(admin)
	T("commit", test_commit);
	T("rollback", test_rollback);
	T("prepared", test_prepared);
	T("delayed", test_delayed);
	T("lease", test_lease);
	T("timeout", test_timeout);
	T("interrupt", test_interrupt);
	T("priority", test_priority);
	T("one", test_one_per_message);
	T("herd", test_herd);
	T("idle", test_idle);
	T("notify", test_notify);
	T("privilege", test_privilege);
	T("drop", test_drop);
	T("partitions", test_partitions);
	T("filters", test_filters);

	PQfinish(admin);
	printf("%s\n", failures == 0 ? "wait: all checks passed" : "wait: FAILED");
	return failures == 0 ? 0 : 1;
}
