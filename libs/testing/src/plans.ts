import type { Queryable } from "@syncwell/db";

/** One node of a Postgres plan (`EXPLAIN (FORMAT JSON)`), with the fields tests look at. */
export type PlanNode = {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Index Cond"?: string;
};

/**
 * A Queryable that EXPLAINs each statement instead of running it (answering with no rows): `plans`
 * gets every node of each statement's plan, in order, so a test can say how a repository's own SQL
 * is read — for example that a batch of keys is looked up in an index rather than joined with a
 * whole table once statistics exist (`ANALYZE` first).
 */
export function explainingQueryable(db: Queryable): { db: Queryable; plans: PlanNode[][] } {
  const plans: PlanNode[][] = [];
  const walk = (node: PlanNode & { Plans?: unknown[] }, into: PlanNode[]) => {
    into.push(node);
    for (const child of node.Plans ?? []) walk(child as typeof node, into);
  };
  const query = async (text: string, values: unknown[]) => {
    const result = await db.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
    const nodes: PlanNode[] = [];
    walk(result.rows[0]?.["QUERY PLAN"][0].Plan, nodes);
    plans.push(nodes);
    return { ...result, rows: [] };
  };
  return { db: { query: query as Queryable["query"] }, plans };
}
