#!/usr/bin/env bash
# DROP EXTENSION mq and mq.drop_queue racing running calls, on a preloaded
# cluster of our own.  A call that races a drop must end in one of the
# documented ways, never in an internal error (SQLSTATE XX000, such as
# "could not open relation with OID ...", or "cache lookup failed"):
#
#   racing DROP EXTENSION mq, a call either completes before the drop, or
#   fails with
#     42704  extension "mq" is not installed in this database,
#            queue "q" does not exist
#     42883  function mq.read(...) does not exist (parsed after the drop)
#     42P01  relation "mq.queues" does not exist (the view only)
#     3F000  schema "mq" does not exist
#   racing mq.drop_queue('q'), a call either completes or fails with
#     42704  queue "q" does not exist
#
# One outcome is PostgreSQL's, not mq's, and is counted apart, not failed:
# a statement whose parsing (or planning) is under way at the moment DROP
# EXTENSION commits may find the function by name and then lose its
# catalog row, "cache lookup failed for function N" (XX000) raised in
# PostgreSQL's function lookups (parse_func.c, lsyscache.c, funcapi.c,
# fmgr.c: parsing, planning, or building the result type at executor
# start), before any of mq's code runs.  The same happens to any function dropped while a new
# session calls it (a run without mq showed it too).  Any other XX000, in
# particular one from mq's code or "could not open relation with OID",
# fails the test.
#
# A small libpq program (written and compiled into the work dir below) runs
# the cycles.  Each cycle: set up the extension and a queue with a few
# messages; start 6 client processes that each, over and over, open a NEW
# connection (a fresh backend with cold caches, where the old XX000 came
# from), make one call and record its SQLSTATE; after a random delay drop
# the extension (or the queue) from another session; let the clients run on
# for a moment after the drop, stop them and tally.  The drop itself must
# succeed (no deadlock, no lock timeout), and afterwards nothing of the
# extension (or of the queue) may be left.
#
# Finally: CREATE EXTENSION mq works again, a queue round trip works, and
# the server log has no XX000, "cache lookup failed", "could not open
# relation", PANIC or assertion failure.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: dropext_race.sh WORKDIR}
C=$W/dropext_cluster
PORT=$(free_port)
DB=mq_dropext
EXT_CYCLES=${DROPEXT_CYCLES:-30}      # DROP EXTENSION cycles
QUEUE_CYCLES=${DROPQUEUE_CYCLES:-15}  # mq.drop_queue cycles
T0=$SECONDS

cleanup() {
    cluster_stop "$C" fast
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "dropext_race.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# fail, psql_, q, expect: test/lib.sh

# Show the server log lines around internal errors (first 50 lines), then
# around deadlocks (first 16 lines).  log_error_verbosity = verbose puts the
# source location of each error in the log.
log_excerpt() {
    grep -nE -A5 ' XX000 ERROR|cache lookup failed|could not open relation|PANIC|TRAP:' "$C/server.log" | head -n 50 || true
    grep -nE -A7 'deadlock detected' "$C/server.log" | head -n 16 || true
}

########################################################################
# The racing client.
########################################################################
mkdir -p "$W"
cat >"$W/race.c" <<'EOF'
/*
 * race CONNINFO MODE CYCLES SEED
 *   MODE "ext":   each cycle drops the extension (DROP EXTENSION mq)
 *   MODE "queue": each cycle drops the queue (mq.drop_queue('q'))
 * Prints one line per cycle and a tally; exits 1 if any call ended with an
 * SQLSTATE the documentation does not promise for that race, or if a drop
 * failed, or if something was left behind after a drop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libpq-fe.h"

#define NCLIENTS 6
#define NKINDS 5
#define MAXSTATES 16
#define AFTER_DROP_MS 150

static const char *kind_name[NKINDS] = {"read", "read_wait", "send", "ack", "queues_view"};
static const char *kind_sql[NKINDS] = {
	"SELECT * FROM mq.read('q', 1)",
	"SELECT * FROM mq.read('q', 1, wait => '200 milliseconds')",
	"SELECT mq.send('q', '{}')",
	"SELECT mq.ack('q', 1)",
	"SELECT * FROM mq.queues",
};
/* client i makes calls of kind client_kind[i]: plain reads twice */
static const int client_kind[NCLIENTS] = {0, 1, 2, 3, 4, 0};

typedef struct
{
	char		state[6];		/* "" for success */
	long		n;
	char		msg[240];		/* first message seen */
} Tally;

typedef struct
{
	volatile int stop;
	Tally		t[NCLIENTS][MAXSTATES];
	int			nt[NCLIENTS];
} Shared;

static Shared *sh;
static const char *conninfo;

static double
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

static void
record(Tally *t, int *nt, const char *state, const char *msg)
{
	int			i;

	for (i = 0; i < *nt; i++)
		if (strcmp(t[i].state, state) == 0)
		{
			t[i].n++;
			return;
		}
	if (*nt == MAXSTATES)
		i = MAXSTATES - 1;		/* overflow: lump into the last entry */
	else
		i = (*nt)++;
	snprintf(t[i].state, sizeof(t[i].state), "%s", state);
	snprintf(t[i].msg, sizeof(t[i].msg), "%s", msg);
	t[i].n++;
}

/* One client process: fresh connection, one call, repeat until stopped. */
static void
client(int c)
{
	int			kind = client_kind[c];

	while (!sh->stop)
	{
		PGconn	   *conn = PQconnectdb(conninfo);
		PGresult   *r;

		if (PQstatus(conn) != CONNECTION_OK)
		{
			record(sh->t[c], &sh->nt[c], "CONN", PQerrorMessage(conn));
			PQfinish(conn);
			usleep(10000);
			continue;
		}
		r = PQexec(conn, kind_sql[kind]);
		if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
			record(sh->t[c], &sh->nt[c], "", "");
		else
		{
			const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
			const char *where = PQresultErrorField(r, PG_DIAG_SOURCE_FILE);
			const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
			char		full[240];

			/* For other than 42704, where in the server, and the detail. */
			snprintf(full, sizeof(full), "%s [in %s] %s", m ? m : PQerrorMessage(conn),
					 where ? where : "?", detail ? detail : "");
			record(sh->t[c], &sh->nt[c], st ? st : "?????",
				   st && strcmp(st, "42704") != 0 ? full : (m ? m : PQerrorMessage(conn)));
		}
		PQclear(r);
		PQfinish(conn);
	}
	_exit(0);
}

/*
 * PostgreSQL's own race (see the header): a function lost between its
 * lookup by name and by OID, in the parser's or planner's catalog lookups.
 */
static int
pg_lookup_race(const char *state, const char *msg)
{
	const char *in = strstr(msg, " [in ");

	static const char *const pg_files[] = {"parse_func.c]", "lsyscache.c]", "funcapi.c]", "fmgr.c]"};
	int			i;

	if (strcmp(state, "XX000") != 0 || in == NULL ||
		strncmp(msg, "cache lookup failed for function ", 33) != 0)
		return 0;
	for (i = 0; i < 4; i++)
		if (strncmp(in + 5, pg_files[i], strlen(pg_files[i])) == 0)
			return 1;
	return 0;
}

/* Is this outcome one the documentation promises for this race? */
static int
expected(const char *mode, int kind, const char *state, const char *msg)
{
	if (pg_lookup_race(state, msg))
		return 1;
	if (strstr(msg, "OID") != NULL || strstr(msg, "cache lookup failed") != NULL ||
		strstr(msg, "could not open relation") != NULL)
		return 0;
	if (state[0] == '\0')
		return 1;
	if (strcmp(mode, "queue") == 0)
		return strcmp(state, "42704") == 0 && strstr(msg, "queue \"q\" does not exist") != NULL;
	if (strcmp(state, "42704") == 0)
		return strstr(msg, "extension \"mq\" is not installed") != NULL ||
			strstr(msg, "queue \"q\" does not exist") != NULL;
	if (strcmp(state, "3F000") == 0)
		return strstr(msg, "schema \"mq\" does not exist") != NULL;
	if (strcmp(state, "42883") == 0)
		return kind != 4 && strstr(msg, "does not exist") != NULL;
	if (strcmp(state, "42P01") == 0)
		return kind == 4 && strstr(msg, "relation \"mq.queues\" does not exist") != NULL;
	return 0;
}

static PGresult *
exec_ok(PGconn *c, const char *sql, int *failed)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		printf("FAIL: \"%s\" failed: %s: %s", sql, st ? st : "?", PQerrorMessage(c));
		*failed = 1;
	}
	return r;
}

static long
scalar(PGconn *c, const char *sql, int *failed)
{
	PGresult   *r = exec_ok(c, sql, failed);
	long		v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* overall tally by SQLSTATE, and by kind */
static char all_state[64][16];
static long all_n[64];
static int	nall;
static long kind_calls[NKINDS];
static long kind_err[NKINDS];

static void
add_all(const char *state, long n)
{
	int			i;

	for (i = 0; i < nall; i++)
		if (strcmp(all_state[i], state) == 0)
		{
			all_n[i] += n;
			return;
		}
	if (nall == 64)
		return;
	snprintf(all_state[nall], sizeof(all_state[nall]), "%s", state);
	all_n[nall++] = n;
}

int
main(int argc, char **argv)
{
	const char *mode;
	int			cycles;
	int			cyc;
	int			failed = 0;
	long		unexpected = 0;
	long		drop_failures = 0;
	long		total = 0;
	PGconn	   *admin;
	PGresult   *r;
	int			i;

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s CONNINFO ext|queue CYCLES SEED\n", argv[0]);
		return 2;
	}
	conninfo = argv[1];
	mode = argv[2];
	cycles = atoi(argv[3]);
	srand(atoi(argv[4]));
	setvbuf(stdout, NULL, _IOLBF, 0);

	sh = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
	{
		perror("mmap");
		return 2;
	}
	admin = PQconnectdb(conninfo);
	if (PQstatus(admin) != CONNECTION_OK)
	{
		printf("FAIL: admin connection: %s", PQerrorMessage(admin));
		return 1;
	}
	PQclear(exec_ok(admin, "SET client_min_messages = warning", &failed));
	/* a drop that cannot get its locks in 30 s is a failure, not a hang */
	PQclear(exec_ok(admin, "SET lock_timeout = '30s'", &failed));
	if (strcmp(mode, "queue") == 0)
	{
		PQclear(exec_ok(admin, "CREATE EXTENSION IF NOT EXISTS mq", &failed));
		PQclear(exec_ok(admin, "SELECT mq.drop_queue('q', if_exists => true)", &failed));
	}
	else
		PQclear(exec_ok(admin, "DROP EXTENSION IF EXISTS mq", &failed));

	for (cyc = 1; cyc <= cycles && !failed; cyc++)
	{
		pid_t		pids[NCLIENTS];
		int			delay_ms = 20 + rand() % 400;
		double		t0,
					t1;
		const char *drop_sql;
		long		calls = 0,
					ok = 0;
		char		line[1024];
		size_t		len;
		int			c,
					j;
		int			drop_ok;

		/* set up: the extension (ext mode), a queue, 20 messages */
		if (strcmp(mode, "ext") == 0)
			PQclear(exec_ok(admin, "CREATE EXTENSION mq", &failed));
		PQclear(exec_ok(admin, "SELECT mq.create_queue('q')", &failed));
		PQclear(exec_ok(admin, "SELECT mq.send('q', jsonb_build_object('n', g)) FROM generate_series(1, 20) g", &failed));
		if (failed)
			break;

		memset(sh, 0, sizeof(Shared));
		fflush(stdout);
		for (c = 0; c < NCLIENTS; c++)
		{
			pids[c] = fork();
			if (pids[c] == 0)
				client(c);
			if (pids[c] < 0)
			{
				perror("fork");
				return 2;
			}
		}

		/* the race: drop after a random delay, from this (other) session */
		usleep(delay_ms * 1000);
		drop_sql = strcmp(mode, "ext") == 0 ? "DROP EXTENSION mq" : "SELECT mq.drop_queue('q')";
		t0 = now_ms();
		r = PQexec(admin, drop_sql);
		t1 = now_ms();
		drop_ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!drop_ok)
		{
			const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

			/* a failed drop (deadlock, lock timeout) is a failure too */
			printf("FAIL: cycle %d: \"%s\" failed after %.0f ms: %s: %s",
				   cyc, drop_sql, t1 - t0, st ? st : "?", PQerrorMessage(admin));
			drop_failures++;
		}
		PQclear(r);

		/* calls made after the drop committed hit the missing objects */
		usleep(AFTER_DROP_MS * 1000);
		sh->stop = 1;
		for (c = 0; c < NCLIENTS; c++)
		{
			int			status;

			waitpid(pids[c], &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			{
				printf("FAIL: cycle %d: client %d died (status %d)\n", cyc, c, status);
				failed = 1;
			}
		}

		/* after a failed drop, drop again with no calls running, so that
		 * the next cycles start clean */
		if (!drop_ok)
		{
			PQclear(exec_ok(admin, drop_sql, &failed));
			if (failed)
				break;
		}

		/* tally this cycle */
		for (c = 0; c < NCLIENTS; c++)
			for (j = 0; j < sh->nt[c]; j++)
			{
				Tally	   *t = &sh->t[c][j];
				int			kind = client_kind[c];

				calls += t->n;
				kind_calls[kind] += t->n;
				add_all(pg_lookup_race(t->state, t->msg) ? "XX000 parser" :
						t->state[0] ? t->state : "ok", t->n);
				if (t->state[0] == '\0')
					ok += t->n;
				else
					kind_err[kind] += t->n;
				if (!expected(mode, kind, t->state, t->msg))
				{
					printf("UNEXPECTED: cycle %d, %s (%s): SQLSTATE %s, %ld times, first message: %s\n",
						   cyc, kind_name[kind], kind_sql[kind], t->state, t->n, t->msg);
					unexpected += t->n;
				}
			}
		total += calls;
		len = snprintf(line, sizeof(line), "cycle %2d (%s): drop %d ms after start %s after %.0f ms; calls %ld: ok %ld",
					   cyc, mode, delay_ms, drop_ok ? "committed" : "FAILED", t1 - t0, calls, ok);
		for (c = 0; c < NCLIENTS; c++)
			for (j = 0; j < sh->nt[c]; j++)
				if (sh->t[c][j].state[0] != '\0' && len < sizeof(line) - 40)
					len += snprintf(line + len, sizeof(line) - len, ", %s %s %ld",
									kind_name[client_kind[c]], sh->t[c][j].state, sh->t[c][j].n);
		printf("%s\n", line);

		/* nothing may be left behind by the drop */
		if (strcmp(mode, "ext") == 0)
		{
			/* the schema itself stays (CREATE EXTENSION made it an
			 * ordinary schema, docs/operations.md), empty */
			if (scalar(admin, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
					   "WHERE n.nspname = 'mq'", &failed) != 0 ||
				scalar(admin, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
					   "WHERE n.nspname = 'mq'", &failed) != 0 ||
				scalar(admin, "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
					   "WHERE n.nspname = 'mq'", &failed) != 0)
			{
				printf("FAIL: cycle %d: relations, functions or types left in schema mq after DROP EXTENSION\n", cyc);
				failed = 1;
			}
			if (scalar(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'mq'", &failed) != 0)
			{
				printf("FAIL: cycle %d: extension mq still registered after DROP EXTENSION\n", cyc);
				failed = 1;
			}
		}
		else
		{
			if (scalar(admin, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
					   "WHERE n.nspname = 'mq' AND c.relname IN ('q_q', 'a_q')", &failed) != 0 ||
				scalar(admin, "SELECT count(*) FROM mq.queue WHERE queue_name = 'q'", &failed) != 0)
			{
				printf("FAIL: cycle %d: queue q (its tables or registry row) left after mq.drop_queue\n", cyc);
				failed = 1;
			}
		}
		if (scalar(admin, "SELECT count(*) FROM pg_class WHERE relnamespace NOT IN (SELECT oid FROM pg_namespace)", &failed) != 0)
		{
			printf("FAIL: cycle %d: relations left in a dropped schema\n", cyc);
			failed = 1;
		}
	}

	/* the overall tally: ok first, XX000 always shown */
	{
		long		okn = 0,
					xx = 0;

		for (i = 0; i < nall; i++)
		{
			if (strcmp(all_state[i], "ok") == 0)
				okn = all_n[i];
			if (strcmp(all_state[i], "XX000") == 0)
				xx = all_n[i];
		}
		printf("%s: calls %ld: ok %ld", mode, total, okn);
		for (i = 0; i < nall; i++)
			if (strcmp(all_state[i], "ok") != 0 && strcmp(all_state[i], "XX000") != 0)
				printf(", %s %ld", all_state[i], all_n[i]);
		printf(", XX000 %ld; unexpected %ld; failed drops %ld of %d\n", xx, unexpected, drop_failures, cyc - 1);
	}
	for (i = 0; i < NKINDS; i++)
		printf("  %-12s calls %6ld, errors %6ld  (%s)\n", kind_name[i], kind_calls[i], kind_err[i], kind_sql[i]);
	PQfinish(admin);
	if (total == 0)
	{
		printf("FAIL: no calls made\n");
		failed = 1;
	}
	return (failed || unexpected || drop_failures) ? 1 : 0;
}
EOF
gcc -Wall -Wextra -Werror -O2 -o "$W/race" "$W/race.c" -I/usr/include/postgresql -lpq \
    || { echo "FAIL: cannot compile the racing client" >&2; exit 1; }

########################################################################
# The cluster: the error's SQLSTATE in every log line (%e), and where in
# the server's source each error was raised.
########################################################################
cluster_init "$C" "$PORT" yes
{
    echo "log_line_prefix = '%m [%p] %e '"
    echo "log_error_verbosity = verbose"
} | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C" || { cat "$C/server.log"; exit 1; }
psql_ -d postgres -c "CREATE DATABASE $DB"
CONN="host=127.0.0.1 port=$PORT user=postgres dbname=$DB"
SEED=${DROPEXT_SEED:-$$}
echo "cluster up on port $PORT; seed $SEED"

# Both races, and the checks after them, run even when the first race finds
# something, so that a failure report covers everything.
race_failed=0
echo "== DROP EXTENSION mq racing calls ($EXT_CYCLES cycles)"
"$W/race" "$CONN" ext "$EXT_CYCLES" "$SEED" | tee "$W/race_ext.out" || race_failed=1
echo "== mq.drop_queue racing calls ($QUEUE_CYCLES cycles)"
"$W/race" "$CONN" queue "$QUEUE_CYCLES" "$((SEED + 1))" | tee "$W/race_queue.out" || race_failed=1

########################################################################
# Afterwards: clean, and usable again.
########################################################################
echo "== afterwards"
q "DROP EXTENSION mq"
# The schema stays, empty (docs/operations.md).
expect "relations left in schema mq after the last DROP EXTENSION" 0 \
    "$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'mq'")"
expect "relations in a dropped schema" 0 "$(q "SELECT count(*) FROM pg_class WHERE relnamespace NOT IN (SELECT oid FROM pg_namespace)")"
q "CREATE EXTENSION mq" || fail "CREATE EXTENSION mq after the races failed"
q "SELECT mq.create_queue('after')" >/dev/null
id=$(q "SELECT mq.send('after', '{\"k\": 1}')")
expect "a round trip after the races" "$id|{\"k\": 1}" "$(q "SELECT id, payload FROM mq.read('after', 1)")"
expect "ack" t "$(q "SELECT mq.ack('after', $id)")"

# The races' verdict (the checks above run either way).
if [ "$race_failed" != 0 ]; then
    echo "--- server log around internal errors, then deadlocks ---" >&2
    log_excerpt >&2
    echo "--- summary ---" >&2
    grep -hE '^(UNEXPECTED|FAIL|ext: calls|queue: calls)' "$W/race_ext.out" "$W/race_queue.out" >&2 || true
    fail "a call racing a drop ended in an undocumented way, or a drop failed (see UNEXPECTED / FAIL lines above)"
fi

# Internal errors in the server log, but for PostgreSQL's function-lookup
# race (an XX000 "cache lookup failed for function" whose LOCATION line is
# in parse_func.c, lsyscache.c, funcapi.c or fmgr.c).
bad=$(awk '
    / XX000 ERROR: / { pending = ($0 ~ /cache lookup failed for function/) ? $0 : ""; if (pending == "") { print; } next }
    pending != "" && /LOCATION:/ { if ($0 !~ /(parse_func|lsyscache|funcapi|fmgr)\.c:/) print pending; pending = ""; next }
    /could not open relation|PANIC|TRAP:/ { print }
' "$C/server.log" | wc -l)
if [ "$bad" != 0 ]; then
    log_excerpt >&2
    fail "$bad internal-error lines in the server log"
fi
parser_races=$(grep -c 'XX000 ERROR: .*cache lookup failed for function' "$C/server.log" || true)
echo "ok: no XX000 but PostgreSQL's function-lookup race ($parser_races), no missing relation OID, PANIC or TRAP in the server log"

ext_tally=$(grep '^ext: calls' "$W/race_ext.out" | sed 's/^ext: //')
queue_tally=$(grep '^queue: calls' "$W/race_queue.out" | sed 's/^queue: //')
echo "dropext_race ok: DROP EXTENSION x$EXT_CYCLES: $ext_tally | drop_queue x$QUEUE_CYCLES: $queue_tally | $((SECONDS - T0)) s"
