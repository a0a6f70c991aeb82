/*
 * client.h
 *	  What the libpq test programs (the .c files of test/client) share: timing, checks
 *	  that count failures, and running SQL that must succeed.  Each program
 *	  sets conninfo from its argument and exits non-zero when failures > 0.
 *
 *	  Static functions in a header: each program is one translation unit,
 *	  compiled on its own by test/run_tests.sh and test/shell/tls.sh.
 */
#ifndef MQ_TEST_CLIENT_H
#define MQ_TEST_CLIENT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "libpq-fe.h"

#define CLIENT_UNUSED __attribute__((unused))
#define CLIENT_PRINTF(f, a) __attribute__((format(printf, f, a)))

static const char *conninfo;
static int	failures = 0;

static CLIENT_UNUSED double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static CLIENT_UNUSED void
sleep_s(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t) s;
	ts.tv_nsec = (long) ((s - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Print "ok" or "FAILED" and the formatted line; count failures. */
static CLIENT_UNUSED CLIENT_PRINTF(2, 3) void
check(int ok, const char *fmt,...)
{
	va_list		ap;

	printf("%s ", ok ? "ok    " : "FAILED");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static CLIENT_UNUSED PGconn *
connect_or_die(void)
{
	PGconn	   *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

/* The formatted statement, malloc'd (no length limit). */
static CLIENT_UNUSED char *
client_format(const char *fmt, va_list ap)
{
	va_list		ap2;
	int			len;
	char	   *sql;

	va_copy(ap2, ap);
	len = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	sql = malloc(len + 1);
	if (sql == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	vsnprintf(sql, len + 1, fmt, ap);
	return sql;
}

/* Run a statement that must succeed; exit(2) if it does not. */
static CLIENT_UNUSED PGresult *
client_exec(PGconn *c, ExecStatusType want, int one_row, const char *fmt, va_list ap)
{
	char	   *sql = client_format(fmt, ap);
	PGresult   *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if ((want == PGRES_COMMAND_OK ? (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) : st != want) ||
		(one_row && PQntuples(r) != 1))
	{
		fprintf(stderr, "\"%s\" failed: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	free(sql);
	return r;
}

static CLIENT_UNUSED CLIENT_PRINTF(2, 3) void
run(PGconn *c, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	PQclear(client_exec(c, PGRES_COMMAND_OK, 0, fmt, ap));
	va_end(ap);
}

/* First column of the one row as a long (0 for NULL). */
static CLIENT_UNUSED CLIENT_PRINTF(2, 3) long
scalar(PGconn *c, const char *fmt,...)
{
	va_list		ap;
	PGresult   *r;
	long		v;

	va_start(ap, fmt);
	r = client_exec(c, PGRES_TUPLES_OK, 1, fmt, ap);
	va_end(ap);
	v = PQgetisnull(r, 0, 0) ? 0 : atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* First column of the one row as a string ("" for NULL; caller frees). */
static CLIENT_UNUSED CLIENT_PRINTF(2, 3) char *
text_of(PGconn *c, const char *fmt,...)
{
	va_list		ap;
	PGresult   *r;
	char	   *v;

	va_start(ap, fmt);
	r = client_exec(c, PGRES_TUPLES_OK, 1, fmt, ap);
	va_end(ap);
	v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

#endif							/* MQ_TEST_CLIENT_H */
