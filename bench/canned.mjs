/**
 * What the four requests of an `/audit`'s deferred work are answered with,
 * by a part of their URL: the database's `audit_begin` and `finish_audit`,
 * Gemini's `generateContent`, and Discord's "edit original". Shared by the
 * in-isolate loop (`loop/loop.js`) and the side-by-side tool
 * (`tools/ab.mjs`), so both measure the same audit.
 */
export const CANNED = [
  ['/rpc/audit_begin', '{"cached":null,"spent_today_usd":0,"daily_budget_usd":100000}'],
  ['/rpc/finish_audit', '1'],
  [
    ':generateContent',
    JSON.stringify({
      candidates: [
        {
          content: {
            parts: [
              {
                text: JSON.stringify({
                  verdict: 'GREEN',
                  reasons: [],
                  suggested_fixes: [],
                }),
              },
            ],
            role: 'model',
          },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: { promptTokenCount: 420, candidatesTokenCount: 24, totalTokenCount: 444 },
      modelVersion: 'gemini-2.5-flash',
      responseId: 'loop',
    }),
  ],
  ['/messages/@original', '{"id":"1","channel_id":"1","content":"","embeds":[]}'],
];
