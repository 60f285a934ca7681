/** @file Errors are data: a code, the node's name and where it was declared; one formatter renders them. */

export type IssueCode =
  | 'schema' // the IR does not parse
  | 'topo_order' // an input is used before it is defined
  | 'unknown_op'
  | 'bad_params'
  | 'arity'
  | 'shape_mismatch'
  | 'dtype_mismatch'
  | 'unknown_dim'
  | 'unknown_model'
  | 'unknown_dataset'
  | 'grad_into_frozen' // a frozen role is asked to be minimised
  | 'loss_unreachable' // a loss does not depend on the role's parameters through a differentiable path
  | 'loss_not_scalar'
  | 'duplicate_role'
  | 'bad_init';

export interface GraphIssue {
  code: IssueCode;
  message: string;
  node?: string;
  at?: string;
}

export function formatIssue(i: GraphIssue): string {
  const where = [i.node ? `'${i.node}'` : undefined, i.at ? `(${i.at})` : undefined].filter(Boolean).join(' ');
  return `${i.code}${where ? ` at ${where}` : ''}: ${i.message}`;
}

/** Thrown when a graph has issues; its message lists every issue, one per line. */
export class GraphError extends Error {
  constructor(readonly issues: GraphIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'GraphError';
  }
}

/** A mistake of the user (bad flag, unknown pipeline, unreadable file): printed as one line, no stack. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export const isUserFacing = (e: unknown): e is GraphError | UserError => e instanceof GraphError || e instanceof UserError;
