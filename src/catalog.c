/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Queue names, the queue registry and the per-backend queue cache.
 *
 * Every SQL entry point names its queue by text.  The name is validated
 * here (a-z, 0-9 and '_', starting with a letter or '_', at most
 * MQ_MAX_NAME_LEN bytes) before it is used for anything; relation names
 * derived from it always pass through quote_identifier, and the name
 * itself only ever reaches SQL as a bound parameter.
 *
 * Each backend keeps a hash table, keyed by queue name, of MqQueue entries
 * holding the OIDs of the queue's relations, its options, its owner and
 * the privileges granted on it, what shape.c found about its tables, and
 * the SPI plans prepared for it (SPI_prepare_cursor with a forced generic
 * plan, then SPI_keepplan): the hot paths never parse or plan.  The plans'
 * SQL is not here: each file defines the plans it runs (an MqPlanDef, in
 * mq.h), and this file prepares and keeps them per queue.  Entries
 * are marked invalid by a relcache callback when one of the queue's
 * relations or the registry itself is invalidated (drop_queue, DROP
 * EXTENSION, a registry or privilege change, DDL on a queue table), and
 * rebuilt on the next lookup.  Role changes (membership, superuser) only
 * forget the privileges worked out for the current role.
 *
 * Opening a queue (mq_open_queue) is the one way entry points get at it:
 * look it up, lock its message table, and look again if the lock let an
 * invalidation in (the queue was dropped or changed while we waited), so
 * that a call racing mq.drop_queue ends with "queue does not exist", never
 * with an error about a relation that vanished.  Then the tables' shape
 * and the caller's privileges are checked.
 *
 * Its part of the read path (read.c): step 1, opening the queue, and the
 * kept plans every later step runs; for a partitioned queue, the entry of
 * each partition (partition.c chooses between them).
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "cursor.h"
#include "mq.h"

static HTAB *queue_cache = NULL;
static MemoryContext mq_cache_context = NULL;

/* What we know of the registry; forgotten when it is invalidated. */
static Oid	registry_relid = InvalidOid;
static Oid	registry_owner = InvalidOid;
static int	registry_model = -1;	/* has the owner column: 1, not: 0 */
static SPIPlanPtr registry_plan = NULL;
static SPIPlanPtr grants_plan = NULL;
static bool registry_plan_stale = false;

/*
 * mq_validate_name
 *		Refuse anything but a safe queue name; see the file header.
 */
void
mq_validate_name(const char *name)
{
	size_t		len = strlen(name);
	const char *p;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid queue name \"\""),
				 errdetail("A queue name must not be empty.")));

	for (p = name; *p; p++)
	{
		char		c = *p;
		bool		ok = (c >= 'a' && c <= 'z') || c == '_' ||
		(p != name && c >= '0' && c <= '9');

		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid queue name \"%s\"", name),
					 errdetail("A queue name may contain only lower-case letters a-z, digits and underscores, and must start with a letter or an underscore.")));
	}

	if (len > MQ_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("queue name \"%s\" is too long", name),
				 errdetail("A queue name is at most %d bytes; this one has %zu.",
						   MQ_MAX_NAME_LEN, len)));
}

/*
 * mq_name_arg
 *		Fetch argument argno as a validated queue name.
 */
char *
mq_name_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	mq_validate_name(name);
	return name;
}

/*
 * not_installed
 *		The error of a call that finds the extension gone: dropped while it
 *		waited for DROP EXTENSION mq to finish.
 */
static void
not_installed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("extension \"mq\" is not installed in this database"),
			 errhint("It may have been dropped while this call waited.")));
}

/*
 * mq_schema_oid
 *		OID of schema mq (the extension is not relocatable).
 */
Oid
mq_schema_oid(void)
{
	Oid			nsp = get_namespace_oid("mq", true);

	if (!OidIsValid(nsp))
		not_installed();
	return nsp;
}

/*
 * mq_registry_relid
 *		OID of the registry table mq.queue, and with it its owner and
 *		whether the installed version has the privilege model.
 */
Oid
mq_registry_relid(void)
{
	if (!OidIsValid(registry_relid))
	{
		Oid			relid = get_relname_relid("queue", mq_schema_oid());
		HeapTuple	tup;

		if (!OidIsValid(relid))
			not_installed();
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tup))
			not_installed();
		registry_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
		registry_model = get_attnum(relid, "owner") != InvalidAttrNumber ? 1 : 0;
		registry_relid = relid;
	}
	return registry_relid;
}

/*
 * mq_owner
 *		The role that owns mq's objects: the owner of the registry, which
 *		is the superuser that ran CREATE EXTENSION mq.
 */
Oid
mq_owner(void)
{
	(void) mq_registry_relid();
	return registry_owner;
}

/*
 * mq_model_active
 *		Is the installed SQL version one with per-queue privileges (0.4.0
 *		on)?  Before ALTER EXTENSION UPDATE, this library serves the older
 *		versions as they were: every call runs as its caller.
 */
bool
mq_model_active(void)
{
	(void) mq_registry_relid();
	return registry_model == 1;
}

/* Invalidations seen (see mq_relcache_callback), and builds under way. */
static uint64 inval_count = 0;
static bool building = false;	/* left true by an error: harmless */

/*
 * mq_relcache_callback
 *		Relcache invalidation: drop what we derived from the catalogs.
 *
 * Called in any transaction state; must not throw or do catalog access.
 */
static void
mq_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	MqQueue    *entry;
	bool		all;

	all = !OidIsValid(relid) || relid == registry_relid;

	/*
	 * An entry being built (mq_lookup_queue) may have read what this
	 * invalidates (a drop_queue that committed between its registry read
	 * and its table lookups): it must not be marked valid.
	 */
	if (all || building)
		inval_count++;
	if (all)
	{
		registry_relid = InvalidOid;
		registry_owner = InvalidOid;
		registry_model = -1;
		registry_plan_stale = true;
	}
	if (queue_cache == NULL)
		return;

	hash_seq_init(&status, queue_cache);
	while ((entry = (MqQueue *) hash_seq_search(&status)) != NULL)
	{
		int			k;

		if (all || entry->relid == relid || entry->archive_relid == relid ||
			entry->seq_relid == relid)
			entry->valid = false;
		for (k = 1; k < entry->nparts && entry->valid; k++)
		{
			MqQueue    *part = entry->parts[k];

			if (part->relid == relid || part->seq_relid == relid)
				entry->valid = false;
		}
	}
}

/*
 * mq_invalidate_privileges
 *		Forget every privilege worked out so far (a role or membership
 *		changed).  Must not throw.
 */
void
mq_invalidate_privileges(void)
{
	HASH_SEQ_STATUS status;
	MqQueue    *entry;

	if (queue_cache == NULL)
		return;
	hash_seq_init(&status, queue_cache);
	while ((entry = (MqQueue *) hash_seq_search(&status)) != NULL)
		entry->acl_valid = false;
}

/*
 * mq_role_callback
 *		Syscache invalidation of pg_authid or pg_auth_members.
 */
static void
mq_role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	mq_invalidate_privileges();
}

/*
 * mq_catalog_init
 *		Called from _PG_init: register the invalidation callbacks.
 */
void
mq_catalog_init(void)
{
	CacheRegisterRelcacheCallback(mq_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, mq_role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, mq_role_callback, (Datum) 0);
}

/*
 * ensure_cache
 *		Create the backend's queue hash table on first use.
 */
static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (queue_cache != NULL)
		return;

	mq_cache_context = AllocSetContextCreate(CacheMemoryContext,
											 "mq queue cache",
											 ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(MqQueue);
	ctl.hcxt = mq_cache_context;
	queue_cache = hash_create("mq queue cache", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * relation_for
 *		OID of relation mq.<prefix><name>, InvalidOid if there is none.
 */
static Oid
relation_for(const char *prefix, const char *name)
{
	char	   *relname = psprintf("%s%s", prefix, name);
	Oid			relid = get_relname_relid(relname, mq_schema_oid());

	pfree(relname);
	return relid;
}

/*
 * registry_column
 *		A registry column an older installed version may lack: the column,
 *		or the default it has in the newer version.
 */
static const char *
registry_column(const char *column, const char *absent)
{
	if (get_attnum(mq_registry_relid(), column) != InvalidAttrNumber)
		return column;
	return absent;
}

/*
 * prepare_registry_plans
 *		The kept plans that load a queue's registry row and its grants.
 */
static void
prepare_registry_plans(void)
{
	Oid			argtypes[1] = {TEXTOID};

	if (registry_plan_stale)
	{
		if (registry_plan != NULL)
			SPI_freeplan(registry_plan);
		if (grants_plan != NULL)
			SPI_freeplan(grants_plan);
		registry_plan = grants_plan = NULL;
		registry_plan_stale = false;
	}
	if (registry_plan != NULL)
		return;

	/*
	 * Older versions of the registry lack newer columns: the library may
	 * be newer than the installed SQL until ALTER EXTENSION UPDATE.
	 */
	registry_plan = SPI_prepare(psprintf("SELECT visibility_timeout, unlogged, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s "
										 "FROM mq.queue WHERE queue_name OPERATOR(pg_catalog.=) $1",
										 registry_column("notify", "false"),
										 registry_column("dedup_window", "'5 minutes'::pg_catalog.interval"),
										 registry_column("retry_delay", "NULL::pg_catalog.interval"),
										 registry_column("retry_delay_max", "NULL::pg_catalog.interval"),
										 registry_column("max_deliveries", "NULL::pg_catalog.int4"),
										 registry_column("dead_letter_queue", "NULL::pg_catalog.text"),
										 mq_model_active() ? "owner::pg_catalog.oid" : "0::pg_catalog.oid",
										 registry_column("partitions", "1::pg_catalog.int4"),
										 registry_column("history", "false"),
										 registry_column("history_retention", "'7 days'::pg_catalog.interval")),
								1, argtypes);
	if (registry_plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(registry_plan);

	if (mq_model_active())
	{
		grants_plan = SPI_prepare("SELECT grantee::pg_catalog.oid, privilege FROM mq.privilege "
								  "WHERE queue_name OPERATOR(pg_catalog.=) $1",
								  1, argtypes);
		if (grants_plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(grants_plan);
	}
}

/*
 * load_grants
 *		The privileges granted on a queue, into its cache entry.  Caller is
 *		connected to SPI.
 */
static void
load_grants(MqQueue *entry, Datum arg)
{
	int			ret;
	uint64		i;

	entry->ngrants = 0;
	entry->grants = NULL;
	if (grants_plan == NULL)
		return;
	ret = SPI_execute_plan(grants_plan, &arg, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return;
	entry->grants = MemoryContextAllocZero(mq_cache_context,
										   sizeof(MqGrant) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull));
		char	   *priv = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		int			j;
		int			bit = strcmp(priv, "send") == 0 ? MQ_PRIV_SEND :
			strcmp(priv, "consume") == 0 ? MQ_PRIV_CONSUME :
			strcmp(priv, "manage") == 0 ? MQ_PRIV_MANAGE : 0;

		for (j = 0; j < entry->ngrants; j++)
			if (entry->grants[j].grantee == grantee)
				break;
		if (j == entry->ngrants)
		{
			entry->grants[j].grantee = grantee;
			entry->ngrants++;
		}
		entry->grants[j].privs |= bit;
	}
}

/*
 * forget_derived
 *		Forget what a queue's (or partition's) entry derived from its
 *		tables: their OIDs, cursor state, shape and plans.
 */
static void
forget_derived(MqQueue *entry)
{
	int			i;

	entry->cursor = NULL;
	entry->relid = entry->archive_relid = entry->seq_relid = entry->prio_index = InvalidOid;
	entry->history_relid = InvalidOid;
	entry->acl_valid = false;
	entry->shape_checked = false;
	if (entry->problem != NULL)
		pfree(entry->problem);
	entry->problem = NULL;
	for (i = 0; i < MQ_NUM_PLANS; i++)
	{
		if (entry->plans[i] != NULL)
		{
			SPI_freeplan(entry->plans[i]);
			entry->plans[i] = NULL;
		}
	}
}

/*
 * build_partitions
 *		Fill in parts[1..nparts-1] of a queue's entry: the queue's options,
 *		each with its own message table mq.q<k>_<name> (InvalidOid when it
 *		is missing: the shape check says so), cursor state and plans.
 */
static void
build_partitions(MqQueue *entry, int nparts)
{
	int			k;

	for (k = 1; k < nparts; k++)
	{
		MqQueue    *part = entry->parts[k];
		char		prefix[16];

		if (part == NULL)
		{
			part = MemoryContextAllocZero(mq_cache_context, sizeof(MqQueue));
			entry->parts[k] = part;
		}
		/* The options are the queue's; plans and shape were forgotten. */
		memcpy(part, entry, offsetof(MqQueue, plans));
		memset(part->plans, 0, sizeof(part->plans));
		part->partno = k;
		part->grants = NULL;
		part->ngrants = 0;
		part->acl_valid = false;
		part->shape_checked = false;
		part->problem = NULL;
		part->seq_relid = InvalidOid;
		part->prio_index = InvalidOid;
		snprintf(prefix, sizeof(prefix), "q%d_", k);
		snprintf(part->table, NAMEDATALEN, "%s%s", prefix, entry->name);
		part->relid = relation_for(prefix, entry->name);
		part->cursor = OidIsValid(part->relid) ?
			mq_cursor_attach(part->relid, entry->name, entry->relid) : NULL;
		if (OidIsValid(part->relid))
		{
			part->failure_cols = get_attnum(part->relid, "failed_at") != InvalidAttrNumber;
			part->ordering_cols = get_attnum(part->relid, "group_id") != InvalidAttrNumber;
		}
	}
	entry->nparts = nparts;
	for (k = 1; k < nparts; k++)
		entry->parts[k]->nparts = nparts;
}

/*
 * mq_lookup_queue_locked
 *		mq_lookup_queue (missing_ok) for a monitoring look: the queue's
 *		table locked in AccessShareLock, looked up again until the entry
 *		is current for what was locked.  NULL when the queue is not
 *		registered; an entry whose table is missing (relid InvalidOid)
 *		comes back unlocked.
 */
MqQueue *
mq_lookup_queue_locked(const char *name)
{
	for (;;)
	{
		MqQueue    *queue = mq_lookup_queue(name, true);
		Oid			relid;

		if (queue == NULL || !OidIsValid(queue->relid))
			return queue;
		relid = queue->relid;
		LockRelationOid(relid, AccessShareLock);
		if (queue->valid)
			return queue;
		UnlockRelationOid(relid, AccessShareLock);
	}
}

/*
 * mq_lookup_queue
 *		Return the cache entry for a queue, loading it from the registry if
 *		needed.  A queue that is not registered raises 42704, or with
 *		missing_ok returns NULL.  A registered queue whose message table
 *		is missing comes back with relid InvalidOid and a problem.
 *
 * Connects to SPI itself for a load (SPI nests).  The name must have been
 * validated.  Nothing here locks the queue: see mq_open_queue.
 */
MqQueue *
mq_lookup_queue(const char *name, bool missing_ok)
{
	MqQueue    *entry;
	bool		found;
	Datum		arg;
	int			ret;
	bool		isnull;
	Datum		d;
	HeapTuple	tup;
	TupleDesc	desc;
	int			i;
	int			nparts;
	uint64		gen;

	ensure_cache();
	entry = (MqQueue *) hash_search(queue_cache, name, HASH_ENTER, &found);
	if (found && entry->valid)
		return entry;

	if (!found)
	{
		memset(entry->plans, 0, sizeof(entry->plans));
		entry->grants = NULL;
		entry->problem = NULL;
		entry->parts = MemoryContextAllocZero(mq_cache_context,
											  sizeof(MqQueue *) * MQ_MAX_PARTITIONS);
		entry->parts[0] = entry;
	}

	/*
	 * Partitions' entries are kept and reused while the queue exists: a
	 * caller may still hold one across a rebuild.  What they prepared goes.
	 */
	for (i = 1; i < MQ_MAX_PARTITIONS && entry->parts[i] != NULL; i++)
		forget_derived(entry->parts[i]);
	entry->nparts = 1;
	entry->partno = 0;
	snprintf(entry->table, NAMEDATALEN, "q_%s", name);
	entry->valid = false;
	forget_derived(entry);
	if (entry->grants != NULL)
		pfree(entry->grants);
	entry->grants = NULL;
	entry->ngrants = 0;

	/* From here, an invalidation means what we read may be stale. */
	gen = inval_count;
	building = true;

	SPI_connect();
	(void) mq_registry_relid();
	prepare_registry_plans();

	/* Not read-only: a fresh snapshot sees a drop that just committed. */
	arg = CStringGetTextDatum(name);
	ret = SPI_execute_plan(registry_plan, &arg, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		SPI_finish();
		building = false;
		/* The queue is gone: so are its partitions' entries. */
		for (i = 1; i < MQ_MAX_PARTITIONS && entry->parts[i] != NULL; i++)
			pfree(entry->parts[i]);
		pfree(entry->parts);
		hash_search(queue_cache, name, HASH_REMOVE, NULL);
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name),
				 errhint("Create it with mq.create_queue.")));
	}

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	entry->visibility_timeout = *DatumGetIntervalP(SPI_getbinval(tup, desc, 1, &isnull));
	entry->unlogged = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	entry->notify = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	entry->dedup_window = *DatumGetIntervalP(SPI_getbinval(tup, desc, 4, &isnull));
	entry->has_retry_delay = false;
	entry->has_retry_delay_max = false;
	d = SPI_getbinval(tup, desc, 5, &isnull);
	if (!isnull)
	{
		entry->retry_delay = *DatumGetIntervalP(d);
		entry->has_retry_delay = true;
	}
	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull)
	{
		entry->retry_delay_max = *DatumGetIntervalP(d);
		entry->has_retry_delay_max = true;
	}
	d = SPI_getbinval(tup, desc, 7, &isnull);
	entry->max_deliveries = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 8, &isnull);
	if (isnull)
		entry->dead_letter_queue[0] = '\0';
	else
		strlcpy(entry->dead_letter_queue, TextDatumGetCString(d), NAMEDATALEN);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	entry->owner = isnull ? InvalidOid : DatumGetObjectId(d);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	nparts = isnull ? 1 : DatumGetInt32(d);
	entry->history = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	entry->history_retention = *DatumGetIntervalP(SPI_getbinval(tup, desc, 12, &isnull));
	load_grants(entry, arg);
	SPI_finish();

	entry->relid = relation_for("q_", name);
	entry->wake_relid = entry->relid;
	entry->archive_relid = relation_for("a_", name);
	entry->history_relid = relation_for("h_", name);
	if (!OidIsValid(entry->relid) || !OidIsValid(entry->archive_relid))
	{
		entry->problem = MemoryContextStrdup(mq_cache_context,
											 psprintf("Table mq.%s%s is missing.",
													  OidIsValid(entry->relid) ? "a_" : "q_", name));
		entry->shape_checked = true;
	}
	else
	{
		entry->failure_cols = get_attnum(entry->relid, "failed_at") != InvalidAttrNumber;
		entry->ordering_cols = get_attnum(entry->relid, "group_id") != InvalidAttrNumber;
		entry->cursor = mq_cursor_attach(entry->relid, name, entry->relid);
		if (nparts > 1 && nparts <= MQ_MAX_PARTITIONS)
			build_partitions(entry, nparts);
	}
	building = false;

	/* Invalidated while we built it: callers that lock and check look again. */
	entry->valid = (inval_count == gen);
	return entry;
}

/*
 * mq_queue_shape_ok
 *		Look at the queue's tables once per cache entry (caller holds a lock
 *		on the message table): are they as mq made them?  If not,
 *		queue->problem says how.  Before the privilege model is installed,
 *		calls run as their caller and any owner is accepted.
 */
bool
mq_queue_shape_ok(MqQueue *queue)
{
	/*
	 * Only "as mq made it" is remembered until the next invalidation: a
	 * refusal is looked at again, since undoing some changes (dropping a
	 * child table) sends no invalidation for the queue's table.
	 */
	if (queue->shape_checked && queue->problem != NULL)
	{
		pfree(queue->problem);
		queue->problem = NULL;
		queue->shape_checked = false;
	}
	if (!queue->shape_checked)
	{
		Oid			owner = mq_model_active() ? mq_owner() : InvalidOid;
		char	   *problem = mq_shape_problem(queue, owner);
		int			k;

		/* Every partition's table is part of the queue. */
		for (k = 1; k < queue->nparts && problem == NULL; k++)
		{
			MqQueue    *part = queue->parts[k];

			if (!OidIsValid(part->relid))
				problem = psprintf("Table mq.%s is missing.", part->table);
			else
				problem = mq_shape_problem(part, owner);
		}

		if (problem != NULL)
			queue->problem = MemoryContextStrdup(mq_cache_context, problem);
		queue->shape_checked = true;
		for (k = 1; k < queue->nparts; k++)
			queue->parts[k]->shape_checked = (problem == NULL);
	}
	return queue->problem == NULL;
}

/*
 * check_shape
 *		Refuse a queue whose tables are not as mq made them (55000).
 */
static void
check_shape(MqQueue *queue)
{
	if (!mq_queue_shape_ok(queue))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("queue \"%s\" cannot be used: its tables are not as mq made them",
						queue->name),
				 errdetail_internal("%s", queue->problem),
				 errhint("A superuser must undo the change, or drop the queue with mq.drop_queue.")));
}

/*
 * mq_open_queue
 *		Look a queue up for an entry point: lock its message table in
 *		lockmode (NoLock: leave locking to the plans), check its shape and
 *		that the caller holds privs (0: any one of them will not do; none
 *		are checked).  Raises 42704 for a queue that does not exist, also
 *		one dropped while we waited for the lock.
 *
 * Caller is inside mq_enter.
 */
MqQueue *
mq_open_queue(MqContext *cx, const char *name, int privs, LOCKMODE lockmode)
{
	MqQueue    *queue;

	for (;;)
	{
		Oid			relid;

		queue = mq_lookup_queue(name, false);
		relid = queue->relid;
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("queue \"%s\" does not exist", name),
					 errdetail_internal("%s", queue->problem)));
		if (lockmode == NoLock)
			break;

		/*
		 * The lock may have waited for a drop, or for DDL on the table: if
		 * it let an invalidation in, look the queue up again.
		 */
		LockRelationOid(relid, lockmode);
		if (queue->valid)
			break;
		UnlockRelationOid(relid, lockmode);
	}
	check_shape(queue);
	if (privs != 0)
		mq_require(queue, cx->caller, privs);
	return queue;
}

/*
 * mq_try_open_queue
 *		mq_open_queue for a queue mq uses on its own account (a dead-letter
 *		queue, the worker's sweep): no privilege is checked, and instead of
 *		an error, NULL with *why saying what is wrong (missing, not as mq
 *		made it).  With nowait, a queue whose lock is not free at once (a
 *		drop or alter in an open transaction) gives NULL with *why NULL:
 *		the worker must not wait behind anyone's transaction.
 */
MqQueue *
mq_try_open_queue(const char *name, LOCKMODE lockmode, bool nowait, char **why)
{
	MqQueue    *queue;

	*why = NULL;
	for (;;)
	{
		queue = mq_lookup_queue(name, true);
		if (queue == NULL)
		{
			*why = psprintf("queue \"%s\" does not exist", name);
			return NULL;
		}
		if (!OidIsValid(queue->relid))
		{
			*why = pstrdup(queue->problem);
			return NULL;
		}
		if (!nowait)
			LockRelationOid(queue->relid, lockmode);
		else if (!ConditionalLockRelationOid(queue->relid, lockmode))
			return NULL;
		if (queue->valid)
			break;
		UnlockRelationOid(queue->relid, lockmode);
	}
	if (!mq_queue_shape_ok(queue))
	{
		*why = psprintf("its tables are not as mq made them (%s)", queue->problem);
		return NULL;
	}
	return queue;
}

/*
 * mq_queue_plan
 *		The kept SPI plan of the given kind for a queue, prepared on first use.
 *
 * Caller must be connected to SPI and hold a valid entry from
 * mq_lookup_queue.
 */
SPIPlanPtr
mq_queue_plan(MqQueue *queue, const MqPlanDef *def)
{
	char	   *aname;
	char	   *sql;
	int			nargs = 0;
	Oid			types[8];
	SPIPlanPtr	plan;

	if (queue->plans[def->kind] != NULL)
		return queue->plans[def->kind];

	aname = psprintf("a_%s", queue->name);
	sql = def->sql(def->kind,
				   quote_qualified_identifier("mq", queue->table),
				   quote_qualified_identifier("mq", aname),
				   (queue->failure_cols ? MQ_COLS_FAILURES : 0) |
				   (queue->ordering_cols ? MQ_COLS_ORDERING : 0) | def->cols_extra,
				   &nargs, types);
	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	queue->plans[def->kind] = plan;
	pfree(sql);
	return plan;
}

/*
 * mq_run_plan
 *		Execute a queue's kept plan; the SPI result code must be expected.
 *		Returns how many rows it processed.
 */
uint64
mq_run_plan(MqQueue *queue, const MqPlanDef *def, Datum *values, const char *nulls, int expected)
{
	int			ret = SPI_execute_plan(mq_queue_plan(queue, def), values, nulls, false, 0);

	if (ret != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	return SPI_processed;
}
