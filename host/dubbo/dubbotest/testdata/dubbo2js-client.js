// Calls GreetingService with the third-party Node client dubbo2.js (hessian.js underneath) and prints one JSON
// line per call: {"method":..., "res":..., "err":...}. Usage: node dubbo2js-client.js host:port name [version]
// NODE_PATH must point at the node_modules installed by scripts/install-dubbo-node-client.sh.
'use strict';
const { DirectlyDubbo, java } = require('dubbo2.js');

const [addr, name, version] = process.argv.slice(2);
const dubbo = DirectlyDubbo.from({ dubboAddress: addr, dubboVersion: '2.0.2', dubboInvokeTimeout: 5 });
const svc = dubbo.proxyService({
  dubboInterface: 'org.apache.dubbo.samples.GreetingService',
  version: version || '1.0.0',
  timeout: 5,
  methods: {
    greet(n) { return [java.String(n)]; },
    sum(a, b) { return [java.int(a), java.int(b)]; },
    attachment(k) { return [java.String(k)]; },
    fail(m) { return [java.String(m)]; },
  },
});

(async () => {
  const calls = [
    ['greet', svc.greet(name)],
    ['sum', svc.sum(2, 40)],
    ['attachment', svc.attachment('x-filter')],
    ['fail', svc.fail('boom')],
  ];
  for (const [method, p] of calls) {
    const { res, err } = await p;
    const msg = err ? (err.message || err.detailMessage || JSON.stringify(err)) : null;
    console.log(JSON.stringify({ method, res: res === undefined ? null : res, err: msg }));
  }
  process.exit(0);
})();
