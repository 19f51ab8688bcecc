/**
 * The interactions worker's entry: the `main` wrangler deploys.
 *
 * `POST /interactions` — every slash command, button and Discord's signed
 * PINGs — is driven from here through three synchronous calls into the Rust
 * bundle (see `../src/entry.rs`); JavaScript only does the awaits in
 * between. Every other route goes to the bundle's own fetch handler. No
 * decision is made in this file: the configuration, the header checks, the
 * verdict, the routing and every answer are Rust's.
 *
 * Why: a Rust `async` export crossing into JavaScript costs more CPU than
 * the rest of a PING outside the signature check (bench/README.md).
 */
import Worker from '../build/index.js';

// worker-build hangs the crate's `#[wasm_bindgen]` functions on the
// entrypoint class's prototype (they do not use `this`).
const { interaction_check, interaction_key, interaction_verified } = Worker.prototype;
if (typeof interaction_verified !== 'function') {
  throw new Error('the bundle lacks interaction_verified: rebuild with `cargo xtask build-workers`');
}

const SIGNATURE_LENGTH = 64;
// workers-rs keeps its "reinitialize the wasm instance after a crash" flag
// here; constructing its entrypoint is what acts on it.
const initState = globalThis.__worker_init_state;

/** The application key as a `CryptoKey`, imported once per isolate. */
let key;

export default {
  async fetch(request, env, ctx) {
    if (initState.criticalError) {
      new Worker(ctx, env);
    }
    if (request.method !== 'POST' || new URL(request.url).pathname !== '/interactions') {
      return new Worker(ctx, env).fetch(request);
    }
    try {
      return await interaction(request, env, ctx);
    } catch (error) {
      // A crash inside wasm (it should not happen: the Rust code does not
      // panic by design): the next request gets a fresh instance, this one
      // a plain 500 rather than the runtime's error page.
      if (error instanceof WebAssembly.RuntimeError) {
        initState.criticalError = true;
      }
      console.error('interaction failed', error);
      return new Response('{"error":"internal error"}', {
        status: 500,
        headers: { 'content-type': 'application/json' },
      });
    }
  },
};

async function interaction(request, env, ctx) {
  const headers = request.headers;
  const body = new Uint8Array(await request.arrayBuffer());
  const check = interaction_check(
    env,
    headers.get('x-signature-ed25519'),
    headers.get('x-signature-timestamp'),
    body,
  );
  if (check instanceof Response) {
    return check;
  }
  let settled;
  try {
    key ??= await interaction_key(env);
    settled = await crypto.subtle.verify(
      'Ed25519',
      key,
      check.subarray(0, SIGNATURE_LENGTH),
      check.subarray(SIGNATURE_LENGTH),
    );
  } catch (error) {
    settled = error;
  }
  return interaction_verified(env, ctx, settled, body);
}

