/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  Who may do what to a queue, and the context mq runs its SQL in.
 *
 * Privilege model
 * ---------------
 * 1. Each queue has an owner (the role that created it, mq.queue.owner)
 *    and privileges granted to roles or PUBLIC (mq.privilege): send,
 *    consume and manage.  The owner, its members and superusers hold all
 *    three; a grant to a role holds for the roles that have its
 *    privileges (membership with INHERIT), as PostgreSQL's own do.  The
 *    right to create queues is per database: superusers, and roles granted
 *    it with mq.grant_create.
 *
 * 2. Every entry point checks the caller's privileges itself (42501 naming
 *    the queue and what is missing, before anything changes).  What a role
 *    holds on a queue is worked out once per cache entry and role, and
 *    forgotten when the grants, the queue or any role membership changes
 *    (catalog.c's invalidation callbacks).
 *
 * 3. The SQL an entry point issues runs as the owner of mq's objects (the
 *    superuser that ran CREATE EXTENSION; every queue table belongs to it)
 *    inside a security-restricted operation, with a search path of
 *    pg_catalog alone, so neither the caller's search_path nor anything a
 *    non-superuser could create is consulted, and the queue tables are
 *    used only in the shape mq made them (shape.c): no trigger, rule,
 *    policy, default or constraint of anyone else's runs.  Application
 *    roles need no privilege on any table of schema mq.  This is the
 *    pattern of PostgreSQL's RI triggers and maintenance commands.
 *
 * 4. Every entry point first takes a share lock on the registry.  DROP
 *    EXTENSION mq takes it exclusively before it drops anything (queue.c),
 *    so it waits for running calls, and calls that arrive meanwhile wait
 *    for it and then fail cleanly (42704), never on a vanished relation.
 *
 * Before ALTER EXTENSION UPDATE installs 0.4.0, the older SQL has no owner
 * or grants: calls then run as their caller, as they did (points 1-3 do
 * not apply; the fixed search path and the lock do).
 *
 * Its part of the read path (read.c): in step 1, the consume privilege;
 * and the context (role, search path) every step's SQL runs in.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/acl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "jit/jit.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_grant);
PG_FUNCTION_INFO_V1(mq_revoke);
PG_FUNCTION_INFO_V1(mq_grant_create);
PG_FUNCTION_INFO_V1(mq_revoke_create);
PG_FUNCTION_INFO_V1(mq_has_privilege);
PG_FUNCTION_INFO_V1(mq_set_owner);
PG_FUNCTION_INFO_V1(mq_privileges_list);
PG_FUNCTION_INFO_V1(mq_wait_for_older_transactions);

/* pg_catalog alone: no temporary schema, nothing a user can create in. */
static OverrideSearchPath safe_path = {NIL, true, false, 0};

/*
 * lock_registry
 *		Share-lock the registry; if the lock waited for a DROP EXTENSION,
 *		mq_registry_relid finds the extension gone and says so.
 */
static void
lock_registry(void)
{
	for (;;)
	{
		Oid			relid = mq_registry_relid();

		LockRelationOid(relid, AccessShareLock);
		if (mq_registry_relid() == relid)
			return;
		UnlockRelationOid(relid, AccessShareLock);
	}
}

/*
 * The role whose call is running (the last mq_enter's caller), for the
 * events it causes (history.c); InvalidOid in the worker.
 */
Oid			mq_current_caller = InvalidOid;

/*
 * enter
 *		Begin an entry point's work: lock the registry, run as as_owner
 *		(InvalidOid: stay the caller), with the safe search path.
 */
static void
enter(MqContext *cx, Oid as_owner)
{
	GetUserIdAndSecContext(&cx->save_userid, &cx->save_sec_context);
	cx->caller = cx->save_userid;
	mq_current_caller = OidIsValid(as_owner) ? InvalidOid : cx->caller;
	mq_history_from(NULL, 0);	/* left set by a send that failed */
	cx->switched = false;
	cx->pushed = false;

	lock_registry();
	if (OidIsValid(as_owner))
	{
		SetUserIdAndSecContext(as_owner, cx->save_sec_context |
							   SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		cx->switched = true;
	}
	PushOverrideSearchPath(&safe_path);
	cx->pushed = true;

	/*
	 * No JIT for mq's statements: their kept plans are generic, costed
	 * for a LIMIT of a parameter (a tenth of the table), so a big queue's
	 * claim went past jit_above_cost and was compiled again at every
	 * execution (35 ms for a read that takes 0.2).  The planner decides at
	 * planning time, so plans made here carry no JIT.
	 */
	cx->guc_level = 0;
	if (jit_enabled)
	{
		cx->guc_level = NewGUCNestLevel();
		(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * mq_enter
 *		Called by every SQL entry point before it looks at a queue; pair
 *		with mq_leave.  An error in between needs no cleanup: (sub)
 *		transaction abort restores the user and the search path.
 */
void
mq_enter(MqContext *cx)
{
	enter(cx, InvalidOid);
	if (mq_model_active())
	{
		SetUserIdAndSecContext(mq_owner(), cx->save_sec_context |
							   SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		cx->switched = true;
	}
}

/*
 * mq_enter_worker
 *		mq_enter for the database worker: always as the mq owner (the
 *		worker itself is a superuser), whatever the installed version.
 */
void
mq_enter_worker(MqContext *cx)
{
	enter(cx, mq_owner());
}

/*
 * mq_leave
 *		End what mq_enter began.
 */
void
mq_leave(MqContext *cx)
{
	if (cx->guc_level > 0)
		AtEOXact_GUC(false, cx->guc_level);
	cx->guc_level = 0;
	if (cx->pushed)
		PopOverrideSearchPath();
	if (cx->switched)
		SetUserIdAndSecContext(cx->save_userid, cx->save_sec_context);
	cx->pushed = cx->switched = false;
}

/*
 * mq_priv_name
 *		The name of one privilege bit.
 */
const char *
mq_priv_name(int priv)
{
	switch (priv)
	{
		case MQ_PRIV_SEND:
			return "send";
		case MQ_PRIV_CONSUME:
			return "consume";
		case MQ_PRIV_MANAGE:
			return "manage";
	}
	return "?";
}

/*
 * mq_privileges
 *		The privileges role holds on a queue (all of them before the model
 *		is installed).  Cached in the entry for one role at a time.
 */
int
mq_privileges(MqQueue *queue, Oid role)
{
	int			privs = 0;
	int			i;

	if (!mq_model_active())
		return MQ_PRIV_ALL;
	if (queue->acl_valid && queue->acl_role == role)
		return queue->acl_privs;

	if (superuser_arg(role) ||
		(OidIsValid(queue->owner) && has_privs_of_role(role, queue->owner)))
		privs = MQ_PRIV_ALL;
	else
		for (i = 0; i < queue->ngrants; i++)
		{
			MqGrant    *g = &queue->grants[i];

			if ((privs | g->privs) == privs)
				continue;
			if (!OidIsValid(g->grantee) || has_privs_of_role(role, g->grantee))
				privs |= g->privs;
		}

	queue->acl_role = role;
	queue->acl_privs = privs;
	queue->acl_valid = true;
	return privs;
}

/*
 * role_name
 *		A role's name for messages (its OID if it is gone).
 */
static const char *
role_name(Oid role)
{
	char	   *name = GetUserNameFromId(role, true);

	return name != NULL ? name : psprintf("%u", role);
}

/*
 * mq_require
 *		Raise 42501 unless role holds every privilege in privs on queue.
 */
void
mq_require(MqQueue *queue, Oid role, int privs)
{
	int			held = mq_privileges(queue, role);
	static const int order[] = {MQ_PRIV_SEND, MQ_PRIV_CONSUME, MQ_PRIV_MANAGE};
	int			i;

	for (i = 0; i < lengthof(order); i++)
	{
		int			p = order[i];

		if ((privs & p) == 0 || (held & p) != 0)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s queue \"%s\"",
						p == MQ_PRIV_SEND ? "send to" :
						p == MQ_PRIV_CONSUME ? "consume from" : "manage",
						queue->name),
				 errdetail("Role \"%s\" lacks the %s privilege on queue \"%s\".",
						   role_name(role), mq_priv_name(p), queue->name),
				 errhint("A role that may manage the queue can grant it with mq.grant.")));
	}
}

/*
 * has_create
 *		Does role hold the right to create queues?  Caller is in mq_enter.
 */
static bool
has_create(Oid role)
{
	int			ret;
	uint64		i;
	bool		ok = false;

	if (superuser_arg(role))
		return true;
	if (!mq_model_active())
		return true;			/* before 0.4.0: table privileges decide */

	SPI_connect();
	ret = SPI_execute("SELECT grantee::pg_catalog.oid FROM mq.privilege "
					  "WHERE queue_name OPERATOR(pg_catalog.=) '' "
					  "AND privilege OPERATOR(pg_catalog.=) 'create'", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed && !ok; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull));

		ok = !OidIsValid(grantee) || has_privs_of_role(role, grantee);
	}
	SPI_finish();
	return ok;
}

/*
 * mq_require_create
 *		Raise 42501 unless role may create queues.
 */
void
mq_require_create(Oid role)
{
	if (!has_create(role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to create queues"),
				 errdetail("Role \"%s\" lacks the create privilege of mq.", role_name(role)),
				 errhint("A superuser can grant it with mq.grant_create.")));
}

/*
 * parse_privileges
 *		A comma-separated list of send, consume, manage or all (any case,
 *		spaces allowed) as privilege bits; 22023 for anything else.
 */
static int
parse_privileges(FunctionCallInfo fcinfo, int argno)
{
	char	   *list;
	char	   *tok;
	char	   *save;
	int			privs = 0;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("privileges must not be null")));
	list = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
	{
		char	   *p = tok;
		char	   *e;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
			*--e = '\0';
		if (pg_strcasecmp(p, "send") == 0)
			privs |= MQ_PRIV_SEND;
		else if (pg_strcasecmp(p, "consume") == 0)
			privs |= MQ_PRIV_CONSUME;
		else if (pg_strcasecmp(p, "manage") == 0)
			privs |= MQ_PRIV_MANAGE;
		else if (pg_strcasecmp(p, "all") == 0)
			privs |= MQ_PRIV_ALL;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized queue privilege \"%s\"", p),
					 errhint("Queue privileges are send, consume, manage and all.")));
	}
	if (privs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no queue privilege given"),
				 errhint("Queue privileges are send, consume, manage and all.")));
	return privs;
}

/*
 * role_arg
 *		A role name argument: 'public' (any case) is PUBLIC (InvalidOid);
 *		otherwise the role must exist (42704).  With null_is_caller, NULL
 *		is the caller.
 */
static Oid
role_arg(FunctionCallInfo fcinfo, int argno, bool null_is_caller, bool *is_public)
{
	char	   *name;

	*is_public = false;
	if (PG_ARGISNULL(argno))
	{
		if (null_is_caller)
			return GetUserId();
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role name must not be null")));
	}
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (pg_strcasecmp(name, "public") == 0)
	{
		*is_public = true;
		return InvalidOid;
	}
	return get_role_oid(name, false);
}

/*
 * require_model
 *		Grants need the 0.4.0 catalog.
 */
static void
require_model(void)
{
	if (!mq_model_active())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("queue privileges need extension mq 0.4.0 or later"),
				 errhint("Run ALTER EXTENSION mq UPDATE.")));
}

/*
 * change_grants
 *		Insert (grant) or delete (revoke) one row per privilege bit of
 *		grantee on queue '' (the create right) or a queue; every backend
 *		reloads what it knew.  Caller is in mq_enter.
 */
static void
change_grants(bool grant, const char *queue, Oid grantee, int privs, bool create)
{
	Datum		args[3];
	Oid			types[3] = {TEXTOID, REGROLEOID, TEXTARRAYOID};
	Datum		names[3];
	int			n = 0;
	int			ret;

	if (create)
		names[n++] = CStringGetTextDatum("create");
	else
	{
		if (privs & MQ_PRIV_SEND)
			names[n++] = CStringGetTextDatum("send");
		if (privs & MQ_PRIV_CONSUME)
			names[n++] = CStringGetTextDatum("consume");
		if (privs & MQ_PRIV_MANAGE)
			names[n++] = CStringGetTextDatum("manage");
	}
	args[0] = CStringGetTextDatum(queue);
	args[1] = ObjectIdGetDatum(grantee);
	args[2] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));

	SPI_connect();

	/*
	 * Touch the queue's registry row: a concurrent drop_queue then waits
	 * for us and sees our grants (READ COMMITTED), or fails to serialize
	 * (REPEATABLE READ), instead of leaving grants behind for a future
	 * queue of the same name.
	 */
	if (!create)
	{
		ret = SPI_execute_with_args("UPDATE mq.queue SET queue_name = queue_name "
									"WHERE queue_name OPERATOR(pg_catalog.=) $1",
									1, types, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}
	if (grant)
		ret = SPI_execute_with_args("INSERT INTO mq.privilege (queue_name, grantee, privilege) "
									"SELECT $1, $2, p FROM pg_catalog.unnest($3) AS p "
									"ON CONFLICT DO NOTHING",
									3, types, args, NULL, false, 0);
	else
		ret = SPI_execute_with_args("DELETE FROM mq.privilege WHERE queue_name OPERATOR(pg_catalog.=) $1"
									" AND grantee OPERATOR(pg_catalog.=) $2"
									" AND privilege OPERATOR(pg_catalog.=) ANY ($3)",
									3, types, args, NULL, false, 0);
	if (ret != (grant ? SPI_OK_INSERT : SPI_OK_DELETE))
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	CacheInvalidateRelcacheByRelid(mq_registry_relid());
}

/*
 * grant_or_revoke
 *		mq.grant / mq.revoke (queue_name text, privileges text, role_name text)
 */
static Datum
grant_or_revoke(FunctionCallInfo fcinfo, bool grant)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	int			privs = parse_privileges(fcinfo, 1);
	bool		is_public;
	Oid			grantee = role_arg(fcinfo, 2, false, &is_public);
	MqContext	cx;
	MqQueue    *queue;

	mq_enter(&cx);
	require_model();
	queue = mq_open_queue(&cx, name, MQ_PRIV_MANAGE, AccessShareLock);
	change_grants(grant, queue->name, grantee, privs, false);
	mq_leave(&cx);
	PG_RETURN_VOID();
}

Datum
mq_grant(PG_FUNCTION_ARGS)
{
	return grant_or_revoke(fcinfo, true);
}

Datum
mq_revoke(PG_FUNCTION_ARGS)
{
	return grant_or_revoke(fcinfo, false);
}

/*
 * create_right
 *		mq.grant_create / mq.revoke_create (role_name text): superusers only.
 */
static Datum
create_right(FunctionCallInfo fcinfo, bool grant)
{
	bool		is_public;
	Oid			grantee = role_arg(fcinfo, 0, false, &is_public);
	MqContext	cx;

	mq_enter(&cx);
	require_model();
	if (!superuser_arg(cx.caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s the create privilege of mq",
						grant ? "grant" : "revoke"),
				 errdetail("Only superusers may decide who creates queues.")));
	change_grants(grant, "", grantee, 0, true);
	mq_leave(&cx);
	PG_RETURN_VOID();
}

Datum
mq_grant_create(PG_FUNCTION_ARGS)
{
	return create_right(fcinfo, true);
}

Datum
mq_revoke_create(PG_FUNCTION_ARGS)
{
	return create_right(fcinfo, false);
}

/*
 * mq.has_privilege(queue_name text, privilege text, role_name text)
 *		returns boolean
 *
 * privilege is send, consume or manage on a queue, or create (queue_name
 * NULL); role_name NULL is the caller.
 */
Datum
mq_has_privilege(PG_FUNCTION_ARGS)
{
	char	   *priv;
	bool		is_public;
	Oid			role;
	MqContext	cx;
	bool		result;
	int			bit = 0;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("privilege must not be null")));
	priv = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (pg_strcasecmp(priv, "create") != 0)
		bit = parse_privileges(fcinfo, 1);
	role = role_arg(fcinfo, 2, true, &is_public);
	if (is_public)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mq.has_privilege asks about a role, not PUBLIC")));

	if (bit == 0)
	{
		if (!PG_ARGISNULL(0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the create privilege belongs to no queue"),
					 errhint("Pass NULL as the queue name.")));
		mq_enter(&cx);
		result = has_create(role);
	}
	else
	{
		char	   *name = mq_name_arg(fcinfo, 0);

		mq_enter(&cx);
		result = (mq_privileges(mq_lookup_queue(name, false), role) & bit) == bit;
	}
	mq_leave(&cx);
	PG_RETURN_BOOL(result);
}

/*
 * mq.set_owner(queue_name text, role_name text)
 *
 * As ALTER ... OWNER TO: a superuser, or a role with the privileges of
 * the current owner that is a member of the new owner, which must itself
 * hold the right to create queues.  The new owner must be allowed to send
 * to the queue's dead-letter queue.
 */
Datum
mq_set_owner(PG_FUNCTION_ARGS)
{
	char	   *name = mq_name_arg(fcinfo, 0);
	bool		is_public;
	Oid			newowner = role_arg(fcinfo, 1, false, &is_public);
	MqContext	cx;
	MqQueue    *queue;
	Oid			types[2] = {TEXTOID, REGROLEOID};
	Datum		args[2];
	int			ret;

	if (is_public)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a queue cannot be owned by PUBLIC")));
	mq_enter(&cx);
	require_model();
	queue = mq_open_queue(&cx, name, MQ_PRIV_MANAGE, AccessShareLock);
	if (!superuser_arg(cx.caller))
	{
		if (!OidIsValid(queue->owner) || !has_privs_of_role(cx.caller, queue->owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to change the owner of queue \"%s\"", name),
					 errdetail("Only its owner (or a member of it) and superusers may.")));
		check_is_member_of_role(cx.caller, newowner);
		mq_require_create(newowner);
	}
	if (queue->dead_letter_queue[0] != '\0')
		mq_require(mq_open_queue(&cx, queue->dead_letter_queue, 0, AccessShareLock),
				   newowner, MQ_PRIV_SEND);

	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(newowner);
	SPI_connect();
	ret = SPI_execute_with_args("UPDATE mq.queue SET owner = $2 WHERE queue_name OPERATOR(pg_catalog.=) $1",
								2, types, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	CacheInvalidateRelcacheByRelid(mq_registry_relid());
	mq_leave(&cx);
	PG_RETURN_VOID();
}

/*
 * mq._privileges() returns setof (queue_name text, grantee text,
 *		privilege text): the rows behind the view mq.privileges
 *
 * Every grant on the queues the caller may manage, their owners (as
 * privilege "owner"), and who may create queues.  A queue the caller may
 * not manage, or one dropped meanwhile, is skipped, never an error.
 */
Datum
mq_privileges_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqContext	cx;
	int			ret;
	uint64		i;
	SPITupleTable *tt;
	uint64		n;

	InitMaterializedSRF(fcinfo, 0);
	mq_enter(&cx);
	require_model();
	SPI_connect();
	ret = SPI_execute("SELECT queue_name, grantee::pg_catalog.oid, privilege FROM mq.privilege "
					  "UNION ALL SELECT queue_name, owner::pg_catalog.oid, 'owner' FROM mq.queue "
					  "ORDER BY 1, 3, 2", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		char	   *queue = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		bool		isnull;
		Oid			grantee = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (queue[0] != '\0')
		{
			MqQueue    *q = mq_lookup_queue(queue, true);

			if (q == NULL || (mq_privileges(q, cx.caller) & MQ_PRIV_MANAGE) == 0)
				continue;
			values[0] = CStringGetTextDatum(queue);
		}
		else
			nulls[0] = true;
		values[1] = CStringGetTextDatum(OidIsValid(grantee) ? role_name(grantee) : "PUBLIC");
		values[2] = CStringGetTextDatum(SPI_getvalue(tt->vals[i], tt->tupdesc, 3));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	mq_leave(&cx);
	return (Datum) 0;
}

/*
 * mq._wait_for_older_transactions() returns void
 *
 * Wait until every transaction of this database that was running when the
 * call began has ended, as CREATE INDEX CONCURRENTLY does.  ALTER EXTENSION
 * UPDATE calls it after making sure no other role may create in schema mq
 * any more, and before looking for objects there that are not mq's: an
 * object created by a transaction still open when the right was revoked
 * is invisible until that transaction commits.  Superusers only.
 */
Datum
mq_wait_for_older_transactions(PG_FUNCTION_ARGS)
{
	VirtualTransactionId *vxids;
	int			n;
	int			i;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to wait for other transactions"),
				 errdetail("Only superusers may.")));
	vxids = GetCurrentVirtualXIDs(InvalidTransactionId, false, false,
								  PROC_IS_AUTOVACUUM | PROC_IN_VACUUM, &n);
	for (i = 0; i < n; i++)
		(void) VirtualXactLock(vxids[i], true);
	pfree(vxids);
	PG_RETURN_VOID();
}
