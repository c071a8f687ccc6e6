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

use super::canonical::{self, SigningKey};
use super::{amz_date, v2, AuthError, Credential, CredentialScope, MAX_CLOCK_SKEW, MAX_PRESIGN_EXPIRES};
use http::{HeaderMap, Method};
use std::time::{Duration, SystemTime};

/// The parts of a request that authentication looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    /// The path exactly as received on the request line, still percent-encoded (`/b/a%20c`).
    pub raw_path: &'a str,
    /// The query string exactly as received, without the `?` (`""` when there is none).
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// The bucket when the request is virtual-host style (`bucket.domain`): SigV2 signs
    /// `/bucket` + path. `None` for path-style requests. SigV4 ignores it.
    pub virtual_host_bucket: Option<&'a str>,
}

/// Which authentication scheme a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
    V4Header,
    /// `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Signature=...`
    V4Presigned,
    /// `Authorization: AWS AK:signature`
    V2Header,
    /// `?AWSAccessKeyId=AK&Expires=...&Signature=...`
    V2Presigned,
}

/// What the client declared about the body, before we know whether the signature is good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeclaredPayload {
    Unsigned,
    Signed(String),
    Streaming { trailer: bool },
    StreamingUnsignedTrailer,
}

/// Classify an `x-amz-content-sha256` value.
pub(crate) fn classify_payload(value: &str) -> Result<DeclaredPayload, AuthError> {
    let v = value.trim();
    match v {
        super::UNSIGNED_PAYLOAD => Ok(DeclaredPayload::Unsigned),
        super::STREAMING_PAYLOAD => Ok(DeclaredPayload::Streaming { trailer: false }),
        super::STREAMING_PAYLOAD_TRAILER => Ok(DeclaredPayload::Streaming { trailer: true }),
        super::STREAMING_UNSIGNED_TRAILER => Ok(DeclaredPayload::StreamingUnsignedTrailer),
        _ if v.starts_with("STREAMING-") => Err(AuthError::UnsupportedPayload(v.to_string())),
        _ if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(DeclaredPayload::Signed(v.to_ascii_lowercase()))
        }
        _ => Err(AuthError::InvalidContentSha256(v.to_string())),
    }
}

/// The payload mode of a request whose signature does not cover the body (a presigned URL
/// without `X-Amz-Content-Sha256`, SigV2) when it carries an `x-amz-content-sha256` header
/// anyway: a hex digest is verified against the body (as a header-signed request's is), a
/// keyword leaves the body unsigned, and a malformed value is refused as header-signed requests
/// refuse it ([`AuthError::InvalidContentSha256`], 400 InvalidArgument).
pub fn unsigned_request_payload(headers: &http::HeaderMap) -> Result<PayloadMode, AuthError> {
    let Some(v) = headers.get("x-amz-content-sha256") else {
        return Ok(PayloadMode::UnsignedPayload);
    };
    let text = v
        .to_str()
        .map_err(|_| AuthError::InvalidContentSha256(String::from_utf8_lossy(v.as_bytes()).into_owned()))?;
    Ok(match classify_payload(text)? {
        DeclaredPayload::Signed(h) => PayloadMode::SignedPayload(h),
        DeclaredPayload::Unsigned | DeclaredPayload::Streaming { .. } | DeclaredPayload::StreamingUnsignedTrailer => {
            PayloadMode::UnsignedPayload
        }
    })
}

/// The signing context of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` body, to hand to
/// [`super::chunked::AwsChunkedDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamingSigned {
    /// The request signature: the "previous signature" of the first chunk.
    pub seed_signature: String,
    /// The signing key, or `None` when the request was accepted without verification
    /// ([`ParsedAuth::accept_unverified`], security off): then the chunk framing is decoded
    /// but chunk signatures are not checked.
    pub signing_key: Option<SigningKey>,
    /// `20130524/us-east-1/s3/aws4_request`.
    pub scope: String,
    /// The request's `x-amz-date` (`20130524T000000Z`).
    pub amz_date: String,
    /// `true` for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` (a signed trailer follows the
    /// final chunk).
    pub trailer: bool,
}

/// How the gateway must read and check the body of an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadMode {
    /// `UNSIGNED-PAYLOAD`, presigned URLs, SigV2: the body is taken as is.
    UnsignedPayload,
    /// `x-amz-content-sha256: <hex>`: the gateway must check that the body's SHA-256 is this
    /// (lower-case hex) and fail with XAmzContentSHA256Mismatch otherwise; see
    /// [`super::chunked::verify_sha256`].
    SignedPayload(String),
    /// aws-chunked body with signed chunks: decode with
    /// [`super::chunked::AwsChunkedDecoder::signed`].
    StreamingSigned(StreamingSigned),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked body, unsigned, with a trailer: decode
    /// with [`super::chunked::AwsChunkedDecoder::unsigned`].
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Whether the body is aws-chunked encoded (the gateway must decode it).
    pub fn is_chunked(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned(_) | PayloadMode::StreamingUnsignedTrailer
        )
    }
}

/// The result of a successful [`ParsedAuth::verify`] or [`ParsedAuth::accept_unverified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The access key (with security off, it is the user name).
    pub access_key: String,
    pub scheme: Scheme,
    /// The SigV4 credential scope (`None` for SigV2).
    pub credential: Option<CredentialScope>,
    pub payload: PayloadMode,
    /// `false` when accepted by [`ParsedAuth::accept_unverified`].
    pub signature_verified: bool,
}

/// A request's parsed authentication, ready to verify once the secret is known.
#[derive(Debug, Clone)]
pub struct ParsedAuth {
    pub(crate) access_key: String,
    pub(crate) scheme: Scheme,
    pub(crate) credential: Option<CredentialScope>,
    /// As sent by the client (V4: hex; V2: base64, query-decoded).
    pub(crate) signature: String,
    /// V4: `20130524T000000Z`; V2: empty.
    pub(crate) amz_date: String,
    /// V4: one string; V2: the candidate strings to sign (client conventions differ on path and
    /// sub-resource encoding); the first is the AWS-documented one.
    pub(crate) strings_to_sign: Vec<String>,
    /// V4 only.
    pub(crate) canonical_request: String,
    pub(crate) request_time: SystemTime,
    /// Presigned only.
    pub(crate) expires: Option<SystemTime>,
    pub(crate) payload: DeclaredPayload,
    /// `x-amz-*` headers present but not signed: refused by [`ParsedAuth::verify`] (security
    /// on), tolerated by [`ParsedAuth::accept_unverified`].
    pub(crate) unsigned_headers: Vec<String>,
}

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

/// First value of a decoded query parameter.
pub(crate) fn query_param(pairs: &[(Vec<u8>, Vec<u8>)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, _)| n.as_slice() == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
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
