import { EMF, STORE_ERROR_KINDS } from '../../infra/lib/dashboard';
import { EMF_METRICS, EMF_NAMESPACE } from '../../src/observability/emf';

// The dashboards (infra) read the names the service (src) writes; infra builds on its own, so
// the two lists are kept apart and held equal here.
describe('EMF metric names shared by the service and the CDK dashboards', () => {
  it('match one for one', () => {
    const { namespace, ...dashboardNames } = EMF;
    expect(namespace).toBe(EMF_NAMESPACE);
    expect(dashboardNames).toEqual(EMF_METRICS);
  });

  it('graph every store error kind the service reports', () => {
    const source = require('node:fs').readFileSync(require.resolve('../../src/metrics.ts'), 'utf8') as string;
    const kinds = /STORE_ERROR_KINDS = \[([^\]]+)\]/
      .exec(source)?.[1]
      ?.match(/'[^']+'/g)
      ?.map((k) => k.slice(1, -1));
    expect([...STORE_ERROR_KINDS]).toEqual(kinds);
  });
});
