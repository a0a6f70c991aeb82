/*
 * wake_latency.c
 *	  Benchmark: from a sender's COMMIT returning to a consumer having the
 *	  message, for a consumer that waits in mq.read against one that polls.
 *
 * A child process consumes, one message at a time, and writes the
 * CLOCK_MONOTONIC time at which each message reached it; the parent sends
 * N messages, one per transaction, at random gaps of 2-8 ms, and notes the
 * time each send's COMMIT returned.  Latency = received - committed; it
 * can be slightly negative (the consumer may have the message before the
 * sender's client has read the reply to its COMMIT).
 *
 * Modes:
 *	wait   consumer: SELECT ... FROM mq.read('lat', 1, '1 hour', '5 s'),
 *		   then mq.ack; sender: SELECT mq.send('lat', ...)
 *	poll   the loop a user writes without waits, on the baseline table bq
 *		   (bench/baseline.sql): UPDATE ... FOR UPDATE SKIP LOCKED ...
 *		   RETURNING, DELETE; when nothing came, sleep 100 ms
 *
 * usage: wake_latency conninfo wait|poll N
 * prints: p50_ms p99_ms max_ms mean_ms matched
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGconn *
conn(const char *ci)
{
	PGconn	   *c = PQconnectdb(ci);

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "connect: %s", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

static PGresult *
must(PGconn *c, const char *sql, ExecStatusType want)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != want)
	{
		fprintf(stderr, "\"%s\": %s", sql, PQerrorMessage(c));
		exit(2);
	}
	return r;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static void
consume(const char *ci, int poll, int n, const char *outfile)
{
	PGconn	   *c = conn(ci);
	FILE	   *out = fopen(outfile, "w");
	int			got = 0;
	char		sql[256];

	if (out == NULL)
		exit(2);
	while (got < n)
	{
		PGresult   *r;
		double		t;
		long		id;

		if (poll)
			r = must(c, "UPDATE bq SET vt = now() + interval '1 hour', deliveries = deliveries + 1"
					 " WHERE id = (SELECT id FROM bq WHERE vt <= now() ORDER BY id LIMIT 1"
					 " FOR UPDATE SKIP LOCKED) RETURNING id", PGRES_TUPLES_OK);
		else
			r = must(c, "SELECT id FROM mq.read('lat', 1, '1 hour', '5 s')", PGRES_TUPLES_OK);
		t = mono();
		if (PQntuples(r) == 0)
		{
			PQclear(r);
			if (poll)
				usleep(100000);
			continue;
		}
		id = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		fprintf(out, "%ld %.9f\n", id, t);
		got++;
		if (poll)
			snprintf(sql, sizeof(sql), "DELETE FROM bq WHERE id = %ld", id);
		else
			snprintf(sql, sizeof(sql), "SELECT mq.ack('lat', %ld)", id);
		PQclear(must(c, sql, poll ? PGRES_COMMAND_OK : PGRES_TUPLES_OK));
	}
	fclose(out);
	PQfinish(c);
}

int
main(int argc, char **argv)
{
	const char *ci;
	int			poll;
	int			n;
	long	   *ids;
	double	   *sent;
	double	   *lat;
	int			matched = 0;
	char		outfile[] = "/tmp/mq_wake_latency.XXXXXX";
	int			fd;
	pid_t		child;
	PGconn	   *c;
	FILE	   *in;
	long		id;
	double		t;
	int			i;
	double		sum = 0;
	int			status;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s conninfo wait|poll N\n", argv[0]);
		return 2;
	}
	ci = argv[1];
	poll = strcmp(argv[2], "poll") == 0;
	n = atoi(argv[3]);
	ids = calloc(n, sizeof(long));
	sent = calloc(n, sizeof(double));
	lat = calloc(n, sizeof(double));
	fd = mkstemp(outfile);
	if (fd < 0)
		return 2;
	close(fd);

	c = conn(ci);
	child = fork();
	if (child == 0)
	{
		consume(ci, poll, n, outfile);
		_exit(0);
	}
	usleep(300000);				/* let the consumer reach its first wait */
	srandom(7);
	for (i = 0; i < n; i++)
	{
		PGresult   *r;

		usleep(2000 + random() % 6000);
		if (poll)
			r = must(c, "INSERT INTO bq(payload) VALUES ('{\"lat\": 1}') RETURNING id", PGRES_TUPLES_OK);
		else
			r = must(c, "SELECT mq.send('lat', '{\"lat\": 1}')", PGRES_TUPLES_OK);
		sent[i] = mono();
		ids[i] = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
	{
		fprintf(stderr, "consumer failed\n");
		return 2;
	}

	/* ids are increasing in send order: match by binary search */
	in = fopen(outfile, "r");
	while (in && fscanf(in, "%ld %lf", &id, &t) == 2)
	{
		int			lo = 0,
					hi = n - 1;

		while (lo <= hi)
		{
			int			mid = (lo + hi) / 2;

			if (ids[mid] == id)
			{
				lat[matched++] = (t - sent[mid]) * 1000;
				break;
			}
			if (ids[mid] < id)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
	if (in)
		fclose(in);
	unlink(outfile);
	if (matched == 0)
	{
		fprintf(stderr, "no message matched\n");
		return 2;
	}
	qsort(lat, matched, sizeof(double), cmp_double);
	for (i = 0; i < matched; i++)
		sum += lat[i];
	printf("%.3f %.3f %.3f %.3f %d\n",
		   lat[(int) (matched * 0.50)], lat[(int) (matched * 0.99)],
		   lat[matched - 1], sum / matched, matched);
	PQfinish(c);
	return 0;
}
