//! The `notes.Notes` service's server and client stubs, generated from the Rust definition
//! below (tonic-build's manual mode: no `.proto` file, no `protoc`). The messages are the
//! `prost` structs of `src/lib.rs`.

use tonic_build::manual::{Builder, Method, Service};

fn method(
    name: &str,
    route: &str,
    input: &str,
    output: &str,
) -> tonic_build::manual::MethodBuilder {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::{input}"))
        .output_type(format!("crate::{output}"))
        .codec_path("tonic_prost::ProstCodec")
}

fn main() {
    let notes = Service::builder()
        .name("Notes")
        .package("notes")
        .method(method("ping", "Ping", "Empty", "Pong").build())
        .method(method("whoami", "Whoami", "Empty", "Caller").build())
        .method(method("me", "Me", "Empty", "Profile").build())
        .method(method("delete_note", "DeleteNote", "NoteId", "Empty").build())
        .method(
            method("ticks", "Ticks", "Empty", "Tick")
                .server_streaming()
                .build(),
        )
        .build();
    Builder::new().compile(&[notes]);
}
