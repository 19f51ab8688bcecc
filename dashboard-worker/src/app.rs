//! The dashboard as a function from a request to a reply, free of platform
//! types: the shell (`lib.rs`) turns a worker request into a [`Request`],
//! and the [`Reply`] back into a response. Outbound checks go through a
//! [`Probe`]; time and randomness come in as arguments.

use std::future::Future;

use askama::Template;
use community_core::config::Secret;
use community_core::settings::{SHOWN_PREFIX, Setting};
use community_store::{
    ChurnRule, Day, GuildId, LogEntry, LogLevel, LogQuery, LoginLimits, MemberId, RisingQuery,
    ServiceHeartbeat, Store, TicketCloseAction, TicketStatus, VerdictFilter,
};
use time::{Duration, OffsetDateTime};
use twilight_model::id::Id;

use crate::charts::{self, Series};
use crate::csv::Csv;
use crate::params::{self, DayRange, Query, format_day};
use crate::session::{self, Keys, Session};
use crate::views::{self, Chrome, LinkItem};

/// The stylesheet and the progressive-enhancement script, served as files
/// so the CSP can forbid inline script and style.
pub(crate) const STYLESHEET: &str = include_str!("../static/app.css");
pub(crate) const SCRIPT: &str = include_str!("../static/app.js");

const GUILD_COOKIE: &str = "cos_guild";
/// How long the health page waits for Discord or Gemini.
const PROBE_TIMEOUT_MS: u32 = 3000;
/// Rows in a CSV export at most.
const CSV_LIMIT: u32 = 10_000;

/// A GET to an outside service, for the health page.
pub trait Probe {
    /// The HTTP status, or what went wrong (including a timeout).
    fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        timeout_ms: u32,
    ) -> impl Future<Output = Result<u16, String>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other,
}

/// What the application needs from a request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The `Cookie` header.
    pub cookies: Option<String>,
    /// Who is asking, for the login rate limit (see [`session::client_key`]).
    pub client: String,
    /// `Last-Event-ID`, on the live log's stream.
    pub last_event_id: Option<String>,
    /// The decoded `application/x-www-form-urlencoded` body of a POST.
    pub form: Vec<(String, String)>,
    pub now: OffsetDateTime,
}

/// What to stream on the live log.
#[derive(Debug, Clone)]
pub struct LogStream {
    pub query: LogQuery,
    pub after_id: Option<i64>,
}

#[derive(Debug)]
pub enum Body {
    Text(String),
    /// Server-sent events of new log lines (the shell streams them).
    LogStream(LogStream),
}

/// An HTTP reply, before the shell adds the security headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    /// `Set-Cookie`, `Location`, `Content-Disposition`, `Retry-After`, ...
    pub headers: Vec<(&'static str, String)>,
    /// Whether the body may be cached (static assets only).
    pub cacheable: bool,
}

impl Reply {
    fn html(status: u16, html: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            body: Body::Text(html),
            headers: Vec::new(),
            cacheable: false,
        }
    }

    fn redirect(location: &str) -> Self {
        Self {
            status: 303,
            content_type: "text/plain; charset=utf-8",
            body: Body::Text(String::new()),
            headers: vec![("Location", location.to_owned())],
            cacheable: false,
        }
    }

    fn csv(filename: &str, text: String) -> Self {
        Self {
            status: 200,
            content_type: "text/csv; charset=utf-8",
            body: Body::Text(text),
            headers: vec![(
                "Content-Disposition",
                format!("attachment; filename=\"{filename}\""),
            )],
            cacheable: false,
        }
    }

    fn with_cookies(mut self, cookies: &[String]) -> Self {
        for cookie in cookies {
            self.headers.push(("Set-Cookie", cookie.clone()));
        }
        self
    }
}

/// What can go wrong serving a page. [`App::error_reply`] is the one place
/// these become responses.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No valid session: go and sign in.
    SignIn,
    NotFound,
    MethodNotAllowed,
    /// The request asked for something invalid; the message says what to fix.
    BadRequest(String),
    /// A form without a valid CSRF token.
    Forbidden,
    /// The database call failed.
    Store(community_store::Error),
    /// A template failed to render.
    Render(askama::Error),
}

impl From<community_store::Error> for PageError {
    fn from(err: community_store::Error) -> Self {
        Self::Store(err)
    }
}

impl From<askama::Error> for PageError {
    fn from(err: askama::Error) -> Self {
        Self::Render(err)
    }
}

/// The dashboard: configuration, adapters and keys, built once per isolate.
pub struct App<P> {
    pub(crate) store: Store,
    pub(crate) keys: Keys,
    pub(crate) admin_password: Secret,
    pub(crate) relay_stale_after_minutes: u32,
    pub(crate) discord_api_base: String,
    pub(crate) gemini_api_base: String,
    pub(crate) discord_bot_token: Option<Secret>,
    pub(crate) gemini_api_key: Option<Secret>,
    pub(crate) fixed_guild: Option<GuildId>,
    pub(crate) probe: P,
    /// 16 random bytes, hex: session and login nonces.
    pub(crate) random: fn() -> String,
    /// Where internal errors are written (the worker's console).
    pub(crate) console: fn(&str),
}

impl<P> std::fmt::Debug for App<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// What every signed-in page knows.
struct Ctx {
    csrf: String,
    guild: Option<GuildId>,
    today: Day,
    now: OffsetDateTime,
    cookies: Vec<String>,
}

impl Ctx {
    fn chrome(&self, title: &str, current: &str) -> Chrome {
        Chrome {
            title: title.to_owned(),
            nav: views::nav(current),
            csrf: self.csrf.clone(),
            guild: self.guild.map(|g| g.to_string()).unwrap_or_default(),
            signed_in: true,
            refresh: None,
            script: false,
            generated_at: views::datetime(self.now),
            asset_version: views::ASSET_VERSION,
        }
    }
}

/// The settings page: every setting as it stands, and the form for those
/// that name no Discord object, holding `submitted` values where given.
fn settings_page(
    ctx: &Ctx,
    settings: &community_core::settings::GuildSettings,
    submitted: &[(String, String)],
    notice: Option<String>,
    error: Option<String>,
) -> views::SettingsPage {
    use community_core::settings::Kind;
    views::SettingsPage {
        page: ctx.chrome("Settings", "/settings"),
        rows: Setting::ALL
            .into_iter()
            .map(|setting| views::SettingRow {
                label: setting.label(),
                value: setting.show_plain(settings),
                option: setting.option(),
            })
            .collect(),
        fields: Setting::ALL
            .into_iter()
            .filter_map(|setting| {
                let stored = setting.value(settings).map(|v| v.as_text())?;
                let given = |name: &str| {
                    submitted
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let value = given(setting.option()).unwrap_or_else(|| stored.clone());
                // What the page first showed, kept across a refused save.
                let shown = given(&format!("{SHOWN_PREFIX}{}", setting.option())).unwrap_or(stored);
                let (min, max, step, choices) = match setting.kind() {
                    Kind::Integer { min, max } => {
                        (min.to_string(), max.to_string(), "1".to_owned(), vec![])
                    }
                    Kind::Number { min, max, decimals } => (
                        min.to_string(),
                        max.to_string(),
                        format!("{}", 10_f64.powi(-decimals)),
                        vec![],
                    ),
                    _ => (
                        String::new(),
                        String::new(),
                        String::new(),
                        vec![
                            (TicketCloseAction::Delete.as_str(), "Delete the channel"),
                            (TicketCloseAction::Archive.as_str(), "Archive the channel"),
                        ],
                    ),
                };
                Some(views::SettingField {
                    option: setting.option(),
                    label: setting.label(),
                    description: setting.description(),
                    value,
                    shown,
                    unit: match setting {
                        Setting::AiDailyBudget => "USD",
                        Setting::AuditCacheHours => "hours",
                        Setting::MessageCooldown => "seconds",
                        _ => "",
                    },
                    min,
                    max,
                    step,
                    choices,
                })
            })
            .collect(),
        notice,
        error,
    }
}

fn signed_out_chrome(title: &str, now: OffsetDateTime) -> Chrome {
    Chrome {
        title: title.to_owned(),
        nav: Vec::new(),
        csrf: String::new(),
        guild: String::new(),
        signed_in: false,
        refresh: None,
        script: false,
        generated_at: views::datetime(now),
        asset_version: views::ASSET_VERSION,
    }
}

/// A page's path with a query string built from `pairs` (values encoded).
fn href(path: &str, pairs: &[(&str, String)]) -> String {
    let mut out = path.to_owned();
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// Percent-encoding for a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn member_href(member: impl std::fmt::Display) -> String {
    format!("/members/{member}")
}

fn status_name(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Opening => "opening",
        TicketStatus::Open => "open",
        TicketStatus::Claimed => "claimed",
        TicketStatus::Closed => "closed",
        TicketStatus::Failed => "failed",
    }
}

/// Links to the 7/30/90-day presets of a page, keeping `keep` parameters.
fn range_links(path: &str, range: &DayRange, keep: &[(&str, String)]) -> Vec<LinkItem> {
    [7_u32, 30, 90]
        .into_iter()
        .map(|days| {
            let mut pairs: Vec<(&str, String)> = keep.to_vec();
            pairs.push(("range", days.to_string()));
            LinkItem {
                href: href(path, &pairs),
                label: format!("{days} days"),
                current: range.preset == Some(days),
            }
        })
        .collect()
}

impl<P: Probe> App<P> {
    /// Serves one request; never fails (errors become error pages).
    pub async fn handle(&self, req: &Request) -> Reply {
        match self.route(req).await {
            Ok(reply) => reply,
            Err(err) => self.error_reply(req, err),
        }
    }

    async fn route(&self, req: &Request) -> Result<Reply, PageError> {
        let query = Query::new(req.query.clone());
        match (req.method, req.path.as_str()) {
            (Method::Get | Method::Head, "/static/app.css") => {
                Ok(asset("text/css; charset=utf-8", STYLESHEET))
            }
            (Method::Get | Method::Head, "/static/app.js") => {
                Ok(asset("text/javascript; charset=utf-8", SCRIPT))
            }
            (Method::Get | Method::Head, "/login") => {
                if self.session(req).is_some() {
                    return Ok(Reply::redirect(&session::safe_next(query.get("next"))));
                }
                Ok(self.login_page(req, query.get("next"), None, 200))
            }
            (Method::Post, "/login") => self.login(req).await,
            (_, "/login" | "/static/app.css" | "/static/app.js") => {
                Err(PageError::MethodNotAllowed)
            }
            (_, path) if !is_page(path) => Err(PageError::NotFound),
            _ => {
                let session = self.session(req).ok_or(PageError::SignIn)?;
                if req.method == Method::Post {
                    let form = Query::new(req.form.clone());
                    let token = form.get("csrf").unwrap_or_default();
                    if !self.keys.verify_csrf(&session, token) {
                        return Err(PageError::Forbidden);
                    }
                    return match req.path.as_str() {
                        "/logout" => Ok(self.logout()),
                        "/settings" => self.save_settings(req, session, &form).await,
                        _ => Err(PageError::MethodNotAllowed),
                    };
                }
                if !matches!(req.method, Method::Get | Method::Head) {
                    return Err(PageError::MethodNotAllowed);
                }
                let ctx = self.context(req, session, &query).await?;
                self.page(req, &ctx, &query)
                    .await
                    .map(|reply| reply.with_cookies(&ctx.cookies))
            }
        }
    }

    async fn page(&self, req: &Request, ctx: &Ctx, query: &Query) -> Result<Reply, PageError> {
        let path = req.path.as_str();
        match path {
            "/guilds" => return self.guilds(ctx).await,
            "/admin/health" => return self.health(ctx).await,
            "/admin/logs" => return self.logs(ctx, query).await,
            "/admin/logs/stream" => return Ok(self.log_stream(req, query)),
            _ => {}
        }
        let Some(guild) = ctx.guild else {
            return Ok(Reply::html(
                200,
                views::EmptyPage {
                    page: ctx.chrome("Nothing to show yet", path),
                }
                .render()?,
            ));
        };
        match path {
            "/" => self.overview(ctx, guild, query).await,
            "/rising" => self.rising(ctx, guild, query).await,
            "/rising.csv" => self.rising_csv(ctx, guild, query).await,
            "/churn" => self.churn(ctx, guild, query).await,
            "/churn.csv" => self.churn_csv(ctx, guild, query).await,
            "/tickets" => self.tickets(ctx, guild, query).await,
            "/tickets.csv" => self.tickets_csv(ctx, guild, query).await,
            "/audits" => self.audits(ctx, guild, query).await,
            "/settings" => self.settings(ctx, guild, query).await,
            "/admin/ledger" => self.ledger(ctx, guild, query).await,
            _ => {
                if let Some(id) = path.strip_prefix("/members/") {
                    let member = params::database_id(id)
                        .and_then(Id::new_checked)
                        .ok_or(PageError::NotFound)?;
                    return self.member(ctx, guild, member, query).await;
                }
                if let Some(id) = path.strip_prefix("/tickets/") {
                    let id = params::database_id(id).ok_or(PageError::NotFound)?;
                    return self.ticket(ctx, guild, id).await;
                }
                Err(PageError::NotFound)
            }
        }
    }

    fn session(&self, req: &Request) -> Option<Session> {
        let value = session::cookie(req.cookies.as_deref(), session::SESSION_COOKIE)?;
        self.keys.verify_session(value, req.now)
    }

    /// The signed-in context: the guild shown is the one asked for
    /// (`?guild=`, remembered in a cookie), else the configured one, else the
    /// busiest.
    async fn context(
        &self,
        req: &Request,
        session: Session,
        query: &Query,
    ) -> Result<Ctx, PageError> {
        let mut cookies = Vec::new();
        let parse = |raw: &str| params::database_id(raw).and_then(Id::new_checked);
        let guild = if let Some(fixed) = self.fixed_guild {
            Some(fixed)
        } else if let Some(asked) = query.get("guild") {
            let guild = parse(asked)
                .ok_or_else(|| PageError::BadRequest("guild must be a Discord id".to_owned()))?;
            cookies.push(session::set_cookie(
                GUILD_COOKIE,
                &guild.to_string(),
                "/",
                session::SESSION_SECS,
            ));
            Some(guild)
        } else if let Some(remembered) =
            session::cookie(req.cookies.as_deref(), GUILD_COOKIE).and_then(parse)
        {
            Some(remembered)
        } else if req.path.starts_with("/admin/") && req.path != "/admin/ledger" {
            None
        } else {
            let busiest = self
                .store
                .dashboard_guilds()
                .await?
                .first()
                .map(|g| g.guild_id);
            if let Some(guild) = busiest {
                cookies.push(session::set_cookie(
                    GUILD_COOKIE,
                    &guild.to_string(),
                    "/",
                    session::SESSION_SECS,
                ));
            }
            busiest
        };
        Ok(Ctx {
            csrf: self.keys.csrf_token(&session),
            guild,
            today: req.now.to_offset(time::UtcOffset::UTC).date(),
            now: req.now,
            cookies,
        })
    }

    // -----------------------------------------------------------------------
    // Signing in and out
    // -----------------------------------------------------------------------

    fn login_page(
        &self,
        req: &Request,
        next: Option<&str>,
        error: Option<String>,
        status: u16,
    ) -> Reply {
        let nonce = (self.random)();
        let page = views::LoginPage {
            page: signed_out_chrome("Sign in", req.now),
            error,
            login_token: self.keys.login_token(&nonce),
            next: session::safe_next(next),
        };
        match page.render() {
            Ok(html) => Reply::html(status, html).with_cookies(&[session::set_cookie(
                session::LOGIN_COOKIE,
                &nonce,
                "/login",
                session::LOGIN_FORM_SECS,
            )]),
            Err(err) => self.error_reply(req, PageError::Render(err)),
        }
    }

    async fn login(&self, req: &Request) -> Result<Reply, PageError> {
        let form = Query::new(req.form.clone());
        let next = form.get("next");
        let login_nonce =
            session::cookie(req.cookies.as_deref(), session::LOGIN_COOKIE).unwrap_or_default();
        if !self
            .keys
            .verify_login_token(login_nonce, form.get("csrf").unwrap_or_default())
        {
            return Ok(self.login_page(
                req,
                next,
                Some("The sign-in form expired. Please try again.".to_owned()),
                403,
            ));
        }
        // Counted before the password is checked, so attempts sent at once
        // cannot all slip in under the limit.
        let gate = self
            .store
            .login_begin(&req.client, req.now, LoginLimits::default())
            .await?;
        if !gate.allowed {
            return Ok(self.too_many(req, next, gate.retry_after_secs));
        }
        let password = form.get("password").unwrap_or_default();
        if !self
            .keys
            .password_matches(password, self.admin_password.expose())
        {
            let failure = self
                .store
                .login_refused(&req.client, req.now, LoginLimits::default())
                .await?;
            if failure.blocked {
                return Ok(self.too_many(req, next, failure.retry_after_secs));
            }
            return Ok(self.login_page(
                req,
                next,
                Some("That password is not right.".to_owned()),
                401,
            ));
        }
        self.store.login_succeeded(&req.client, req.now).await?;
        let cookie = self.keys.issue(&(self.random)(), req.now);
        Ok(Reply::redirect(&session::safe_next(next)).with_cookies(&[
            session::set_cookie(session::SESSION_COOKIE, &cookie, "/", session::SESSION_SECS),
            session::clear_cookie(session::LOGIN_COOKIE, "/login"),
        ]))
    }

    fn too_many(&self, req: &Request, next: Option<&str>, retry_after_secs: u32) -> Reply {
        let minutes = retry_after_secs.div_ceil(60).max(1);
        let mut reply = self.login_page(
            req,
            next,
            Some(format!(
                "Too many failed sign-ins from your address. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )),
            429,
        );
        reply
            .headers
            .push(("Retry-After", retry_after_secs.max(1).to_string()));
        reply
    }

    fn logout(&self) -> Reply {
        Reply::redirect("/login").with_cookies(&[
            session::clear_cookie(session::SESSION_COOKIE, "/"),
            session::clear_cookie(GUILD_COOKIE, "/"),
        ])
    }

    // -----------------------------------------------------------------------
    // Errors: the one place they become responses
    // -----------------------------------------------------------------------

    pub(crate) fn error_reply(&self, req: &Request, err: PageError) -> Reply {
        let (status, heading, message) = match &err {
            PageError::SignIn => {
                let mut target = req.path.clone();
                if !req.query.is_empty() {
                    let pairs: Vec<(&str, String)> = req
                        .query
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.clone()))
                        .collect();
                    target = href(&target, &pairs);
                }
                let location = if req.method == Method::Get {
                    href("/login", &[("next", target)])
                } else {
                    "/login".to_owned()
                };
                return Reply::redirect(&location);
            }
            PageError::NotFound => (404, "Not found", "There is no such page.".to_owned()),
            PageError::MethodNotAllowed => (
                405,
                "Method not allowed",
                "This page does not take that kind of request.".to_owned(),
            ),
            PageError::BadRequest(what) => (400, "Check the parameters", what.clone()),
            PageError::Forbidden => (
                403,
                "Form expired",
                "The form was missing its security token or it expired. Go back, reload the page and try again."
                    .to_owned(),
            ),
            PageError::Store(store) => {
                (self.console)(&format!("dashboard: {}", community_core::error_chain(store)));
                if store.is_transient() {
                    (
                        503,
                        "Database unavailable",
                        "The database did not answer. Try again in a moment.".to_owned(),
                    )
                } else {
                    (
                        500,
                        "Something went wrong",
                        "The page could not be built. The error is in the worker's log.".to_owned(),
                    )
                }
            }
            PageError::Render(render) => {
                (self.console)(&format!("dashboard: rendering: {render}"));
                (
                    500,
                    "Something went wrong",
                    "The page could not be built. The error is in the worker's log.".to_owned(),
                )
            }
        };
        let mut page = signed_out_chrome(heading, req.now);
        if let Some(session) = self.session(req) {
            page.signed_in = true;
            page.nav = views::nav("");
            page.csrf = self.keys.csrf_token(&session);
        }
        let html = views::ErrorPage {
            page,
            heading: heading.to_owned(),
            message,
            details: Vec::new(),
            back_href: "/".to_owned(),
            back_label: "Back to the overview".to_owned(),
        }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><p>{heading}</p>"));
        Reply::html(status, html)
    }

    // -----------------------------------------------------------------------
    // Pages
    // -----------------------------------------------------------------------

    async fn guilds(&self, ctx: &Ctx) -> Result<Reply, PageError> {
        let guilds = self.store.dashboard_guilds().await?;
        let rows = guilds
            .iter()
            .map(|g| views::GuildRow {
                id: g.guild_id.to_string(),
                last_active_day: format_day(g.last_active_day),
                messages: views::thousands(g.messages),
                points: views::number(g.points),
                current: Some(g.guild_id) == ctx.guild,
            })
            .collect();
        let page = views::GuildsPage {
            page: ctx.chrome("Guilds", "/guilds"),
            fixed: self.fixed_guild.is_some(),
            guilds: rows,
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn overview(&self, ctx: &Ctx, guild: GuildId, query: &Query) -> Result<Reply, PageError> {
        let range = params::day_range(query, ctx.today, 30).map_err(PageError::BadRequest)?;
        let o = self
            .store
            .dashboard_overview(guild, range.from, range.to)
            .await?;
        let labels: Vec<String> = o.days.iter().map(|d| short_day(d.day)).collect();
        let points: Vec<f64> = o.days.iter().map(|d| d.points).collect();
        let messages: Vec<f64> = o.days.iter().map(|d| d.messages as f64).collect();
        let reactions: Vec<f64> = o.days.iter().map(|d| d.reactions as f64).collect();
        let active: Vec<f64> = o.days.iter().map(|d| d.active_members as f64).collect();
        let previous_points = &o.previous_points;
        let period = format!(
            "{} to {} ({} days)",
            format_day(o.from),
            format_day(o.to),
            range.days()
        );
        let previous_period = format!(
            "{} to {}",
            format_day(o.previous_from),
            format_day(o.previous_to)
        );
        let before = format!("as of {}", format_day(o.previous_to));
        let stat = |label: &str, now: i64, then: i64, versus: &str| views::Stat {
            label: label.to_owned(),
            value: views::thousands(now),
            change: views::change(now as f64, then as f64, versus),
        };
        let vs_previous = "in the previous period";
        let page = views::OverviewPage {
            page: ctx.chrome("Overview", "/"),
            ranges: range_links("/", &range, &[]),
            from: format_day(o.from),
            to: format_day(o.to),
            active: vec![
                if o.to == ctx.today {
                    // A day still under way against a whole one would read
                    // as a drop every morning: no change shown.
                    views::Stat {
                        label: "Active today so far (UTC)".to_owned(),
                        value: views::thousands(o.active.d1),
                        change: views::Change {
                            text: "day under way".to_owned(),
                            class: "flat",
                            title: format!(
                                "{} on {}; pick a range ending yesterday to compare whole days",
                                views::thousands(o.active.d1_before),
                                format_day(o.previous_to)
                            ),
                        },
                    }
                } else {
                    stat(
                        "Active on the last day",
                        o.active.d1,
                        o.active.d1_before,
                        &before,
                    )
                },
                stat(
                    "Active in the last 7 days",
                    o.active.d7,
                    o.active.d7_before,
                    &before,
                ),
                stat(
                    "Active in the last 30 days",
                    o.active.d30,
                    o.active.d30_before,
                    &before,
                ),
            ],
            totals: vec![
                stat(
                    "Active members",
                    o.totals.active_members,
                    o.previous.active_members,
                    vs_previous,
                ),
                stat(
                    "Messages",
                    o.totals.messages,
                    o.previous.messages,
                    vs_previous,
                ),
                stat(
                    "Reactions",
                    o.totals.reactions,
                    o.previous.reactions,
                    vs_previous,
                ),
                views::Stat {
                    label: "Engagement score".to_owned(),
                    value: views::number(o.totals.points),
                    change: views::change(o.totals.points, o.previous.points, vs_previous),
                },
            ],
            score_chart: charts::line_chart(
                "score",
                "Engagement score per day",
                &format!("Score per day from {period}, with the previous period for comparison"),
                &labels,
                &[
                    Series {
                        name: "this period",
                        class: "series-a",
                        values: &points,
                    },
                    Series {
                        name: "previous period",
                        class: "series-b",
                        values: previous_points,
                    },
                ],
            ),
            activity_chart: charts::line_chart(
                "activity",
                "Messages and reactions per day",
                &format!("Messages and reactions per day from {period}"),
                &labels,
                &[
                    Series {
                        name: "messages",
                        class: "series-a",
                        values: &messages,
                    },
                    Series {
                        name: "reactions",
                        class: "series-c",
                        values: &reactions,
                    },
                ],
            ),
            active_chart: charts::bar_chart(
                "active",
                "Active members per day",
                &format!("Members active each day from {period}"),
                &labels,
                &active,
                "bars-a",
            ),
            days: o
                .days
                .iter()
                .map(|d| views::DayRow {
                    day: format_day(d.day),
                    messages: views::thousands(d.messages),
                    reactions: views::thousands(d.reactions),
                    points: views::number(d.points),
                    active: views::thousands(d.active_members),
                })
                .collect(),
            period,
            previous_period,
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn rising(&self, ctx: &Ctx, guild: GuildId, query: &Query) -> Result<Reply, PageError> {
        let q = params::rising(query, ctx.today, 25, 200).map_err(PageError::BadRequest)?;
        let rows = self.store.rising_stars(guild, q).await?;
        let page = views::RisingPage {
            page: ctx.chrome("Rising Stars", "/rising"),
            limit: q.limit,
            window: q.window_days,
            as_of: format_day(q.as_of),
            csv_href: href("/rising.csv", &rising_pairs(&q)),
            rows: rows
                .iter()
                .map(|r| {
                    let name = views::member_name(r.display_name.as_deref(), r.member_id);
                    views::RisingRow {
                        rank: r.rank,
                        href: member_href(r.member_id),
                        sparkline: charts::sparkline(
                            &format!("Daily score of {name}"),
                            &r.sparkline,
                        ),
                        name,
                        score: views::number(r.score),
                        previous: views::number(r.previous_score),
                        growth: views::change(r.score, r.previous_score, "in the previous window"),
                        last_active: r.last_active_day.map(format_day).unwrap_or_default(),
                    }
                })
                .collect(),
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn rising_csv(
        &self,
        ctx: &Ctx,
        guild: GuildId,
        query: &Query,
    ) -> Result<Reply, PageError> {
        let q = params::rising(query, ctx.today, 1000, CSV_LIMIT).map_err(PageError::BadRequest)?;
        let rows = self.store.rising_stars(guild, q).await?;
        let mut csv = Csv::new(&[
            "rank",
            "member_id",
            "display_name",
            "score",
            "previous_score",
            "growth",
            "growth_pct",
            "last_active_day",
            "daily_scores",
        ]);
        for r in &rows {
            let daily: Vec<String> = r.sparkline.iter().map(|v| v.to_string()).collect();
            csv.row([
                r.rank.to_string().as_str(),
                &r.member_id.to_string(),
                r.display_name.as_deref().unwrap_or_default(),
                &r.score.to_string(),
                &r.previous_score.to_string(),
                &r.growth.to_string(),
                &r.growth_pct.map(|g| g.to_string()).unwrap_or_default(),
                &r.last_active_day.map(format_day).unwrap_or_default(),
                &daily.join(" "),
            ]);
        }
        Ok(Reply::csv(
            &format!(
                "rising-stars-{}-{}d.csv",
                format_day(q.as_of),
                q.window_days
            ),
            csv.finish(),
        ))
    }

    async fn churn(&self, ctx: &Ctx, guild: GuildId, query: &Query) -> Result<Reply, PageError> {
        let rule = params::churn(query, ctx.today, 50, 500).map_err(PageError::BadRequest)?;
        let rows = self.store.churn_risks(guild, rule).await?;
        let recent_from = rule.as_of - Duration::days(i64::from(rule.silent_days) - 1);
        let baseline_to = recent_from - Duration::days(1);
        let baseline_from = baseline_to - Duration::days(i64::from(rule.baseline_days) - 1);
        let page = views::ChurnPage {
            page: ctx.chrome("Churn Risks", "/churn"),
            baseline: rule.baseline_days,
            silent: rule.silent_days,
            min_score: views::number(rule.min_baseline_score).replace(',', ""),
            drop: views::number(rule.min_drop_pct),
            as_of: format_day(rule.as_of),
            limit: rule.limit,
            baseline_from: format_day(baseline_from),
            baseline_to: format_day(baseline_to),
            recent_from: format_day(recent_from),
            csv_href: href("/churn.csv", &churn_pairs(&rule)),
            rows: rows
                .iter()
                .map(|r| views::ChurnRow {
                    rank: r.rank,
                    href: member_href(r.member_id),
                    name: views::member_name(r.display_name.as_deref(), r.member_id),
                    baseline: views::number(r.baseline_score),
                    expected: views::number(r.expected_score),
                    recent: views::number(r.recent_score),
                    lost: views::number(r.score_lost),
                    drop: format!("{}%", views::number(r.drop_pct)),
                    status: r.status.as_str(),
                    last_active: views::last_active(
                        r.last_active_day,
                        r.days_silent,
                        rule.as_of == ctx.today,
                    ),
                })
                .collect(),
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn churn_csv(
        &self,
        ctx: &Ctx,
        guild: GuildId,
        query: &Query,
    ) -> Result<Reply, PageError> {
        let rule =
            params::churn(query, ctx.today, CSV_LIMIT, CSV_LIMIT).map_err(PageError::BadRequest)?;
        let rows = self.store.churn_risks(guild, rule).await?;
        let mut csv = Csv::new(&[
            "rank",
            "member_id",
            "display_name",
            "baseline_score",
            "expected_score",
            "recent_score",
            "score_lost",
            "drop_pct",
            "status",
            "last_active_day",
            "last_seen_at",
        ]);
        for r in &rows {
            csv.row([
                r.rank.to_string().as_str(),
                &r.member_id.to_string(),
                r.display_name.as_deref().unwrap_or_default(),
                &r.baseline_score.to_string(),
                &r.expected_score.to_string(),
                &r.recent_score.to_string(),
                &r.score_lost.to_string(),
                &r.drop_pct.to_string(),
                r.status.as_str(),
                &r.last_active_day.map(format_day).unwrap_or_default(),
                &r.last_seen_at.map(rfc3339).unwrap_or_default(),
            ]);
        }
        Ok(Reply::csv(
            &format!("churn-risks-{}.csv", format_day(rule.as_of)),
            csv.finish(),
        ))
    }

    async fn member(
        &self,
        ctx: &Ctx,
        guild: GuildId,
        member: MemberId,
        query: &Query,
    ) -> Result<Reply, PageError> {
        let range = params::day_range(query, ctx.today, 30).map_err(PageError::BadRequest)?;
        let profile = self
            .store
            .member_profile(guild, member, range.from, range.to)
            .await?
            .ok_or(PageError::NotFound)?;
        let name = views::member_name(profile.display_name.as_deref(), member);
        let labels: Vec<String> = profile.days.iter().map(|d| short_day(d.day)).collect();
        let points: Vec<f64> = profile.days.iter().map(|d| d.points).collect();
        let t = &profile.totals;
        let page = views::MemberPage {
            page: ctx.chrome(&name, ""),
            member_id: member.to_string(),
            is_bot: profile.is_bot,
            first_seen: views::maybe_datetime(profile.first_seen_at),
            last_seen: views::maybe_datetime(profile.last_seen_at),
            totals: vec![
                ("Score (all time)".to_owned(), views::number(t.points)),
                ("Messages".to_owned(), views::thousands(t.messages)),
                ("Reactions".to_owned(), views::thousands(t.reactions)),
                ("Active days".to_owned(), views::thousands(t.active_days)),
                (
                    "Last active day".to_owned(),
                    t.last_active_day
                        .map(format_day)
                        .unwrap_or_else(|| "–".to_owned()),
                ),
            ],
            self_href: member_href(member),
            from: format_day(range.from),
            to: format_day(range.to),
            score_chart: charts::bar_chart(
                "member-score",
                &format!("Daily score of {name}"),
                &format!(
                    "Score per day from {} to {}",
                    format_day(range.from),
                    format_day(range.to)
                ),
                &labels,
                &points,
                "bars-a",
            ),
            days: profile
                .days
                .iter()
                .map(|d| {
                    (
                        format_day(d.day),
                        views::thousands(d.messages),
                        views::thousands(d.reactions),
                        views::number(d.points),
                    )
                })
                .collect(),
            channels: profile
                .channels
                .iter()
                .map(|c| {
                    (
                        c.channel_id.to_string(),
                        views::thousands(c.messages),
                        views::thousands(c.reactions),
                        views::number(c.points),
                        format_day(c.last_day),
                    )
                })
                .collect(),
            tickets: profile
                .tickets
                .iter()
                .map(|t| views::MemberTicketRow {
                    id: t.id,
                    role: t.role.clone(),
                    status: status_name(t.status),
                    reason: if t.reason.is_empty() {
                        "–".to_owned()
                    } else {
                        t.reason.clone()
                    },
                    opened: views::datetime(t.opened_at),
                    closed: views::maybe_datetime(t.closed_at),
                })
                .collect(),
            audits: profile
                .audits
                .iter()
                .map(|a| views::MemberAuditRow {
                    when: views::datetime(a.created_at),
                    source: a.source.clone(),
                    verdict: a.verdict.clone().unwrap_or_else(|| a.status.clone()),
                    verdict_class: a.verdict.clone().unwrap_or_else(|| "none".to_owned()),
                    reasons: views::audit_reasons(&a.reasons),
                })
                .collect(),
            name,
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn tickets(&self, ctx: &Ctx, guild: GuildId, query: &Query) -> Result<Reply, PageError> {
        let range = params::day_range(query, ctx.today, 30).map_err(PageError::BadRequest)?;
        let status = params::ticket_status(query).map_err(PageError::BadRequest)?;
        let page_no: u32 = query
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
            .min(1000);
        const PER_PAGE: u32 = 50;
        let stats = self
            .store
            .ticket_stats(guild, range.from, range.to, ctx.now)
            .await?;
        let list = self
            .store
            .tickets_list(guild, status, PER_PAGE + 1, page_no * PER_PAGE)
            .await?;
        let c = &stats.counts;
        let status_pair = status.map(|s| ("status", status_name(s).to_owned()));
        let keep: Vec<(&str, String)> = status_pair.clone().into_iter().collect();
        let mut filter_links = vec![LinkItem {
            href: "/tickets".to_owned(),
            label: "All".to_owned(),
            current: status.is_none(),
        }];
        for s in [
            TicketStatus::Open,
            TicketStatus::Claimed,
            TicketStatus::Closed,
            TicketStatus::Failed,
        ] {
            filter_links.push(LinkItem {
                href: href("/tickets", &[("status", status_name(s).to_owned())]),
                label: status_name(s).to_owned(),
                current: status == Some(s),
            });
        }
        let more_href = (list.len() > PER_PAGE as usize).then(|| {
            let mut pairs = keep.clone();
            pairs.push(("page", (page_no + 1).to_string()));
            href("/tickets", &pairs)
        });
        let page = views::TicketsPage {
            page: ctx.chrome("Tickets", "/tickets"),
            from: format_day(range.from),
            to: format_day(range.to),
            ranges: range_links("/tickets", &range, &keep),
            stats: vec![
                ("Opened".to_owned(), views::thousands(to_i64(c.total))),
                ("Open".to_owned(), views::thousands(to_i64(c.open))),
                ("Claimed".to_owned(), views::thousands(to_i64(c.claimed))),
                ("Closed".to_owned(), views::thousands(to_i64(c.closed))),
                (
                    "Failed to open".to_owned(),
                    views::thousands(to_i64(c.failed)),
                ),
                (
                    "Avg. first response".to_owned(),
                    views::maybe_minutes(stats.first_response.avg_minutes),
                ),
                (
                    "Avg. resolution".to_owned(),
                    views::maybe_minutes(stats.resolution.avg_hours.map(|h| h * 60.0)),
                ),
                (
                    "Open now (any age)".to_owned(),
                    views::thousands(to_i64(stats.open_now.count)),
                ),
                (
                    "Oldest open".to_owned(),
                    views::maybe_minutes(stats.open_now.max_age_hours.map(|h| h * 60.0)),
                ),
            ],
            staff: stats
                .staff
                .iter()
                .map(|s| views::StaffRow {
                    href: member_href(s.staff_id),
                    name: views::member_name(s.display_name.as_deref(), s.staff_id),
                    handled: views::thousands(to_i64(s.handled)),
                    closed: views::thousands(to_i64(s.closed)),
                    first_response: views::maybe_minutes(s.avg_first_response_minutes),
                    resolution: views::maybe_minutes(s.avg_resolution_hours.map(|h| h * 60.0)),
                })
                .collect(),
            filters: filter_links,
            csv_href: href("/tickets.csv", &keep),
            tickets: list
                .iter()
                .take(PER_PAGE as usize)
                .map(|t| views::TicketRow {
                    id: t.id,
                    status: status_name(t.status),
                    opener_href: member_href(t.opener_id),
                    opener: views::member_name(t.opener_name.as_deref(), t.opener_id),
                    reason: if t.reason.is_empty() {
                        "–".to_owned()
                    } else {
                        t.reason.clone()
                    },
                    opened: views::datetime(t.opened_at),
                    age: match t.closed_at {
                        Some(closed) => format!(
                            "resolved in {}",
                            views::duration_minutes((closed - t.opened_at).as_seconds_f64() / 60.0)
                        ),
                        None if matches!(t.status, TicketStatus::Open | TicketStatus::Claimed) => {
                            format!(
                                "open {}",
                                views::duration_minutes(
                                    (ctx.now - t.opened_at).as_seconds_f64() / 60.0
                                )
                            )
                        }
                        None => "–".to_owned(),
                    },
                    claimed_by: t
                        .claimed_by
                        .map(|id| views::member_name(t.claimed_by_name.as_deref(), id))
                        .unwrap_or_else(|| "–".to_owned()),
                    messages: t.messages,
                })
                .collect(),
            more_href,
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn tickets_csv(
        &self,
        _ctx: &Ctx,
        guild: GuildId,
        query: &Query,
    ) -> Result<Reply, PageError> {
        let status = params::ticket_status(query).map_err(PageError::BadRequest)?;
        let list = self.store.tickets_list(guild, status, CSV_LIMIT, 0).await?;
        let mut csv = Csv::new(&[
            "id",
            "status",
            "opener_id",
            "opener_name",
            "reason",
            "opened_at",
            "claimed_by",
            "claimed_at",
            "first_response_at",
            "closed_by",
            "closed_at",
            "first_response_minutes",
            "resolution_hours",
            "transcript_messages",
        ]);
        for t in &list {
            let minutes = t
                .first_response_at
                .map(|at| format!("{:.1}", (at - t.opened_at).as_seconds_f64() / 60.0))
                .unwrap_or_default();
            let hours = t
                .closed_at
                .map(|at| format!("{:.2}", (at - t.opened_at).as_seconds_f64() / 3600.0))
                .unwrap_or_default();
            csv.row([
                t.id.to_string().as_str(),
                status_name(t.status),
                &t.opener_id.to_string(),
                t.opener_name.as_deref().unwrap_or_default(),
                &t.reason,
                &rfc3339(t.opened_at),
                &t.claimed_by.map(|id| id.to_string()).unwrap_or_default(),
                &t.claimed_at.map(rfc3339).unwrap_or_default(),
                &t.first_response_at.map(rfc3339).unwrap_or_default(),
                &t.closed_by.map(|id| id.to_string()).unwrap_or_default(),
                &t.closed_at.map(rfc3339).unwrap_or_default(),
                &minutes,
                &hours,
                &t.messages.to_string(),
            ]);
        }
        Ok(Reply::csv("tickets.csv", csv.finish()))
    }

    async fn ticket(&self, ctx: &Ctx, guild: GuildId, id: u64) -> Result<Reply, PageError> {
        let transcript = self
            .store
            .ticket_transcript(guild, id)
            .await?
            .ok_or(PageError::NotFound)?;
        let t = &transcript.ticket;
        let page = views::TicketPage {
            page: ctx.chrome(&format!("Ticket #{id}"), "/tickets"),
            id,
            status: status_name(t.status),
            opener_href: member_href(t.opener_id),
            opener: views::member_name(t.opener_display_name.as_deref(), t.opener_id),
            opened: views::datetime(t.opened_at),
            reason: if t.reason.is_empty() {
                "–".to_owned()
            } else {
                t.reason.clone()
            },
            claimed: match (t.claimed_by, t.claimed_at) {
                (Some(by), Some(at)) => format!(
                    "by {} on {}",
                    views::member_name(t.claimed_by_name.as_deref(), by),
                    views::datetime(at)
                ),
                _ => "–".to_owned(),
            },
            first_response: t
                .first_response_at
                .map(|at| {
                    format!(
                        "{} (after {})",
                        views::datetime(at),
                        views::duration_minutes((at - t.opened_at).as_seconds_f64() / 60.0)
                    )
                })
                .unwrap_or_else(|| "–".to_owned()),
            closed: match (t.closed_by, t.closed_at) {
                (Some(by), Some(at)) => format!(
                    "by {} on {}",
                    views::member_name(t.closed_by_name.as_deref(), by),
                    views::datetime(at)
                ),
                _ => "–".to_owned(),
            },
            note: t.close_note.clone().or_else(|| t.failure.clone()),
            messages: transcript
                .messages
                .iter()
                .map(|m| views::TranscriptRow {
                    author: views::member_name(m.author_name.as_deref(), m.author_id),
                    datetime: rfc3339(m.sent_at),
                    when: views::datetime(m.sent_at),
                    content: m.content.clone(),
                    attachments: attachments(&m.attachments),
                })
                .collect(),
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn audits(&self, ctx: &Ctx, guild: GuildId, query: &Query) -> Result<Reply, PageError> {
        let verdict = params::verdict(query).map_err(PageError::BadRequest)?;
        let before = query.get("before").and_then(params::database_id);
        const PER_PAGE: u32 = 100;
        let history = self
            .store
            .audits_history(guild, verdict, PER_PAGE, before)
            .await?;
        let c = &history.counts;
        let filters = [
            ("all", "All", c.all),
            ("green", "Green", c.green),
            ("yellow", "Yellow", c.yellow),
            ("red", "Red", c.red),
            ("none", "No verdict", c.none),
        ]
        .into_iter()
        .map(|(value, label, count)| LinkItem {
            href: if value == "all" {
                "/audits".to_owned()
            } else {
                href("/audits", &[("verdict", value.to_owned())])
            },
            label: format!("{label} ({})", views::thousands(to_i64(count))),
            current: verdict.map_or("all", |v| v.as_str()) == value,
        })
        .collect();
        let more_href = (history.audits.len() == PER_PAGE as usize)
            .then(|| history.audits.last().map(|a| a.id))
            .flatten()
            .map(|last| {
                let mut pairs: Vec<(&str, String)> = verdict
                    .map(|v| ("verdict", v.as_str().to_owned()))
                    .into_iter()
                    .collect();
                pairs.push(("before", last.to_string()));
                href("/audits", &pairs)
            });
        let page = views::AuditsPage {
            page: ctx.chrome("Audits", "/audits"),
            filters,
            caption: match verdict {
                None => "All audits".to_owned(),
                Some(VerdictFilter::None) => {
                    "Audits without a verdict (the AI call failed, or the budget was spent)"
                        .to_owned()
                }
                Some(v) => format!("Audits with verdict {}", v.as_str()),
            },
            audits: history
                .audits
                .iter()
                .map(|a| views::AuditRow {
                    when: views::datetime(a.created_at),
                    requester_href: member_href(a.requested_by),
                    requester: views::member_name(a.requester_name.as_deref(), a.requested_by),
                    source: a.source.clone(),
                    verdict: a
                        .verdict
                        .clone()
                        .unwrap_or_else(|| match a.status.as_str() {
                            "budget_exhausted" => "budget spent".to_owned(),
                            _ => format!("failed: {}", a.error.as_deref().unwrap_or("unknown")),
                        }),
                    verdict_class: a.verdict.clone().unwrap_or_else(|| "none".to_owned()),
                    reasons: views::audit_reasons(&a.reasons),
                    fixes: views::json_list(&a.suggested_fixes),
                    model: a.model.clone().unwrap_or_else(|| "–".to_owned()),
                    // A verdict reused from the cache made no AI call.
                    cost: if a.status == "cached" {
                        "reused".to_owned()
                    } else {
                        views::usd(a.cost_usd)
                    },
                })
                .collect(),
            more_href,
        };
        Ok(Reply::html(200, page.render()?))
    }

    /// The guild's settings. Those naming a role or channel are changed in
    /// Discord with `/settings` (by members with Manage Server), whose
    /// pickers offer only the right kind; the rest in the page's form too.
    /// `updated` names what the last save changed.
    async fn settings(&self, ctx: &Ctx, guild: GuildId, query: &Query) -> Result<Reply, PageError> {
        let settings = self.store.guild_settings(guild).await?;
        let notice = query.pairs().iter().any(|(k, _)| k == "updated").then(|| {
            let labels: Vec<&str> = query
                .get("updated")
                .unwrap_or_default()
                .split(',')
                .filter_map(Setting::from_option)
                .map(Setting::label)
                .collect();
            if labels.is_empty() {
                "Nothing changed.".to_owned()
            } else {
                format!("Updated: {}.", labels.join(", "))
            }
        });
        let page = settings_page(ctx, &settings, &[], notice, None);
        Ok(Reply::html(200, page.render()?))
    }

    /// The settings form, submitted: the settings it changes are written in
    /// one call and logged, then the page is shown again (a redirect, so a
    /// reload does not submit twice). A value out of its limits shows the
    /// form again with what was typed and why.
    async fn save_settings(
        &self,
        req: &Request,
        session: Session,
        form: &Query,
    ) -> Result<Reply, PageError> {
        let guild: GuildId = params::database_id(form.get("guild").unwrap_or_default())
            .and_then(Id::new_checked)
            .ok_or_else(|| PageError::BadRequest("guild must be a Discord id".to_owned()))?;
        // A guild this dashboard shows: its own, or one with activity.
        let known = match self.fixed_guild {
            Some(fixed) => fixed == guild,
            None => self
                .store
                .dashboard_guilds()
                .await?
                .iter()
                .any(|g| g.guild_id == guild),
        };
        if !known {
            return Err(PageError::BadRequest(format!(
                "This dashboard does not show guild {guild}, so it cannot change its settings."
            )));
        }
        // The form's `guild` chooses the page's guild, as a page's query does.
        let ctx = self.context(req, session, form).await?;
        let current = self.store.guild_settings(guild).await?;
        let fields = form.pairs();
        let change = match community_core::settings::read_form(
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &current,
        ) {
            Ok(change) => change,
            Err(refused) => {
                let page = settings_page(&ctx, &current, fields, None, Some(refused.to_string()));
                return Ok(Reply::html(400, page.render()?).with_cookies(&ctx.cookies));
            }
        };
        let changed: Vec<&str> = change.changed().into_iter().map(Setting::option).collect();
        if !change.is_empty() {
            let values = change.values();
            self.store
                .set_guild_settings(guild, &values, &change.reset_columns())
                .await?;
            // The change is made: a log line that cannot be written must not
            // make it look failed.
            if let Err(err) = self
                .store
                .append_log(&LogEntry {
                    level: LogLevel::Info,
                    source: "dashboard-worker",
                    message: "settings changed",
                    fields: serde_json::json!({
                        "guild_id": guild.to_string(), "by": "dashboard", "set": values,
                    }),
                })
                .await
            {
                (self.console)(&format!(
                    "dashboard: logging a settings change: {}",
                    community_core::error_chain(&err)
                ));
            }
        }
        Ok(
            Reply::redirect(&format!("/settings?updated={}", changed.join(",")))
                .with_cookies(&ctx.cookies),
        )
    }

    async fn ledger(&self, ctx: &Ctx, guild: GuildId, query: &Query) -> Result<Reply, PageError> {
        let range = params::day_range(query, ctx.today, 30).map_err(PageError::BadRequest)?;
        let ledger = self.store.ai_ledger(guild, range.from, range.to).await?;
        let budget = ledger.daily_budget_usd;
        let total_cost: f64 = ledger.days.iter().map(|d| d.cost_usd).sum();
        let total_calls: u64 = ledger.days.iter().map(|d| d.calls).sum();
        let total_failures: u64 = ledger.days.iter().map(|d| d.failures).sum();
        let over_days = ledger.days.iter().filter(|d| d.over_budget).count();
        let page = views::LedgerPage {
            page: ctx.chrome("AI cost ledger", "/admin/ledger"),
            from: format_day(range.from),
            to: format_day(range.to),
            budget: views::usd(budget),
            ranges: range_links("/admin/ledger", &range, &[]),
            totals: vec![
                ("Spent".to_owned(), views::usd(total_cost)),
                ("Calls".to_owned(), views::thousands(to_i64(total_calls))),
                (
                    "Failed calls".to_owned(),
                    views::thousands(to_i64(total_failures)),
                ),
                ("Days over budget".to_owned(), over_days.to_string()),
            ],
            days: ledger
                .days
                .iter()
                .map(|d| {
                    let share = if budget > 0.0 {
                        d.cost_usd / budget
                    } else {
                        1.0
                    };
                    views::LedgerRow {
                        day: format_day(d.day),
                        calls: views::thousands(to_i64(d.calls)),
                        failures: views::thousands(to_i64(d.failures)),
                        input_tokens: views::thousands(to_i64(d.input_tokens)),
                        output_tokens: views::thousands(to_i64(d.output_tokens)),
                        cost: views::usd(d.cost_usd),
                        meter: charts::meter(
                            &format!("{} of the daily budget", percent(share)),
                            share,
                            if d.over_budget { "over" } else { "ok" },
                        ),
                        share: percent(share),
                        over: d.over_budget,
                        models: d
                            .models
                            .iter()
                            .map(|m| {
                                (
                                    m.model.clone(),
                                    views::thousands(to_i64(m.calls)),
                                    views::thousands(to_i64(m.failures)),
                                    views::thousands(to_i64(m.input_tokens)),
                                    views::thousands(to_i64(m.output_tokens)),
                                    views::usd(m.cost_usd),
                                )
                            })
                            .collect(),
                    }
                })
                .collect(),
        };
        Ok(Reply::html(200, page.render()?))
    }

    async fn logs(&self, ctx: &Ctx, query: &Query) -> Result<Reply, PageError> {
        let (min_level, levels) = params::min_level(query).map_err(PageError::BadRequest)?;
        let source = query.get("source").map(str::to_owned);
        let before = params::id_after(query.get("before"));
        const PER_PAGE: u32 = 200;
        let lines = self
            .store
            .logs(&LogQuery {
                levels,
                source: source.clone(),
                after_id: None,
                before_id: before,
                limit: PER_PAGE,
            })
            .await?;
        let sources = self.store.log_sources().await?;
        let newest = lines.first().map_or(0, |l| l.id);
        let mut keep: Vec<(&str, String)> = Vec::new();
        if let Some(level) = min_level {
            keep.push(("level", level.as_str().to_owned()));
        }
        if let Some(source) = &source {
            keep.push(("source", source.clone()));
        }
        let mut stream_pairs = keep.clone();
        stream_pairs.push(("after", newest.to_string()));
        let more_href = (lines.len() == PER_PAGE as usize)
            .then(|| lines.last().map(|l| l.id))
            .flatten()
            .map(|last| {
                let mut pairs = keep.clone();
                pairs.push(("before", last.to_string()));
                href("/admin/logs", &pairs)
            });
        let mut page = ctx.chrome("Live log", "/admin/logs");
        // Paging back through history is not live.
        if before.is_none() {
            page.refresh = Some(5);
            page.script = true;
        }
        let page = views::LogsPage {
            page,
            levels: ["all", "debug", "info", "warn", "error"]
                .into_iter()
                .map(|l| (l.to_owned(), min_level.map_or("all", |m| m.as_str()) == l))
                .collect(),
            sources: sources
                .iter()
                .map(|s| (s.clone(), source.as_deref() == Some(s.as_str())))
                .collect(),
            stream_href: if before.is_none() {
                href("/admin/logs/stream", &stream_pairs)
            } else {
                String::new()
            },
            lines: lines.iter().map(log_row).collect(),
            more_href,
        };
        Ok(Reply::html(200, page.render()?))
    }

    /// Server-sent events of lines newer than `after` (or `Last-Event-ID`).
    fn log_stream(&self, req: &Request, query: &Query) -> Reply {
        let levels = params::min_level(query).map(|(_, l)| l).unwrap_or_default();
        let after_id = params::id_after(req.last_event_id.as_deref())
            .or_else(|| params::id_after(query.get("after")));
        Reply {
            status: 200,
            content_type: "text/event-stream; charset=utf-8",
            body: Body::LogStream(LogStream {
                query: LogQuery {
                    levels,
                    source: query.get("source").map(str::to_owned),
                    after_id,
                    before_id: None,
                    limit: 100,
                },
                after_id,
            }),
            headers: Vec::new(),
            cacheable: false,
        }
    }

    async fn health(&self, ctx: &Ctx) -> Result<Reply, PageError> {
        let now = ctx.now;
        let inputs = self.store.health_inputs().await;
        let previous: Option<serde_json::Value> = inputs.as_ref().ok().and_then(|i| {
            i.heartbeats
                .iter()
                .find(|h| h.service == DASHBOARD_SERVICE)
                .map(|h| h.status.clone())
        });
        let mut checks = Vec::new();
        match &inputs {
            Ok(i) => {
                checks.push(Check::ok(
                    "database",
                    "Database",
                    format!(
                        "Answered; schema version {}.",
                        i.database.schema_version.as_deref().unwrap_or("unknown")
                    ),
                ));
                let relay = i.heartbeats.iter().find(|h| h.service == RELAY_SERVICE);
                checks.push(relay_heartbeat(relay, now, self.relay_stale_after_minutes));
                checks.push(relay_spool(relay));
            }
            Err(err) => {
                checks.push(Check::failing("database", "Database", err.to_string()));
                checks.push(Check::failing(
                    "relay",
                    "Relay heartbeat",
                    "Unknown: the database did not answer.".to_owned(),
                ));
                checks.push(Check::failing(
                    "spool",
                    "Relay spool",
                    "Unknown: the database did not answer.".to_owned(),
                ));
            }
        }
        checks.push(self.check_discord().await);
        checks.push(self.check_gemini().await);
        let checks = remember_errors(checks, previous.as_ref(), now);
        if inputs.is_ok() {
            let status = serde_json::json!({
                "checks": checks.iter().map(|c| (c.key.to_owned(), c.to_json())).collect::<serde_json::Map<_, _>>(),
            });
            let beat = community_store::Heartbeat {
                service: DASHBOARD_SERVICE.to_owned(),
                instance: "dashboard-worker".to_owned(),
                started_at: now,
                status,
            };
            if let Err(err) = self.store.record_heartbeat(&beat).await {
                (self.console)(&format!(
                    "dashboard: recording health checks: {}",
                    community_core::error_chain(&err)
                ));
            }
        }
        let page = views::HealthPage {
            page: ctx.chrome("Health", "/admin/health"),
            checked_at: views::datetime(now),
            checks: checks.iter().map(Check::row).collect(),
        };
        Ok(Reply::html(200, page.render()?))
    }

    /// Discord: with a bot token, `GET /users/@me` (the token is checked
    /// too); without, `GET /gateway` (reachability only).
    async fn check_discord(&self) -> Check {
        let base = &self.discord_api_base;
        let (url, auth) = match &self.discord_bot_token {
            Some(token) => (
                format!("{base}/users/@me"),
                Some(format!("Bot {}", token.expose())),
            ),
            None => (format!("{base}/gateway"), None),
        };
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let result = self.probe.get(&url, &headers, PROBE_TIMEOUT_MS).await;
        let key_note = if auth.is_some() {
            "bot token accepted"
        } else {
            "reachable; set DISCORD_BOT_TOKEN on the dashboard to check the token too"
        };
        service_check(
            "discord",
            "Discord API",
            base,
            result,
            &[401, 403],
            key_note,
        )
    }

    /// Gemini: `GET /models` with the key when there is one.
    async fn check_gemini(&self) -> Check {
        let base = &self.gemini_api_base;
        let url = format!("{base}/models");
        match &self.gemini_api_key {
            Some(key) => {
                let result = self
                    .probe
                    .get(&url, &[("x-goog-api-key", key.expose())], PROBE_TIMEOUT_MS)
                    .await;
                service_check(
                    "gemini",
                    "Gemini API",
                    base,
                    result,
                    &[400, 401, 403],
                    "key accepted",
                )
            }
            None => {
                let reach = match self.probe.get(&url, &[], PROBE_TIMEOUT_MS).await {
                    Ok(status) => format!("{base} answered HTTP {status}"),
                    Err(why) => format!("{base} is unreachable: {why}"),
                };
                Check::failing(
                    "gemini",
                    "Gemini API",
                    format!(
                        "Not configured: GEMINI_API_KEY is not set on the dashboard ({reach})."
                    ),
                )
            }
        }
    }
}

/// An outside service's check: any answer below 500 is reachable, except
/// the statuses that mean the credential was refused.
pub(crate) fn service_check(
    key: &'static str,
    name: &'static str,
    base: &str,
    result: Result<u16, String>,
    refused: &[u16],
    ok_note: &str,
) -> Check {
    match result {
        Ok(status) if refused.contains(&status) => Check::failing(
            key,
            name,
            format!("{base} refused the credential (HTTP {status})."),
        ),
        // Nothing at that path: the base URL is wrong (or no API at all).
        Ok(404) => Check::failing(
            key,
            name,
            format!("{base} answered HTTP 404: nothing there; check the API's base URL."),
        ),
        Ok(status) if status < 500 => Check::ok(
            key,
            name,
            format!("{base} answered HTTP {status}: {ok_note}."),
        ),
        Ok(status) => Check::failing(key, name, format!("{base} answered HTTP {status}.")),
        Err(why) => Check::failing(key, name, format!("{base} is unreachable: {why}.")),
    }
}

/// The paths behind the session (anything else is a 404 for everyone).
fn is_page(path: &str) -> bool {
    const PAGES: [&str; 15] = [
        "/",
        "/logout",
        "/guilds",
        "/rising",
        "/rising.csv",
        "/churn",
        "/churn.csv",
        "/tickets",
        "/tickets.csv",
        "/audits",
        "/settings",
        "/admin/health",
        "/admin/ledger",
        "/admin/logs",
        "/admin/logs/stream",
    ];
    PAGES.contains(&path)
        || ["/members/", "/tickets/"].iter().any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        })
}

const RELAY_SERVICE: &str = "gateway-relay";
/// The health page records its checks under this service.
const DASHBOARD_SERVICE: &str = "dashboard-checks";

/// One line of the health page.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    key: &'static str,
    name: &'static str,
    ok: bool,
    detail: String,
    last_error: Option<(String, String)>,
}

impl Check {
    fn ok(key: &'static str, name: &'static str, detail: String) -> Self {
        Self {
            key,
            name,
            ok: true,
            detail,
            last_error: None,
        }
    }

    fn failing(key: &'static str, name: &'static str, detail: String) -> Self {
        Self {
            key,
            name,
            ok: false,
            detail,
            last_error: None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok,
            "detail": self.detail,
            "last_error": self.last_error.as_ref().map(|(e, _)| e),
            "last_error_at": self.last_error.as_ref().map(|(_, at)| at),
        })
    }

    fn row(&self) -> views::CheckRow {
        views::CheckRow {
            name: self.name.to_owned(),
            class: if self.ok { "ok" } else { "failing" },
            state: if self.ok { "OK" } else { "FAILING" },
            detail: self.detail.clone(),
            last_error: self.last_error.as_ref().map_or_else(
                || "none recorded".to_owned(),
                |(e, at)| format!("{e} ({at})"),
            ),
        }
    }
}

/// A failing check's error becomes its last error; a passing one keeps the
/// last error recorded before.
pub(crate) fn remember_errors(
    checks: Vec<Check>,
    previous: Option<&serde_json::Value>,
    now: OffsetDateTime,
) -> Vec<Check> {
    checks
        .into_iter()
        .map(|mut check| {
            check.last_error = if check.ok {
                previous
                    .and_then(|p| p["checks"][check.key].as_object())
                    .and_then(|c| {
                        Some((
                            c.get("last_error")?.as_str()?.to_owned(),
                            c.get("last_error_at")?.as_str()?.to_owned(),
                        ))
                    })
            } else {
                Some((check.detail.clone(), views::datetime(now)))
            };
            check
        })
        .collect()
}

pub(crate) fn relay_heartbeat(
    relay: Option<&ServiceHeartbeat>,
    now: OffsetDateTime,
    stale_after_minutes: u32,
) -> Check {
    let Some(beat) = relay else {
        return Check::failing(
            "relay",
            "Relay heartbeat",
            "No heartbeat recorded: the relay has never reported.".to_owned(),
        );
    };
    let age = now - beat.beat_at;
    let age_text = views::duration_minutes(age.as_seconds_f64().max(0.0) / 60.0);
    let instance = beat.instance.as_deref().unwrap_or("relay");
    if age > Duration::minutes(i64::from(stale_after_minutes)) {
        Check::failing(
            "relay",
            "Relay heartbeat",
            format!(
                "Stale: the last heartbeat from {instance} was {age_text} ago ({}), more than {stale_after_minutes} min.",
                views::datetime(beat.beat_at)
            ),
        )
    } else {
        Check::ok(
            "relay",
            "Relay heartbeat",
            format!(
                "{instance} reported {age_text} ago ({}); up since {}.",
                views::datetime(beat.beat_at),
                views::maybe_datetime(beat.started_at)
            ),
        )
    }
}

pub(crate) fn relay_spool(relay: Option<&ServiceHeartbeat>) -> Check {
    let Some(beat) = relay else {
        return Check::failing(
            "spool",
            "Relay spool",
            "Unknown: the relay has never reported.".to_owned(),
        );
    };
    let number = |key: &str| beat.status.get(key).and_then(serde_json::Value::as_u64);
    let events = number("spool_events");
    let batches = number("spool_batches").or_else(|| number("spool_files"));
    match (events, batches) {
        (None, None) => Check::failing(
            "spool",
            "Relay spool",
            "Unknown: the relay's status has no spool figures.".to_owned(),
        ),
        (events, batches) if events.unwrap_or(0) == 0 && batches.unwrap_or(0) == 0 => Check::ok(
            "spool",
            "Relay spool",
            "Empty: every batch was delivered.".to_owned(),
        ),
        (events, batches) => Check::failing(
            "spool",
            "Relay spool",
            format!(
                "{} events in {} batches wait on disk for the scoring endpoint.",
                events.map_or_else(|| "?".to_owned(), |e| views::thousands(to_i64(e))),
                batches.map_or_else(|| "?".to_owned(), |b| views::thousands(to_i64(b))),
            ),
        ),
    }
}

fn asset(content_type: &'static str, body: &str) -> Reply {
    Reply {
        status: 200,
        content_type,
        body: Body::Text(body.to_owned()),
        headers: Vec::new(),
        cacheable: true,
    }
}

fn rising_pairs(q: &RisingQuery) -> Vec<(&'static str, String)> {
    vec![
        ("window", q.window_days.to_string()),
        ("as_of", format_day(q.as_of)),
    ]
}

fn churn_pairs(rule: &ChurnRule) -> Vec<(&'static str, String)> {
    vec![
        ("baseline", rule.baseline_days.to_string()),
        ("silent", rule.silent_days.to_string()),
        ("min_score", rule.min_baseline_score.to_string()),
        ("drop", rule.min_drop_pct.to_string()),
        ("as_of", format_day(rule.as_of)),
    ]
}

fn log_row(line: &community_store::LogLine) -> views::LogRow {
    views::LogRow {
        id: line.id,
        at: views::datetime(line.at),
        level: line.level.as_str(),
        source: line.source.clone(),
        message: line.message.clone(),
        fields: line.fields.to_string(),
    }
}

/// A log line as the live stream sends it.
pub(crate) fn log_event(line: &community_store::LogLine) -> String {
    let row = log_row(line);
    let data = serde_json::json!({
        "id": row.id, "at": row.at, "level": row.level, "source": row.source,
        "message": row.message, "fields": row.fields,
    });
    format!("id: {}\nevent: log\ndata: {data}\n\n", row.id)
}

/// Attachments as (file name, link when it is an http(s) URL).
fn attachments(value: &serde_json::Value) -> Vec<(String, Option<String>)> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let name = item["filename"]
                        .as_str()
                        .or_else(|| item["name"].as_str())
                        .unwrap_or("attachment")
                        .to_owned();
                    let url = item["url"]
                        .as_str()
                        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                        .map(str::to_owned);
                    (name, url)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn short_day(day: Day) -> String {
    format!("{:02}-{:02}", u8::from(day.month()), day.day())
}

fn percent(share: f64) -> String {
    format!("{}%", views::number((share * 1000.0).round() / 10.0))
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn beat(minutes_ago: i64, status: serde_json::Value) -> ServiceHeartbeat {
        ServiceHeartbeat {
            service: RELAY_SERVICE.to_owned(),
            instance: Some("relay-1".to_owned()),
            started_at: Some(NOW - Duration::hours(3)),
            beat_at: NOW - Duration::minutes(minutes_ago),
            status,
        }
    }

    #[test]
    fn a_relay_heartbeat_goes_stale_after_the_configured_minutes() {
        assert!(relay_heartbeat(Some(&beat(2, serde_json::json!({}))), NOW, 5).ok);
        let stale = relay_heartbeat(Some(&beat(6, serde_json::json!({}))), NOW, 5);
        assert!(!stale.ok);
        assert!(stale.detail.contains("Stale"), "{}", stale.detail);
        assert!(!relay_heartbeat(None, NOW, 5).ok);
    }

    #[test]
    fn the_spool_is_read_from_the_relays_status() {
        let empty = beat(
            1,
            serde_json::json!({"spool_batches": 0, "spool_events": 0}),
        );
        assert!(relay_spool(Some(&empty)).ok);
        let full = beat(
            1,
            serde_json::json!({"spool_batches": 3, "spool_events": 1200}),
        );
        let check = relay_spool(Some(&full));
        assert!(!check.ok);
        assert!(
            check.detail.contains("1,200 events in 3 batches"),
            "{}",
            check.detail
        );
        let old_shape = beat(1, serde_json::json!({"spool_files": 2}));
        assert!(!relay_spool(Some(&old_shape)).ok);
        assert!(!relay_spool(Some(&beat(1, serde_json::json!({})))).ok);
    }

    #[test]
    fn a_passing_check_keeps_the_last_error_and_a_failing_one_records_it() {
        let previous = serde_json::json!({"checks": {"discord": {
            "ok": false, "last_error": "timed out", "last_error_at": "2026-11-29 10:00 UTC"}}});
        let checks = remember_errors(
            vec![
                Check::ok("discord", "Discord API", "fine".to_owned()),
                Check::failing("gemini", "Gemini API", "HTTP 503".to_owned()),
            ],
            Some(&previous),
            NOW,
        );
        assert_eq!(
            checks[0].last_error,
            Some(("timed out".to_owned(), "2026-11-29 10:00 UTC".to_owned()))
        );
        assert_eq!(
            checks[1].last_error,
            Some(("HTTP 503".to_owned(), "2026-11-30 12:00 UTC".to_owned()))
        );
    }

    #[test]
    fn services_are_up_when_they_answer_and_accept_the_credential() {
        let check = |result| service_check("x", "X", "http://x", result, &[401, 403], "fine");
        assert!(check(Ok(200)).ok);
        assert!(check(Ok(400)).ok, "an answer means reachable");
        let nothing_there = check(Ok(404));
        assert!(!nothing_there.ok, "a 404 means a wrong base URL");
        assert!(
            nothing_there.detail.contains("check the API's base URL"),
            "{}",
            nothing_there.detail
        );
        assert!(!check(Ok(401)).ok);
        assert!(!check(Ok(503)).ok);
        let down = check(Err("no answer within 3 s".to_owned()));
        assert!(!down.ok);
        assert!(
            down.detail.contains("unreachable: no answer within 3 s"),
            "{}",
            down.detail
        );
    }

    #[test]
    fn only_known_pages_ask_for_a_session() {
        for page in [
            "/",
            "/churn.csv",
            "/members/12",
            "/tickets/3",
            "/admin/logs/stream",
        ] {
            assert!(is_page(page), "{page}");
        }
        for other in [
            "/members/",
            "/members/1/x",
            "/favicon.ico",
            "/admin",
            "/tickets/",
        ] {
            assert!(!is_page(other), "{other}");
        }
    }

    #[test]
    fn links_encode_their_values() {
        assert_eq!(
            href("/login", &[("next", "/churn?silent=21&x=a b".to_owned())]),
            "/login?next=%2Fchurn%3Fsilent%3D21%26x%3Da%20b"
        );
    }

    #[test]
    fn only_web_links_are_linked_in_transcripts() {
        let list = attachments(&serde_json::json!([
            {"filename": "a.png", "url": "https://cdn.example/a.png"},
            {"filename": "b.txt", "url": "javascript:alert(1)"}
        ]));
        assert_eq!(list[0].1.as_deref(), Some("https://cdn.example/a.png"));
        assert_eq!(list[1].1, None);
    }

    #[test]
    fn log_events_are_one_sse_message_each() {
        let line = community_store::LogLine {
            id: 7,
            at: NOW,
            level: community_store::LogLevel::Warn,
            source: "relay".to_owned(),
            message: "two\nlines".to_owned(),
            fields: serde_json::json!({}),
        };
        let event = log_event(&line);
        assert!(event.starts_with("id: 7\nevent: log\ndata: {"), "{event}");
        assert!(event.ends_with("}\n\n"));
        // The newline is escaped inside the JSON, so the event stays one line of data.
        assert_eq!(event.matches('\n').count(), 4);
    }
}
