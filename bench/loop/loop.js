/**
 * Entry point of the in-isolate CPU benchmark (see ../README.md).
 *
 * Wraps a worker and adds one route that calls the worker's own fetch
 * handler n times in a loop, inside the isolate, on a pre-signed request:
 * the handler's cost without HTTP, the proxy or the network in between.
 * Everything else goes to the worker unchanged.
 *
 *   POST /__bench/ping?n=2000[&empty=1]
 *   {"path": "/interactions", "signature": "<hex>", "timestamp": "...", "body": "<PING JSON>"}
 *
 *   POST /__bench/audit?n=500[&empty=1]   (same body, an `/audit` command)
 *
 * The audit loop answers the deferred work's four requests (the database's
 * `audit_begin` and `finish_audit`, Gemini, Discord's message edit) from
 * canned responses (`../canned.mjs`): the worker's own CPU for a whole audit,
 * deferral and `waitUntil` work together, one after another. Each audit must
 * make exactly those four requests, or the run fails.
 *
 * `empty=1` builds the same requests without calling the handler (and, for
 * audits, makes the four canned exchanges itself): the baseline the harness
 * subtracts. The route answers only when the variable
 * BENCH_LOOP is "1", and this file is never part of a deployed worker: it is
 * only the `main` of ./wrangler.toml, which only the benchmark serves.
 */

import { CANNED } from '../canned.mjs';

export function withBenchLoop(worker) {
  // workers-rs exports a WorkerEntrypoint class, the tutorial an object.
  const handle =
    typeof worker === 'function'
      ? (request, env, ctx) => new worker(ctx, env).fetch(request)
      : (request, env, ctx) => worker.fetch(request, env, ctx);

  return {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      if (env.BENCH_LOOP !== '1') {
        return handle(request, env, ctx);
      }
      if (url.pathname === '/__bench/ping') {
        return pingLoop(handle, request, url, env, ctx);
      }
      if (url.pathname === '/__bench/audit') {
        return auditLoop(handle, request, url, env);
      }
      return handle(request, env, ctx);
    },
  };
}

async function loopSpec(request, url) {
  const spec = await request.json();
  return {
    n: Number(url.searchParams.get('n') ?? '2000'),
    empty: url.searchParams.get('empty') === '1',
    target: new URL(spec.path, url).toString(),
    headers: {
      'content-type': 'application/json',
      'x-signature-ed25519': spec.signature,
      'x-signature-timestamp': spec.timestamp,
    },
    body: spec.body,
  };
}

async function pingLoop(handle, request, url, env, ctx) {
  const { n, empty, target, headers, body } = await loopSpec(request, url);
  for (let i = 0; i < n; i++) {
    const signed = new Request(target, { method: 'POST', headers, body });
    if (empty) {
      continue;
    }
    const response = await handle(signed, env, ctx);
    const text = await response.text();
    // A loop of 401s would measure nothing: check the first answer.
    if (i === 0 && (response.status !== 200 || JSON.parse(text).type !== 1)) {
      return new Response(`not a PONG: ${response.status} ${text}`, {
        status: 500,
      });
    }
  }
  return Response.json({ n, empty });
}


async function auditLoop(handle, request, url, env) {
  const { n, empty, target, headers, body } = await loopSpec(request, url);
  const counts = CANNED.map(() => 0);
  const unexpected = [];
  const answer = (input) => {
    const address = String(input instanceof Request ? input.url : input);
    const index = CANNED.findIndex(([part]) => address.includes(part));
    if (index < 0) {
      unexpected.push(address);
      return Promise.resolve(new Response('not found', { status: 404 }));
    }
    counts[index] += 1;
    return Promise.resolve(
      new Response(CANNED[index][1], {
        status: 200,
        headers: { 'content-type': 'application/json' },
      }),
    );
  };
  const realFetch = globalThis.fetch;
  globalThis.fetch = answer;
  try {
    for (let i = 0; i < n; i++) {
      const signed = new Request(target, { method: 'POST', headers, body });
      if (empty) {
        for (const [part] of CANNED) {
          await (await answer(`http://loop/${part}`)).text();
        }
        continue;
      }
      const deferred = [];
      const ctx = {
        waitUntil: (promise) => deferred.push(promise),
        passThroughOnException: () => {},
      };
      const response = await handle(signed, env, ctx);
      const text = await response.text();
      if (i === 0 && (response.status !== 200 || JSON.parse(text).type !== 5)) {
        return new Response(`not a deferral: ${response.status} ${text}`, { status: 500 });
      }
      await Promise.all(deferred);
    }
  } finally {
    globalThis.fetch = realFetch;
  }
  if (unexpected.length > 0 || counts.some((count) => count !== n)) {
    return new Response(
      `each audit must make the four requests once: ${JSON.stringify({ counts, unexpected: unexpected.slice(0, 5) })}`,
      { status: 500 },
    );
  }
  return Response.json({ n, empty, counts });
}
