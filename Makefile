# mq: message queues for PostgreSQL (PGXS build)
#
#   make            build mq.so
#   make install    install into the PostgreSQL found by $(PG_CONFIG)
#   make run        install deps, build, install, start a local cluster, demo
#   make stop       stop the local cluster started by `make run`
#   make test       the whole suite on a throwaway cluster (needs preload:
#                   the runner starts it with shared_preload_libraries = 'mq')
#   make bench      benchmarks on a throwaway cluster (figures, not tests)
#   make valgrind   pg_regress + waiting-read checks against a server under valgrind

EXTENSION  = mq
EXTVERSION = 0.5.0
MODULE_big = mq
OBJS = \
	src/mq.o \
	src/catalog.o \
	src/partition.o \
	src/queue.o \
	src/send.o \
	src/insert.o \
	src/read.o \
	src/ack.o \
	src/cursor.o \
	src/events.o \
	src/rollback.o \
	src/wait.o \
	src/deadletter.o \
	src/reclaim.o \
	src/worker.o \
	src/stats.o \
	src/metrics.o \
	src/alerts.o \
	src/history.o \
	src/acl.o \
	src/shape.o

DATA = $(wildcard sql/mq--*.sql)

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
# PostgreSQL development files are missing: only the targets that install
# them can run.
all:
	@echo "postgresql-server-dev-15 is missing; run 'make deps' (as root) or 'make run'" >&2; exit 1
endif

# PGXS does not track header dependencies: rebuild every object when any
# of our headers changes (a stale struct layout would crash, not fail).
$(OBJS): $(wildcard src/*.h)

.PHONY: deps run stop test bench valgrind

deps:
	@bash test/deps.sh

run: deps
	@$(MAKE) --no-print-directory all install
	@bash test/run_local.sh start

stop:
	@bash test/run_local.sh stop

test: deps
	@$(MAKE) --no-print-directory all install
	@bash test/run_tests.sh

bench: deps
	@$(MAKE) --no-print-directory all install
	@bash bench/run.sh

valgrind: deps
	@$(MAKE) --no-print-directory all install
	@bash test/valgrind.sh
