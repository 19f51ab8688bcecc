#!/usr/bin/env node
/**
 * Side by side: two builds of the interactions worker (or one and the
 * reference worker) under `wrangler dev`, taking turns at signed `/audit`s,
 * and the CPU each one's processes spent per audit. The tool behind the
 * "side-by-side" figures in ../README.md; see "Comparing two builds" there.
 *
 *   node bench/tools/ab.mjs snapshot DIR
 *       copy the interactions worker as built now (`cargo xtask
 *       build-workers`: its entry module and bundle) into DIR, with a
 *       wrangler.toml that serves it the way the root one does
 *
 *   node bench/tools/ab.mjs compare A B [--audits N] [--rounds R] [--warm W]
 *       A and B: snapshot directories, or `reference` for
 *       bench/reference-worker (npm ci there first). The same directory
 *       twice measures the noise floor. Defaults: 300 audits per round,
 *       10 rounds (an odd number is rounded up), 300 audits of warm-up
 *       each time a worker starts.
 *
 * Discord, Gemini and the database are one stand-in in this process that
 * answers every request at once, so what is measured is the workers and
 * `wrangler dev`, not PostgreSQL. Audits go one at a time (concurrency 1).
 * The workers are started twice, A first and then B first, for half the
 * rounds each; within a sitting they alternate who goes first each round,
 * and a round's figure
 * is the CPU (the kernel's per-thread schedstat, in ns) its processes spent
 * over the round, divided by its audits. Linux only.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { CANNED } from '../canned.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WRANGLER = path.join(ROOT, 'node_modules/.bin/wrangler');
const FIXTURE = path.join(ROOT, 'core/tests/fixtures/slash_audit.json');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fail = (message) => {
  console.error(`ab: ${message}`);
  process.exit(1);
};

function snapshot(dir) {
  const build = path.join(ROOT, 'interactions-worker/build');
  if (!fs.existsSync(path.join(build, 'index.js'))) {
    fail('no build to copy: run `cargo xtask build-workers` first');
  }
  fs.rmSync(dir, { recursive: true, force: true });
  for (const part of ['entry', 'build']) {
    fs.cpSync(path.join(ROOT, 'interactions-worker', part), path.join(dir, 'interactions-worker', part), {
      recursive: true,
    });
  }
  // What the root wrangler.toml says for [env.interactions], minus the vars
  // (`compare` passes them all).
  fs.writeFileSync(
    path.join(dir, 'wrangler.toml'),
    'name = "ab-snapshot"\ncompatibility_date = "2026-04-01"\n' +
      'main = "interactions-worker/entry/index.mjs"\nkeep_names = false\n',
  );
  console.log(`copied the interactions worker's current build to ${dir}`);
}

// --- the stand-in: answers every request from ../canned.mjs --------------


function standIn() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = CANNED.find(([part]) => req.url.includes(part));
      if (req.method === 'PATCH') server.edits += 1;
      res.writeHead(answer ? 200 : 404, { 'content-type': 'application/json' });
      res.end(answer ? answer[1] : '{"message":"not a stand-in route"}');
    });
  });
  server.edits = 0;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const freePort = () =>
  new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

// --- processes and their CPU ------------------------------------------------

function children(pid) {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((candidate) => {
      try {
        const stat = fs.readFileSync(`/proc/${candidate}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    });
}

function descendants(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}

/** Which part of `wrangler dev` a process is. */
function role(pid) {
  try {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (comm === 'workerd') return cmdline.includes('inspector-addr') ? 'runtime' : 'proxy';
    return comm === 'node' || comm === 'MainThread' ? 'node' : comm;
  } catch {
    return 'gone';
  }
}

function cpuNs(pid) {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .reduce((sum, tid) => {
        try {
          return sum + Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        } catch {
          return sum;
        }
      }, 0);
  } catch {
    return 0;
  }
}

// --- the workers ------------------------------------------------------------

async function start(label, target, stand, key) {
  const reference = target === 'reference';
  const cwd = reference ? path.join(ROOT, 'bench/reference-worker') : path.resolve(target);
  if (!fs.existsSync(path.join(cwd, 'wrangler.toml'))) {
    fail(`${target}: no wrangler.toml (make it with \`snapshot\`)`);
  }
  const [port, inspector] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${stand.address().port}`;
  const vars = {
    DISCORD_PUBLIC_KEY: key,
    DISCORD_APPLICATION_ID: '1300000000000000001',
    DISCORD_BOT_TOKEN: 'ab-token',
    DISCORD_API_BASE: base,
    GEMINI_API_BASE: base,
    GEMINI_API_KEY: 'ab-key',
    GEMINI_MODEL: 'gemini-2.5-flash',
    SUPABASE_REST_URL: base,
    SUPABASE_SERVICE_ROLE_KEY: 'ab-key',
    RELAY_SHARED_SECRET: 'ab-relay-secret-ab-relay-secret-ab',
  };
  const args = ['dev', '--port', String(port), '--inspector-port', String(inspector), '--log-level', 'warn'];
  for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`);
  const child = spawn(WRANGLER, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  const worker = { label, target, port, child, path: reference ? '/' : '/interactions', stand };
  const health = reference ? '/' : '/health';
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}${health}`)).ok) break;
    } catch {}
    if (i > 120 || child.exitCode !== null) fail(`${label} (${target}) did not start`);
    await sleep(250);
  }
  worker.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return worker;
}

const stop = (worker) => {
  try {
    process.kill(-worker.child.pid, 'SIGKILL');
  } catch {}
};

// --- signed audits ----------------------------------------------------------

const seed = Buffer.alloc(32, 7);
const privateKey = crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
  format: 'der',
  type: 'pkcs8',
});
const publicKeyHex = crypto
  .createPublicKey(privateKey)
  .export({ format: 'der', type: 'spki' })
  .subarray(-32)
  .toString('hex');
const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
let sent = 0;

/** One signed `/audit` with a text never sent before (no cache hit). */
function audit(worker) {
  sent += 1;
  const interaction = structuredClone(fixture);
  interaction.token = `ab-${sent}`;
  const text = `Movie night number ${sent}, everyone welcome!`;
  interaction.data.options = [{ name: 'text', type: 3, value: text }];
  const body = JSON.stringify(interaction);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = crypto.sign(null, Buffer.from(timestamp + body), privateKey).toString('hex');
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: worker.port,
        path: worker.path,
        method: 'POST',
        agent: worker.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-signature-ed25519': signature,
          'x-signature-timestamp': timestamp,
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () =>
          response.statusCode === 200 && JSON.parse(text).type === 5
            ? resolve()
            : reject(new Error(`${worker.label}: ${response.statusCode} ${text}`)),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Sends `n` audits, then waits until each has edited its message. */
async function audits(worker, n) {
  const goal = worker.stand.edits + n;
  for (let i = 0; i < n; i++) await audit(worker);
  for (let i = 0; worker.stand.edits < goal; i++) {
    if (i > 2000) fail(`${worker.label}: ${goal - worker.stand.edits} audits never finished`);
    await sleep(5);
  }
  await sleep(300);
}

async function compare(a, b, { audits: n, rounds, warm }) {
  const workers = [
    { label: 'A', target: a, rounds: [] },
    { label: 'B', target: b, rounds: [] },
  ];
  const running = [];
  process.on('exit', () => running.forEach(stop));
  process.on('SIGINT', () => process.exit(130));
  // The `wrangler dev` started first spends a few per cent more CPU per
  // audit than one started after it, whichever build it runs (../README.md,
  // eighth round). So there are two sittings, each starting both anew, A
  // first in one and B first in the other, with half the rounds each.
  for (const [sitting, order] of [workers, [...workers].reverse()].entries()) {
    for (const worker of order) {
      Object.assign(worker, await start(worker.label, worker.target, await standIn(), publicKeyHex));
      running.push(worker);
    }
    for (const worker of order) {
      await audits(worker, warm);
      worker.pids = descendants(worker.child.pid).map((pid) => ({ pid, role: role(pid) }));
    }
    for (let round = sitting; round < rounds; round += 2) {
      for (const worker of round % 4 < 2 ? workers : [...workers].reverse()) {
        const before = worker.pids.map(({ pid }) => cpuNs(pid));
        await audits(worker, n);
        const spent = {};
        worker.pids.forEach(({ pid, role }, i) => {
          spent[role] = (spent[role] ?? 0) + (cpuNs(pid) - before[i]) / n / 1e6;
        });
        spent.all = Object.values(spent).reduce((x, y) => x + y, 0);
        worker.rounds.push(spent);
      }
    }
    for (const worker of order) {
      stop(worker);
      worker.stand.close();
    }
    running.length = 0;
  }
  const roles = ['runtime', 'proxy', 'node', 'all'];
  console.log(`CPU per audit, ms (median of ${rounds} rounds of ${n}; concurrency 1):`);
  console.log(`      ${roles.map((r) => r.padStart(8)).join('')}`);
  for (const worker of workers) {
    const row = roles.map((r) => median(worker.rounds.map((s) => s[r] ?? 0)).toFixed(2).padStart(8));
    console.log(`  ${worker.label}   ${row.join('')}   ${worker.target}`);
  }
  const paired = roles.map((r) =>
    median(workers[0].rounds.map((s, i) => (s[r] ?? 0) / (workers[1].rounds[i][r] || 1)))
      .toFixed(3)
      .padStart(8),
  );
  console.log(`  A/B ${paired.join('')}   (paired: each round against B's in the same round)`);
  console.log(`  every round's "all", A: ${workers[0].rounds.map((s) => s.all.toFixed(2)).join(' ')}`);
  console.log(`                       B: ${workers[1].rounds.map((s) => s.all.toFixed(2)).join(' ')}`);
}

// --- the command line -------------------------------------------------------

const [command, ...rest] = process.argv.slice(2);
const option = (name, fallback) => {
  const at = rest.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(rest.splice(at, 2)[1]);
  if (!Number.isInteger(value) || value < 1) fail(`--${name} takes a positive whole number`);
  return value;
};
if (command === 'snapshot' && rest.length === 1) {
  snapshot(path.resolve(rest[0]));
} else if (command === 'compare') {
  const rounds = option('rounds', 10);
  const settings = {
    audits: option('audits', 300),
    rounds: rounds + (rounds % 2),
    warm: option('warm', 300),
  };
  if (rest.length !== 2) fail('usage: compare A B [--audits N] [--rounds R] [--warm W]');
  await compare(rest[0], rest[1], settings);
  process.exit(0);
} else {
  fail('usage: ab.mjs snapshot DIR | ab.mjs compare A B [--audits N] [--rounds R] [--warm W]');
}
