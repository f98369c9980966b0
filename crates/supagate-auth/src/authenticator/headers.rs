//! [`RequestHeaders`]: read access to a request's header fields, whatever the framework.

use super::*;

/// Read access to a request's header fields, whatever the framework's header type.
/// Implemented for [`http::HeaderMap`]; the actix adapter implements it for its own map.
pub trait RequestHeaders {
    /// Every `Authorization` field value, in order.
    fn authorization(&self) -> impl Iterator<Item = &[u8]>;
    /// Every `Cookie` field value, in order.
    fn cookie(&self) -> impl Iterator<Item = &[u8]>;
    /// Every value of the field `name` (lowercase, as [`HeaderName`] keeps it), in order:
    /// `apikey` and the browser fetch metadata the auth modes read.
    fn values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]>;
}

impl RequestHeaders for HeaderMap {
    fn authorization(&self) -> impl Iterator<Item = &[u8]> {
        self.get_all(AUTHORIZATION).iter().map(|v| v.as_bytes())
    }

    fn cookie(&self) -> impl Iterator<Item = &[u8]> {
        self.get_all(COOKIE).iter().map(|v| v.as_bytes())
    }

    fn values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]> {
        self.get_all(name).iter().map(|v| v.as_bytes())
    }
}

/// The `apikey` field Supabase clients send their API key in.
pub(crate) static APIKEY: HeaderName = HeaderName::from_static("apikey");
pub(super) static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
pub(super) static SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_a_name_is_read_in_order() {
        let mut h = HeaderMap::new();
        h.append(
            AUTHORIZATION,
            "Bearer a".parse().unwrap_or_else(|_| unreachable!()),
        );
        h.append(
            "Authorization",
            "Bearer b".parse().unwrap_or_else(|_| unreachable!()),
        );
        h.append(COOKIE, "x=1".parse().unwrap_or_else(|_| unreachable!()));
        h.append("APIKEY", "k".parse().unwrap_or_else(|_| unreachable!()));
        let auth: Vec<&[u8]> = h.authorization().collect();
        assert_eq!(auth, [&b"Bearer a"[..], b"Bearer b"]);
        assert_eq!(h.cookie().collect::<Vec<_>>(), [&b"x=1"[..]]);
        // Header names are case-insensitive: `APIKEY` is `apikey`.
        assert_eq!(
            RequestHeaders::values(&h, &APIKEY).collect::<Vec<_>>(),
            [&b"k"[..]]
        );
        assert_eq!(RequestHeaders::values(&h, &SEC_FETCH_SITE).count(), 0);
    }
}
