//! The app's own pages, rendered by the server (askama templates in `templates/`) for the
//! signed-in user that `supagate::axum::pages::SessionLayer` resolved: a home page, the
//! sign-in page, the dashboard (the verified session's email and role, and the backend's
//! `/profile/me` and `/notes` fetched by the server with the user's bearer), and the note
//! forms. Every form is a plain HTML form: it all works with JavaScript off.

use askama::Template;
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use supagate::RequestError as _;
use supagate::axum::pages::{BackendClient, User};

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    who: Option<&'a str>,
    error: Option<&'static str>,
    next: &'a str,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn<'a> {
    who: Option<&'a str>,
    error: Option<&'static str>,
    next: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    who: Option<&'a str>,
    email: &'a str,
    role: &'a str,
    /// The session's end, for people: `2026-12-06 15:04:05 UTC (in 59 min)`.
    expires_at: String,
    profile_ok: bool,
    profile_status: u16,
    profile: String,
    notes: Option<Vec<Note>>,
    notes_status: String,
}

/// A note as the backend lists it.
#[derive(Debug, Deserialize)]
struct Note {
    id: i64,
    body: String,
    #[serde(default)]
    public: bool,
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response(),
    }
}

/// A `next` worth keeping: a local path, as the proxy's sign-in checks it.
fn local_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if supagate::proxy::core::is_local_path(n) => n,
        _ => "/dashboard",
    }
}

/// The message for a sign-in `error` code (only known codes: nothing from the query is
/// echoed).
fn sign_in_message(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "invalid_credentials" => "Wrong email or password.",
        "email_not_confirmed" => "Confirm your email address first.",
        "user_banned" => "This account is suspended.",
        "rate_limited" | "over_request_rate_limit" => "Too many attempts: try again in a minute.",
        "temporarily_unavailable" | "bad_gateway" | "gateway_timeout" => {
            "The auth server is unavailable: try again shortly."
        }
        "invalid_request" => "Enter your email and password.",
        _ => "Sign-in failed.",
    })
}

/// The sign-in page's query.
#[derive(Debug, Deserialize)]
pub(crate) struct SignInQuery {
    next: Option<String>,
    error: Option<String>,
}

/// `GET /`: public; the sign-in form when signed out.
pub(crate) async fn home(user: Option<User>) -> Response {
    render(&Home {
        who: user.as_ref().and_then(|u| u.email()),
        error: None,
        next: "/dashboard",
    })
}

/// `GET /sign-in`: where protected pages send a browser without a session.
pub(crate) async fn sign_in(user: Option<User>, Query(q): Query<SignInQuery>) -> Response {
    let next = local_next(q.next.as_deref());
    if user.is_some() {
        return Redirect::to(next).into_response();
    }
    render(&SignIn {
        who: None,
        error: sign_in_message(q.error.as_deref()),
        next,
    })
}

/// `GET /dashboard`: protected; rendered from the verified session and two server-side
/// backend calls made at once.
pub(crate) async fn dashboard(user: User, backend: BackendClient) -> Response {
    let (profile, notes) = tokio::join!(
        backend.get(&user, "/profile/me"),
        backend.get(&user, "/notes")
    );
    let (profile_ok, profile_status, profile) = match profile {
        Ok(r) => (
            r.status().is_success(),
            r.status().as_u16(),
            match r.json::<Value>() {
                Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
                Err(_) => String::from_utf8_lossy(r.body()).into_owned(),
            },
        ),
        Err(e) => (false, e.status().as_u16(), e.to_string()),
    };
    let (notes, notes_status) = match notes {
        Ok(r) if r.status().is_success() => match r.json::<Vec<Note>>() {
            Ok(list) => (Some(list), String::new()),
            Err(_) => (None, "The backend's notes were not readable.".to_owned()),
        },
        Ok(r) if r.status() == StatusCode::NOT_FOUND => (
            None,
            "Notes need PostgreSQL: this backend has none (the quickstart starts one when PostgreSQL is installed).".to_owned(),
        ),
        Ok(r) => (None, format!("The backend answered {} for /notes.", r.status().as_u16())),
        Err(e) => (None, format!("The backend is unavailable ({}).", e.status().as_u16())),
    };
    render(&Dashboard {
        who: user.email(),
        email: user.email().unwrap_or("(no email)"),
        role: user.app_role().unwrap_or("(none)"),
        expires_at: human_time(user.expires_at(), unix_now()),
        profile_ok,
        profile_status,
        profile,
        notes,
        notes_status,
    })
}

/// The note form.
#[derive(Debug, Deserialize)]
pub(crate) struct NoteForm {
    body: String,
    public: Option<String>,
}

/// `POST /dashboard/notes`: adds a note through the backend, then back to the dashboard (303).
pub(crate) async fn add_note(
    user: User,
    backend: BackendClient,
    Form(form): Form<NoteForm>,
) -> Response {
    let note = json!({ "body": form.body, "public": form.public.is_some() });
    match backend.post_json(&user, "/notes", &note).await {
        Ok(r) if r.status().is_success() => Redirect::to("/dashboard").into_response(),
        Ok(r) => (r.status(), "the backend refused the note").into_response(),
        Err(e) => (e.status(), "the backend is unavailable").into_response(),
    }
}

/// `POST /dashboard/notes/{id}/delete`: deletes a note (Row Level Security decides whose).
pub(crate) async fn delete_note(
    user: User,
    backend: BackendClient,
    Path(id): Path<i64>,
) -> Response {
    match backend.delete(&user, &format!("/notes/{id}")).await {
        Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_FOUND => {
            Redirect::to("/dashboard").into_response()
        }
        Ok(r) => (r.status(), "the backend refused").into_response(),
        Err(e) => (e.status(), "the backend is unavailable").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_local() {
        assert_eq!(local_next(Some("/dashboard?tab=2")), "/dashboard?tab=2");
        for bad in [
            "//evil.example",
            "/.//evil.example",
            "/%2F%2Fevil",
            "https://evil.example",
            "/\\evil",
            "evil",
            "/a b",
        ] {
            assert_eq!(local_next(Some(bad)), "/dashboard", "{bad}");
        }
        assert_eq!(local_next(None), "/dashboard");
    }

    #[test]
    fn only_known_codes_become_messages() {
        assert_eq!(
            sign_in_message(Some("invalid_credentials")),
            Some("Wrong email or password.")
        );
        assert_eq!(
            sign_in_message(Some("<script>alert(1)</script>")),
            Some("Sign-in failed.")
        );
        assert_eq!(sign_in_message(None), None);
    }
}

/// Seconds since the epoch, now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `at` (Unix seconds) as a UTC date and time, with how far it is from `now`.
fn human_time(at: i64, now: i64) -> String {
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    let (days, secs) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let left = at.saturating_sub(now);
    let when = match left {
        l if l <= 0 => "expired".to_owned(),
        l if l < 60 => format!("in {l} s"),
        l if l < 7_200 => format!("in {} min", l / 60),
        l => format!("in {} h", l / 3_600),
    };
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC ({when})",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod time_tests {
    use super::human_time;

    #[test]
    fn dates_read_as_people_write_them() {
        assert_eq!(human_time(0, 0), "1970-01-01 00:00:00 UTC (expired)");
        assert_eq!(
            human_time(1_796_569_320, 1_796_565_720),
            "2026-12-06 15:02:00 UTC (in 60 min)"
        );
        assert_eq!(
            human_time(951_782_400, 951_782_390),
            "2000-02-29 00:00:00 UTC (in 10 s)"
        );
        assert_eq!(
            human_time(4_102_444_800, 4_102_400_000),
            "2100-01-01 00:00:00 UTC (in 12 h)"
        );
    }
}
