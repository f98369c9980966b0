//! The backend API of the reference architecture as a gRPC service on tonic: the `notes.Notes`
//! service, with one gate per method.
//!
//! | method | who | gate |
//! |---|---|---|
//! | `Ping` | anyone | none (public) |
//! | `Whoami` | a signed-in user, else anyone | modes `user, none` |
//! | `Me` | a signed-in user | modes `user` (the service's gate) |
//! | `DeleteNote` | an `admin` (app role in `app_metadata`) | the admin policy |
//! | `Ticks` | a signed-in user: a server stream that ends with `Unauthenticated` when the token expires or the session is revoked | modes `user` |

use std::pin::Pin;
use std::time::Duration;

use supagate::auth::{Authenticator, Gate};
use supagate::tonic::{GateLayer, GateService};
use tokio_stream::wrappers::IntervalStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};
use tower_layer::Layer as _;

/// The generated stubs of `notes.Notes` (see `build.rs`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/notes.Notes.rs"));
}

pub use pb::notes_client::NotesClient;
pub use pb::notes_server::{Notes, NotesServer};

/// No fields.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Empty {}

/// `Ping`'s answer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Pong {
    /// Always `pong`.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `Whoami`'s answer: how the caller was admitted.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Caller {
    /// `user` or `none`.
    #[prost(string, tag = "1")]
    pub mode: String,
    /// The user's id, for a user.
    #[prost(string, optional, tag = "2")]
    pub user_id: Option<String>,
}

/// `Me`'s answer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Profile {
    /// `sub`.
    #[prost(string, tag = "1")]
    pub user_id: String,
    /// The user's email, when the token has one.
    #[prost(string, optional, tag = "2")]
    pub email: Option<String>,
    /// The app role (`app_metadata.role`), when set.
    #[prost(string, optional, tag = "3")]
    pub role: Option<String>,
}

/// A note's id.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct NoteId {
    /// The id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
}

/// One message of the `Ticks` stream.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Tick {
    /// 0, 1, 2, …
    #[prost(uint64, tag = "1")]
    pub n: u64,
}

/// How often `Ticks` sends.
pub const TICK: Duration = Duration::from_millis(100);
/// The most ticks one stream sends (a bound: a client that never hangs up costs finitely).
pub const MAX_TICKS: u64 = 100_000;

/// The service's handlers. Each reads the caller from its request: the gate in front of it
/// decided already.
#[derive(Debug, Clone)]
pub struct NotesService {
    auth: Authenticator,
}

type Ticks = Pin<Box<dyn Stream<Item = Result<Tick, Status>> + Send>>;

#[tonic::async_trait]
impl Notes for NotesService {
    async fn ping(&self, _: Request<Empty>) -> Result<Response<Pong>, Status> {
        Ok(Response::new(Pong {
            message: "pong".into(),
        }))
    }

    async fn whoami(&self, mut req: Request<Empty>) -> Result<Response<Caller>, Status> {
        let caller = supagate::tonic::caller(&self.auth, &mut req).await?;
        Ok(Response::new(Caller {
            mode: caller.mode().to_owned(),
            user_id: caller.user().map(|v| v.claims().sub.to_string()),
        }))
    }

    async fn me(&self, req: Request<Empty>) -> Result<Response<Profile>, Status> {
        let Some(claims) = supagate::tonic::user::<supagate::Claims, _>(&self.auth, &req).await?
        else {
            return Err(Status::unauthenticated("authentication required"));
        };
        Ok(Response::new(Profile {
            user_id: claims.sub.to_string(),
            email: claims.email.clone(),
            role: claims
                .app_metadata
                .get("role")
                .and_then(|r| r.as_str())
                .map(str::to_owned),
        }))
    }

    async fn delete_note(&self, _: Request<NoteId>) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }

    type TicksStream = Ticks;

    async fn ticks(&self, _: Request<Empty>) -> Result<Response<Ticks>, Status> {
        let mut n = 0;
        let ticks = IntervalStream::new(tokio::time::interval(TICK))
            .map(move |_| {
                let tick = Tick { n };
                n += 1;
                Ok(tick)
            })
            .take(usize::try_from(MAX_TICKS).unwrap_or(usize::MAX));
        Ok(Response::new(Box::pin(ticks)))
    }
}

/// The gated service: `user` in front of every method, the admin policy in front of
/// `DeleteNote`, `user, none` in front of `Whoami`, nothing in front of `Ping`.
///
/// # Errors
///
/// When the example's policies, modes or method rules are refused (never, as shipped).
pub fn service(auth: Authenticator) -> Result<GateService<NotesServer<NotesService>>, String> {
    let gate = |modes: &str| backend_common::modes(modes).map(|m| Gate::modes(auth.clone(), m));
    let admin = backend_common::admin_policy().map_err(|e| e.to_string())?;
    let layer = GateLayer::new(gate("user")?)
        .method("Whoami", gate(backend_common::modes::WHOAMI)?)
        .and_then(|l| l.method("DeleteNote", Gate::policy(auth.clone(), admin)))
        .and_then(|l| l.public("Ping"))
        .map_err(|e| e.to_string())?;
    Ok(layer.layer(NotesServer::new(NotesService { auth })))
}
