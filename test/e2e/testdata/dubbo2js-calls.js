// Calls org.example.GreetingService with the third-party Node client dubbo2.js (hessian.js underneath) and prints
// one JSON line per call: {"call":i, "res":..., "err":...}.
// Usage: node dubbo2js-calls.js host:port '[{"method":"greet","arg":"Ann","attachments":{"x-canary":"true"}}, ...]'
// NODE_PATH must point at the node_modules installed by scripts/install-dubbo-node-client.sh.
'use strict';
const { DirectlyDubbo, java } = require('dubbo2.js');
// dubbo2.js sets request attachments only through its middleware, which DirectlyDubbo lacks; its request
// context is created synchronously inside each call, so wrapping the factory gives each call its attachments.
const Context = require('dubbo2.js/es7/context').default;

const [addr, callsJSON] = process.argv.slice(2);
const calls = JSON.parse(callsJSON);
let nextAttachments = {};
const create = Context.create;
Context.create = function () {
  const ctx = create.apply(this, arguments);
  ctx.attachments = nextAttachments;
  return ctx;
};

const dubbo = DirectlyDubbo.from({ dubboAddress: addr, dubboVersion: '2.0.2', dubboInvokeTimeout: 5 });
const svc = dubbo.proxyService({
  dubboInterface: 'org.example.GreetingService',
  version: '1.0.0',
  timeout: 5,
  methods: {
    greet(n) { return [java.String(n)]; },
    sayGoodbye(n) { return [java.String(n)]; },
    attachment(k) { return [java.String(k)]; },
  },
});

(async () => {
  for (const [i, c] of calls.entries()) {
    nextAttachments = c.attachments || {};
    const { res, err } = await svc[c.method](c.arg);
    const msg = err ? (err.message || err.detailMessage || JSON.stringify(err)) : null;
    console.log(JSON.stringify({ call: i, res: res === undefined ? null : res, err: msg }));
  }
  process.exit(0);
})();
