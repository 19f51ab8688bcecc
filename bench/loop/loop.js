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
 * `empty=1` builds the same requests without calling the handler: the
 * baseline the harness subtracts. The route answers only when the variable
 * BENCH_LOOP is "1", and this file is never part of a deployed worker: it is
 * only the `main` of ./wrangler.toml, which only the benchmark serves.
 */

export function withBenchLoop(worker) {
  // workers-rs exports a WorkerEntrypoint class, the tutorial an object.
  const handle =
    typeof worker === 'function'
      ? (request, env, ctx) => new worker(ctx, env).fetch(request)
      : (request, env, ctx) => worker.fetch(request, env, ctx);

  return {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      if (url.pathname !== '/__bench/ping' || env.BENCH_LOOP !== '1') {
        return handle(request, env, ctx);
      }
      const n = Number(url.searchParams.get('n') ?? '2000');
      const empty = url.searchParams.get('empty') === '1';
      const spec = await request.json();
      const target = new URL(spec.path, url).toString();
      const headers = {
        'content-type': 'application/json',
        'x-signature-ed25519': spec.signature,
        'x-signature-timestamp': spec.timestamp,
      };
      for (let i = 0; i < n; i++) {
        const signed = new Request(target, {
          method: 'POST',
          headers,
          body: spec.body,
        });
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
    },
  };
}
