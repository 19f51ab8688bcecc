// The dashboard in a real browser: headless Chromium (Debian's `chromium`)
// driven by playwright-core. Run by e2e/tests/dashboard_browser.rs, which
// starts the worker on a test database and passes what the database holds:
//
//   DASHBOARD_URL        http://127.0.0.1:PORT
//   DASHBOARD_PASSWORD   the admin password
//   EXPECT               JSON: figures and names the pages must show
//   SCREENSHOT_DIR       where to save a light and a dark screenshot of each page
//   CHROMIUM             the browser (default /usr/bin/chromium)
//
// Prints one line per check; when it needs a new log line written it prints
// `WAITING_FOR_LOG_LINE` and waits for it to arrive over server-sent events.
// Exits 0 when everything holds, 1 with `FAIL: ...` otherwise.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.DASHBOARD_URL;
const password = process.env.DASHBOARD_PASSWORD;
const expect = JSON.parse(process.env.EXPECT || "{}");
const shots = process.env.SCREENSHOT_DIR;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

let checks = 0;
function check(condition, what) {
  if (!condition) {
    throw new Error(what);
  }
  checks += 1;
  console.log(`ok ${checks} - ${what}`);
}

const pages = [
  ["overview", "/"],
  ["rising", "/rising"],
  ["churn", "/churn"],
  ["member", `/members/${expect.script_member_id}`],
  ["tickets", "/tickets"],
  ["ticket", `/tickets/${expect.closed_ticket_id}`],
  ["audits", "/audits"],
  ["health", "/admin/health"],
  ["ledger", "/admin/ledger"],
  ["logs", "/admin/logs"],
  ["guilds", "/guilds"],
  ["settings", "/settings"],
];

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

async function main() {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    const light = await browser.newContext({ colorScheme: "light", viewport: { width: 1280, height: 900 } });
    const page = await light.newPage();
    const dialogs = [];
    page.on("dialog", async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    const scriptErrors = [];
    page.on("pageerror", (error) => scriptErrors.push(String(error)));
    page.on("console", (message) => {
      // A wrong password answers 401, which the console reports as a failed
      // load; what matters here is script errors and CSP violations.
      const text = message.text();
      if (message.type() === "error" && !text.startsWith("Failed to load resource: the server responded with a status of 401")) {
        scriptErrors.push(text);
      }
    });

    // Without a session every page sends you to the login form.
    for (const [name, path] of pages) {
      await page.goto(base + path);
      const url = new URL(page.url());
      check(url.pathname === "/login", `${name} without a session redirects to login (got ${url.pathname})`);
    }

    // A wrong password does not log in.
    await page.goto(base + "/login");
    await page.getByLabel("Password").fill("not the password at all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForLoadState();
    check(new URL(page.url()).pathname === "/login", "a wrong password stays on the login page");
    check((await text(page, "[role=alert]")).includes("not right"), "a wrong password says so");
    const afterWrong = await light.cookies();
    check(!afterWrong.some((c) => c.name === "cos_session"), "a wrong password sets no session cookie");

    // The right one does, and the cookie is HttpOnly, Secure and SameSite=Strict.
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(base + "/");
    const session = (await light.cookies()).find((c) => c.name === "cos_session");
    check(session !== undefined, "the right password sets a session cookie");
    check(session.httpOnly && session.secure && session.sameSite === "Strict", "the session cookie is HttpOnly, Secure, SameSite=Strict");
    check(session.expires > Date.now() / 1000, "the session cookie expires");

    // Overview shows the database's figures.
    check((await text(page, "h1")) === "Overview", "overview heading");
    const values = await page.locator("dl.stats .value").allTextContents();
    check(values.includes(expect.messages_30d), `overview shows ${expect.messages_30d} messages (saw ${values.join(", ")})`);
    check(values.includes(expect.points_30d), `overview shows score ${expect.points_30d}`);
    check(values.includes(expect.active_30d), `overview shows ${expect.active_30d} active members`);
    check((await page.locator("svg.chart").count()) === 3, "three charts");
    await page.getByRole("link", { name: "7 days" }).click();
    await page.waitForURL(/range=7/);
    check((await page.locator("a[aria-current=true]").first().textContent()).trim() === "7 days", "the 7-day range is selected");

    // Rising Stars: the script-named member is the top row, shown as text.
    await page.goto(base + "/rising");
    const firstName = await text(page, "table.rank tbody tr:first-child th a");
    check(firstName === expect.script_member_name, `the top rising star is named ${JSON.stringify(firstName)}, as text`);
    const firstScore = await text(page, "table.rank tbody tr:first-child td:nth-of-type(2)");
    check(firstScore === expect.top_rising_score, `the top rising star scored ${expect.top_rising_score} (saw ${firstScore})`);
    check((await page.locator("table.rank svg.sparkline").count()) === expect.rising_rows, "a sparkline per rising star");

    // Churn Risks: the rule is stated and the quiet member is listed.
    await page.goto(base + "/churn");
    check((await text(page, ".rule")).includes("scored at least"), "the churn rule is stated");
    const churnRow = page.locator("table.rank tbody tr", { hasText: expect.churn_name });
    check((await churnRow.count()) === 1, `${expect.churn_name} is a churn risk`);
    check((await churnRow.locator("td").nth(4).textContent()).trim() === expect.churn_lost, `${expect.churn_name} lost ${expect.churn_lost}`);
    await page.getByLabel("Minimum baseline score").fill("500");
    await page.getByRole("button", { name: "Update" }).click();
    await page.waitForURL(/min_score=500/);
    check((await page.locator("table.rank tbody tr", { hasText: expect.churn_name }).count()) === 0, "a stricter rule drops them");

    // The member page of the script-named member.
    await page.goto(base + `/members/${expect.script_member_id}`);
    check((await text(page, "h1")) === expect.script_member_name, "the member page names them as text");

    // Tickets and a transcript.
    await page.goto(base + "/tickets");
    check((await page.locator("body").textContent()).includes(expect.staff_name), "the tickets page lists the staff member");
    await page.goto(base + `/tickets/${expect.closed_ticket_id}`);
    const transcript = await page.locator("ol.transcript").textContent();
    check(transcript.includes(expect.transcript_line), "the transcript shows its messages as text");

    // Audits, filtered by verdict.
    await page.goto(base + "/audits");
    await page.getByRole("link", { name: /^Red/ }).click();
    await page.waitForURL(/verdict=red/);
    const verdicts = await page.locator("tbody .badge").allTextContents();
    check(verdicts.length === expect.red_audits && verdicts.every((v) => v === "red"), "the red filter shows only red audits");

    // Health and the ledger.
    await page.goto(base + "/admin/health");
    check((await page.locator("li.check.ok h2", { hasText: "Database" }).count()) === 1, "the database check is green");
    await page.goto(base + "/admin/ledger");
    check((await page.locator("tr.over").count()) >= 1, "a day over the AI budget is marked");

    // A setting changed with the page's form, no script needed.
    await page.goto(base + "/settings");
    await page.getByLabel("Open tickets per member").fill("2");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/updated=/);
    check((await text(page, "[role=status]")).includes("Updated: Open tickets per member."), "the settings form saves and says what changed");
    await page.getByLabel("Open tickets per member").fill("1");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/updated=/);

    // The live log: a line written now shows up without reloading.
    await page.goto(base + "/admin/logs");
    await page.waitForFunction(() => document.getElementById("live-status").textContent.startsWith("Live"), null, { timeout: 10000 });
    console.log("WAITING_FOR_LOG_LINE");
    await page.locator("#log-rows tr", { hasText: expect.live_line }).first().waitFor({ timeout: 20000 });
    check(true, "a new log line arrived over server-sent events");

    // CSV exports come with the session.
    const csv = await page.request.get(base + "/rising.csv");
    check(csv.status() === 200 && csv.headers()["content-type"].startsWith("text/csv"), "Rising Stars CSV downloads");
    check((await csv.text()).split("\r\n")[1].includes(expect.script_member_id), "the CSV's first row is the top rising star");

    // Screenshots of every page, light and dark.
    const dark = await browser.newContext({ colorScheme: "dark", viewport: { width: 1280, height: 900 } });
    await dark.addCookies(await light.cookies());
    const darkPage = await dark.newPage();
    const phone = await browser.newContext({ colorScheme: "light", viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2 });
    await phone.addCookies(await light.cookies());
    const phonePage = await phone.newPage();
    for (const [name, path] of pages) {
      for (const [theme, p] of [["light", page], ["dark", darkPage]]) {
        await p.goto(base + path);
        await p.screenshot({ path: join(shots, `${name}-${theme}.png`), fullPage: true });
      }
    }
    for (const name of ["overview", "rising", "churn"]) {
      const path = pages.find(([n]) => n === name)[1];
      await phonePage.goto(base + path);
      await phonePage.screenshot({ path: join(shots, `${name}-phone.png`), fullPage: true });
    }
    await page.goto(base + "/login");
    check(true, `screenshots saved in ${shots}`);

    // Logout clears the session.
    await page.goto(base + "/");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/login/);
    check(!(await light.cookies()).some((c) => c.name === "cos_session"), "logout removes the session cookie");
    await page.goto(base + "/rising");
    check(new URL(page.url()).pathname === "/login", "after logout pages redirect to login");

    check(dialogs.length === 0, `no script ran from page content (dialogs: ${dialogs.join(", ")})`);
    check(scriptErrors.length === 0, `no script errors or CSP violations (${scriptErrors.join(" | ")})`);
    console.log(`OK ${checks} checks`);
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.log(`FAIL: ${error.message}`);
  process.exit(1);
});
