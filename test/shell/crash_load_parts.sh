#!/usr/bin/env bash
# crash_load.sh on a queue of 3 partitions: sends spread over three tables,
# reads move between them, acks find each message's table from its id; the
# checker's counts (lost 0, duplicated 0, unexpected 0) must hold the same.
set -euo pipefail
MQ_CRASH_PARTITIONS=3 exec bash "$(dirname "$0")/crash_load.sh" "$@"
