//! The README's first example ("Verifying a token"), verbatim below this comment (a test
//! checks that the two stay the same): `cargo run -p readme-main -- <access token>` with
//! the project's variables. `tests/startup.rs` runs it misconfigured and reads what it
//! prints.

use supagate::Config;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SUPABASE_URL, and SUPABASE_JWT_SECRET (legacy) and/or the project's JWK set (fetched and
    // followed through rotations by default). A misconfiguration stops here, naming the
    // variable and the fix.
    let verifier = Config::from_env()?.verifier()?;
    let token = std::env::args().nth(1).unwrap_or_default();
    // issuer, audience `authenticated`, exp/iat/nbf, sub, signature
    let claims = verifier.verify_async(&token).await?;
    println!("{} {:?}", claims.sub, claims.email);
    Ok(())
}
