/**
 * The benchmark's baseline: a Discord interactions endpoint written the way
 * Discord's Cloudflare Workers tutorial (discord/cloudflare-sample-app)
 * writes one. `verifyKey` from discord-interactions checks the signature
 * (WebCrypto Ed25519, the key imported from hex on every request), an
 * itty-router AutoRouter dispatches, and a `JsonResponse` answers.
 *
 * It does what the benchmark asks of both workers: PONG to a PING, and for
 * `/audit` a deferred answer (type 5) with the slow part (Gemini, then
 * editing the original message) left to `waitUntil`.
 */

import { AutoRouter } from 'itty-router';
import {
  InteractionResponseFlags,
  InteractionResponseType,
  InteractionType,
  verifyKey,
} from 'discord-interactions';

const AUDIT_COMMAND = { name: 'audit' };

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

/** After the deferral: ask Gemini, then replace "thinking…" with its answer. */
async function finishAudit(interaction, env) {
  const text = interaction.data.options?.find((o) => o.name === 'text')?.value;
  let content;
  try {
    const gemini = await fetch(
      `${env.GEMINI_API_BASE}/models/${env.GEMINI_MODEL}:generateContent`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-goog-api-key': env.GEMINI_API_KEY,
        },
        body: JSON.stringify({ contents: [{ parts: [{ text }] }] }),
      },
    );
    const answer = await gemini.json();
    content = answer.candidates?.[0]?.content?.parts?.[0]?.text ?? 'No verdict.';
  } catch (error) {
    content = 'The audit failed, please try again.';
    console.error('gemini', error);
  }
  try {
    await fetch(
      `${env.DISCORD_API_BASE}/webhooks/${env.DISCORD_APPLICATION_ID}/${interaction.token}/messages/@original`,
      {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content }),
      },
    );
  } catch (error) {
    console.error('discord', error);
  }
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
