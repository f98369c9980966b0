//! Starts the `backend-axum` binary on a free loopback port and drives every route.

#[test]
fn every_route_over_http() {
    backend_common::drive::check_every_route(env!("CARGO_BIN_EXE_backend-axum"));
}

#[test]
fn missing_configuration_stops_start_up() {
    backend_common::drive::check_start_up_error(env!("CARGO_BIN_EXE_backend-axum"));
}

#[test]
fn keys_loading_never_block_other_requests() {
    let slowest = backend_common::drive::check_no_blocking_while_keys_load(env!(
        "CARGO_BIN_EXE_backend-axum"
    ));
    eprintln!("slowest request while keys loaded: {slowest:?}");
}
