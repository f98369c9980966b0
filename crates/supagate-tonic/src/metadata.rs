//! Request metadata as the headers the authenticator reads.

use http::HeaderName;
use http::header::{AUTHORIZATION, COOKIE};
use supagate_auth::RequestHeaders;
use tonic::metadata::MetadataMap;

/// A tonic request's metadata seen as request headers (gRPC metadata travels as HTTP/2
/// header fields): what [`user`](crate::user) and [`caller`](crate::caller) hand the
/// authenticator. Only ASCII entries are read; `-bin` entries never carry credentials.
///
/// # Examples
///
/// ```
/// use supagate_auth::RequestHeaders;
/// use supagate_tonic::Metadata;
///
/// let mut md = tonic::metadata::MetadataMap::new();
/// md.insert("authorization", "Bearer abc".parse()?);
/// md.insert("apikey", "sb_publishable_x".parse()?);
/// let view = Metadata::new(&md);
/// assert_eq!(view.authorization().collect::<Vec<_>>(), [b"Bearer abc".as_slice()]);
/// assert_eq!(view.values(&http::HeaderName::from_static("apikey")).count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Metadata<'a>(&'a MetadataMap);

impl<'a> Metadata<'a> {
    /// A view of `metadata`.
    ///
    /// # Examples
    ///
    /// ```
    /// let md = tonic::metadata::MetadataMap::new();
    /// let _view = supagate_tonic::Metadata::new(&md);
    /// ```
    #[must_use]
    pub fn new(metadata: &'a MetadataMap) -> Self {
        Metadata(metadata)
    }
}

impl RequestHeaders for Metadata<'_> {
    fn authorization(&self) -> impl Iterator<Item = &[u8]> {
        self.values(&AUTHORIZATION)
    }

    fn cookie(&self) -> impl Iterator<Item = &[u8]> {
        self.values(&COOKIE)
    }

    fn values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]> {
        self.0
            .get_all(name.as_str())
            .iter()
            .map(|v| v.as_encoded_bytes())
    }
}
