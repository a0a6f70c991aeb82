/*-------------------------------------------------------------------------
 *
 * shape.c
 *	  Is a queue's pair of tables still as mq.create_queue made them?
 *
 * mq issues SQL on a queue's tables as the owner of its objects (acl.c),
 * and sends insert rows directly (insert.c).  Neither may run code that
 * someone added to a table: a trigger, a rule, a row-level policy, a
 * column default, a CHECK constraint, an index expression or predicate,
 * a child table scanned with its parent, a table access method.  And a
 * table that is not in the layout the plans were written for cannot be
 * served at all.  So before a queue is used (once per cache entry: DDL on
 * a table invalidates the entry), its message table mq.q_<name> and its
 * archive mq.a_<name> are compared with what mq makes:
 *
 *	- ordinary heap tables in schema mq, logged or unlogged as the
 *	  registry says, owned by the owner of mq's objects (when the privilege
 *	  model is installed), not partitions, parents or children;
 *	- exactly mq's columns, in order, with their types, nullability and
 *	  collations; no dropped, generated or identity column;
 *	- the only defaults: nextval of the table's own id sequence, and the
 *	  constants 0 and false;
 *	- no CHECK constraint, trigger, rule or row-level security;
 *	- exactly one index, the btree primary key on id, and on a table with
 *	  the 0.5.0 columns two more: btree on (priority DESC, id) where
 *	  priority <> 0, and btree on (group_id, id) where group_id IS NOT
 *	  NULL, with the built-in operators only;
 *	- no extended statistics (ANALYZE, run by autovacuum as the table's
 *	  owner, evaluates their expressions), and no publication row filter
 *	  (evaluated when changes are decoded).
 *
 * Anything else is a problem, reported as one sentence; the caller
 * refuses the queue (catalog.c) or the worker skips it (worker.c).
 *
 * Its part of the read path (read.c): in step 1, that every table of the
 * queue (each partition's, and the archive) is as mq made it.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/shape.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_publication_rel.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_queue_problems);

/* The default a column may have. */
typedef enum ShapeDefault
{
	DEF_NONE,
	DEF_SEQUENCE,				/* nextval of the table's own sequence */
	DEF_ZERO,					/* the integer 0 */
	DEF_FALSE					/* the boolean false */
} ShapeDefault;

typedef struct ShapeColumn
{
	const char *name;
	Oid			type;
	bool		notnull;
	ShapeDefault def;
} ShapeColumn;

/*
 * mq.q_<name>: the first eight columns since 0.1.0, the failure record
 * since 0.3.0, the priority and FIFO group since 0.5.0 (a table of an older
 * version lacks those until ALTER EXTENSION UPDATE adds them).
 */
#define Q_NATTS_OLD 8
#define Q_NATTS_03 11
static const ShapeColumn q_columns[] = {
	{"id", INT8OID, true, DEF_SEQUENCE},
	{"vt", TIMESTAMPTZOID, true, DEF_NONE},
	{"deliveries", INT4OID, true, DEF_ZERO},
	{"leased", BOOLOID, true, DEF_FALSE},
	{"enqueued_at", TIMESTAMPTZOID, true, DEF_NONE},
	{"last_error", TEXTOID, false, DEF_NONE},
	{"headers", JSONBOID, false, DEF_NONE},
	{"payload", JSONBOID, true, DEF_NONE},
	{"failures", INT4OID, true, DEF_ZERO},
	{"first_error", TEXTOID, false, DEF_NONE},
	{"failed_at", TIMESTAMPTZOID, false, DEF_NONE},
	{"priority", INT4OID, true, DEF_ZERO},
	{"group_id", TEXTOID, false, DEF_NONE},
};

/* Attribute numbers of the priority and group columns. */
#define Q_ATTNUM_PRIORITY 12
#define Q_ATTNUM_GROUP 13

/* mq.a_<name> */
static const ShapeColumn a_columns[] = {
	{"id", INT8OID, true, DEF_NONE},
	{"payload", JSONBOID, true, DEF_NONE},
	{"headers", JSONBOID, false, DEF_NONE},
	{"enqueued_at", TIMESTAMPTZOID, true, DEF_NONE},
	{"archived_at", TIMESTAMPTZOID, true, DEF_NONE},
	{"deliveries", INT4OID, true, DEF_NONE},
	{"last_error", TEXTOID, false, DEF_NONE},
};

/* mq.h_<name>: the events of a queue with history (history.c). */
static const ShapeColumn h_columns[] = {
	{"msg_id", INT8OID, true, DEF_NONE},
	{"event_at", TIMESTAMPTZOID, true, DEF_NONE},
	{"event", TEXTOID, true, DEF_NONE},
	{"delivery", INT4OID, false, DEF_NONE},
	{"role", TEXTOID, false, DEF_NONE},
	{"application_name", TEXTOID, false, DEF_NONE},
	{"backend_pid", INT4OID, false, DEF_NONE},
	{"visible_at", TIMESTAMPTZOID, false, DEF_NONE},
	{"error", TEXTOID, false, DEF_NONE},
	{"traceparent", TEXTOID, false, DEF_NONE},
	{"other_queue", TEXTOID, false, DEF_NONE},
	{"other_id", INT8OID, false, DEF_NONE},
};

/*
 * default_is
 *		Is a column default expression exactly what def allows?
 */
static bool
default_is(Node *expr, ShapeDefault def, Oid seq_relid)
{
	while (expr != NULL && IsA(expr, RelabelType))
		expr = (Node *) ((RelabelType *) expr)->arg;
	if (expr == NULL)
		return false;

	switch (def)
	{
		case DEF_SEQUENCE:
			{
				FuncExpr   *f = (FuncExpr *) expr;
				Const	   *c;

				if (!IsA(expr, FuncExpr) || f->funcid != F_NEXTVAL ||
					list_length(f->args) != 1 || !IsA(linitial(f->args), Const))
					return false;
				c = (Const *) linitial(f->args);
				return c->consttype == REGCLASSOID && !c->constisnull &&
					DatumGetObjectId(c->constvalue) == seq_relid;
			}
		case DEF_ZERO:
			return IsA(expr, Const) && ((Const *) expr)->consttype == INT4OID &&
				!((Const *) expr)->constisnull &&
				DatumGetInt32(((Const *) expr)->constvalue) == 0;
		case DEF_FALSE:
			return IsA(expr, Const) && ((Const *) expr)->consttype == BOOLOID &&
				!((Const *) expr)->constisnull &&
				!DatumGetBool(((Const *) expr)->constvalue);
		case DEF_NONE:
			break;
	}
	return false;
}

/* A role's name, or its OID when it is gone. */
static const char *
user_name(Oid role)
{
	char	   *name = GetUserNameFromId(role, true);

	return name ? name : psprintf("%u", role);
}

/*
 * has_row_filter
 *		Is the table published anywhere with a row filter (an expression
 *		evaluated while changes are decoded)?
 */
static bool
has_row_filter(Oid relid)
{
	List	   *pubs = GetRelationPublications(relid);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, pubs)
	{
		HeapTuple	tup = SearchSysCache2(PUBLICATIONRELMAP, ObjectIdGetDatum(relid),
										  ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			continue;
		if (!heap_attisnull(tup, Anum_pg_publication_rel_prqual, NULL))
			found = true;
		ReleaseSysCache(tup);
	}
	list_free(pubs);
	return found;
}

/*
 * index_is_pkey
 *		Is the index a plain btree primary key on id (column 1)?
 */
static bool
index_is_pkey(Relation idx)
{
	Form_pg_index ix = idx->rd_index;

	return ix->indisprimary && ix->indnatts == 1 &&
		ix->indkey.values[0] == 1 && idx->rd_rel->relam == BTREE_AM_OID &&
		heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL) &&
		heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL);
}

/*
 * index_is_priority
 *		Is the index the one mq makes for priorities: btree on
 *		(priority DESC, id), default operator classes, where
 *		priority <> 0 (the built-in int4 operator, against the constant 0)?
 */
static bool
index_is_priority(Relation idx)
{
	Form_pg_index ix = idx->rd_index;
	Node	   *pred;
	OpExpr	   *op;
	Var		   *var;
	Const	   *c;
	List	   *preds;

	if (ix->indisprimary || ix->indisexclusion || ix->indnatts != 2 ||
		ix->indkey.values[0] != Q_ATTNUM_PRIORITY || ix->indkey.values[1] != 1 ||
		idx->rd_rel->relam != BTREE_AM_OID ||
		idx->rd_indoption[0] != (INDOPTION_DESC | INDOPTION_NULLS_FIRST) ||
		idx->rd_indoption[1] != 0 ||
		idx->rd_opcintype[0] != INT4OID || idx->rd_opcintype[1] != INT8OID ||
		idx->rd_opfamily[0] != get_opclass_family(GetDefaultOpClass(INT4OID, BTREE_AM_OID)) ||
		idx->rd_opfamily[1] != get_opclass_family(GetDefaultOpClass(INT8OID, BTREE_AM_OID)) ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL))
		return false;

	preds = RelationGetIndexPredicate(idx);	/* implicitly ANDed */
	if (list_length(preds) != 1)
		return false;
	pred = (Node *) linitial(preds);
	if (!IsA(pred, OpExpr))
		return false;
	op = (OpExpr *) pred;
	if (get_opcode(op->opno) != F_INT4NE || list_length(op->args) != 2 ||
		!IsA(linitial(op->args), Var) || !IsA(lsecond(op->args), Const))
		return false;
	var = (Var *) linitial(op->args);
	c = (Const *) lsecond(op->args);
	return var->varattno == Q_ATTNUM_PRIORITY && var->varno == 1 &&
		c->consttype == INT4OID && !c->constisnull && DatumGetInt32(c->constvalue) == 0;
}

/*
 * index_is_group
 *		Is the index the one mq makes for FIFO groups: btree on
 *		(group_id, id), default operator classes and collation, where
 *		group_id IS NOT NULL?
 */
static bool
index_is_group(Relation idx)
{
	Form_pg_index ix = idx->rd_index;
	List	   *preds;
	NullTest   *nt;

	if (ix->indisprimary || ix->indisexclusion || ix->indisunique || ix->indnatts != 2 ||
		ix->indkey.values[0] != Q_ATTNUM_GROUP || ix->indkey.values[1] != 1 ||
		idx->rd_rel->relam != BTREE_AM_OID ||
		idx->rd_indoption[0] != 0 || idx->rd_indoption[1] != 0 ||
		idx->rd_opcintype[0] != TEXTOID || idx->rd_opcintype[1] != INT8OID ||
		idx->rd_opfamily[0] != get_opclass_family(GetDefaultOpClass(TEXTOID, BTREE_AM_OID)) ||
		idx->rd_opfamily[1] != get_opclass_family(GetDefaultOpClass(INT8OID, BTREE_AM_OID)) ||
		idx->rd_indcollation[0] != DEFAULT_COLLATION_OID ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL))
		return false;
	preds = RelationGetIndexPredicate(idx);
	if (list_length(preds) != 1 || !IsA(linitial(preds), NullTest))
		return false;
	nt = (NullTest *) linitial(preds);
	return nt->nulltesttype == IS_NOT_NULL && !nt->argisrow && IsA(nt->arg, Var) &&
		((Var *) nt->arg)->varattno == Q_ATTNUM_GROUP && ((Var *) nt->arg)->varno == 1;
}

/*
 * index_is_history
 *		Is the index one of the two mq makes on a history table: btree on
 *		(msg_id, event_at), or BRIN on event_at, built-in operator classes,
 *		no expression or predicate?
 */
static bool
index_is_history(Relation idx)
{
	Form_pg_index ix = idx->rd_index;

	if (ix->indisprimary || ix->indisexclusion || ix->indisunique ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL) ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	if (idx->rd_rel->relam == BTREE_AM_OID)
		return ix->indnatts == 2 && ix->indkey.values[0] == 1 && ix->indkey.values[1] == 2 &&
			idx->rd_indoption[0] == 0 && idx->rd_indoption[1] == 0 &&
			idx->rd_opfamily[0] == get_opclass_family(GetDefaultOpClass(INT8OID, BTREE_AM_OID)) &&
			idx->rd_opfamily[1] == get_opclass_family(GetDefaultOpClass(TIMESTAMPTZOID, BTREE_AM_OID));
	if (idx->rd_rel->relam == BRIN_AM_OID)
		return ix->indnatts == 1 && ix->indkey.values[0] == 2 &&
			idx->rd_opfamily[0] == get_opclass_family(GetDefaultOpClass(TIMESTAMPTZOID, BRIN_AM_OID));
	return false;
}

/*
 * table_problem
 *		What is wrong with one of the queue's tables, or NULL.  rel is
 *		open; owner InvalidOid accepts any owner.
 */
static char *
table_problem(Relation rel, const ShapeColumn *cols, int ncols, int ncols_old, int ncols_mid,
			  bool unlogged, Oid owner, Oid *seq_relid, Oid *prio_index)
{
	const char *rn = RelationGetRelationName(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	List	   *indexes;
	ListCell   *lc;
	bool		has_ordering;
	bool		seen_priority = false;
	bool		seen_group = false;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		return psprintf("Relation mq.%s is not an ordinary table.", rn);
	if (rel->rd_rel->relnamespace != mq_schema_oid())
		return psprintf("Table %s is not in schema mq.", rn);
	if (OidIsValid(owner) && rel->rd_rel->relowner != owner)
		return psprintf("Table mq.%s belongs to role \"%s\", not to \"%s\", the owner of mq's objects.",
						rn, user_name(rel->rd_rel->relowner), user_name(owner));
	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		return psprintf("Table mq.%s does not use the heap access method.", rn);
	if ((rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED) != unlogged)
		return psprintf("Table mq.%s is %s, the queue is not.", rn,
						unlogged ? "logged" : "unlogged");
	if (rel->rd_rel->relispartition || has_superclass(RelationGetRelid(rel)))
		return psprintf("Table mq.%s inherits from another table.", rn);
	if (find_inheritance_children(RelationGetRelid(rel), NoLock) != NIL)
		return psprintf("Table mq.%s has child tables.", rn);
	if (rel->trigdesc != NULL && rel->trigdesc->numtriggers > 0)
		return psprintf("Table mq.%s has trigger \"%s\".", rn,
						rel->trigdesc->triggers[0].tgname);
	if (rel->rd_rules != NULL)	/* relhasrules may be stale */
		return psprintf("Table mq.%s has rules.", rn);
	if (rel->rd_rel->relrowsecurity || rel->rd_rel->relforcerowsecurity ||
		rel->rd_rsdesc != NULL)
		return psprintf("Table mq.%s has row-level security.", rn);
	if (constr != NULL && constr->num_check > 0)
		return psprintf("Table mq.%s has CHECK constraint \"%s\".", rn,
						constr->check[0].ccname);
	if (RelationGetStatExtList(rel) != NIL)
		return psprintf("Table mq.%s has extended statistics.", rn);
	if (has_row_filter(RelationGetRelid(rel)))
		return psprintf("Table mq.%s is published with a row filter.", rn);

	if (desc->natts != ncols && desc->natts != ncols_old && desc->natts != ncols_mid)
		return psprintf("Table mq.%s has %d columns, not the %d mq made.", rn,
						desc->natts, ncols);

	/* The id sequence, as the default of id must name it. */
	*seq_relid = InvalidOid;
	if (cols[0].def == DEF_SEQUENCE)
	{
		List	   *seqs = getOwnedSequences(RelationGetRelid(rel));

		if (list_length(seqs) != 1)
			return psprintf("Table mq.%s does not own exactly one sequence.", rn);
		*seq_relid = linitial_oid(seqs);
		if (OidIsValid(owner))
		{
			Relation	seq = relation_open(*seq_relid, AccessShareLock);
			bool		ok = seq->rd_rel->relowner == owner &&
			seq->rd_rel->relnamespace == rel->rd_rel->relnamespace;

			relation_close(seq, AccessShareLock);
			if (!ok)
				return psprintf("The id sequence of mq.%s is not as mq made it.", rn);
		}
	}

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const ShapeColumn *c = &cols[i];
		Oid			collation = (c->type == TEXTOID) ? DEFAULT_COLLATION_OID : InvalidOid;
		int			d;
		bool		has_default = false;

		if (att->attisdropped)
			return psprintf("Table mq.%s has a dropped column.", rn);
		if (strcmp(NameStr(att->attname), c->name) != 0)
			return psprintf("Column %d of mq.%s is \"%s\", not \"%s\".", i + 1, rn,
							NameStr(att->attname), c->name);
		if (att->atttypid != c->type || att->atttypmod != -1)
			return psprintf("Column \"%s\" of mq.%s has type %s, not %s.", c->name, rn,
							format_type_with_typemod(att->atttypid, att->atttypmod),
							format_type_be(c->type));
		if (att->attnotnull != c->notnull)
			return psprintf("Column \"%s\" of mq.%s is %s.", c->name, rn,
							att->attnotnull ? "NOT NULL" : "nullable");
		if (att->attcollation != collation)
			return psprintf("Column \"%s\" of mq.%s has another collation.", c->name, rn);
		if (att->attgenerated != '\0' || att->attidentity != '\0')
			return psprintf("Column \"%s\" of mq.%s is generated or an identity.", c->name, rn);

		for (d = 0; constr != NULL && d < constr->num_defval; d++)
		{
			if (constr->defval[d].adnum != att->attnum)
				continue;
			has_default = true;
			if (!default_is(stringToNode(constr->defval[d].adbin), c->def, *seq_relid))
				return psprintf("Column \"%s\" of mq.%s has a default mq did not give it.",
								c->name, rn);
		}
		if (!has_default && c->def != DEF_NONE)
			return psprintf("Column \"%s\" of mq.%s lost its default.", c->name, rn);
	}

	/* A history table: its two indexes. */
	indexes = RelationGetIndexList(rel);
	if (cols == h_columns)
	{
		bool		seen_btree = false;
		bool		seen_brin = false;

		if (list_length(indexes) != 2)
			return psprintf("Table mq.%s has %d indexes, not the two mq made.", rn,
							list_length(indexes));
		foreach(lc, indexes)
		{
			Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
			bool		ok = index_is_history(idx);
			bool	   *seen = idx->rd_rel->relam == BTREE_AM_OID ? &seen_btree : &seen_brin;

			ok = ok && !*seen;
			*seen = true;
			index_close(idx, AccessShareLock);
			if (!ok)
				return psprintf("Index %s of mq.%s is not one mq made.",
								get_rel_name(lfirst_oid(lc)), rn);
		}
		return NULL;
	}

	/* The primary key; and the priority index when there is a priority. */
	has_ordering = cols == q_columns && desc->natts >= Q_ATTNUM_GROUP;
	if (list_length(indexes) != (has_ordering ? 3 : 1))
		return psprintf("Table mq.%s has %d indexes, not the %s mq made.", rn,
						list_length(indexes),
						has_ordering ? "primary key, priority and group indexes" : "primary key alone");
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		bool		ok;

		if (idx->rd_index->indisprimary)
			ok = index_is_pkey(idx);
		else if (!has_ordering)
			ok = false;
		else if (idx->rd_index->indkey.values[0] == Q_ATTNUM_PRIORITY)
		{
			ok = index_is_priority(idx) && !seen_priority;
			*prio_index = RelationGetRelid(idx);
		}
		else
			ok = index_is_group(idx) && !seen_group;
		if (has_ordering && !idx->rd_index->indisprimary)
		{
			if (idx->rd_index->indkey.values[0] == Q_ATTNUM_PRIORITY)
				seen_priority = true;
			else
				seen_group = true;
		}

		index_close(idx, AccessShareLock);
		if (!ok)
			return psprintf("Index %s of mq.%s is not one mq made.",
							get_rel_name(lfirst_oid(lc)), rn);
	}
	return NULL;
}

/*
 * mq_shape_problem
 *		Check both tables of a queue; return what is wrong (a sentence) or
 *		NULL.  Sets queue->seq_relid.  The caller holds a lock on the
 *		message table; owner InvalidOid accepts any owner (the older
 *		versions, whose calls run as their caller).
 */
char *
mq_shape_problem(MqQueue *queue, Oid owner)
{
	Relation	rel;
	char	   *problem;
	Oid			seq = InvalidOid;
	Oid			prio = InvalidOid;
	Oid			none;

	rel = try_relation_open(queue->relid, AccessShareLock);
	if (rel == NULL)
		return psprintf("Table mq.%s is missing.", queue->table);
	problem = table_problem(rel, q_columns, lengthof(q_columns), Q_NATTS_OLD, Q_NATTS_03,
							queue->unlogged, owner, &seq, &prio);
	relation_close(rel, AccessShareLock);
	if (problem != NULL)
		return problem;

	rel = try_relation_open(queue->archive_relid, AccessShareLock);
	if (rel == NULL)
		return psprintf("Table mq.a_%s is missing.", queue->name);
	problem = table_problem(rel, a_columns, lengthof(a_columns), lengthof(a_columns),
							lengthof(a_columns), queue->unlogged, owner, &none, &none);
	relation_close(rel, AccessShareLock);
	if (problem == NULL && OidIsValid(queue->history_relid))
	{
		rel = try_relation_open(queue->history_relid, AccessShareLock);
		if (rel != NULL)
		{
			problem = table_problem(rel, h_columns, lengthof(h_columns), lengthof(h_columns),
									lengthof(h_columns), queue->unlogged, owner, &none, &none);
			relation_close(rel, AccessShareLock);
		}
	}
	if (problem == NULL)
	{
		queue->seq_relid = seq;
		queue->prio_index = prio;
	}
	return problem;
}

/*
 * mq._queue_problems(check_owner boolean) returns setof (queue_name text,
 *		problem text)
 *
 * Every registered queue whose tables are not as mq made them, and why.
 * With check_owner false, any owner is accepted: ALTER EXTENSION UPDATE
 * asks so before it hands the tables of older versions to the owner of
 * mq's objects, and takes over only those in shape.  Superusers only.
 */
Datum
mq_queue_problems(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		check_owner = PG_ARGISNULL(0) ? true : PG_GETARG_BOOL(0);
	MqContext	cx;
	int			ret;
	uint64		i;
	SPITupleTable *tt;
	uint64		n;

	InitMaterializedSRF(fcinfo, 0);
	mq_enter(&cx);
	SPI_connect();
	ret = SPI_execute(get_attnum(mq_registry_relid(), "partitions") != InvalidAttrNumber ?
					  "SELECT queue_name, unlogged, partitions FROM mq.queue ORDER BY queue_name" :
					  "SELECT queue_name, unlogged, 1 FROM mq.queue ORDER BY queue_name", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		MqQueue		q;
		bool		isnull;
		char	   *problem;
		char	   *rel;
		int			nparts;
		int			k;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		memset(&q, 0, sizeof(q));
		strlcpy(q.name, SPI_getvalue(tt->vals[i], tt->tupdesc, 1), NAMEDATALEN);
		q.unlogged = DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		nparts = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		rel = psprintf("a_%s", q.name);
		q.archive_relid = get_relname_relid(rel, mq_schema_oid());
		problem = NULL;
		for (k = 0; k < Max(nparts, 1) && problem == NULL; k++)
		{
			if (k == 0)
				snprintf(q.table, NAMEDATALEN, "q_%s", q.name);
			else
				snprintf(q.table, NAMEDATALEN, "q%d_%s", k, q.name);
			q.relid = get_relname_relid(q.table, mq_schema_oid());
			if (!OidIsValid(q.relid) || !OidIsValid(q.archive_relid))
				problem = psprintf("Table mq.%s is missing.",
								   OidIsValid(q.relid) ? rel : q.table);
			else
				problem = mq_shape_problem(&q, check_owner && mq_model_active() ? mq_owner() : InvalidOid);
		}
		if (problem == NULL)
			continue;
		values[0] = CStringGetTextDatum(q.name);
		values[1] = CStringGetTextDatum(problem);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	mq_leave(&cx);
	return (Datum) 0;
}
