//! Authentication: who sent the request, and how its body must be read.
//!
//! All signature work is `ozfs::sigv4`'s: [`ozfs::sigv4::parse`] reads whichever scheme the
//! request carries (SigV4 header or presigned query, SigV2 header or query); then
//! * security on: the secret comes from the [`ozfs::SecretStore`] (unknown key → 403
//!   InvalidAccessKeyId) and `verify` checks the clock window (RequestTimeTooSkewed, presigned
//!   expiry) and the signature (SignatureDoesNotMatch);
//! * security off (Ozone's default): any well-formed request is accepted and its access key is
//!   the user; presigned URLs still expire.
//!
//! A request with no authentication at all is anonymous (`user == None`): with security on or
//! off it only reaches what a bucket or object ACL grants to `AllUsers` (see
//! `handlers::Ctx::enforce_acl` and `handlers::grants_allow`); the bucket page with security
//! off is the one exception (see `service.rs`).
//!
//! Access keys that are Kerberos principals (`testuser/scm@EXAMPLE.COM`) map to their short
//! name (`testuser`), as Ozone does.

use crate::error::{S3Error, S3ErrorCode};
use crate::state::State;
use ozfs::sigv4::{self, PayloadMode, RequestParts, Scheme};
use std::time::SystemTime;

/// The outcome of authentication.
#[derive(Debug, Clone)]
pub struct AuthOutcome {
    /// `None`: anonymous.
    pub user: Option<String>,
    /// The region of the SigV4 credential scope.
    pub region: Option<String>,
    pub payload: PayloadMode,
}

/// The user name of an access key (short name of a Kerberos principal).
pub fn user_of(access_key: &str) -> String {
    let short = access_key.split(['/', '@']).next().unwrap_or(access_key);
    if short.is_empty() {
        access_key.to_string()
    } else {
        short.to_string()
    }
}

/// Authenticate a request. `vhost_bucket` is the bucket taken from the Host header, if any.
pub async fn authenticate(
    state: &State,
    parts: &http::request::Parts,
    vhost_bucket: Option<&str>,
) -> Result<AuthOutcome, S3Error> {
    let rp = RequestParts {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        virtual_host_bucket: vhost_bucket,
    };
    let Some(parsed) = sigv4::parse(&rp).map_err(S3Error::from)? else {
        return Ok(AuthOutcome {
            user: None,
            region: None,
            payload: PayloadMode::UnsignedPayload,
        });
    };
    let now = SystemTime::now();
    let auth = if state.cfg.secure {
        let secret = state
            .secrets
            .lookup_secret(parsed.access_key())
            .await
            .map_err(S3Error::from)?
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records.",
                )
            })?;
        parsed.verify(&secret, now).map_err(S3Error::from)?
    } else {
        if matches!(parsed.scheme(), Scheme::V4Presigned | Scheme::V2Presigned) {
            parsed.check_time(now).map_err(S3Error::from)?;
        }
        parsed.accept_unverified()
    };
    if auth.access_key.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            "The authorization header you provided is invalid.",
        ));
    }
    // A presigned (or SigV2) request may still carry an `x-amz-content-sha256` header: a hex
    // digest is verified against the body (as Ozone does for presigned PUTs), a malformed value
    // is 400 InvalidArgument as for a header-signed request.
    let payload = match auth.payload {
        PayloadMode::UnsignedPayload => sigv4::unsigned_request_payload(&parts.headers).map_err(S3Error::from)?,
        other => other,
    };
    Ok(AuthOutcome {
        user: Some(user_of(&auth.access_key)),
        region: auth.credential.as_ref().map(|c| c.region.clone()),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kerberos_short_names() {
        assert_eq!(user_of("testuser/scm@EXAMPLE.COM"), "testuser");
        assert_eq!(user_of("alice@REALM"), "alice");
        assert_eq!(user_of("AKIA"), "AKIA");
    }
}
