//! Gateway-side authentication: parse, then (after an async secret lookup) verify.
//!
//! ```text
//! let parts = RequestParts { method, raw_path, raw_query, headers, virtual_host_bucket };
//! match sigv4::parse(&parts)? {
//!     None => anonymous request,
//!     Some(auth) => {
//!         let who = auth.access_key();                    // e.g. "testuser/scm@EXAMPLE.COM"
//!         let ok = if security_on {
//!             let secret = secrets.lookup_secret(who).await?  // None -> InvalidAccessKeyId
//!             auth.verify(&secret, SystemTime::now())?    // time window + signature
//!         } else {
//!             auth.accept_unverified()                    // well-formed is enough
//!         };
//!         match ok.payload { ... }                        // how to read the body:
//!         // StreamingSigned / StreamingUnsignedTrailer need x-amz-decoded-content-length
//!         // (the gateway answers InvalidArgument/MissingContentLength without it) and go
//!         // through chunked::AwsChunkedDecoder; SignedPayload through chunked::verify_sha256.
//!     }
//! }
//! ```
//!
//! [`parse`] does all the work that does not need the secret (including building the canonical
//! request and the string to sign), so [`ParsedAuth`] is an owned, `Send` value that can cross
//! the `.await` of the secret lookup; [`ParsedAuth::verify`] then only derives the key and
//! compares (in constant time). Parsing never looks at the clock; [`ParsedAuth::check_time`] does
//! (and `verify` calls it).

use super::auth::{
    classify_payload, query_param, Authenticated, DeclaredPayload, ParsedAuth, PayloadMode, RequestParts, Scheme,
    StreamingSigned,
};
use super::canonical::{self, SigningKey};
use super::{amz_date, v2, AuthError, Credential, CredentialScope, MAX_CLOCK_SKEW, MAX_PRESIGN_EXPIRES};
use http::HeaderMap;
use std::time::{Duration, SystemTime};

impl ParsedAuth {
    /// The access key to look the secret up with.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The SigV4 credential scope (`None` for SigV2).
    pub fn credential(&self) -> Option<&CredentialScope> {
        self.credential.as_ref()
    }

    /// The string to sign (for SigV2 the AWS-documented candidate). AWS returns it in the
    /// SignatureDoesNotMatch error body.
    pub fn string_to_sign(&self) -> &str {
        self.strings_to_sign.first().map(String::as_str).unwrap_or("")
    }

    /// The SigV4 canonical request (empty for SigV2).
    pub fn canonical_request(&self) -> &str {
        &self.canonical_request
    }

    /// The time the client says it signed (SigV2 presigned: the expiry).
    pub fn request_time(&self) -> SystemTime {
        self.request_time
    }

    /// Check the time window against `now`: header auth within [`MAX_CLOCK_SKEW`]
    /// (RequestTimeTooSkewed); presigned not expired (Expired) and not dated more than
    /// [`MAX_CLOCK_SKEW`] in the future (NotYetValid).
    pub fn check_time(&self, now: SystemTime) -> Result<(), AuthError> {
        match self.scheme {
            Scheme::V4Header | Scheme::V2Header => {
                let skew = match now.duration_since(self.request_time) {
                    Ok(d) => d,
                    Err(e) => e.duration(),
                };
                if skew > MAX_CLOCK_SKEW {
                    return Err(AuthError::RequestTimeTooSkewed {
                        request_time: self.request_time,
                        server_time: now,
                    });
                }
            }
            Scheme::V4Presigned | Scheme::V2Presigned => {
                if self.scheme == Scheme::V4Presigned && self.request_time > now + MAX_CLOCK_SKEW {
                    return Err(AuthError::NotYetValid);
                }
                if let Some(expires) = self.expires {
                    if now > expires {
                        return Err(AuthError::Expired {
                            expires,
                            server_time: now,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Check the signature only (no clock), returning the SigV4 signing key.
    pub fn verify_signature(&self, secret: &str) -> Result<Option<SigningKey>, AuthError> {
        let mismatch = || AuthError::SignatureDoesNotMatch {
            string_to_sign: self.string_to_sign().to_string(),
            canonical_request: self.canonical_request.clone(),
        };
        match self.scheme {
            Scheme::V4Header | Scheme::V4Presigned => {
                let scope = self.credential.as_ref().ok_or_else(mismatch)?;
                let key = SigningKey::for_scope(secret, scope);
                let given = self.signature.to_ascii_lowercase();
                let ok = self
                    .strings_to_sign
                    .iter()
                    .any(|sts| canonical::constant_time_eq(key.sign(sts).as_bytes(), given.as_bytes()));
                if ok {
                    Ok(Some(key))
                } else {
                    Err(mismatch())
                }
            }
            Scheme::V2Header | Scheme::V2Presigned => {
                let ok = self.strings_to_sign.iter().any(|sts| {
                    canonical::constant_time_eq(v2::sign(secret, sts).as_bytes(), self.signature.as_bytes())
                });
                if ok {
                    Ok(None)
                } else {
                    Err(mismatch())
                }
            }
        }
    }

    /// Security on: refuse unsigned `x-amz-*` headers, check the time window
    /// ([`Self::check_time`]) and the signature with the user's secret.
    pub fn verify(&self, secret: &str, now: SystemTime) -> Result<Authenticated, AuthError> {
        if !self.unsigned_headers.is_empty() {
            return Err(AuthError::UnsignedHeaders(self.unsigned_headers.clone()));
        }
        self.check_time(now)?;
        let key = self.verify_signature(secret)?;
        Ok(self.authenticated(key, true))
    }

    /// Security off: accept the (well-formed) request without checking the signature, the
    /// clock or unsigned `x-amz-*` headers. Chunk signatures of a streaming body will not be checked either
    /// ([`StreamingSigned::signing_key`] is `None`). Call [`Self::check_time`] first if the
    /// time window should still apply.
    pub fn accept_unverified(&self) -> Authenticated {
        self.authenticated(None, false)
    }

    fn authenticated(&self, key: Option<SigningKey>, verified: bool) -> Authenticated {
        let payload = match &self.payload {
            DeclaredPayload::Unsigned => PayloadMode::UnsignedPayload,
            DeclaredPayload::Signed(h) => PayloadMode::SignedPayload(h.clone()),
            DeclaredPayload::StreamingUnsignedTrailer => PayloadMode::StreamingUnsignedTrailer,
            DeclaredPayload::Streaming { trailer } => PayloadMode::StreamingSigned(StreamingSigned {
                seed_signature: self.signature.to_ascii_lowercase(),
                signing_key: key,
                scope: self
                    .credential
                    .as_ref()
                    .map(|c| c.to_scope_string())
                    .unwrap_or_default(),
                amz_date: self.amz_date.clone(),
                trailer: *trailer,
            }),
        };
        Authenticated {
            access_key: self.access_key.clone(),
            scheme: self.scheme,
            credential: self.credential.clone(),
            payload,
            signature_verified: verified,
        }
    }
}

/// Read the authentication a request carries. `Ok(None)`: no authentication at all
/// (anonymous). Never looks at the clock or a secret.
pub fn parse(req: &RequestParts<'_>) -> Result<Option<ParsedAuth>, AuthError> {
    let pairs = canonical::query_pairs(req.raw_query);
    let has = |name: &str| pairs.iter().any(|(n, _)| n.as_slice() == name.as_bytes());
    let v4_query = has("X-Amz-Algorithm") || has("X-Amz-Credential") || has("X-Amz-Signature");
    let v2_query = has("AWSAccessKeyId") && has("Signature");
    let header = req.headers.get(http::header::AUTHORIZATION);
    match (header, v4_query || v2_query) {
        (Some(_), true) => Err(AuthError::MultipleMechanisms),
        (Some(h), false) => {
            let value = h
                .to_str()
                .map_err(|_| AuthError::MalformedHeader("the Authorization header is not ASCII".into()))?
                .trim();
            let scheme = value.split_ascii_whitespace().next().unwrap_or("");
            match scheme {
                super::ALGORITHM => parse_v4_header(req, value[scheme.len()..].trim_start()).map(Some),
                "AWS" => v2::parse_header(req, value[3..].trim_start()).map(Some),
                other => Err(AuthError::UnsupportedAlgorithm(other.to_string())),
            }
        }
        (None, true) if v4_query => parse_v4_query(req, &pairs).map(Some),
        (None, true) => v2::parse_query(req, &pairs).map(Some),
        (None, false) => Ok(None),
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Lower-cased, non-empty `SignedHeaders` entries, or an error message.
fn parse_signed_headers(value: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = value
        .split(';')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Err("SignedHeaders is empty".into());
    }
    if !list.iter().any(|h| h == "host") {
        return Err("the host header must be signed".into());
    }
    Ok(list)
}

/// `x-amz-*` headers present but not signed (except `x-amz-content-sha256`).
fn unsigned_amz_headers(headers: &HeaderMap, signed: &[String]) -> Vec<String> {
    let mut missing: Vec<String> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-") && *k != "x-amz-content-sha256" && !signed.iter().any(|s| s == k))
        .map(str::to_string)
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// The canonical request and the strings to sign of a SigV4 request: `+` in the query read as
/// a space first, and, when the query has a `+`, as a literal plus as a second candidate.
fn v4_strings_to_sign(
    req: &RequestParts<'_>,
    exclude: &[&str],
    signed: &[String],
    payload_hash: &str,
    amz_date: &str,
    scope: &str,
) -> (String, Vec<String>) {
    let uri = canonical::canonical_uri(req.raw_path);
    let headers = canonical::canonical_headers(req.headers, signed);
    let signed_list = signed.join(";");
    let build = |plus_as_space: bool| {
        let query = canonical::canonical_query_with(req.raw_query, exclude, plus_as_space);
        canonical::canonical_request(req.method.as_str(), &uri, &query, &headers, &signed_list, payload_hash)
    };
    let canonical_request = build(true);
    let mut strings = vec![canonical::string_to_sign(amz_date, scope, &canonical_request)];
    if req.raw_query.contains('+') {
        strings.push(canonical::string_to_sign(amz_date, scope, &build(false)));
    }
    (canonical_request, strings)
}

fn parse_v4_header(req: &RequestParts<'_>, rest: &str) -> Result<ParsedAuth, AuthError> {
    let malformed = |m: String| AuthError::MalformedHeader(m);
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        if component.is_empty() {
            continue;
        }
        let (k, v) = component
            .split_once('=')
            .ok_or_else(|| malformed(format!("the authorization component {component:?} has no '='")))?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => return Err(malformed(format!("unknown authorization component {k:?}"))),
        }
    }
    let credential =
        Credential::parse(credential.ok_or_else(|| malformed("missing Credential".into()))?).map_err(malformed)?;
    let signed =
        parse_signed_headers(signed.ok_or_else(|| malformed("missing SignedHeaders".into()))?).map_err(malformed)?;
    let signature = signature.ok_or_else(|| malformed("missing Signature".into()))?;
    if signature.is_empty() {
        return Err(malformed("empty Signature".into()));
    }

    // The request time: x-amz-date, else Date.
    let (amz_date, request_time) = match header_str(req.headers, "x-amz-date") {
        Some(d) => (
            d.to_string(),
            amz_date::parse(d).ok_or_else(|| AuthError::InvalidDate(d.to_string()))?,
        ),
        None => match header_str(req.headers, "date") {
            Some(d) => {
                let t = amz_date::parse_any(d).ok_or_else(|| AuthError::InvalidDate(d.to_string()))?;
                (amz_date::format(t), t)
            }
            None => return Err(AuthError::MissingDate),
        },
    };
    // `amz_date::parse` trims, so the text may hold more than the 16 date bytes (a presigned
    // `X-Amz-Date` may even hold non-ASCII whitespace): never slice it at a fixed byte offset.
    if amz_date.get(..8) != Some(credential.scope.date.as_str()) {
        return Err(malformed(format!(
            "the credential date {} does not match the request date {}",
            credential.scope.date, amz_date
        )));
    }
    let payload_hash = header_str(req.headers, "x-amz-content-sha256").ok_or(AuthError::MissingContentSha256)?;
    let payload = classify_payload(payload_hash)?;
    let unsigned_headers = unsigned_amz_headers(req.headers, &signed);

    let scope = credential.scope.to_scope_string();
    let (canonical_request, strings_to_sign) = v4_strings_to_sign(req, &[], &signed, payload_hash, &amz_date, &scope);
    Ok(ParsedAuth {
        access_key: credential.access_key,
        scheme: Scheme::V4Header,
        credential: Some(credential.scope),
        signature: signature.to_string(),
        amz_date,
        strings_to_sign,
        canonical_request,
        request_time,
        expires: None,
        payload,
        unsigned_headers,
    })
}

fn parse_v4_query(req: &RequestParts<'_>, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<ParsedAuth, AuthError> {
    let malformed = |m: String| AuthError::MalformedQuery(m);
    let required = |name: &str| {
        query_param(pairs, name)
            .ok_or_else(|| malformed(format!("Query-string authentication requires the {name} parameter")))
    };
    let algorithm = required("X-Amz-Algorithm")?;
    if algorithm != super::ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm(algorithm));
    }
    let credential = Credential::parse(&required("X-Amz-Credential")?).map_err(malformed)?;
    let amz_date = required("X-Amz-Date")?;
    let request_time = amz_date::parse(&amz_date).ok_or_else(|| {
        malformed(format!(
            "X-Amz-Date must be in the ISO8601 Long Format, got {amz_date:?}"
        ))
    })?;
    let expires_text = required("X-Amz-Expires")?;
    let expires: u64 = expires_text
        .trim()
        .parse()
        .map_err(|_| malformed(format!("X-Amz-Expires should be a number, got {expires_text:?}")))?;
    if expires == 0 {
        return Err(malformed("X-Amz-Expires must be non-negative and non-zero".into()));
    }
    if expires > MAX_PRESIGN_EXPIRES {
        return Err(malformed(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
        )));
    }
    let signed = parse_signed_headers(&required("X-Amz-SignedHeaders")?).map_err(malformed)?;
    let signature = required("X-Amz-Signature")?;
    if amz_date.get(..8) != Some(credential.scope.date.as_str()) {
        return Err(malformed(format!(
            "the credential date {} does not match X-Amz-Date {}",
            credential.scope.date, amz_date
        )));
    }
    let payload_hash = query_param(pairs, "X-Amz-Content-Sha256")
        .or_else(|| {
            header_str(req.headers, "x-amz-content-sha256")
                .filter(|_| signed.iter().any(|s| s == "x-amz-content-sha256"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| super::UNSIGNED_PAYLOAD.to_string());
    let payload = classify_payload(&payload_hash)?;
    let unsigned_headers = unsigned_amz_headers(req.headers, &signed);

    let scope = credential.scope.to_scope_string();
    let (canonical_request, strings_to_sign) =
        v4_strings_to_sign(req, &["X-Amz-Signature"], &signed, &payload_hash, &amz_date, &scope);
    Ok(ParsedAuth {
        access_key: credential.access_key,
        scheme: Scheme::V4Presigned,
        credential: Some(credential.scope),
        signature,
        amz_date,
        strings_to_sign,
        canonical_request,
        request_time,
        expires: Some(
            request_time
                .checked_add(Duration::from_secs(expires))
                .ok_or_else(|| malformed(format!("X-Amz-Expires is out of range: {expires}")))?,
        ),
        payload,
        unsigned_headers,
    })
}
