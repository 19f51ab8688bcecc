/**
 * The benchmark's baseline: a Discord interactions endpoint written the way
 * Discord's Cloudflare Workers tutorial (discord/cloudflare-sample-app)
 * writes one. `verifyKey` from discord-interactions checks the signature
 * (WebCrypto Ed25519, the key imported from hex on every request), an
 * itty-router AutoRouter dispatches, and a `JsonResponse` answers.
 *
 * It does what the benchmark asks of both workers: PONG to a PING, and for
 * `/audit` a deferred answer (type 5) with the slow part (Gemini, then
 * editing the original message, and with a database configured the audit's
 * bookkeeping) left to `waitUntil`.
 *
 * Its `/audit` asks Gemini what the interactions worker asks (the issue's
 * compliance policy, safety settings and JSON response schema, from
 * `audit-request.json`, which a test keeps equal to the worker's request),
 * under a time limit, and answers with an embed: both workers send the same
 * requests, so the comparison is the workers.
 */

import { AutoRouter } from 'itty-router';
import {
  InteractionResponseFlags,
  InteractionResponseType,
  InteractionType,
  verifyKey,
} from 'discord-interactions';

import AUDIT_REQUEST from './audit-request.json';

const AUDIT_COMMAND = { name: 'audit' };
const VERDICT_COLORS = { GREEN: 0x2ecc71, YELLOW: 0xf1c40f, RED: 0xe74c3c };

class JsonResponse extends Response {
  constructor(body, init) {
    const jsonBody = JSON.stringify(body);
    init = init || {
      headers: {
        'content-type': 'application/json;charset=UTF-8',
      },
    };
    super(jsonBody, init);
  }
}

const router = AutoRouter();

/** A hello page, to check the worker is up. */
router.get('/', (request, env) => {
  return new Response(`👋 ${env.DISCORD_APPLICATION_ID}`);
});

/** Every interaction Discord sends. */
router.post('/', async (request, env, ctx) => {
  const { isValid, interaction } = await server.verifyDiscordRequest(
    request,
    env,
  );
  if (!isValid || !interaction) {
    return new Response('Bad request signature.', { status: 401 });
  }

  if (interaction.type === InteractionType.PING) {
    return new JsonResponse({ type: InteractionResponseType.PONG });
  }

  if (interaction.type === InteractionType.APPLICATION_COMMAND) {
    switch (interaction.data.name.toLowerCase()) {
      case AUDIT_COMMAND.name: {
        ctx.waitUntil(finishAudit(interaction, env));
        return new JsonResponse({
          type: InteractionResponseType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
          data: { flags: InteractionResponseFlags.EPHEMERAL },
        });
      }
      default:
        return new JsonResponse({ error: 'Unknown Type' }, { status: 400 });
    }
  }

  console.error('Unknown Type');
  return new JsonResponse({ error: 'Unknown Type' }, { status: 400 });
});
router.all('*', () => new Response('Not Found.', { status: 404 }));

/**
 * After the deferral: ask Gemini, then replace "thinking…" with its answer.
 *
 * With SUPABASE_REST_URL set, it also keeps the books issue 3 asks of every
 * audit, in plain fetches the way the tutorial talks to Discord, through the
 * same SQL functions the interactions worker calls: `audit_begin` before the
 * AI call (a cached verdict, today's spend against the budget) and
 * `finish_audit` after it (the audit and its AI-ledger row). Without it,
 * this is the tutorial's shape, storing nothing.
 */
async function finishAudit(interaction, env) {
  const text = interaction.data.options?.find((o) => o.name === 'text')?.value;
  const books = env.SUPABASE_REST_URL ? await beginAudit(interaction, text, env) : null;
  let message;
  try {
    if (books?.begin.cached) {
      books.audit.status = 'cached';
      message = verdictMessage(books.begin.cached);
    } else if (books && books.begin.spent_today_usd >= books.begin.daily_budget_usd) {
      books.audit.status = 'budget_exhausted';
      message = { content: "Today's AI budget for this server is spent." };
    } else {
      if (books) {
        books.audit.ai_called = true;
        books.audit.model = env.GEMINI_MODEL;
      }
      const gemini = await fetch(
        `${env.GEMINI_API_BASE}/models/${env.GEMINI_MODEL}:generateContent`,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-goog-api-key': env.GEMINI_API_KEY,
          },
          body: geminiRequest(text),
          signal: AbortSignal.timeout(Number(env.GEMINI_TIMEOUT_MS ?? 20000)),
        },
      );
      const answer = await gemini.json();
      const verdict = JSON.parse(
        answer.candidates?.[0]?.content?.parts?.[0]?.text ?? 'null',
      );
      message = verdict ? verdictMessage(verdict) : { content: 'No verdict.' };
      if (books) {
        const usage = answer.usageMetadata ?? {};
        Object.assign(books.audit, {
          status: verdict ? 'ok' : 'failed',
          verdict: verdict?.verdict?.toLowerCase(),
          reasons: verdict?.reasons ?? [],
          suggested_fixes: verdict?.suggested_fixes ?? [],
          input_tokens: usage.promptTokenCount ?? 0,
          output_tokens: usage.candidatesTokenCount ?? 0,
        });
        books.audit.cost_usd =
          (books.audit.input_tokens * 0.3 + books.audit.output_tokens * 2.5) / 1e6;
      }
    }
  } catch (error) {
    message = { content: 'The audit failed, please try again.' };
    if (books) {
      books.audit.error = String(error);
    }
    console.error('gemini', error);
  }
  if (books) {
    try {
      await rpc(env, 'finish_audit', { p_audit: books.audit, p_logs: [] });
    } catch (error) {
      console.error('finish_audit', error);
    }
  }
  try {
    await fetch(
      `${env.DISCORD_API_BASE}/webhooks/${env.DISCORD_APPLICATION_ID}/${interaction.token}/messages/@original`,
      {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...message, allowed_mentions: { parse: [] } }),
      },
    );
  } catch (error) {
    console.error('discord', error);
  }
}

/** The policy request with the member's text, JSON-encoded, in its place. */
function geminiRequest(text) {
  const content = JSON.stringify({ content: text ?? '' });
  return JSON.stringify(AUDIT_REQUEST, (key, value) =>
    typeof value === 'string' && value.includes('{content}')
      ? value.replace('{content}', () => content)
      : value,
  );
}

/** The verdict as an embed: colour, reasons, suggested fixes. */
function verdictMessage(verdict) {
  const reasons = verdict.reasons ?? [];
  const fixes = verdict.suggested_fixes ?? [];
  const fields = reasons.map((r) => ({ name: r.category, value: r.explanation || '—' }));
  if (fixes.length > 0) {
    fields.push({ name: 'Suggested fixes', value: fixes.map((f) => `• ${f}`).join('\n') });
  }
  return {
    embeds: [
      {
        title: `Audit: ${verdict.verdict}`,
        color: VERDICT_COLORS[verdict.verdict],
        fields,
        footer: { text: 'AI-assisted review. A person has the final say.' },
      },
    ],
  };
}

/** The cache and budget check, and the audit row to fill in. */
async function beginAudit(interaction, text, env) {
  const words = (text ?? '').trim().split(/\s+/).join(' ');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(words));
  const textHash = [...new Uint8Array(digest)]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  const begin = await rpc(env, 'audit_begin', {
    p_guild_id: interaction.guild_id,
    p_text_hash: textHash,
    p_now: new Date().toISOString(),
  });
  const audit = {
    guild_id: interaction.guild_id,
    requested_by: interaction.member?.user?.id,
    channel_id: interaction.channel_id ?? interaction.channel?.id,
    source: 'command',
    text_hash: textHash,
    text_length: [...(text ?? '')].length,
    status: 'failed',
    reasons: [],
    suggested_fixes: [],
    input_tokens: 0,
    output_tokens: 0,
    cost_usd: 0,
    ai_called: false,
  };
  return { begin, audit };
}

async function rpc(env, name, args) {
  const response = await fetch(`${env.SUPABASE_REST_URL}/rpc/${name}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      apikey: env.SUPABASE_SERVICE_ROLE_KEY,
      authorization: `Bearer ${env.SUPABASE_SERVICE_ROLE_KEY}`,
    },
    body: JSON.stringify(args),
  });
  if (!response.ok) {
    throw new Error(`${name}: ${response.status} ${await response.text()}`);
  }
  return response.json();
}

async function verifyDiscordRequest(request, env) {
  const signature = request.headers.get('x-signature-ed25519');
  const timestamp = request.headers.get('x-signature-timestamp');
  const body = await request.text();
  const isValidRequest =
    signature &&
    timestamp &&
    (await verifyKey(body, signature, timestamp, env.DISCORD_PUBLIC_KEY));
  if (!isValidRequest) {
    return { isValid: false };
  }

  return { interaction: JSON.parse(body), isValid: true };
}

const server = {
  verifyDiscordRequest,
  fetch: router.fetch,
};

export default server;
