//! What every Supabase project already has and our migrations therefore do
//! not create: the API roles and their default grants on `public`.

use anyhow::{Context as _, Result};

use crate::pg::{Cluster, quote_literal};

/// Password of the `authenticator` login role in local clusters. Local
/// clusters trust 127.0.0.1, so it only has to match what the API is given.
pub const AUTHENTICATOR_PASSWORD: &str = "authenticator-local";

/// The role PostgREST connects as, switching to the JWT's role per request.
pub const AUTHENTICATOR: &str = "authenticator";

/// Cluster-wide roles, created if missing.
fn roles_sql(authenticator_password: &str) -> String {
    let password = quote_literal(authenticator_password);
    format!(
        r#"
do $$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select from pg_roles where rolname = '{AUTHENTICATOR}') then
        execute format('create role {AUTHENTICATOR} login noinherit password %L', {password});
    end if;
end
$$;
grant anon, authenticated, service_role to {AUTHENTICATOR};
"#
    )
}

/// Per-database grants: the API roles may use `public`, and everything the
/// `postgres` user creates there is granted to them (RLS decides the rest).
pub const DATABASE_GRANTS_SQL: &str = "
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on functions to anon, authenticated, service_role;
";

/// Creates the roles, then grants in `template1` (so every database created
/// afterwards inherits them) and in `postgres` (which `initdb` already made).
pub fn install_baseline(cluster: &Cluster) -> Result<()> {
    cluster
        .psql("postgres")
        .execute(&roles_sql(AUTHENTICATOR_PASSWORD))
        .context("creating Supabase's roles")?;
    for database in ["template1", "postgres"] {
        cluster
            .psql(database)
            .execute(DATABASE_GRANTS_SQL)
            .with_context(|| format!("granting Supabase's defaults in {database}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_quoted_inside_the_role_script() {
        let sql = roles_sql("it's");
        assert!(sql.contains("%L', 'it''s')"), "{sql}");
    }
}
