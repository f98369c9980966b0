//! Every statement this crate sends, in one place (so that another client, such as
//! tokio-postgres, can reuse them). All values are bound parameters; no SQL is built from
//! strings at request time.

/// The statement that applies a caller's scope, transaction-local, in one round trip, in
/// PostgREST's order: `settings` pairs first (the search path and the role's own settings,
/// `$1`/`$2`, `$3`/`$4`, …: name and value), then the role, `request.jwt.claims`,
/// `request.method`, `request.path`, `request.headers` and `request.cookies`. Made once per role at start-up
/// (its text depends only on how many settings the role has); every value is a bound
/// parameter.
///
/// The role's settings come before the role, as in PostgREST, so that a setting the login role
/// was granted (`GRANT SET ON PARAMETER`) applies.
///
/// It also empties, transaction-locally, the legacy per-claim settings that Supabase's
/// `auth.uid()`, `auth.role()`, `auth.email()` and `auth.jwt()` read **before**
/// `request.jwt.claims` (`request.jwt.claim.sub`, `.role`, `.email`, and `request.jwt.claim`):
/// a session-wide value left on a pooled connection by other code would otherwise speak for
/// another user inside this scope. Empty is what those functions treat as unset (`nullif`).
pub(crate) fn apply_scope(settings: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::from("select ");
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    for _ in 0..settings {
        let (k, v) = (next(), next());
        let _ = write!(sql, "set_config(${k}, ${v}, true), ");
    }
    for name in [
        "role",
        "request.jwt.claims",
        "request.method",
        "request.path",
        "request.headers",
        "request.cookies",
    ] {
        let _ = write!(sql, "set_config('{name}', ${}, true), ", next());
    }
    for legacy in LEGACY_CLAIM_SETTINGS {
        let _ = write!(sql, "set_config('{legacy}', '', true), ");
    }
    sql.truncate(sql.len() - 2);
    sql
}

/// The isolation levels a role's `default_transaction_isolation` may name, as `BEGIN` spells
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    Serializable,
    RepeatableRead,
    ReadCommitted,
    ReadUncommitted,
}

impl Isolation {
    /// A setting's value (Postgres accepts any case and surrounding spaces).
    pub(crate) fn parse(value: &str) -> Option<Isolation> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "serializable" => Isolation::Serializable,
            "repeatable read" => Isolation::RepeatableRead,
            "read committed" => Isolation::ReadCommitted,
            "read uncommitted" => Isolation::ReadUncommitted,
            _ => return None,
        })
    }
}

/// A boolean setting's value as Postgres reads it: `on`, `1`, or any prefix of `true` or
/// `yes`, in any case.
pub(crate) fn setting_is_on(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v == "on" || v == "1" || (!v.is_empty() && ("true".starts_with(&v) || "yes".starts_with(&v)))
}

/// The `BEGIN` of a scoped transaction: the role's isolation level (what PostgREST begins
/// with; `set_config` of `default_transaction_isolation` cannot change a transaction that is
/// already open) and its access mode. A closed set of texts: nothing is spliced in.
pub(crate) fn begin(isolation: Option<Isolation>, read_only: bool) -> &'static str {
    use Isolation::{ReadCommitted, ReadUncommitted, RepeatableRead, Serializable};
    match (isolation, read_only) {
        (None, false) => "BEGIN",
        (None, true) => "BEGIN READ ONLY",
        (Some(Serializable), false) => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        (Some(Serializable), true) => "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY",
        (Some(RepeatableRead), false) => "BEGIN ISOLATION LEVEL REPEATABLE READ",
        (Some(RepeatableRead), true) => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        (Some(ReadCommitted), false) => "BEGIN ISOLATION LEVEL READ COMMITTED",
        (Some(ReadCommitted), true) => "BEGIN ISOLATION LEVEL READ COMMITTED, READ ONLY",
        (Some(ReadUncommitted), false) => "BEGIN ISOLATION LEVEL READ UNCOMMITTED",
        (Some(ReadUncommitted), true) => "BEGIN ISOLATION LEVEL READ UNCOMMITTED, READ ONLY",
    }
}

/// The pre-request function `$1` (`"schema"."name"`) with no arguments, checked at start-up:
/// whether it exists, whether it is a function (not a procedure), and the request roles `$2`
/// that may not call it (no `USAGE` on its schema or no `EXECUTE` on it). No row: it does
/// not exist.
pub(crate) const PRE_REQUEST_CHECK: &str = "select p.prokind = 'f', \
        coalesce(array_agg(r.name) filter (where not (has_schema_privilege(r.name, p.pronamespace, 'USAGE') \
            and has_function_privilege(r.name, p.oid, 'EXECUTE'))), '{}')::text[] \
    from pg_catalog.pg_proc p cross join unnest($2::text[]) as r(name) \
    where p.oid = to_regprocedure($1 || '()') \
    group by p.prokind";

/// Whether the login role is confined: no superuser, no `BYPASSRLS`, and `NOINHERIT` (it has
/// none of the request roles' privileges until it becomes one), as Supabase's
/// `authenticator`. Only then may statements be pipelined behind a `BEGIN` whose answer has
/// not come: were it to fail, they would run outside the transaction as this role.
pub(crate) const LOGIN_CONFINED: &str = "select not rolsuper and not rolbypassrls and not rolinherit \
    from pg_catalog.pg_roles where rolname = current_user";

/// How many of the sign-out triggers of the `session_notify` migration exist.
pub(crate) const NOTIFY_TRIGGERS: &str = "select count(*) from pg_catalog.pg_trigger \
    where not tgisinternal and tgname in ('supagate_session_deleted', 'supagate_session_changed', \
        'supagate_sessions_emptied', 'supagate_user_changed', 'supagate_user_deleted')";

/// The call of a pre-request function: both parts are plain identifiers checked at start-up,
/// quoted here.
pub(crate) fn pre_request(schema: &str, name: &str) -> String {
    format!("select \"{schema}\".\"{name}\"()")
}

/// The per-claim settings PostgREST set before version 9 (and `auth.*()` still read first),
/// emptied in every scope.
pub(crate) const LEGACY_CLAIM_SETTINGS: [&str; 4] = [
    "request.jwt.claim.sub",
    "request.jwt.claim.role",
    "request.jwt.claim.email",
    "request.jwt.claim",
];

/// The settings of the roles `$1` (`ALTER ROLE … SET`), for every database and for this one
/// (the latter override the former: they come later), keeping only those the login role may
/// set at request time: user-context parameters and custom (dotted) ones.
pub(crate) const ROLE_SETTINGS: &str = "select r.rolname::text, split_part(s.setting, '=', 1), \
        substr(s.setting, strpos(s.setting, '=') + 1) \
    from pg_catalog.pg_db_role_setting d \
    join pg_catalog.pg_roles r on r.oid = d.setrole \
    cross join lateral unnest(d.setconfig) with ordinality as s(setting, n) \
    left join pg_catalog.pg_settings p on p.name = split_part(s.setting, '=', 1) \
    where r.rolname = any($1::text[]) \
      and d.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database())) \
      and (p.context = 'user' or (p.name is null and strpos(split_part(s.setting, '=', 1), '.') > 0)) \
    order by r.rolname, d.setdatabase, s.n";

/// For each role `$1`: whether it exists, whether it is a superuser or bypasses RLS itself or
/// through a role whose privileges it has (membership with inheritance), and whether the login
/// role may become it (`SET` on PostgreSQL 16 and later, membership before).
pub(crate) const ROLE_FACTS: &str = "select n.name, r.rolname is not null, \
        coalesce(r.rolsuper, false) or coalesce((select bool_or(s.rolsuper) from pg_catalog.pg_roles s \
            where s.oid <> r.oid and pg_catalog.pg_has_role(r.oid, s.oid, 'USAGE')), false), \
        coalesce(r.rolbypassrls, false) or coalesce((select bool_or(s.rolbypassrls) from pg_catalog.pg_roles s \
            where s.oid <> r.oid and pg_catalog.pg_has_role(r.oid, s.oid, 'USAGE')), false), \
        case when r.rolname is null then false \
             when current_setting('server_version_num')::int >= 160000 \
                 then pg_catalog.pg_has_role(current_user, r.oid, 'SET') \
             else pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER') end \
    from unnest($1::text[]) as n(name) \
    left join pg_catalog.pg_roles r on r.rolname = n.name";

/// What [`SESSION_STATE`] reads, read for nothing: the pool may read it.
pub(crate) const SESSION_PROBE: &str = "select s.id, s.user_id, s.not_after, u.id, u.deleted_at, u.banned_until \
    from auth.sessions s left join auth.users u on u.id = s.user_id limit 0";

/// A session's liveness: its user, `not_after` (seconds since the epoch), whether its user
/// exists, is soft-deleted, or is banned now. No row: the session is gone.
pub(crate) const SESSION_STATE: &str = "select s.user_id, \
        extract(epoch from s.not_after)::float8, \
        u.id is not null, \
        coalesce(u.deleted_at is not null, false), \
        coalesce(u.banned_until > now(), false) \
    from auth.sessions s left join auth.users u on u.id = s.user_id \
    where s.id = $1";

#[cfg(test)]
mod tests {
    #[test]
    fn the_scope_statement_binds_every_value() {
        assert_eq!(
            super::apply_scope(1),
            "select set_config($1, $2, true), set_config('role', $3, true), \
             set_config('request.jwt.claims', $4, true), set_config('request.method', $5, true), \
             set_config('request.path', $6, true), set_config('request.headers', $7, true), \
             set_config('request.cookies', $8, true), set_config('request.jwt.claim.sub', '', true), set_config('request.jwt.claim.role', '', true), \
             set_config('request.jwt.claim.email', '', true), set_config('request.jwt.claim', '', true)"
        );
        assert!(super::apply_scope(0).starts_with("select set_config('role', $1, true)"));
    }

    #[test]
    fn begin_names_the_level_and_the_mode() {
        use super::{Isolation, begin};
        assert_eq!(begin(None, false), "BEGIN");
        assert_eq!(begin(None, true), "BEGIN READ ONLY");
        assert_eq!(
            begin(Isolation::parse(" Repeatable Read"), true),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        );
        assert_eq!(Isolation::parse("snapshot"), None);
        for on in ["ON", "1", "t", "tr", "TRUE", "y", "ye", "yes"] {
            assert!(super::setting_is_on(on), "{on}");
        }
        for off in ["off", "o", "0", "", "f", "no", "truer"] {
            assert!(!super::setting_is_on(off), "{off}");
        }
    }
}
