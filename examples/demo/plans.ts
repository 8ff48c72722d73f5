/**
 * The demo's tenants, their plans and their API keys, and the policy resolver
 * that turns a request's API key into the limits that apply to it: one bucket
 * per tenant sized by its plan, and one per client (API key), checked
 * together. Requests without a known key get an anonymous per-address limit.
 */
import type { Request } from 'express';
import { perSecond, type Limit } from 'tollgate';
import { ipKey, type PolicyDefinition } from 'tollgate/express';

/** A plan: the rate a whole tenant may use. */
export interface Plan {
  /** Plan name, the policy name in keys and metrics. */
  readonly name: 'free' | 'pro';
  /** Tenant-wide limit. */
  readonly tenant: Limit;
}

/** The plans on offer. */
export const PLANS: Readonly<Record<Plan['name'], Plan>> = {
  free: { name: 'free', tenant: perSecond(10) },
  pro: { name: 'pro', tenant: perSecond(40) },
};

/** Every client (API key), whatever its tenant's plan: 8 per second, bursts of 8. */
export const PER_CLIENT: Limit = perSecond(8);

/** Requests with no known API key: 5 per second per client address. */
export const ANONYMOUS: Limit = perSecond(5);

/** A tenant and the API keys of its clients. */
export interface Tenant {
  /** Tenant id (the policy scope). */
  readonly id: string;
  /** Its plan. */
  readonly plan: Plan;
  /** Its clients' API keys. */
  readonly apiKeys: readonly string[];
}

/** The demo's two tenants. */
export const TENANTS: readonly Tenant[] = [
  { id: 'initech', plan: PLANS.free, apiKeys: ['initech-1', 'initech-2', 'initech-3'] },
  { id: 'acme', plan: PLANS.pro, apiKeys: ['acme-1', 'acme-2', 'acme-3'] },
];

const byKey = new Map(TENANTS.flatMap((t) => t.apiKeys.map((k) => [k, t] as const)));

/** The tenant of an API key, if any. */
export function tenantOf(apiKey: string | undefined): Tenant | undefined {
  return apiKey === undefined ? undefined : byKey.get(apiKey);
}

/**
 * The policy of a request. Every limit names its key: the tenant id for the
 * bucket the whole tenant shares, the API key for the per-client bucket.
 */
export function resolvePolicy(req: Request): PolicyDefinition<Request> {
  const apiKey = req.get('x-api-key');
  const tenant = tenantOf(apiKey);
  if (!tenant || apiKey === undefined) return { name: 'anonymous', limits: { client: { limit: ANONYMOUS, key: ipKey() } } };
  return {
    name: tenant.plan.name,
    scope: tenant.id,
    limits: {
      client: { limit: PER_CLIENT, key: () => apiKey },
      tenant: { limit: tenant.plan.tenant, key: () => tenant.id },
    },
  };
}
